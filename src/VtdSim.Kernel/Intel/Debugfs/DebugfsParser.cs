using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text;
using VtdSim.Hardware.Addressing;

namespace VtdSim.Kernel.Intel.Debugfs;

/// <summary>The kind of a debugfs file, from its name or, for a file named otherwise, from its first line.</summary>
public enum DebugfsFileKind
{
    Unknown,
    IommuRegset,
    DmarTranslationStruct,
    DomainTranslationStruct,
    InvalidationQueue,
    DmarPerfLatency,
    IrTranslationStruct,
}

/// <summary>
/// Reads Linux's Intel IOMMU debugfs files (docs/analyze.md, "The debugfs formats"; decisions I20-I30) from text: no
/// I/O, the caller gives each file's path (relative to the intel/ directory, or any name for a single file) and text.
/// Every line must be one the kernel prints; anything else is refused with the file, the line, the text and what was
/// expected there. No exception escapes for any input.
/// </summary>
public static class DebugfsParser
{
    private const int QuoteLength = 100;
    private const string Hex16 = "0x and 16 hex digits";

    /// <summary>Reads the files in the order given into one dump; false with the first problem.</summary>
    public static bool TryParse(IEnumerable<(string Path, string Text)> files, [NotNullWhen(true)] out DebugfsDump? dump, [NotNullWhen(false)] out DebugfsParseError? error)
    {
        ArgumentNullException.ThrowIfNull(files);
        dump = new DebugfsDump();
        foreach (var (path, text) in files)
        {
            if (!TryParseFile(path, text, dump, out error))
            {
                dump = null;
                return false;
            }
        }
        error = null;
        return true;
    }

    /// <summary>The kind of file a path names (its last component, and for domain_translation_struct its directories).</summary>
    public static DebugfsFileKind KindOf(string path, string text)
    {
        string name = path.Replace('\\', '/').Split('/')[^1];
        switch (name)
        {
            case DebugfsLayout.IommuRegset: return DebugfsFileKind.IommuRegset;
            case DebugfsLayout.DmarTranslationStruct: return DebugfsFileKind.DmarTranslationStruct;
            case DebugfsLayout.DomainTranslationStruct: return DebugfsFileKind.DomainTranslationStruct;
            case DebugfsLayout.InvalidationQueue: return DebugfsFileKind.InvalidationQueue;
            case DebugfsLayout.DmarPerfLatency: return DebugfsFileKind.DmarPerfLatency;
            case DebugfsLayout.IrTranslationStruct: return DebugfsFileKind.IrTranslationStruct;
        }
        // A file saved under another name: its first lines tell which file it is.
        string[] lines = Lines(text, 2);
        string first = lines.Length > 0 ? lines[0] : "", second = lines.Length > 1 ? lines[1] : "";
        if (first.StartsWith("IOMMU: ", StringComparison.Ordinal)) return second == DebugfsLayout.RegsetHeader ? DebugfsFileKind.IommuRegset : DebugfsFileKind.DmarPerfLatency;
        if (first.StartsWith("IOMMU ", StringComparison.Ordinal)) return DebugfsFileKind.DmarTranslationStruct;
        if (first.StartsWith("Device ", StringComparison.Ordinal)) return DebugfsFileKind.DomainTranslationStruct;
        if (first.StartsWith("Invalidation queue on IOMMU: ", StringComparison.Ordinal)) return DebugfsFileKind.InvalidationQueue;
        if (first.StartsWith("Remapped Interrupt", StringComparison.Ordinal) || first.StartsWith("Posted Interrupt", StringComparison.Ordinal) || first == "****")
            return DebugfsFileKind.IrTranslationStruct;
        if (first.StartsWith("DMA Remapping is not enabled on ", StringComparison.Ordinal))
            return lines.Length > 1 && second.StartsWith("Device ", StringComparison.Ordinal) ? DebugfsFileKind.DomainTranslationStruct : DebugfsFileKind.DmarTranslationStruct;
        return DebugfsFileKind.Unknown;
    }

    /// <summary>Reads one file into <paramref name="dump"/>; false with the first problem (the dump then holds what came before).</summary>
    public static bool TryParseFile(string path, string text, DebugfsDump dump, [NotNullWhen(false)] out DebugfsParseError? error)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(dump);
        dump.Files.Add(path);
        string[] lines = Lines(text, int.MaxValue);
        switch (KindOf(path, text))
        {
            case DebugfsFileKind.IommuRegset: return TryRegset(path, lines, dump, out error);
            case DebugfsFileKind.DmarTranslationStruct: return TryTranslation(path, lines, dump, out error);
            case DebugfsFileKind.DomainTranslationStruct: return TryDomains(path, lines, dump, out error);
            case DebugfsFileKind.InvalidationQueue: return TryQueue(path, lines, dump, out error);
            case DebugfsFileKind.DmarPerfLatency:
                dump.Skipped.Add(new SkippedFile(path, "invalidation latency counters: timing, not translation structures (decision I21)"));
                error = null;
                return true;
            case DebugfsFileKind.IrTranslationStruct:
                dump.Skipped.Add(new SkippedFile(path, "interrupt remapping tables: the model has no interrupt remapping (decision I21)"));
                error = null;
                return true;
        }
        return Fail(path, 1, lines.Length > 0 ? lines[0] : "",
            "a file of /sys/kernel/debug/iommu/intel/: iommu_regset, dmar_translation_struct, domain_translation_struct, invalidation_queue, dmar_perf_latency or ir_translation_struct", out error);
    }

    // ---- iommu_regset ----

    private static bool TryRegset(string file, string[] lines, DebugfsDump dump, out DebugfsParseError? error)
    {
        int i = 0;
        bool any = false;
        while (i < lines.Length)
        {
            if (lines[i].Length == 0) { i++; continue; }
            var s = new Scanner(lines[i]);
            int headerLine = i + 1;
            if (!(s.Literal("IOMMU: ") && s.Name(out string unit) && s.Literal(" Register Base Address: ") && s.Hex(1, 16, out ulong registerBase) && s.End))
                return Fail(file, i + 1, lines[i], "'IOMMU: NAME Register Base Address: HEX' (the unit's name, its register base in hex without 0x)", out error);
            i++;
            if (i >= lines.Length || lines[i] != DebugfsLayout.RegsetHeader)
                return Missing(file, lines, i, "the header 'Name<TAB><TAB><TAB>Offset<TAB><TAB>Contents'", out error);
            i++;
            var registers = new List<DumpedRegister>();
            for (; i < lines.Length && lines[i].Length != 0; i++)
            {
                var r = new Scanner(lines[i]);
                if (!(r.Name(out string name) && r.Spaces() && r.Literal("\t0x") && r.Hex(2, 4, out ulong offset) && r.Literal("\t\t0x") && r.Hex(16, 16, out ulong value) && r.End))
                    return Fail(file, i + 1, lines[i], "a register line 'NAME<TAB>0xOFFSET<TAB><TAB>0xVALUE', NAME padded to 16, VALUE 16 hex digits", out error);
                DebugfsRegister? known = DebugfsLayout.Registers.Concat(DebugfsLayout.OlderRegisters).Where(k => k.Name == name).Select(k => (DebugfsRegister?)k).FirstOrDefault();
                if (known is not { } k || k.Offset != (int)offset)
                    return Fail(file, i + 1, lines[i], known is { } kk ? $"{name} at offset 0x{kk.Offset:x2}" : "a register iommu_regset lists (VER, GCMD, GSTS, ... CAP, ECAP, RTADDR, ... MTRR_PHYSMASK9)", out error);
                if (!k.Wide && value > uint.MaxValue)
                    return Fail(file, i + 1, lines[i], $"a 32-bit value for {name}", out error);
                if (name.Length < 16 && lines[i].IndexOf('\t') != 16)
                    return Fail(file, i + 1, lines[i], "the register name padded with spaces to 16 characters", out error);
                registers.Add(new DumpedRegister(i + 1, name, (int)offset, value));
            }
            if (registers.Count == 0) return Missing(file, lines, i, "register lines after the header", out error);
            dump.Registers.Add(new RegsetBlock(file, headerLine, unit, registerBase, registers));
            any = true;
        }
        if (!any) return Fail(file, Math.Max(1, lines.Length), "", "'IOMMU: NAME Register Base Address: HEX'; the file is empty", out error);
        error = null;
        return true;
    }

    // ---- dmar_translation_struct ----

    private static bool TryTranslation(string file, string[] lines, DebugfsDump dump, out DebugfsParseError? error)
    {
        int i = 0;
        while (i < lines.Length)
        {
            if (lines[i].Length == 0) { i++; continue; }
            var s = new Scanner(lines[i]);
            int headerLine = i + 1;
            if (s.Literal("DMA Remapping is not enabled on ") && s.Name(out string off) && s.End)
            {
                dump.Translation.Add(new TranslationBlock(file, headerLine, off, false, 0, []));
                i++;
                continue;
            }
            s = new Scanner(lines[i]);
            if (!(s.Literal("IOMMU ") && s.Name(out string unit, ':') && s.Literal(": Root Table Address: 0x") && s.Hex(1, 16, out ulong root) && s.End) || (root & 0xFFF) != 0)
                return Fail(file, i + 1, lines[i], "'IOMMU NAME: Root Table Address: 0xHEX' (a 4 KiB-aligned page) or 'DMA Remapping is not enabled on NAME'", out error);
            i++;
            if (i >= lines.Length || lines[i] != DebugfsLayout.TranslationHeader)
                return Missing(file, lines, i, "the header 'B.D.F<TAB>Root_entry<TAB>...<TAB>PASID<TAB>PASID_table_entry'", out error);
            i++;
            var rows = new List<TranslationRow>();
            int last = -1;
            for (; i < lines.Length && lines[i].Length != 0; i++)
            {
                var r = new Scanner(lines[i]);
                if (!(r.Bdf(out SourceId device) && r.Literal("\t0x") && r.Hex(16, 16, out ulong rootHi) && r.Literal(":0x") && r.Hex(16, 16, out ulong rootLo)
                      && r.Literal("\t0x") && r.Hex(16, 16, out ulong ctxHi) && r.Literal(":0x") && r.Hex(16, 16, out ulong ctxLo)
                      && r.Literal("\t") && r.PaddedInt(6, out int pasid) && r.Literal("\t0x") && r.Hex(16, 16, out ulong q2) && r.Literal(":0x") && r.Hex(16, 16, out ulong q1)
                      && r.Literal(":0x") && r.Hex(16, 16, out ulong q0) && r.End))
                    return Fail(file, i + 1, lines[i],
                        "an entry line 'BB:DD.F<TAB>0xROOT_HI:0xROOT_LO<TAB>0xCTX_HI:0xCTX_LO<TAB>PASID<TAB>0xQ2:0xQ1:0xQ0', every value 0x and 16 hex digits, PASID decimal (-1 in legacy mode) padded to 6", out error);
                if (pasid < -1 || pasid >= 1 << 20)
                    return Fail(file, i + 1, lines[i], "a PASID from 0 to 1048575, or -1 in legacy mode", out error);
                if (pasid < 0 && (q0 | q1 | q2) != 0)
                    return Fail(file, i + 1, lines[i], "zeros for the PASID entry on a legacy-mode line (PASID -1)", out error);
                if ((ctxLo & 1) == 0 || (pasid >= 0 && (q0 & 1) == 0))
                    return Fail(file, i + 1, lines[i], "a present context entry (and PASID entry): the kernel prints only those", out error);
                int order = (device.Value << 20) | Math.Max(pasid, 0);
                if (order <= last) return Fail(file, i + 1, lines[i], "lines in the kernel's walk order: bus, devfn, then PASID ascending, each once", out error);
                if (rows.Count > 0 && rows[0].Legacy != (pasid < 0))
                    return Fail(file, i + 1, lines[i], "every line of one unit in the same mode (all PASID -1, or none)", out error);
                last = order;
                rows.Add(new TranslationRow(i + 1, device, rootHi, rootLo, ctxHi, ctxLo, pasid, q2, q1, q0));
            }
            dump.Translation.Add(new TranslationBlock(file, headerLine, unit, true, root, rows));
        }
        if (dump.Translation.All(t => t.File != file)) return Fail(file, Math.Max(1, lines.Length), "", "'IOMMU NAME: Root Table Address: 0xHEX'; the file is empty", out error);
        error = null;
        return true;
    }

    // ---- domain_translation_struct ----

    private static bool TryDomains(string file, string[] lines, DebugfsDump dump, out DebugfsParseError? error)
    {
        // Where the directory names the device (and the PASID), the file's header must agree.
        string[] parts = file.Replace('\\', '/').Split('/');
        SourceId? dirDevice = null;
        uint? dirPasid = null;
        for (int p = 0; p < parts.Length - 1; p++)
        {
            var d = new Scanner(parts[p]);
            if (d.Literal("0000:") && d.Bdf(out SourceId dev) && d.End)
            {
                dirDevice = dev;
                dirPasid = null;
                if (p + 2 == parts.Length - 1 && uint.TryParse(parts[p + 1], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out uint pa) && pa < 1u << 20)
                    dirPasid = pa;
            }
        }
        int i = 0;
        while (i < lines.Length)
        {
            if (lines[i].Length == 0) { i++; continue; }
            var s = new Scanner(lines[i]);
            if (s.Literal("DMA Remapping is not enabled on ") && s.Name(out _) && s.End) { i++; continue; }
            s = new Scanner(lines[i]);
            int headerLine = i + 1;
            uint? pasid = null;
            if (!(s.Literal("Device ") && s.Hex(4, 4, out ulong segment) && s.Literal(":") && s.Bdf(out SourceId device)
                  && (s.Literal(" with pasid ") ? s.Hex(1, 5, out ulong p) && (pasid = (uint)p) is not null && s.Literal(" @0x") : s.Literal(" @0x"))
                  && s.Hex(1, 16, out ulong pgd) && s.End) || segment != 0 || (pgd & 0xFFF) != 0)
                return Fail(file, i + 1, lines[i], "'Device 0000:BB:DD.F[ with pasid HEX] @0xTABLE', segment 0000, TABLE 4 KiB aligned", out error);
            if (pasid >= 1u << 20) return Fail(file, i + 1, lines[i], "a PASID below 0x100000", out error);
            if (dirDevice is { } dd && (dd != device || (pasid is { } hp && hp != (dirPasid ?? 0)) || (pasid is null && dirPasid is not null)))
                return Fail(file, i + 1, lines[i], $"the device{(dirPasid is null ? "" : " and PASID")} the directory names ({DebugfsLayout.DeviceName(dd)}{(dirPasid is { } dp ? $", PASID {dp:x}" : "")})", out error);
            i++;
            bool newHeader = i < lines.Length && lines[i] == DebugfsLayout.PageTableHeader;
            if (i >= lines.Length || (!newHeader && lines[i] != DebugfsLayout.OldPageTableHeader))
                return Missing(file, lines, i, "the header 'IOVA_PFN ... PML5E ... PML4E ... PDPE ... PDE ... PTE'", out error);
            i++;
            var leaves = new List<LeafRow>();
            int top = 0;
            ulong next = 0;
            for (; i < lines.Length && lines[i].Length != 0 && !lines[i].StartsWith("Device ", StringComparison.Ordinal); i++)
            {
                var r = new Scanner(lines[i]);
                var path = new ulong[6];
                if (!(r.Literal("0x") && r.Hex(13, 13, out ulong pfn) && r.Literal(" |\t0x") && r.Hex(16, 16, out path[5]) && r.Literal("\t0x") && r.Hex(16, 16, out path[4])
                      && r.Literal("\t0x") && r.Hex(16, 16, out path[3])))
                    return Fail(file, i + 1, lines[i], "a leaf line '0xPFN |<TAB>0xPML5E<TAB>0xPML4E<TAB>0xPDPE[<TAB>0xPDE[<TAB>0xPTE]]', PFN 13 hex digits, entries 0x and 16 hex digits", out error);
                for (int level = 2; level >= 1 && !r.End; level--)
                    if (!(r.Literal("\t0x") && r.Hex(16, 16, out path[level])))
                        return Fail(file, i + 1, lines[i], "a leaf line '0xPFN |<TAB>0xPML5E<TAB>0xPML4E<TAB>0xPDPE[<TAB>0xPDE[<TAB>0xPTE]]', PFN 13 hex digits, entries 0x and 16 hex digits", out error);
                if (!r.End) return Fail(file, i + 1, lines[i], "at most five entries (PML5E to PTE) after the PFN", out error);
                if (!TryLeafShape(path, pfn, out string? problem, out int lineTop))
                    return Fail(file, i + 1, lines[i], problem!, out error);
                if (top != 0 && lineTop != top) return Fail(file, i + 1, lines[i], $"the same table depth as the lines before (a {top}-level table)", out error);
                top = lineTop;
                ulong iova = pfn << 12;
                if (leaves.Count > 0 && iova < next) return Fail(file, i + 1, lines[i], "leaves in ascending IOVA order, none overlapping the one before", out error);
                var row = new LeafRow(i + 1, iova, path);
                next = iova + row.PageSize;
                if (next == 0) next = ulong.MaxValue; // the last page of the space: nothing may follow
                leaves.Add(row);
            }
            dump.Domains.Add(new DomainDump(file, headerLine, device, pasid, pgd, top, leaves));
        }
        error = null;
        return true;
    }

    /// <summary>
    /// A leaf's path must be what the kernel's walk prints: the entries from the top level down to the leaf all present
    /// (R or W, bit 0 or 1), non-leaf ones without PS, the leaf at level 1 or with PS at level 2 or 3, nothing after it,
    /// and the IOVA aligned to the leaf's page.
    /// </summary>
    private static bool TryLeafShape(ulong[] path, ulong pfn, out string? problem, out int top)
    {
        problem = null;
        top = 0;
        for (int level = 5; level >= 1; level--)
            if (path[level] != 0) { top = level; break; }
        if (top == 0)
        {
            problem = "at least one present entry on the path";
            return false;
        }
        int leaf = top;
        while (leaf > 1 && path[leaf - 1] != 0) leaf--;
        for (int level = leaf - 1; level >= 1; level--)
            if (path[level] != 0)
            {
                problem = "present entries from the table's top level down to the leaf, without a zero between them";
                return false;
            }
        for (int level = top; level >= leaf; level--)
        {
            ulong e = path[level];
            if ((e & 3) == 0)
            {
                problem = "present entries only (bit 0 or 1 set): the kernel prints no other";
                return false;
            }
            bool ps = (e & (1UL << 7)) != 0;
            if (level > leaf && ps)
            {
                problem = $"no page-size bit in the level-{level} entry above the leaf";
                return false;
            }
            if (level == leaf && level > 1 && !ps)
            {
                problem = $"a leaf: the level-{level} entry points to a table (PS=0) but no entry of the level below follows";
                return false;
            }
        }
        if (leaf > 3)
        {
            problem = "a leaf at level 1, 2 or 3 (4 KiB, 2 MiB or 1 GiB page)";
            return false;
        }
        if ((pfn & ((1UL << (9 * (leaf - 1))) - 1)) != 0 || pfn >> (9 * top) != 0)
        {
            problem = "a PFN aligned to the leaf's page and within the table's reach";
            return false;
        }
        return true;
    }

    // ---- invalidation_queue ----

    private static bool TryQueue(string file, string[] lines, DebugfsDump dump, out DebugfsParseError? error)
    {
        int i = 0;
        bool any = false;
        while (i < lines.Length)
        {
            if (lines[i].Length == 0) { i++; continue; }
            var s = new Scanner(lines[i]);
            int headerLine = i + 1;
            if (!(s.Literal("Invalidation queue on IOMMU: ") && s.Name(out string unit) && s.End))
                return Fail(file, i + 1, lines[i], "'Invalidation queue on IOMMU: NAME'", out error);
            i++;
            var b = new Scanner(i < lines.Length ? lines[i] : "");
            if (!(b.Literal(" Base: 0x") && b.Hex(1, 16, out ulong queueBase) && b.Literal("\tHead: ") && b.Dec(out ulong head) && b.Literal("\tTail: ") && b.Dec(out ulong tail) && b.End))
                return Missing(file, lines, i, "' Base: 0xHEX<TAB>Head: N<TAB>Tail: N' (head and tail as slot numbers)", out error);
            i++;
            bool wide = i < lines.Length && lines[i] == DebugfsLayout.WideQueueHeader;
            if (i >= lines.Length || (!wide && lines[i] != DebugfsLayout.QueueHeader))
                return Missing(file, lines, i, "the header 'Index<TAB><TAB>qw0<TAB><TAB><TAB>qw1[...qw2...qw3]<TAB><TAB><TAB>status'", out error);
            i++;
            var slots = new List<QueueSlot>();
            for (; i < lines.Length && lines[i].Length != 0; i++)
            {
                var r = new Scanner(lines[i]);
                ulong q2 = 0, q3 = 0;
                if (!(r.PaddedIndex(out int index) && r.Literal("\t") && r.Hex(16, 16, out ulong q0) && r.Literal("\t") && r.Hex(16, 16, out ulong q1)
                      && (!wide || (r.Literal("\t") && r.Hex(16, 16, out q2) && r.Literal("\t") && r.Hex(16, 16, out q3)))
                      && r.Literal("\t") && r.Hex(16, 16, out ulong status) && r.End))
                    return Fail(file, i + 1, lines[i], wide ? "a slot line 'INDEX<TAB>QW0<TAB>QW1<TAB>QW2<TAB>QW3<TAB>STATUS', INDEX right-aligned in 5, the rest 16 hex digits"
                        : "a slot line 'INDEX<TAB>QW0<TAB>QW1<TAB>STATUS', INDEX right-aligned in 5, the rest 16 hex digits", out error);
                if (index != slots.Count) return Fail(file, i + 1, lines[i], $"slot {slots.Count}: slots numbered from 0 in order", out error);
                slots.Add(new QueueSlot(i + 1, index, q0, q1, q2, q3, status));
            }
            if (slots.Count == 0 || head >= (ulong)slots.Count || tail >= (ulong)slots.Count)
                return Fail(file, headerLine + 1, lines[headerLine], "a head and a tail below the number of slots listed", out error);
            dump.Queues.Add(new QueueBlock(file, headerLine, unit, queueBase, head, tail, wide, slots));
            any = true;
        }
        if (!any) return Fail(file, Math.Max(1, lines.Length), "", "'Invalidation queue on IOMMU: NAME'; the file is empty", out error);
        error = null;
        return true;
    }

    // ---- helpers ----

    /// <summary>The lines of a text (a final newline ends the last line; a trailing CR is dropped), at most <paramref name="max"/>.</summary>
    private static string[] Lines(string text, int max)
    {
        var lines = new List<string>();
        int at = 0;
        while (at < text.Length && lines.Count < max)
        {
            int end = text.IndexOf('\n', at);
            if (end < 0) end = text.Length;
            string line = text[at..end];
            if (line.EndsWith('\r')) line = line[..^1];
            lines.Add(line);
            at = end + 1;
        }
        return [.. lines];
    }

    /// <summary>Line <paramref name="i"/> (0-based) is not what was expected, or the file ends before it: then its last line is named.</summary>
    private static bool Missing(string file, string[] lines, int i, string expected, out DebugfsParseError? error) =>
        i < lines.Length ? Fail(file, i + 1, lines[i], expected, out error) : Fail(file, Math.Max(1, lines.Length), "", $"{expected}; the file ends before it", out error);

    private static bool Fail(string file, int line, string text, string expected, out DebugfsParseError? error)
    {
        error = new DebugfsParseError(file, line, Quote(text), expected);
        return false;
    }

    private static string Quote(string text)
    {
        var s = new StringBuilder();
        foreach (char c in text.Length > QuoteLength ? text[..QuoteLength] : text)
            s.Append(c == '\t' ? "\\t" : char.IsControl(c) || char.IsSurrogate(c) ? $"\\x{(int)c:x2}" : c.ToString());
        if (text.Length > QuoteLength) s.Append('…');
        return s.ToString();
    }

    /// <summary>A cursor over one line: each method consumes what it reads and says whether it could.</summary>
    private ref struct Scanner(string line)
    {
        private readonly ReadOnlySpan<char> _line = line;
        private int _at;

        public readonly bool End => _at == _line.Length;

        public bool Literal(string literal)
        {
            if (!_line[_at..].StartsWith(literal, StringComparison.Ordinal)) return false;
            _at += literal.Length;
            return true;
        }

        /// <summary>A unit or register name: letters, digits and '_' (at least one), up to <paramref name="stop"/> if given.</summary>
        public bool Name(out string name, char stop = '\0')
        {
            int start = _at;
            while (_at < _line.Length && (char.IsAsciiLetterOrDigit(_line[_at]) || _line[_at] == '_') && _line[_at] != stop) _at++;
            name = _line[start.._at].ToString();
            return _at > start;
        }

        public bool Spaces()
        {
            while (_at < _line.Length && _line[_at] == ' ') _at++;
            return true;
        }

        public bool Hex(int min, int max, out ulong value)
        {
            value = 0;
            int start = _at;
            while (_at < _line.Length && _at - start < max && char.IsAsciiHexDigit(_line[_at]))
            {
                value = (value << 4) | (uint)HexValue(_line[_at]);
                _at++;
            }
            int n = _at - start;
            return n >= min && !(n == max && _at < _line.Length && char.IsAsciiHexDigit(_line[_at]));
        }

        public bool Dec(out ulong value)
        {
            value = 0;
            int start = _at;
            while (_at < _line.Length && char.IsAsciiDigit(_line[_at]) && _at - start < 19)
            {
                value = value * 10 + (ulong)(_line[_at] - '0');
                _at++;
            }
            return _at > start && !(_at < _line.Length && char.IsAsciiDigit(_line[_at]));
        }

        /// <summary>A decimal printed with %-Nd: the number (maybe negative), then spaces up to N characters.</summary>
        public bool PaddedInt(int width, out int value)
        {
            value = 0;
            int start = _at;
            bool negative = _at < _line.Length && _line[_at] == '-';
            if (negative) _at++;
            if (!Dec(out ulong magnitude) || magnitude > int.MaxValue) return false;
            value = negative ? -(int)magnitude : (int)magnitude;
            int digits = _at - start;
            while (_at < _line.Length && _line[_at] == ' ') _at++;
            return digits >= width ? _at - start == digits : _at - start == width;
        }

        /// <summary>A slot index printed with %5d: spaces, then the number, five characters in all (more if it needs them).</summary>
        public bool PaddedIndex(out int value)
        {
            value = 0;
            int start = _at;
            while (_at < _line.Length && _line[_at] == ' ') _at++;
            if (!Dec(out ulong v) || v > int.MaxValue) return false;
            value = (int)v;
            int length = _at - start;
            return length == 5 || (length > 5 && _line[start] != ' ');
        }

        /// <summary>BB:DD.F, lower-case hex as the kernel prints it, device below 0x20 and function below 8.</summary>
        public bool Bdf(out SourceId device)
        {
            device = default;
            if (!(Hex(2, 2, out ulong bus) && Literal(":") && Hex(2, 2, out ulong dev) && Literal(".") && Hex(1, 1, out ulong fn))) return false;
            if (dev > 0x1F || fn > 7) return false;
            device = new SourceId((int)bus, (int)dev, (int)fn);
            return true;
        }

        private static int HexValue(char c) => c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
    }
}
