using System.CommandLine;
using Spectre.Console;
using VtdSim.Scenarios.Matrix;
using VtdSim.Scenarios.Sharding;

namespace VtdSim.Cli.Commands;

/// <summary>
/// `vtdsim matrix [--json | --csv | --markdown] [--shard I/N]`: the compatibility matrix (host erratum × kernel rule ×
/// VMM policy × vIOMMU × guest), every cell a run of the model (docs/scenarios.md, "The compatibility matrix").
/// </summary>
public static class MatrixCommand
{
    public static Command Create(Func<IAnsiConsole> console, Func<TextWriter> output)
    {
        var json = new Option<bool>("--json") { Description = "write the rows as a JSON array to stdout instead of the table" };
        var csv = new Option<bool>("--csv") { Description = "write the rows as CSV (RFC 4180) to stdout instead of the table" };
        var markdown = new Option<bool>("--markdown") { Description = "write the table as Markdown (as docs/scenarios.md holds it)" };
        var shard = CliOptions.Shard();
        var command = new Command("matrix", "The compatibility matrix: host erratum x kernel rule x VMM erratum policy x vIOMMU x guest, each cell a run of the model")
        {
            json, csv, markdown, shard,
        };
        command.Validators.Add(r =>
        {
            int formats = new[] { json, csv, markdown }.Count(o => r.GetValue(o));
            if (formats > 1) r.AddError("--json, --csv and --markdown are alternatives: give one");
            if (r.GetResult(shard) is not null && !r.GetValue(json)) r.AddError("--shard writes a part of the matrix to merge later: give --json with it");
        });
        command.SetAction(parse =>
        {
            IReadOnlyList<MatrixCell> all = CompatibilityMatrix.Cells();
            Shard? part = parse.GetValue(shard);
            (int first, int count) = part?.Range(all.Count) ?? (0, all.Count);
            IReadOnlyList<MatrixRow> rows = CompatibilityMatrix.Run(all.Skip(first).Take(count).ToList());
            if (part is Shard p)
                Write(output(), ShardOutput.Write(ShardOutput.Matrix, p, all.Select(CompatibilityMatrix.Name).ToList(), first, w => MatrixOutput.WriteRows(w, rows)));
            else if (parse.GetValue(json)) Write(output(), MatrixOutput.Json(rows));
            else if (parse.GetValue(csv)) Write(output(), MatrixOutput.Csv(rows));
            else if (parse.GetValue(markdown)) Write(output(), MatrixOutput.Markdown(rows));
            else Render(console(), rows);
            return 0;
        });
        return command;
    }

    /// <summary>The columns (in <see cref="MatrixOutput.Columns"/>) marked on the console and in the report: whether the VMM starts, whether read-only memory was written.</summary>
    public const int VmColumn = 6, CorruptedColumn = 9;

    /// <summary>What the matrix's columns mean, under the table.</summary>
    public static readonly IReadOnlyList<string> Notes =
    [
        "ROM DMA-reachable: a device reads and writes the VGA BIOS (0xc0000) before the guest turns its vIOMMU on.",
        "Read-only memory corrupted: observed, the host IOMMU wrote a guest table in memory its second stage maps read-only.",
        "A malicious guest moves its device's first-stage root table onto the VGA BIOS; it can only with an x-flts vIOMMU.",
    ];

    /// <summary>The matrix as a table (verdicts in words, never colour alone), with a legend.</summary>
    public static void Render(IAnsiConsole console, IReadOnlyList<MatrixRow> rows)
    {
        ArgumentNullException.ThrowIfNull(console);
        ArgumentNullException.ThrowIfNull(rows);
        var table = new Table().Border(TableBorder.Rounded).Title("The compatibility matrix (every row is a run of the model)");
        foreach (string c in MatrixOutput.Columns) table.AddColumn(Markup.Escape(c));
        foreach (MatrixRow r in rows)
        {
            string[] cells = MatrixOutput.Cells(r).Select(Markup.Escape).ToArray();
            if (!r.VmStarts) cells[VmColumn] = $"[yellow]{cells[VmColumn]}[/]";
            if (r.ReadOnlyCorrupted) cells[CorruptedColumn] = $"[red bold]{cells[CorruptedColumn]}[/]";
            table.AddRow(cells);
        }
        console.Write(table);
        foreach (string note in Notes) console.WriteLine(note);
    }

    private static void Write(TextWriter o, string text)
    {
        o.Write(text);
        o.Flush();
    }
}
