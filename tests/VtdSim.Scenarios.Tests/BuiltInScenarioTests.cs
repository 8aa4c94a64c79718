using VtdSim.Scenarios.Loading;
using VtdSim.Scenarios.Model;
using VtdSim.Scenarios.Running;
using Xunit.Abstractions;

namespace VtdSim.Scenarios.Tests;

/// <summary>Every built-in scenario (scenarios/*.yaml) loads and every one of its expectations passes.</summary>
public class BuiltInScenarioTests(ITestOutputHelper output)
{
    public static TheoryData<string> Files() => new(BuiltIn.Names());

    [Theory]
    [MemberData(nameof(Files))]
    public void EveryExpectationOfTheBuiltInScenarioPasses(string name)
    {
        Scenario scenario = BuiltIn.Load(name);
        ScenarioRun run = ScenarioRunner.Run(scenario);
        foreach (ScenarioEvent e in run.Events) output.WriteLine($"[{e.Step}] {e.Level} {e.Kind}: {e.Text}");
        foreach (Verdict v in run.Verdicts) output.WriteLine(v.ToString());
        Assert.NotEmpty(run.Verdicts);
        Assert.All(run.Steps, s => Assert.Equal(StepStatus.Done, s.Status));
        Assert.All(run.Verdicts, v => Assert.True(v.Pass, $"{name}:{v.Expect.Spot}: {v}"));
    }
}
