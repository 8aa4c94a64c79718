using System.Text;
using System.Text.Json;
using VtdSim.Scenarios.Running;

namespace VtdSim.Scenarios.Matrix;

/// <summary>
/// The matrix as JSON (an array of rows, fields in a fixed order), CSV (RFC 4180: a header, CRLF line ends, fields
/// with a comma, quote or line break quoted, quotes doubled) and Markdown (the table docs/scenarios.md holds), S22.
/// </summary>
public static class MatrixOutput
{
    /// <summary>The fields of a row, in the order JSON and CSV give them.</summary>
    public static readonly IReadOnlyList<string> Fields =
    [
        "row", "host", "hostErratum", "kernelRule", "policy", "viommu", "guest", "vmStarts", "stoppedBy", "nesting",
        "romRead", "romWrite", "romFault", "readOnlyCorrupted", "tableWrites", "guestSees", "notApplicable",
    ];

    /// <summary>The table's columns (the console's, and the Markdown's).</summary>
    public static readonly IReadOnlyList<string> Columns =
        ["#", "host", "kernel rule", "VMM policy", "vIOMMU", "guest", "VM starts", "nesting", "ROM DMA-reachable", "read-only memory corrupted", "what the guest sees"];

    public static string Json(IReadOnlyList<MatrixRow> rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        return JsonText.Write(w =>
        {
            w.WriteStartArray();
            WriteRows(w, rows);
            w.WriteEndArray();
        });
    }

    /// <summary>Each row as one object (also the items of a `--shard` output).</summary>
    public static void WriteRows(Utf8JsonWriter w, IEnumerable<MatrixRow> rows)
    {
        ArgumentNullException.ThrowIfNull(w);
        ArgumentNullException.ThrowIfNull(rows);
        foreach (MatrixRow r in rows)
        {
            w.WriteStartObject();
            w.WriteNumber("row", r.Number);
            w.WriteString("host", r.Cell.Profile);
            w.WriteBoolean("hostErratum", r.Cell.HostErratum);
            w.WriteBoolean("kernelRule", r.Cell.KernelRule);
            w.WriteString("policy", r.Cell.Policy);
            w.WriteString("viommu", r.Cell.ViommuName);
            w.WriteString("guest", r.Cell.GuestName);
            w.WriteBoolean("vmStarts", r.VmStarts);
            Nullable(w, "stoppedBy", r.StoppedBy);
            Nullable(w, "nesting", r.Nesting);
            Nullable(w, "romRead", r.RomRead);
            Nullable(w, "romWrite", r.RomWrite);
            Nullable(w, "romFault", r.RomFault);
            w.WriteBoolean("readOnlyCorrupted", r.ReadOnlyCorrupted);
            w.WriteNumber("tableWrites", r.TableWrites);
            w.WriteString("guestSees", r.GuestSees);
            Nullable(w, "notApplicable", r.NotApplicable);
            w.WriteEndObject();
        }
    }

    public static string Csv(IReadOnlyList<MatrixRow> rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        var s = new StringBuilder();
        Line(s, Fields);
        foreach (MatrixRow r in rows)
        {
            Line(s,
            [
                r.Number.ToString(System.Globalization.CultureInfo.InvariantCulture), r.Cell.Profile, Bool(r.Cell.HostErratum), Bool(r.Cell.KernelRule),
                r.Cell.Policy, r.Cell.ViommuName, r.Cell.GuestName, Bool(r.VmStarts), r.StoppedBy ?? "", Bool(r.Nesting), Bool(r.RomRead),
                Bool(r.RomWrite), r.RomFault ?? "", Bool(r.ReadOnlyCorrupted), r.TableWrites.ToString(System.Globalization.CultureInfo.InvariantCulture),
                r.GuestSees, r.NotApplicable ?? "",
            ]);
        }
        return s.ToString();
    }

    /// <summary>One CSV field as RFC 4180 has it: quoted when it holds a comma, a quote or a line break, quotes doubled.</summary>
    public static string CsvField(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        return value.AsSpan().IndexOfAny(",\"\r\n") < 0 ? value : "\"" + value.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
    }

    /// <summary>The cells of the table as the console and Markdown show them, one array per row in <see cref="Columns"/>' order.</summary>
    public static string[] Cells(MatrixRow r)
    {
        ArgumentNullException.ThrowIfNull(r);
        return
        [
            r.Number.ToString(System.Globalization.CultureInfo.InvariantCulture), r.Cell.Profile, r.Cell.KernelRule ? "on" : "off (before 6.7)",
            r.Cell.Policy, r.Cell.ViommuName, r.GuestText, r.VmText, r.NestingText, r.RomText, r.CorruptedText, r.GuestSees,
        ];
    }

    public static string Markdown(IReadOnlyList<MatrixRow> rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        var s = new StringBuilder();
        s.Append("| ").AppendJoin(" | ", Columns).Append(" |\n");
        s.Append('|').AppendJoin("|", Columns.Select(_ => " --- ")).Append("|\n");
        foreach (MatrixRow r in rows)
            s.Append("| ").AppendJoin(" | ", Cells(r).Select(c => c.Replace("|", "\\|", StringComparison.Ordinal))).Append(" |\n");
        return s.ToString();
    }

    private static void Line(StringBuilder s, IEnumerable<string> fields) => s.AppendJoin(",", fields.Select(CsvField)).Append("\r\n");

    private static string Bool(bool? value) => value switch { true => "true", false => "false", _ => "" };

    private static void Nullable(Utf8JsonWriter w, string name, string? value)
    {
        if (value is null) w.WriteNull(name);
        else w.WriteString(name, value);
    }

    private static void Nullable(Utf8JsonWriter w, string name, bool? value)
    {
        if (value is bool b) w.WriteBoolean(name, b);
        else w.WriteNull(name);
    }
}
