using VtdSim.Report;
using VtdSim.Scenarios.Loading;
using VtdSim.Scenarios.Model;
using VtdSim.Scenarios.Running;

namespace VtdSim.Report.Tests.Support;

/// <summary>The built-in scenarios (copied next to the tests) and their reports.</summary>
internal static class BuiltIn
{
    public static string Directory => Path.Combine(AppContext.BaseDirectory, "scenarios");

    public static IEnumerable<string> Names() =>
        System.IO.Directory.GetFiles(Directory, "*.yaml").Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal);

    public static Scenario Load(string name) => Parse(name, File.ReadAllText(Path.Combine(Directory, name)));

    public static Scenario Parse(string name, string text)
    {
        ScenarioLoadResult r = ScenarioLoader.Load(name, text);
        Assert.True(r.Success, r.Error?.ToString());
        return r.Scenario!;
    }

    /// <summary>The run of a built-in scenario with its walks and memory maps recorded, as `vtdsim run --report` makes it.</summary>
    public static ScenarioRun Run(string name) => ScenarioRunner.Run(Load(name), record: true);

    public static string Report(string name) => HtmlReport.Render(ReportBuilder.FromScenarios([Run(name)]));
}
