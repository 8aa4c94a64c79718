using VtdSim.Cli.Commands;
using VtdSim.Report;
using VtdSim.Scenarios.Matrix;
using VtdSim.Scenarios.Running;

namespace VtdSim.Cli.Demo;

/// <summary>
/// `vtdsim demo --report FILE` (decision V63): what the guided tour showed, as a report — one part per screen (the
/// scenario's title, the question it answers, its memory maps, walks, timeline and verdicts) and the compatibility
/// matrix as a table. The tour fills it as it goes, so a tour stopped at a terminal reports the screens it showed.
/// </summary>
public sealed class TourReport(string title)
{
    private readonly List<ReportPart> parts = [];

    /// <summary>Screen <paramref name="screen"/> of <paramref name="screens"/>: the run of built-in scenario <paramref name="number"/>, made with <c>record: true</c>.</summary>
    public void Scenario(int screen, int screens, int number, ScenarioRun run)
    {
        ArgumentNullException.ThrowIfNull(run);
        parts.Add(ReportBuilder.Part(run) with
        {
            Title = $"{screen} of {screens}: scenario {number} — {run.Scenario.Name}",
            Question = run.Scenario.Question.Trim(),
        });
    }

    /// <summary>The last screen: the compatibility matrix, every row a run of the model.</summary>
    public void Matrix(int screen, int screens, IReadOnlyList<MatrixRow> rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        var cells = new List<IReadOnlyList<TableCell>>();
        foreach (MatrixRow r in rows)
        {
            string[] text = MatrixOutput.Cells(r);
            // As the console marks them: a VMM that does not start, and read-only memory the host IOMMU wrote; the words say it too.
            cells.Add([.. text.Select((t, i) => new TableCell(t, i == MatrixCommand.VmColumn && !r.VmStarts ? "warn" : i == MatrixCommand.CorruptedColumn && r.ReadOnlyCorrupted ? "bad" : ""))]);
        }
        parts.Add(new ReportPart
        {
            Title = $"{screen} of {screens}: the compatibility matrix",
            Summary = ["Every row is a run of the model, as the scenarios above are (vtdsim matrix; --json, --csv, --markdown)."],
            Tables = [new TableView("The compatibility matrix (every row is a run of the model)", MatrixOutput.Columns, cells, MatrixCommand.Notes)],
        });
    }

    public ReportDocument Build() => new(title, [.. parts]);
}
