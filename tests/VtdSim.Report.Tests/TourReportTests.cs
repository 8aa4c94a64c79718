using System.Text.RegularExpressions;
using VtdSim.Cli;
using VtdSim.Report.Tests.Support;
using VtdSim.Scenarios.Loading;
using VtdSim.Scenarios.Matrix;

namespace VtdSim.Report.Tests;

/// <summary>`vtdsim demo --report FILE`: the guided tour as a report, one section per screen and the matrix as a table (V63).</summary>
public class TourReportTests
{
    private static string Demo(params string[] args)
    {
        using var dir = new TempDir();
        string file = Path.Combine(dir.Path, "tour.html");
        var output = new StringWriter();
        Assert.Equal(0, Program.Run(["demo", .. args, "--report", file], output));
        return File.ReadAllText(file);
    }

    private static List<string> Parts(string html) => [.. Regex.Matches(html, "<section class=\"part\"[\\s\\S]*?</section>").Select(m => m.Value)];

    [Fact]
    public void OneScenarioOfTheTourIsOneSectionPerScreen()
    {
        string html = Demo("--scenario", "3");
        // Scenario 3 is two files (the architectural unit and the erratum one): two screens, two sections, no matrix.
        List<string> parts = Parts(html);
        Assert.Equal(2, parts.Count);
        var names = BuiltInScenarios.Names.Where(n => n.Contains("/03-", StringComparison.Ordinal) || n.StartsWith("03-", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, names.Count);
        for (int i = 0; i < 2; i++)
        {
            var scenario = BuiltInScenarios.Load(names[i]).Scenario!;
            Assert.Contains(System.Net.WebUtility.HtmlEncode($"{i + 1} of 2: scenario 3 — {scenario.Name}"), parts[i], StringComparison.Ordinal);
            Assert.Contains("<blockquote class=\"question\"><p class=\"q-h\">The question from the thread</p><p>" + System.Net.WebUtility.HtmlEncode(scenario.Question.Trim()), parts[i], StringComparison.Ordinal);
            Assert.Contains("<table class=\"grid\">", parts[i], StringComparison.Ordinal);
            Assert.Contains("<h3>Verdicts</h3>", parts[i], StringComparison.Ordinal);
        }
        Assert.Contains("<td class=\"cell erratum\">", parts[1], StringComparison.Ordinal);
        Assert.DoesNotContain("The compatibility matrix", html, StringComparison.Ordinal);
        Assert.Contains("<title>vtdsim demo --scenario 3: built-in scenario 3</title>", html, StringComparison.Ordinal);
    }

    [Fact]
    public void TheWholeTourIsEveryScreenAndTheMatrixAsATable()
    {
        string html = BuiltIn.Tour;
        List<string> parts = Parts(html);
        int screens = BuiltInScenarios.Names.Count + 1;
        Assert.Equal(screens, parts.Count);
        Assert.Contains($"{screens} of {screens}: the compatibility matrix", parts[^1], StringComparison.Ordinal);
        // The matrix: one row per cell of the model, in the order `vtdsim matrix` prints them, its words as they are there.
        IReadOnlyList<MatrixRow> rows = BuiltIn.Matrix;
        string table = Regex.Match(parts[^1], "<table class=\"plain\">[\\s\\S]*?</table>").Value;
        var shown = Regex.Matches(table, "<tr>(<td[\\s\\S]*?)</tr>").Select(m => m.Groups[1].Value).ToList();
        Assert.Equal(rows.Count, shown.Count);
        for (int i = 0; i < rows.Count; i++)
        {
            var cells = Regex.Matches(shown[i], "<td( class=\"(\\w+)\")?>(.*?)</td>").ToList();
            Assert.Equal(MatrixOutput.Cells(rows[i]).Select(System.Net.WebUtility.HtmlEncode), cells.Select(c => c.Groups[3].Value));
            Assert.Equal(rows[i].ReadOnlyCorrupted, cells[9].Groups[2].Value == "bad");
            Assert.Equal(!rows[i].VmStarts, cells[6].Groups[2].Value == "warn");
        }
        Assert.Contains(rows, r => r.ReadOnlyCorrupted);
        Assert.Contains(MatrixOutput.Columns[9], table, StringComparison.Ordinal);
        Assert.Contains("<nav aria-label=\"contents\">", html, StringComparison.Ordinal);
    }

    [Fact]
    public void TheWalkKeepsItsReport()
    {
        // --walk --report is the erratum walk's report: its two runs, erratum off and on.
        string html = Demo("--walk");
        List<string> parts = Parts(html);
        Assert.Equal(2, parts.Count);
        Assert.Single(Regex.Matches(parts[1], "<td class=\"cell erratum\">"));
        Assert.DoesNotContain("blockquote", html, StringComparison.Ordinal);
        // An option of the walk still implies --walk with --report.
        Assert.Equal(2, Parts(Demo("--ro-level", "3")).Count);
    }

    [Fact]
    public void TheScenarioOptionStillRefusesTheWalkOptions()
    {
        var output = new StringWriter();
        Assert.Equal(2, Program.Run(["demo", "--scenario", "3", "--walk", "--report", "x.html"], output));
        Assert.Contains("--scenario shows a scenario; --walk and its options", output.ToString(), StringComparison.Ordinal);
        Assert.False(File.Exists("x.html"));
    }
}
