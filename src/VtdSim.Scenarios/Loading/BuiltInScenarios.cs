using System.Reflection;

namespace VtdSim.Scenarios.Loading;

/// <summary>
/// The built-in scenarios (scenarios/*.yaml of the repository), carried in this assembly so that `vtdsim run --all` and
/// the demo's tour work wherever the tool is installed (decision S24). Each is named `scenarios/FILE`, as in the tree.
/// </summary>
public static class BuiltInScenarios
{
    private static readonly Assembly Self = typeof(BuiltInScenarios).Assembly;

    /// <summary>The names, sorted (ordinal), which is the order of their numbers.</summary>
    public static IReadOnlyList<string> Names { get; } =
        Self.GetManifestResourceNames().Where(n => n.StartsWith("scenarios/", StringComparison.Ordinal) && n.EndsWith(".yaml", StringComparison.Ordinal))
            .Order(StringComparer.Ordinal).ToArray();

    public static string Text(string name)
    {
        using Stream stream = Self.GetManifestResourceStream(name) ?? throw new ArgumentException($"no built-in scenario '{name}'", nameof(name));
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    public static ScenarioLoadResult Load(string name) => ScenarioLoader.Load(name, Text(name));
}
