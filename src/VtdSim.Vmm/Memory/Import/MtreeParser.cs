using System.Globalization;
using System.Text;

namespace VtdSim.Vmm.Memory.Import;

/// <summary>
/// Reads QEMU's HMP `info mtree` (the region trees, with or without -D) and `info mtree -f` (the flat views), as QEMU
/// 7.2 to current prints them, from text (no I/O: the caller reads the file). Both may be in one input, one block after
/// the other. Blank lines separate blocks; monitor prompt lines (`(qemu) …`) are skipped (decision I2). Anything else
/// is refused with the file, the line and the text that could not be read, and what was expected there; no exception
/// escapes for any input (docs/analyze.md).
/// </summary>
public static class MtreeParser
{
    /// <summary>The longest piece of a bad line an error message quotes.</summary>
    private const int QuoteLength = 100;

    private const string Indent = "  ";

    /// <summary>The name given to a disabled region that QEMU did not print (without -D) but printed the subregions of.</summary>
    public const string HiddenName = "(not printed)";

    private const string RegionExpected =
        "a region line 'START-END (prio N, TYPE): NAME' indented by two spaces per level, START and END 16 hex digits, TYPE ram, rom, romd, ramd or i/o";

    private const string SectionExpected =
        "a flat view section '  START-END (prio N, TYPE): NAME[ @OFFSET]', START, END and OFFSET 16 hex digits, TYPE ram, rom, romd, ramd or i/o";

    private const string HeaderExpected =
        "'address-space: NAME', 'memory-region: NAME', 'FlatView #N' or a blank line";

    /// <summary>
    /// Parses <paramref name="text"/> (named <paramref name="file"/> in messages) and rebuilds its region trees into the
    /// model's memory API (<see cref="ImportedMemoryMap"/>). False with the first problem.
    /// </summary>
    public static bool TryParse(string text, string file, out ImportedMemoryMap? map, out MtreeParseError? error)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(file);
        map = null;
        if (!TryReadBlocks(text, file, out List<MtreeBlock> trees, out List<FlatViewBlock> flats, out error)) return false;
        return ImportedMemoryMap.TryCreate(file, trees, flats, out map, out error);
    }

    /// <summary>The syntax only: the blocks of the input, without rebuilding the regions.</summary>
    public static bool TryReadBlocks(string text, string file, out List<MtreeBlock> trees, out List<FlatViewBlock> flats, out MtreeParseError? error)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(file);
        trees = [];
        flats = [];
        error = null;
        var reader = new LineReader(text);
        bool any = false;
        while (reader.Next(out ReadOnlySpan<char> line, out int number))
        {
            if (line.IsEmpty || line.StartsWith("(qemu)", StringComparison.Ordinal)) continue;
            any = true;
            bool ok;
            if (line.StartsWith("address-space: ", StringComparison.Ordinal) || line.StartsWith("memory-region: ", StringComparison.Ordinal))
                ok = TryReadTree(ref reader, line, number, file, trees, out error);
            else if (line.StartsWith("FlatView #", StringComparison.Ordinal))
                ok = TryReadFlatView(ref reader, line, number, file, flats, out error);
            else
                ok = Fail(file, number, line, HeaderExpected, out error);
            if (!ok) return false;
        }
        if (!any) return Fail(file, Math.Max(1, reader.LineCount), "", "QEMU's `info mtree` or `info mtree -f` output; the input is empty", out error);
        return true;
    }

    private static bool TryReadTree(ref LineReader reader, ReadOnlySpan<char> header, int headerLine, string file, List<MtreeBlock> trees, out MtreeParseError? error)
    {
        bool space = header.StartsWith("address-space: ", StringComparison.Ordinal);
        var names = new List<string> { header["address-space: ".Length..].ToString() };
        if (names[0].Length == 0) return Fail(file, headerLine, header, "a name after 'address-space: ' or 'memory-region: '", out error);
        ReadOnlySpan<char> line;
        int number;
        // The address spaces that share a root are listed one per line before it.
        while (true)
        {
            if (!reader.Next(out line, out number))
                return Fail(file, headerLine, header, "the region tree after it", out error);
            if (space && line.StartsWith("address-space: ", StringComparison.Ordinal))
            {
                if (line.Length == "address-space: ".Length) return Fail(file, number, line, "a name after 'address-space: '", out error);
                names.Add(line["address-space: ".Length..].ToString());
                continue;
            }
            break;
        }
        if (line.IsEmpty) return Fail(file, number, line, "the block's region tree (its first line indented by two spaces)", out error);
        if (!TryRegion(line, number, file, out int level, out MtreeNode? root, out error)) return false;
        var path = new List<MtreeNode>();
        if (level > ImportedMemoryMap.MaxDepth) return Fail(file, number, line, $"a region at most {ImportedMemoryMap.MaxDepth} levels deep", out error);
        if (level > 1)
        {
            // The block's own region is disabled and was not printed (the memory-region block names it).
            root = new MtreeNode(number, 0, ulong.MaxValue, 0, "i/o", false, space ? HiddenName : names[0], null, 0, 0, disabled: true) { IsHidden = true };
            path.Add(root);
        }
        else
        {
            path.Add(root!);
            if (!reader.Next(out line, out number) || line.IsEmpty) line = default;
        }
        for (bool first = true; !line.IsEmpty; first = false)
        {
            if (!first && !(reader.Next(out line, out number) && !line.IsEmpty)) break;
            if (!TryRegion(line, number, file, out level, out MtreeNode? node, out error)) return false;
            if (level < 2) return Fail(file, number, line, "a subregion of the block's region (indented by at least four spaces)", out error);
            if (level > ImportedMemoryMap.MaxDepth) return Fail(file, number, line, $"a region at most {ImportedMemoryMap.MaxDepth} levels deep", out error);
            // Without -D QEMU does not print a disabled region but prints what is below it one level deeper all the same:
            // a deeper line than the next level has regions above it that were not printed (decision I8).
            while (level > path.Count + 1)
            {
                var hidden = new MtreeNode(number, node!.Start, ulong.MaxValue, 0, "i/o", false, HiddenName, null, 0, 0, disabled: true) { IsHidden = true };
                path[^1].AddChild(hidden);
                path.Add(hidden);
            }
            path.RemoveRange(level - 1, path.Count - (level - 1));
            path[^1].AddChild(node!);
            path.Add(node!);
        }
        trees.Add(new MtreeBlock(headerLine, space, names, root!));
        error = null;
        return true;
    }

    private static bool TryReadFlatView(ref LineReader reader, ReadOnlySpan<char> header, int headerLine, string file, List<FlatViewBlock> flats, out MtreeParseError? error)
    {
        if (!int.TryParse(header["FlatView #".Length..], NumberStyles.None, CultureInfo.InvariantCulture, out int n))
            return Fail(file, headerLine, header, "'FlatView #N' with a decimal number", out error);
        var spaces = new List<FlatViewSpace>();
        ReadOnlySpan<char> line;
        int number;
        while (true)
        {
            if (!reader.Next(out line, out number)) return Fail(file, headerLine, header, "' AS \"NAME\", root: NAME' lines after it", out error);
            if (!line.StartsWith(" AS \"", StringComparison.Ordinal)) break;
            ReadOnlySpan<char> rest = line[5..];
            int quote = rest.IndexOf("\", root: ", StringComparison.Ordinal);
            if (quote < 0) return Fail(file, number, line, "' AS \"NAME\", root: NAME[, alias TARGET]'", out error);
            string name = rest[..quote].ToString();
            ReadOnlySpan<char> root = rest[(quote + "\", root: ".Length)..];
            string? alias = null;
            int comma = root.LastIndexOf(", alias ", StringComparison.Ordinal);
            if (comma >= 0)
            {
                alias = root[(comma + ", alias ".Length)..].ToString();
                root = root[..comma];
            }
            if (root.IsEmpty || alias is "") return Fail(file, number, line, "' AS \"NAME\", root: NAME[, alias TARGET]' with the names", out error);
            spaces.Add(new FlatViewSpace(name, root.ToString(), alias));
        }
        if (spaces.Count == 0) return Fail(file, number, line, "' AS \"NAME\", root: NAME' (the address spaces of the flat view)", out error);
        if (!line.StartsWith(" Root memory region: ", StringComparison.Ordinal) || line.Length == " Root memory region: ".Length)
            return Fail(file, number, line, "' Root memory region: NAME' or ' Root memory region: (none)'", out error);
        string rootName = line[" Root memory region: ".Length..].ToString();
        string? rootRegion = rootName == "(none)" ? null : rootName;
        var sections = new List<FlatSectionLine>();
        if (!reader.Next(out line, out number)) return Fail(file, headerLine, header, "its sections or '  No rendered FlatView'", out error);
        if (line.SequenceEqual("  No rendered FlatView"))
        {
            if (reader.Next(out line, out number) && !line.IsEmpty)
                return Fail(file, number, line, "a blank line after 'No rendered FlatView'", out error);
        }
        else
        {
            do
            {
                if (!TrySection(line, number, file, out FlatSectionLine s, out error)) return false;
                if (sections.Count > 0 && s.Start <= sections[^1].Last)
                    return Fail(file, number, line, $"sections in address order, not overlapping (the one before ends at 0x{sections[^1].Last:x})", out error);
                sections.Add(s);
            }
            while (reader.Next(out line, out number) && !line.IsEmpty);
        }
        flats.Add(new FlatViewBlock(headerLine, n, spaces, rootRegion, sections));
        error = null;
        return true;
    }

    /// <summary>A tree line: its level (indent / 2) and its node.</summary>
    private static bool TryRegion(ReadOnlySpan<char> line, int number, string file, out int level, out MtreeNode? node, out MtreeParseError? error)
    {
        node = null;
        int spaces = 0;
        while (spaces < line.Length && line[spaces] == ' ') spaces++;
        level = spaces / 2;
        if (spaces == 0 || spaces % 2 != 0) return Fail(file, number, line, RegionExpected, out error);
        if (!TryHead(line[spaces..], out ulong start, out ulong last, out int priority, out string? type, out bool nv, out ReadOnlySpan<char> rest))
            return Fail(file, number, line, RegionExpected, out error);
        bool disabled = rest.EndsWith(" [disabled]", StringComparison.Ordinal);
        if (disabled) rest = rest[..^" [disabled]".Length];
        if (rest.StartsWith("alias ", StringComparison.Ordinal))
        {
            // alias NAME @TARGET OFFSET-END: the window is the last 33 characters; the target follows the last " @".
            ReadOnlySpan<char> alias = rest["alias ".Length..];
            if (alias.Length < 35 || alias[^34] != ' ' || !TryRange(alias[^33..], out ulong aliasStart, out ulong aliasLast))
                return Fail(file, number, line, "an alias 'alias NAME @TARGET OFFSET-END' with OFFSET and END 16 hex digits", out error);
            ReadOnlySpan<char> names = alias[..^34];
            int at = names.LastIndexOf(" @", StringComparison.Ordinal);
            if (at <= 0 || at + 2 >= names.Length)
                return Fail(file, number, line, "an alias 'alias NAME @TARGET OFFSET-END' naming the region and its target", out error);
            if (aliasLast - aliasStart != last - start)
                return Fail(file, number, line, $"an alias window as long as the alias (0x{(UInt128)last - start + 1:x} bytes)", out error);
            node = new MtreeNode(number, start, last, priority, type!, nv, names[..at].ToString(), names[(at + 2)..].ToString(), aliasStart, aliasLast, disabled);
        }
        else
        {
            if (rest.IsEmpty) return Fail(file, number, line, "the region's name after '): '", out error);
            node = new MtreeNode(number, start, last, priority, type!, nv, rest.ToString(), null, 0, 0, disabled);
        }
        error = null;
        return true;
    }

    private static bool TrySection(ReadOnlySpan<char> line, int number, string file, out FlatSectionLine section, out MtreeParseError? error)
    {
        section = default;
        if (!line.StartsWith(Indent, StringComparison.Ordinal) || line.Length < 3 || line[2] == ' '
            || !TryHead(line[2..], out ulong start, out ulong last, out int priority, out string? type, out bool nv, out ReadOnlySpan<char> rest))
            return Fail(file, number, line, SectionExpected, out error);
        ulong offset = 0;
        if (rest.Length > 18 && rest[^18] == ' ' && rest[^17] == '@')
        {
            if (!TryHex16(rest[^16..], out offset)) return Fail(file, number, line, "' @OFFSET' with OFFSET 16 hex digits", out error);
            rest = rest[..^18];
        }
        if (rest.IsEmpty) return Fail(file, number, line, "the region's name after '): '", out error);
        section = new FlatSectionLine(number, start, last, priority, type!, nv, rest.ToString(), offset);
        error = null;
        return true;
    }

    /// <summary>`START-END (prio N, [nv-]TYPE): ` and what follows it.</summary>
    private static bool TryHead(ReadOnlySpan<char> text, out ulong start, out ulong last, out int priority, out string? type, out bool nonVolatile, out ReadOnlySpan<char> rest)
    {
        priority = 0;
        type = null;
        nonVolatile = false;
        rest = default;
        if (text.Length < 33 || !TryRange(text[..33], out start, out last)) 
        {
            start = last = 0;
            return false;
        }
        text = text[33..];
        if (!text.StartsWith(" (prio ", StringComparison.Ordinal)) return false;
        text = text[" (prio ".Length..];
        int comma = text.IndexOf(", ", StringComparison.Ordinal);
        if (comma <= 0 || !int.TryParse(text[..comma], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out priority)) return false;
        text = text[(comma + 2)..];
        int close = text.IndexOf("): ", StringComparison.Ordinal);
        if (close <= 0) return false;
        ReadOnlySpan<char> kind = text[..close];
        if (kind.StartsWith("nv-", StringComparison.Ordinal))
        {
            nonVolatile = true;
            kind = kind[3..];
        }
        type = kind switch
        {
            "ram" => "ram",
            "rom" => "rom",
            "romd" => "romd",
            "ramd" => "ramd",
            "i/o" => "i/o",
            _ => null,
        };
        rest = text[(close + 3)..];
        return type is not null;
    }

    /// <summary>`START-END`, each 16 hex digits, START not above END.</summary>
    private static bool TryRange(ReadOnlySpan<char> text, out ulong start, out ulong last)
    {
        last = 0;
        return TryHex16(text[..16], out start) & text[16] == '-' & TryHex16(text[17..], out last) && start <= last;
    }

    private static bool TryHex16(ReadOnlySpan<char> text, out ulong value)
    {
        value = 0;
        if (text.Length != 16) return false;
        foreach (char c in text)
        {
            int digit = c is >= '0' and <= '9' ? c - '0' : c is >= 'a' and <= 'f' ? c - 'a' + 10 : c is >= 'A' and <= 'F' ? c - 'A' + 10 : -1;
            if (digit < 0) return false;
            value = (value << 4) | (uint)digit;
        }
        return true;
    }

    internal static bool Fail(string file, int line, ReadOnlySpan<char> text, string expected, out MtreeParseError? error)
    {
        error = new MtreeParseError(file, line, Quote(text), expected);
        return false;
    }

    /// <summary>The text as an error message shows it: control characters and quotes escaped, at most 100 characters.</summary>
    internal static string Quote(ReadOnlySpan<char> text)
    {
        var quoted = new StringBuilder();
        foreach (char c in text.Length > QuoteLength ? text[..QuoteLength] : text)
        {
            if (c < ' ' || c == '\x7f' || char.IsSurrogate(c) || c is '\'' or '\\') quoted.Append(CultureInfo.InvariantCulture, $"\\x{(int)c:x2}");
            else quoted.Append(c);
        }
        if (text.Length > QuoteLength) quoted.Append("...");
        return quoted.ToString();
    }

    /// <summary>The input's lines (1-based), without "\n" or a "\r" before it.</summary>
    private ref struct LineReader(string text)
    {
        private int at;
        private int number;

        public readonly int LineCount => number;

        public bool Next(out ReadOnlySpan<char> line, out int lineNumber)
        {
            if (at > text.Length || (at == text.Length && (text.Length == 0 || text[^1] == '\n')))
            {
                line = default;
                lineNumber = number;
                return false;
            }
            int end = text.IndexOf('\n', at);
            if (end < 0) end = text.Length;
            line = text.AsSpan(at, end - at);
            if (line.EndsWith("\r", StringComparison.Ordinal)) line = line[..^1];
            at = end + 1;
            lineNumber = ++number;
            return true;
        }
    }
}
