using VtdSim.Hardware.Decoding;
using VtdSim.Kernel.Intel.Debugfs;

namespace VtdSim.Report;

/// <summary>
/// The report of `vtdsim analyze debugfs` (V60, V61): the findings first (the SPR17 hazard marked red with a text marker),
/// the devices' translations, the rebuilt root, context and PASID entries decoded, and each dumped page table's leaves as
/// runs, with the run that holds a hazard's first-stage table marked.
/// </summary>
public static class DebugfsReport
{
    private const ulong PageMask = ~0xFFFUL;
    private const ulong EntryAddressMask = 0x000F_FFFF_FFFF_F000;

    /// <summary>At most this many runs of one page table are listed; the rest are counted in a note (V61).</summary>
    public const int MaxRuns = 2000;

    /// <summary>The text code of a finding's kind, as the command's text and JSON print it.</summary>
    public static string Code(DebugfsFindingKind kind) => kind switch
    {
        DebugfsFindingKind.Spr17Hazard => "spr17-hazard",
        DebugfsFindingKind.FirstStageTableUnreadable => "first-stage-table-unreadable",
        DebugfsFindingKind.ReservedBits => "reserved-bits",
        DebugfsFindingKind.OutsideMemory => "outside-memory",
        DebugfsFindingKind.MapsOwnTables => "maps-own-tables",
        _ => "inconsistent",
    };

    /// <summary>The report of <paramref name="analysis"/>; <paramref name="name"/> names what was read (the paths given).</summary>
    public static ReportDocument Build(DebugfsAnalysis analysis, string name)
    {
        ArgumentNullException.ThrowIfNull(analysis);
        ArgumentNullException.ThrowIfNull(name);
        DebugfsDump d = analysis.Dump;
        var summary = new List<string>
        {
            $"read {d.Files.Count} file(s): {d.Registers.Count} register dump(s), {d.Translation.Sum(t => t.Rows.Count)} context/PASID entries, {d.Domains.Count} page table(s) with {d.Domains.Sum(x => x.Leaves.Count)} leaves, {d.Queues.Count} invalidation queue(s)",
            analysis.Findings.Count == 0
                ? $"no findings (host address width {analysis.AddressWidth}, memory top 0x{analysis.MemorySize:x})"
                : $"{analysis.Findings.Count} finding(s) (host address width {analysis.AddressWidth}, memory top 0x{analysis.MemorySize:x}){(analysis.Findings.Any(f => f.Kind == DebugfsFindingKind.Spr17Hazard) ? ", among them the SPR17 hazard" : "")}",
        };
        summary.AddRange(d.Skipped.Select(s => $"not analysed: {s.File}: {s.Reason}"));
        summary.AddRange(analysis.Notes.Select(n => $"note: {n}"));

        // Where each hazard's first-stage table lies: (the nest parent's table, the GPA), to mark its run.
        var hazards = new List<(ulong Parent, ulong Gpa, string Device)>();
        foreach (DebugfsFinding f in analysis.Findings.Where(f => f.Kind == DebugfsFindingKind.Spr17Hazard))
            if (analysis.Devices.FirstOrDefault(x => x.File == f.File && x.Line == f.Line && x.FirstStageTable is not null) is { } dev)
                hazards.Add((dev.Table!.Value, dev.FirstStageTable!.Value, f.Device));

        var part = new ReportPart
        {
            Title = $"{name}: Intel IOMMU debugfs",
            Summary = summary,
            Findings = [.. analysis.Findings.Select(f => new FindingView(Code(f.Kind), $"{f.File}:{f.Line}", f.Device, f.Entry, f.Message, f.Rule, f.Kind == DebugfsFindingKind.Spr17Hazard))],
            Tables = analysis.Devices.Count == 0 ? [] : [Devices(analysis, hazards)],
            Entries = Entries(analysis),
            PageTables = [.. d.Domains.Select(x => PageTable(analysis, x, hazards))],
        };
        return new ReportDocument($"Intel IOMMU debugfs dump {name}", [part]);
    }

    private static TableView Devices(DebugfsAnalysis a, List<(ulong Parent, ulong Gpa, string Device)> hazards)
    {
        var rows = new List<IReadOnlyList<TableCell>>();
        foreach (DumpedTranslation x in a.Devices)
        {
            string who = x.Pasid < 0 ? x.Device : $"{x.Device} PASID {x.Pasid}";
            bool hazard = hazards.Any(h => h.Device == who);
            rows.Add([
                new(x.Device), new(x.Pasid < 0 ? "-" : $"{x.Pasid}"), new(x.Mode), new(x.Translation), new($"{x.DomainId}"),
                new(x.Table is ulong t ? $"0x{t:x}" : "-"), new(x.Levels == 0 ? "-" : $"{x.Levels}"),
                x.FirstStageTable is ulong f ? new($"0x{f:x}{(hazard ? " ⚠ SPR17 HAZARD: in a read-only second-stage page" : "")}", hazard ? "bad" : "") : new("-"),
                new($"{x.Leaves}"), new($"{x.File}:{x.Line}"),
            ]);
        }
        return new TableView("How each device (and PASID) translates, as the dump shows it",
            ["device", "PASID", "mode", "translation", "DID", "table", "levels", "first-stage table (GPA)", "leaves", "line"], rows, []);
    }

    /// <summary>The root, context and PASID entries of dmar_translation_struct, each once, with the findings on their line.</summary>
    private static List<EntryView> Entries(DebugfsAnalysis a)
    {
        var entries = new List<EntryView>();
        var seen = new HashSet<(string, ulong)>();
        foreach (TranslationBlock t in a.Dump.Translation.Where(t => t.Enabled))
        {
            foreach (TranslationRow row in t.Rows)
            {
                string device = $"{row.Device.Bus:x2}:{row.Device.Device:x2}.{row.Device.Function:x}";
                bool scalable = !row.Legacy, upper = scalable && row.Device.DevFn >= 0x80;
                string source = $"{t.File}:{row.Line}";
                ulong rootSlot = t.RootTable + (ulong)row.Device.Bus * 16;
                if (seen.Add(("root", rootSlot)))
                    entries.Add(Marked(a, new EntryView($"root entry of bus {row.Device.Bus:x2} ({t.Unit}) at HPA 0x{rootSlot:x}", scalable ? StructureDecoder.ScalableRoot : StructureDecoder.Root,
                        [row.RootLo, row.RootHi], source), t.File, row.Line, "root"));
                ulong contextSlot = ((upper ? row.RootHi : row.RootLo) & PageMask) + (ulong)(scalable ? (row.Device.DevFn & 0x7F) * 32 : row.Device.DevFn * 16);
                if (seen.Add(("context", contextSlot)))
                    entries.Add(Marked(a, new EntryView($"context entry of {device} at HPA 0x{contextSlot:x}", scalable ? StructureDecoder.ScalableContext : StructureDecoder.Context,
                        scalable ? [row.ContextLo, row.ContextHi, 0, 0] : [row.ContextLo, row.ContextHi], source), t.File, row.Line, "context"));
                if (scalable)
                    // The dump gives no PASID table address (decision I25): the entry is shown without one.
                    entries.Add(Marked(a, new EntryView($"PASID entry of {device} PASID {row.Pasid}", StructureDecoder.PasidEntry,
                        [row.PasidQ0, row.PasidQ1, row.PasidQ2, 0, 0, 0, 0, 0], source), t.File, row.Line, "PASID entry"));
            }
        }
        return entries;
    }

    private static EntryView Marked(DebugfsAnalysis a, EntryView e, string file, int line, string entry)
    {
        var on = a.Findings.Where(f => f.File == file && f.Line == line && f.Entry.Contains(entry, StringComparison.Ordinal)).ToList();
        if (on.Count == 0) return e;
        bool hazard = on.Any(f => f.Kind == DebugfsFindingKind.Spr17Hazard);
        return e with { Marker = (hazard ? "⚠ SPR17 HAZARD" : "✖") + " " + string.Join(", ", on.Select(f => Code(f.Kind)).Distinct()), Hazard = hazard };
    }

    private static PageTableView PageTable(DebugfsAnalysis a, DomainDump d, List<(ulong Parent, ulong Gpa, string Device)> hazards)
    {
        string device = $"{d.Device.Bus:x2}:{d.Device.Device:x2}.{d.Device.Function:x}{(d.Pasid is uint p ? $" PASID {p}" : "")}";
        var users = a.Devices.Where(x => x.Table == d.Pgd).Select(x => x.Pasid < 0 ? $"{x.Device} ({x.Translation})" : $"{x.Device} PASID {x.Pasid} ({x.Translation})").Distinct().ToList();
        var runs = new List<PageRun>();
        ILookup<(string, int), DebugfsFinding> onLine = a.Findings.ToLookup(f => (f.File, f.Line)); // a dump may have 10^5 leaves
        int top = Math.Min(d.TopLevel, 5);
        int left = 0;
        PageRun? open = null;
        int openFirst = 0, openLast = 0;
        void Close()
        {
            if (open is null) return;
            PageRun r = open with { Source = openFirst == openLast ? $"{d.File}:{openFirst}" : $"{d.File}:{openFirst}-{openLast}" };
            var hazard = hazards.Where(h => h.Parent == d.Pgd && h.Gpa >= r.Iova && h.Gpa <= r.Last).ToList();
            if (hazard.Count > 0)
                r = r with { Hazard = true, Marker = $"⚠ SPR17 HAZARD: {string.Join(", ", hazard.Select(h => $"the first-stage table of {h.Device} (GPA 0x{h.Gpa:x})"))} lies in this {(r.Write ? "" : "read-only ")}page" };
            if (runs.Count < MaxRuns) runs.Add(r);
            else left++;
            open = null;
        }
        foreach (LeafRow leaf in d.Leaves)
        {
            int level = leaf.LeafLevel;
            ulong size = level == 0 ? 4096 : leaf.PageSize;
            ulong entry = level == 0 ? 0 : leaf.Path[level];
            ulong frame = entry & EntryAddressMask & ~(size - 1);
            bool read = (entry & 1) != 0, write = (entry & 2) != 0;
            var on = onLine[(d.File, leaf.Line)].ToList();
            bool extends = open is not null && on.Count == 0 && open.Marker.Length == 0 && open.PageSize == size && open.Read == read && open.Write == write
                           && open.Last != ulong.MaxValue && leaf.Iova == open.Last + 1 && frame == open.Address + (ulong)open.Pages * size;
            if (extends)
            {
                open = open! with { Last = leaf.Iova + (size - 1), Pages = open.Pages + 1 };
                openLast = leaf.Line;
                continue;
            }
            Close();
            string path = string.Join(" ", Enumerable.Range(Math.Max(level, 1), Math.Max(0, top - Math.Max(level, 1) + 1)).Reverse()
                .Where(l => l < leaf.Path.Count).Select(l => $"{LevelName(l)} 0x{leaf.Path[l]:x16}"));
            open = new PageRun(leaf.Iova, leaf.Iova + (size - 1), frame, size, 1, read, write, path, "",
                on.Count == 0 ? "" : "✖ " + string.Join(", ", on.Select(f => Code(f.Kind)).Distinct()));
            openFirst = openLast = leaf.Line;
        }
        Close();
        string note = $"{d.TopLevel}-level table at HPA 0x{d.Pgd:x} ({d.File}:{d.Line}), {d.Leaves.Count} leaves in {runs.Count + left} run(s)"
                      + (users.Count > 0 ? $"; the table of {string.Join(", ", users)}" : "")
                      + (left > 0 ? $"; the first {MaxRuns} runs are listed, {left} more are not (the findings name every leaf they are about)" : "");
        return new PageTableView($"Page table of {device}", note, runs);
    }

    private static string LevelName(int level) => level switch { 5 => "PML5E", 4 => "PML4E", 3 => "PDPE", 2 => "PDE", _ => "PTE" };
}
