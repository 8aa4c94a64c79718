using VtdSim.Scenarios.Loading;
using VtdSim.Scenarios.Model;

namespace VtdSim.Scenarios.Tests;

/// <summary>The built-in scenario files, copied next to the tests from scenarios/.</summary>
internal static class BuiltIn
{
    public static string Directory => Path.Combine(AppContext.BaseDirectory, "scenarios");

    public static IEnumerable<string> Names() =>
        System.IO.Directory.GetFiles(Directory, "*.yaml").Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal);

    public static string Text(string name) => File.ReadAllText(Path.Combine(Directory, name));

    public static Scenario Load(string name) => Parse(name, Text(name));

    public static Scenario Parse(string name, string text)
    {
        ScenarioLoadResult r = ScenarioLoader.Load(name, text);
        Assert.True(r.Success, r.Error?.ToString());
        return r.Scenario!;
    }
}
