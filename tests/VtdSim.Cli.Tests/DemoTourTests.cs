using VtdSim.Cli.Demo;
using VtdSim.Cli.Tests.Support;
using VtdSim.Scenarios.Loading;

namespace VtdSim.Cli.Tests;

/// <summary>`vtdsim demo`: the guided tour through the built-in scenarios and the matrix; `--scenario N`; `--walk` (S28).</summary>
public class DemoTourTests
{
    private static (int Exit, string Output) Run(params string[] args)
    {
        var output = new StringWriter();
        int exit = Program.Run(args, output);
        return (exit, output.ToString());
    }

    [Fact]
    public void WithoutArgumentsTheTourShowsEveryScenarioWithItsQuestionThenTheMatrixWithoutWaiting()
    {
        var (exit, text) = Run("demo");
        Assert.Equal(0, exit);
        int screens = BuiltInScenarios.Names.Count + 1;
        int at = 0;
        for (int i = 0; i < BuiltInScenarios.Names.Count; i++)
        {
            string name = BuiltInScenarios.Names[i];
            var scenario = BuiltInScenarios.Load(name).Scenario!;
            int screen = text.IndexOf($"{i + 1} of {screens}: scenario {ScenarioTour.Number(name)}", at, StringComparison.Ordinal);
            Assert.True(screen >= at, $"screen {i + 1} ({name}) is missing or out of order");
            Assert.True(scenario.Question.Length > 0, $"{name} has no question");
            Assert.Contains("the question from the thread", text[screen..]);
            Assert.Contains($"PASS {name}: all ", text[screen..]);
            at = screen;
        }
        int matrix = text.IndexOf($"{screens} of {screens}: the compatibility matrix", at, StringComparison.Ordinal);
        Assert.True(matrix > at, "the tour does not end with the matrix");
        Assert.Contains("YES", text[matrix..]); // the one corrupting row, in words
        Assert.DoesNotContain("press a key", text);
        CliProcess.AssertPlain(text);
    }

    [Fact]
    public void OneScenarioByItsNumberAndNoMatrix()
    {
        var (exit, text) = Run("demo", "--scenario", "3");
        Assert.Equal(0, exit);
        Assert.Contains("1 of 2: scenario 3", text);
        Assert.Contains("2 of 2: scenario 3", text);
        Assert.Contains("PASS scenarios/03-vga-bios-table-architectural.yaml", text);
        Assert.Contains("PASS scenarios/03-vga-bios-table-erratum.yaml", text);
        Assert.DoesNotContain("compatibility matrix", text);
    }

    [Theory]
    [InlineData(new[] { "demo", "--scenario", "99" }, "vtdsim: --scenario: 99 is not supported; give one of ")]
    [InlineData(new[] { "demo", "--scenario", "2", "--walk" }, "vtdsim: --scenario shows a scenario; --walk and its options")]
    [InlineData(new[] { "demo", "--scenario", "2", "--ro-level", "3" }, "vtdsim: --scenario shows a scenario; --walk and its options")]
    public void AScenarioThatIsNotThereOrMixedWithTheWalkIsAUsageError(string[] args, string said)
    {
        var (exit, text) = Run(args);
        Assert.Equal(Program.Usage, exit);
        Assert.StartsWith(said, text);
        CliProcess.AssertPlain(text);
    }

    [Fact]
    public void TheWalkIsThereWithWalkAndItsOptionsAloneStillMeanIt()
    {
        var (exit, text) = Run("demo", "--walk");
        Assert.Equal(0, exit);
        Assert.Contains("VtdSim demo: erratum 772415 (SPR17)", text);
        var (exit2, text2) = Run("demo", "--ro-level", "2", "--reach", "AllLevels", "--write");
        Assert.Equal(0, exit2);
        Assert.Contains("VtdSim demo: erratum 772415 (SPR17)", text2);
        Assert.DoesNotContain("the question from the thread", text2);
    }
}
