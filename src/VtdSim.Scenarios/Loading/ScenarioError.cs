namespace VtdSim.Scenarios.Loading;

/// <summary>What is wrong with a scenario file, and where: file:line:column, the field path and what was expected.</summary>
public sealed record ScenarioError(string File, int Line, int Column, string Path, string Message)
{
    public override string ToString() => $"{File}:{Line}:{Column}: {(Path.Length == 0 ? "" : Path + ": ")}{Message}";
}

/// <summary>A loaded scenario, or the first error in its file.</summary>
public sealed record ScenarioLoadResult(Model.Scenario? Scenario, ScenarioError? Error)
{
    public bool Success => Scenario is not null;
}

/// <summary>Thrown inside the loader only, to stop at the first error; the loader turns it into a <see cref="ScenarioError"/>.</summary>
internal sealed class ScenarioFormatException(ScenarioError error) : Exception(error.ToString())
{
    public ScenarioError Error { get; } = error;
}
