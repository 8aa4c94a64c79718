using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace VtdSim.Hardware.Decoding;

/// <summary>A register or entry format the decoder knows: its name on the command line, its size in qwords and its table.</summary>
public sealed record StructureKind(string Name, int Qwords, string Title, bool IsPagingEntry)
{
    internal Func<int, bool, IReadOnlyList<FieldRow>> Rows { get; init; } = (_, _) => [];
}

/// <summary>
/// The one table-driven decoder: any value of a known register or entry, split into every field of its table, with
/// reserved bits that are set and reserved encodings flagged. Parsing the values from text never throws: bad input is
/// a false return with a message that names the value and what was expected.
/// </summary>
public static class StructureDecoder
{
    public static StructureKind Cap { get; } = new("cap", 1, "Capability register (CAP, offset 0x08)", false) { Rows = (_, _) => FieldTables.Capability };
    public static StructureKind Ecap { get; } = new("ecap", 1, "Extended Capability register (ECAP, offset 0x10)", false) { Rows = (_, _) => FieldTables.ExtendedCapability };
    public static StructureKind Root { get; } = new("root", 2, "root-table entry, legacy mode (128-bit)", false) { Rows = (_, _) => FieldTables.RootEntry };
    public static StructureKind ScalableRoot { get; } = new("scalable-root", 2, "root-table entry, scalable mode (128-bit)", false) { Rows = (_, _) => FieldTables.ScalableRootEntry };
    public static StructureKind Context { get; } = new("context", 2, "context entry, legacy mode (128-bit)", false) { Rows = (_, _) => FieldTables.ContextEntry };
    public static StructureKind ScalableContext { get; } = new("scalable-context", 4, "context entry, scalable mode (256-bit)", false) { Rows = (_, _) => FieldTables.ScalableContextEntry };
    public static StructureKind PasidDirectory { get; } = new("pasid-dir", 1, "PASID directory entry (64-bit)", false) { Rows = (_, _) => FieldTables.PasidDirectoryEntry };
    public static StructureKind PasidEntry { get; } = new("pasid-entry", 8, "PASID table entry, scalable mode (512-bit)", false) { Rows = (_, _) => FieldTables.PasidEntry };
    public static StructureKind FirstStage { get; } = new("fs-pte", 1, "first-stage paging entry (IA-32e)", true) { Rows = FieldTables.FirstStage };
    public static StructureKind SecondStage { get; } = new("ss-pte", 1, "second-stage paging entry (scalable mode)", true) { Rows = FieldTables.SecondStage };
    public static StructureKind LegacySecondLevel { get; } = new("sl-pte", 1, "second-level paging entry (legacy mode)", true) { Rows = FieldTables.LegacySecondLevel };

    public static IReadOnlyList<StructureKind> Kinds { get; } =
        [Cap, Ecap, Root, ScalableRoot, Context, ScalableContext, PasidDirectory, PasidEntry, FirstStage, SecondStage, LegacySecondLevel];

    /// <summary>A kind by its name (any case); false with a message listing the known names.</summary>
    public static bool TryFindKind(string name, [NotNullWhen(true)] out StructureKind? kind, out string error)
    {
        kind = Kinds.FirstOrDefault(k => string.Equals(k.Name, name, StringComparison.OrdinalIgnoreCase));
        error = kind is null ? $"'{name}' is not a structure the decoder knows; give one of {string.Join(", ", Kinds.Select(k => k.Name))}" : "";
        return kind is not null;
    }

    /// <summary>
    /// Decodes <paramref name="values"/> (low qword first) as <paramref name="kind"/>. <paramref name="level"/> is the
    /// paging level of a paging entry (5 = PML5E .. 1 = PTE); a PDE or PDPE with PS set is decoded as a leaf.
    /// </summary>
    public static DecodedStructure Decode(StructureKind kind, IReadOnlyList<ulong> values, int level = 1)
    {
        if (values.Count != kind.Qwords) throw new ArgumentException($"{kind.Name} takes {kind.Qwords} value{(kind.Qwords == 1 ? "" : "s")}, not {values.Count}", nameof(values));
        if (level is < 1 or > 5) throw new ArgumentOutOfRangeException(nameof(level), level, "a paging level is 1 to 5");
        var notes = new List<string>();
        bool leaf = level == 1 || (level <= 3 && (values[0] & (1UL << 7)) != 0);
        string title = kind.Title;
        if (kind.IsPagingEntry)
        {
            title = $"{kind.Title}: {FieldTables.LevelName(level)} (level {level}), {(leaf ? level == 1 ? "maps a 4 KiB page" : level == 2 ? "maps a 2 MiB page" : "maps a 1 GiB page" : "points to a table")}";
            bool present = kind == FirstStage ? (values[0] & 1) != 0 : (values[0] & 3) != 0;
            if (!present) notes.Add(kind == FirstStage ? "not present (P=0): a walk that reaches it faults SFS.2 (0x71)"
                : kind == SecondStage ? "not present (R=W=0): a walk that reaches it faults SSS.2 (0x79)"
                : "not present (R=W=0): a walk that reaches it faults LGN.2 (0x05) on a write, LGN.3 (0x06) on a read");
        }
        var fields = new List<DecodedField>();
        foreach (FieldRow row in kind.Rows(level, leaf))
        {
            ulong value = Structures.Bits.Get(values[row.Low / 64], row.High % 64, row.Low % 64);
            bool flagged;
            string meaning;
            switch (row.Role)
            {
                case FieldRole.Reserved:
                    flagged = value != 0;
                    meaning = flagged ? $"{row.Title}: SET, must be 0" : row.Title;
                    break;
                case FieldRole.Ignored:
                    flagged = false;
                    meaning = value != 0 ? $"{row.Title} (software's bits)" : row.Title;
                    break;
                default:
                    flagged = row.Invalid?.Invoke(value) ?? false;
                    meaning = row.Describe is null ? row.Title : $"{row.Title}: {row.Describe(value)}";
                    break;
            }
            fields.Add(new DecodedField(row.High, row.Low, row.Name, value, meaning, row.Role, flagged));
        }
        if (kind == Cap || kind == Ecap)
        {
            if (fields.Any(f => f.Flagged && f.Role == FieldRole.Reserved))
                notes.Add("a bit reserved in rev 4.x is set: a newer revision's feature, an older revision's deprecated one, or not a capability register value");
        }
        else if (fields.Any(f => f.Flagged))
            notes.Add("reserved bits are set or a field holds a reserved encoding: hardware that uses this entry faults (reserved-field or invalid-entry condition)");
        return new DecodedStructure(kind.Name, title, [.. values], fields, notes);
    }

    /// <summary>
    /// Parses and decodes: <paramref name="texts"/> are the values, low qword first, each 0x-prefixed hex or decimal.
    /// False, with a message naming the value (by position and text) and what was expected, when they cannot be read.
    /// </summary>
    public static bool TryDecode(StructureKind kind, IReadOnlyList<string> texts, int level, [NotNullWhen(true)] out DecodedStructure? result, out string error)
    {
        result = null;
        if (level is < 1 or > 5)
        {
            error = $"level {level} is not a paging level; give 1 (PTE) to 5 (PML5E)";
            return false;
        }
        if (texts.Count != kind.Qwords)
        {
            string what = kind.Qwords == 1 ? "one 64-bit value" : $"{kind.Qwords} 64-bit values, low qword first (QW0 to QW{kind.Qwords - 1})";
            error = $"{kind.Name} takes {what}; {texts.Count} given";
            return false;
        }
        var values = new ulong[texts.Count];
        for (int i = 0; i < texts.Count; i++)
        {
            if (!TryParseValue(texts[i], out values[i], out string problem))
            {
                string position = kind.Qwords == 1 ? "value" : $"QW{i}";
                error = $"{position} '{Printable(texts[i])}': {problem}";
                return false;
            }
        }
        result = Decode(kind, values, level);
        error = "";
        return true;
    }

    /// <summary>A 64-bit value written as 0x-prefixed hex (0x00d2008c22260206) or decimal; false with what is wrong.</summary>
    public static bool TryParseValue(string text, out ulong value, out string error)
    {
        value = 0;
        error = "";
        string t = text.Trim();
        bool hex = t.StartsWith("0x", StringComparison.OrdinalIgnoreCase);
        string digits = hex ? t[2..] : t;
        if (digits.Length == 0 || !digits.All(c => hex ? char.IsAsciiHexDigit(c) : char.IsAsciiDigit(c)))
        {
            error = hex ? "not a hex number (0x followed by the digits 0-9, a-f)" : "not a number; give hex with 0x (0x1f) or decimal (31)";
            return false;
        }
        if (!ulong.TryParse(digits, hex ? NumberStyles.AllowHexSpecifier : NumberStyles.None, CultureInfo.InvariantCulture, out value))
        {
            error = "does not fit in 64 bits";
            return false;
        }
        return true;
    }

    /// <summary>Text as an error message may quote it: control characters shown as \xNN, long text cut.</summary>
    public static string Printable(string text)
    {
        var s = new System.Text.StringBuilder();
        foreach (char c in text.Length > 80 ? text[..80] : text)
            s.Append(char.IsControl(c) || char.IsSurrogate(c) ? $"\\x{(int)c:x2}" : c.ToString());
        if (text.Length > 80) s.Append('…');
        return s.ToString();
    }
}
