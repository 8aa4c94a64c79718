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

    private static readonly Lazy<string> TourReport = new(() =>
    {
        using var dir = new TempDir();
        string file = System.IO.Path.Combine(dir.Path, "tour.html");
        Assert.Equal(0, VtdSim.Cli.Program.Run(["demo", "--report", file], new StringWriter()));
        return File.ReadAllText(file);
    });

    private static readonly Lazy<IReadOnlyList<VtdSim.Scenarios.Matrix.MatrixRow>> MatrixRows = new(() => VtdSim.Scenarios.Matrix.CompatibilityMatrix.Run());

    /// <summary>`vtdsim demo --report`'s file: the whole tour, run once for the tests that read it (the matrix is most of its time).</summary>
    public static string Tour => TourReport.Value;

    /// <summary>The compatibility matrix's rows, as `vtdsim matrix` makes them (deterministic: the tour's are the same).</summary>
    public static IReadOnlyList<VtdSim.Scenarios.Matrix.MatrixRow> Matrix => MatrixRows.Value;
}
