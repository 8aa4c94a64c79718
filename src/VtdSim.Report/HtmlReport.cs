using System.Globalization;
using System.Net;
using System.Text;
using VtdSim.Hardware.Decoding;
using VtdSim.Hardware.Tracing;
using VtdSim.Scenarios.Running;

namespace VtdSim.Report;

/// <summary>
/// Renders a <see cref="ReportDocument"/> as one self-contained HTML file (docs/report.md): inline CSS and a few lines of
/// inline script, nothing fetched from anywhere. Every text from the run is escaped. Deterministic: the same document
/// gives the same bytes (no clock, no random ids: ids are counters in document order).
/// </summary>
public static class HtmlReport
{
    public static string Render(ReportDocument document)
    {
        ArgumentNullException.ThrowIfNull(document);
        var w = new Writer();
        w.Raw("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
        w.Raw("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
        w.Raw("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\n");
        w.Raw("<title>").Text(document.Title).Raw("</title>\n<style>\n").Raw(ReportStyle.Css).Raw("</style>\n</head>\n<body>\n");
        w.Raw("<header><h1>").Text(document.Title).Raw("</h1><p class=\"gen\">VtdSim report: one file, no network. Colours always come with a text label or a pattern; the legend is below.</p></header>\n");
        if (document.Parts.Count > 1)
        {
            w.Raw("<nav aria-label=\"contents\"><h2>Contents</h2><ol>");
            for (int i = 0; i < document.Parts.Count; i++)
                w.Raw("<li><a href=\"#part-").Num(i + 1).Raw("\">").Text(document.Parts[i].Title).Raw("</a></li>");
            w.Raw("</ol></nav>\n");
        }
        Legend(w);
        for (int i = 0; i < document.Parts.Count; i++) Part(w, document.Parts[i], i + 1);
        w.Raw("<script>\n").Raw(ReportStyle.Script).Raw("</script>\n</body>\n</html>\n");
        return w.ToString();
    }

    // ------------------------------------------------------------------ legend

    private static void Legend(Writer w)
    {
        w.Raw("<section id=\"legend\" aria-labelledby=\"legend-h\"><h2 id=\"legend-h\">Legend</h2>\n<div class=\"legend\">\n");
        w.Raw("<table class=\"legend-map\"><caption>Memory map: what vfio did with each section (pattern, code and colour)</caption>\n<thead><tr><th scope=\"col\">swatch</th><th scope=\"col\">code</th><th scope=\"col\">meaning</th></tr></thead><tbody>\n");
        foreach (MapStatus s in Enum.GetValues<MapStatus>())
            w.Raw("<tr><td><span class=\"swatch ").Raw(StatusClass(s)).Raw("\"></span></td><td><b>").Text(StatusCode(s)).Raw("</b></td><td>").Text(StatusMeaning(s)).Raw("</td></tr>\n");
        w.Raw("<tr><td><span class=\"swatch st-gap\"></span></td><td><b>—</b></td><td>unassigned: no region (a DMA there faults or reads nothing)</td></tr>\n");
        w.Raw("</tbody></table>\n");
        w.Raw("<table class=\"legend-walk\"><caption>Walk grid: what a numbered reference did</caption>\n<thead><tr><th scope=\"col\">looks like</th><th scope=\"col\">meaning</th></tr></thead><tbody>\n");
        w.Raw("<tr><td><span class=\"ref k-read\"><b>7</b> read</span></td><td>a read of a table entry; the number is its place in the walk</td></tr>\n");
        w.Raw("<tr><td><span class=\"ref k-ad\"><b>8</b> ✎ A written</span></td><td>a locked update setting A, EA or D, allowed by the second stage</td></tr>\n");
        w.Raw("<tr><td><span class=\"ref k-erratum\"><b>9</b> ⚠ ERRATUM: A written in a read-only page</span></td><td>erratum 772415: a flag update into a page the second stage maps read-only (architecturally SFS.8, no write)</td></tr>\n");
        w.Raw("<tr><td><span class=\"ref k-read is-fault\"><b>10</b> read</span> <span class=\"fault-tag\">✖ FAULT</span></td><td>the entry the fault names, with its condition (e.g. SFS.8) and reason</td></tr>\n");
        w.Raw("<tr><td><span class=\"hazard-tag\">⚠ SPR17 HAZARD</span></td><td>a checked dump (analyze debugfs): a first-stage table in a page its second stage maps read-only — SFS.8 architecturally, an A/D write into read-only memory under erratum 772415</td></tr>\n");
        w.Raw("<tr><td><span class=\"finding-tag\">✖</span></td><td>another finding of a checked dump: reserved bits, a pointer outside memory, a page that maps its own tables</td></tr>\n");
        w.Raw("</tbody></table>\n</div></section>\n");
    }

    internal static string StatusClass(MapStatus s) => s switch
    {
        MapStatus.MappedReadWrite => "st-rw",
        MapStatus.MappedReadOnly => "st-ro",
        MapStatus.MappedWritable => "st-wr",
        MapStatus.Bypassed => "st-by",
        MapStatus.Refused => "st-rf",
        _ => "st-nm",
    };

    internal static string StatusCode(MapStatus s) => s switch
    {
        MapStatus.MappedReadWrite => "RW",
        MapStatus.MappedReadOnly => "RO",
        MapStatus.MappedWritable => "RW!",
        MapStatus.Bypassed => "SKIP",
        MapStatus.Refused => "EINVAL",
        _ => "none",
    };

    internal static string StatusMeaning(MapStatus s) => s switch
    {
        MapStatus.MappedReadWrite => "mapped read-write for the device",
        MapStatus.MappedReadOnly => "mapped read-only",
        MapStatus.MappedWritable => "read-only memory mapped writable (never-ro): a device can write what the guest cannot",
        MapStatus.Bypassed => "read-only, skipped by QEMU 11's bypass_ro: a device's DMA there faults",
        MapStatus.Refused => "refused by the kernel (a read-only map into a nest parent: EINVAL); the VMM does not start",
        _ => "not mapped for a device (MMIO, a ROM device, no vfio device, or the VMM stopped first)",
    };

    private static string TypeLabel(string type) => type switch
    {
        "ram" or "ramd" => "RAM",
        "rom" or "romd" => "ROM",
        "i/o" => "MMIO",
        _ => type.ToUpperInvariant(),
    };

    // ------------------------------------------------------------------ a part

    private static void Part(Writer w, ReportPart part, int index)
    {
        w.Raw("<section class=\"part\" id=\"part-").Num(index).Raw("\" aria-labelledby=\"part-").Num(index).Raw("-h\">\n<h2 id=\"part-").Num(index).Raw("-h\">").Text(part.Title).Raw("</h2>\n");
        foreach (string line in part.Summary) w.Raw("<p class=\"summary\">").Text(line).Raw("</p>\n");
        if (part.Question.Length > 0)
            w.Raw("<blockquote class=\"question\"><p class=\"q-h\">The question from the thread</p><p>").Text(part.Question).Raw("</p></blockquote>\n");
        if (part.Findings.Count > 0) Findings(w, part.Findings);
        foreach (TableView t in part.Tables) Table(w, t);
        if (part.MemoryMaps.Count > 0)
        {
            w.Raw("<h3>Memory map</h3>\n");
            for (int i = 0; i < part.MemoryMaps.Count; i++) Map(w, part.MemoryMaps[i], $"p{index}-map{i + 1}");
        }
        if (part.Entries.Count > 0)
        {
            w.Raw("<h3>Remapping entries</h3>\n");
            foreach (EntryView e in part.Entries) Entry(w, e);
        }
        foreach (PageTableView t in part.PageTables) PageTable(w, t);
        if (part.Walks.Count > 0)
        {
            w.Raw("<h3>IOMMU structures used</h3>\n");
            Structures(w, part.Walks);
            w.Raw("<h3>DMA walks</h3>\n");
            for (int i = 0; i < part.Walks.Count; i++) Walk(w, part.Walks[i], $"p{index}-walk{i + 1}", i + 1, LevelTag(part, part.Walks[i]));
        }
        if (part.Steps.Count > 0 || part.Timeline.Count > 0) Timeline(w, part, index);
        if (part.Verdicts.Count > 0)
        {
            w.Raw("<h3>Verdicts</h3>\n<table class=\"verdicts\"><caption>Each expectation: PASS or FAIL in words, where it is written, why</caption>\n<thead><tr><th scope=\"col\">verdict</th><th scope=\"col\">where</th><th scope=\"col\">expectation</th><th scope=\"col\">why</th></tr></thead><tbody>\n");
            foreach (VerdictView v in part.Verdicts)
                w.Raw("<tr class=\"").Raw(v.Pass ? "pass" : "fail").Raw("\"><td><b>").Raw(v.Pass ? "PASS" : "FAIL").Raw("</b></td><td>").Text(v.Where).Raw("</td><td>").Text(v.Expectation).Raw("</td><td>").Text(v.Reason).Raw("</td></tr>\n");
            w.Raw("</tbody></table>\n");
        }
        w.Raw("</section>\n");
    }

    // ------------------------------------------------------------------ memory map

    private static void Map(Writer w, MemoryMapView map, string id)
    {
        w.Raw("<div class=\"map\" id=\"").Raw(id).Raw("\">\n<h4>").Text(map.Title).Raw("</h4>\n");
        if (map.Note.Length > 0) w.Raw("<p class=\"note\">").Text(map.Note).Raw("</p>\n");
        // The bar: one segment per section and per gap between sections, its width growing with log2 of its size (a
        // linear bar would hide the 4 KiB pages that matter next to gigabytes of RAM); the table below has the exact ranges.
        w.Raw("<div class=\"bar\" role=\"img\" aria-label=\"").Text($"memory map of {map.Title}: {map.Sections.Count} sections; the table below lists them").Raw("\">");
        ulong next = 0;
        bool first = true;
        foreach (MapSection s in map.Sections)
        {
            if ((first && s.Start > 0) || (!first && s.Start > next))
                Segment(w, "st-gap", Grow(s.Start - next), $"0x{next:x}-0x{s.Start - 1:x} unassigned", "—", "");
            Segment(w, StatusClass(s.Status), Grow(s.Last - s.Start + 1), $"0x{s.Start:x}-0x{s.Last:x} {s.Type} {s.Region}: {StatusCode(s.Status)} ({s.Detail})", StatusCode(s.Status), TypeLabel(s.Type));
            first = false;
            next = s.Last == ulong.MaxValue ? ulong.MaxValue : s.Last + 1;
        }
        w.Raw("</div>\n");
        w.Raw("<table class=\"sections\"><caption>").Text($"Sections of {map.Title}, in address order").Raw("</caption>\n<thead><tr><th scope=\"col\">start</th><th scope=\"col\">end</th><th scope=\"col\">type</th><th scope=\"col\">region</th><th scope=\"col\">for a device</th><th scope=\"col\">why</th></tr></thead><tbody>\n");
        foreach (MapSection s in map.Sections)
        {
            w.Raw("<tr><td><code>").Raw($"{s.Start:x16}").Raw("</code></td><td><code>").Raw($"{s.Last:x16}").Raw("</code></td><td>").Text(TypeLabel(s.Type)).Raw(s.ReadOnly ? " (read-only)" : "")
                .Raw("</td><td>").Text(s.Region).Raw("</td><td><span class=\"swatch ").Raw(StatusClass(s.Status)).Raw("\"></span> <b>").Text(StatusCode(s.Status)).Raw("</b></td><td>").Text(s.Detail).Raw("</td></tr>\n");
        }
        w.Raw("</tbody></table>\n</div>\n");
    }

    private static int Grow(ulong size) => Math.Max(1, (size == 0 ? 0 : 64 - System.Numerics.BitOperations.LeadingZeroCount(size)) - 11);

    private static void Segment(Writer w, string cls, int grow, string title, string code, string type)
    {
        w.Raw("<span class=\"seg ").Raw(cls).Raw("\" style=\"flex-grow:").Num(grow).Raw("\" title=\"").Text(title).Raw("\"><span class=\"lbl\">").Text(code);
        if (type.Length > 0 && grow >= 6) w.Raw(" ").Text(type); // small segments: the code only (the title and the table have the rest)
        w.Raw("</span></span>");
    }

    // ------------------------------------------------------------------ structures

    private static void Structures(Writer w, IReadOnlyList<DmaWalk> walks)
    {
        var seen = new List<(string? Unit, StructureSnapshot S)>();
        foreach (DmaWalk walk in walks)
            foreach (StructureSnapshot s in walk.Structures)
                if (!seen.Any(x => x.Unit == walk.Viommu && x.S.Stage == s.Stage && x.S.Address == s.Address && x.S.Qwords.SequenceEqual(s.Qwords))) seen.Add((walk.Viommu, s));
        if (seen.Count == 0)
        {
            w.Raw("<p class=\"note\">No root, context or PASID entry was read (the caches answered, or nothing was walked).</p>\n");
        }
        else
        {
            w.Raw("<p class=\"chain\">root → context → PASID directory → PASID entry → tables: ");
            w.Text(string.Join(" → ", seen.Select(s => $"{StageName(s.S.Stage)} at {Where(s.Unit, s.S.Address.Value)}"))).Raw("</p>\n");
        }
        foreach (var (unit, s) in seen)
        {
            StructureKind kind = s.Stage switch
            {
                TraceStage.RootTable => s.Scalable ? StructureDecoder.ScalableRoot : StructureDecoder.Root,
                TraceStage.ContextTable => s.Scalable ? StructureDecoder.ScalableContext : StructureDecoder.Context,
                TraceStage.PasidDirectory => StructureDecoder.PasidDirectory,
                _ => StructureDecoder.PasidEntry,
            };
            Entry(w, new EntryView($"{StageName(s.Stage)} at {Where(unit, s.Address.Value)}", kind, s.Qwords, ""));
        }
        // The paging-structure pages the walks read, by unit, stage and level.
        var tables = new List<(string? Unit, TraceStage Stage, int Level, ulong Hpa, ulong? Gpa)>();
        foreach (DmaWalk walk in walks)
            foreach (MemoryReference r in walk.References)
            {
                if (r.Stage is not (TraceStage.FirstStage or TraceStage.SecondStage)) continue;
                var t = (walk.Viommu, r.Stage, r.Level, r.Address.Value & ~0xFFFUL, r.Gpa is { } g ? g.Value & ~0xFFFUL : (ulong?)null);
                if (!tables.Contains(t)) tables.Add(t);
            }
        if (tables.Count > 0)
        {
            w.Raw("<table class=\"tables\"><caption>Paging-structure pages the walks read</caption>\n<thead><tr><th scope=\"col\">stage</th><th scope=\"col\">level</th><th scope=\"col\">table page (HPA)</th><th scope=\"col\">table page (GPA)</th></tr></thead><tbody>\n");
            foreach (var t in tables)
            {
                w.Raw("<tr><td>").Raw(t.Stage == TraceStage.FirstStage ? "first stage" : "second stage").Text(t.Unit is { } u ? $" in {u}'s vIOMMU (emulated)" : "").Raw("</td><td>L").Num(t.Level).Raw("</td><td>");
                // A vIOMMU's tables are in its guest's memory: their addresses are that guest's physical ones.
                if (t.Unit is null) w.Raw("<code>").Raw($"0x{t.Hpa:x}").Raw("</code></td><td>").Raw(t.Gpa is ulong gpa ? $"<code>0x{gpa:x}</code>" : "—");
                else w.Raw("—</td><td><code>").Raw($"0x{t.Hpa:x}").Raw("</code>");
                w.Raw("</td></tr>\n");
            }
            w.Raw("</tbody></table>\n");
        }
    }

    /// <summary>Where a structure of a walk is: a host physical address, or a guest-physical one in a VMM's guest for its vIOMMU's walk.</summary>
    private static string Where(string? viommu, ulong address) => viommu is null ? $"HPA 0x{address:x}" : $"GPA 0x{address:x} in {viommu}'s memory (vIOMMU)";

    /// <summary>One remapping entry, decoded field by field (click to open).</summary>
    private static void Entry(Writer w, EntryView e)
    {
        DecodedStructure d = StructureDecoder.Decode(e.Kind, e.Qwords);
        w.Raw(e.Hazard ? "<details class=\"structure hazard\"><summary>" : "<details class=\"structure\"><summary>");
        if (e.Marker.Length > 0) w.Raw("<span class=\"").Raw(e.Hazard ? "hazard-tag" : "finding-tag").Raw("\">").Text(e.Marker).Raw("</span> ");
        w.Text($"{e.Title}: {d.Title}").Raw(" — ").Text(string.Join(" ", e.Qwords.Select(q => $"{q:x16}")));
        if (e.Source.Length > 0) w.Raw(" <span class=\"src\">(").Text(e.Source).Raw(")</span>");
        w.Raw("</summary>\n<table class=\"fields\"><caption>").Text($"{e.Title}, every field").Raw("</caption>\n<thead><tr><th scope=\"col\">bits</th><th scope=\"col\">field</th><th scope=\"col\">value</th><th scope=\"col\">meaning</th></tr></thead><tbody>\n");
        foreach (DecodedField f in d.Fields)
        {
            if (f.Role != FieldRole.Field && f.Value == 0) continue;
            w.Raw(f.Flagged ? "<tr class=\"flagged\">" : "<tr>").Raw("<td>").Text(f.Bits).Raw("</td><td>").Text(f.Name).Raw("</td><td><code>").Text(f.ValueText).Raw("</code></td><td>").Text(f.Meaning).Raw(f.Flagged ? " (FLAGGED)" : "").Raw("</td></tr>\n");
        }
        w.Raw("</tbody></table>\n");
        foreach (string note in d.Notes) w.Raw("<p class=\"note\">").Text(note).Raw("</p>\n");
        w.Raw("</details>\n");
    }

    // ------------------------------------------------------------------ findings, tables, page tables

    private static void Findings(Writer w, IReadOnlyList<FindingView> findings)
    {
        w.Raw("<h3>Findings</h3>\n<table class=\"findings\"><caption>").Text($"{findings.Count} finding(s), in file and line order; the SPR17 hazard is marked ⚠ and red")
            .Raw("</caption>\n<thead><tr><th scope=\"col\">finding</th><th scope=\"col\">where</th><th scope=\"col\">device</th><th scope=\"col\">entry</th><th scope=\"col\">what</th><th scope=\"col\">rule</th></tr></thead><tbody>\n");
        foreach (FindingView f in findings)
        {
            w.Raw(f.Hazard ? "<tr class=\"finding hazard\"><td><span class=\"hazard-tag\">⚠ SPR17 HAZARD</span> " : "<tr class=\"finding\"><td><span class=\"finding-tag\">✖</span> ")
                .Text(f.Code).Raw("</td><td><code>").Text(f.Where).Raw("</code></td><td>").Text(f.Device).Raw("</td><td>").Text(f.Entry).Raw("</td><td>").Text(f.Message)
                .Raw("</td><td>").Text(f.Rule).Raw("</td></tr>\n");
        }
        w.Raw("</tbody></table>\n");
    }

    private static void Table(Writer w, TableView t)
    {
        w.Raw("<table class=\"plain\"><caption>").Text(t.Caption).Raw("</caption>\n<thead><tr>");
        foreach (string c in t.Columns) w.Raw("<th scope=\"col\">").Text(c).Raw("</th>");
        w.Raw("</tr></thead><tbody>\n");
        foreach (IReadOnlyList<TableCell> row in t.Rows)
        {
            w.Raw("<tr>");
            foreach (TableCell c in row)
            {
                w.Raw(c.Class.Length > 0 ? "<td class=\"" : "<td").Raw(c.Class).Raw(c.Class.Length > 0 ? "\">" : ">").Text(c.Text).Raw("</td>");
            }
            w.Raw("</tr>\n");
        }
        w.Raw("</tbody></table>\n");
        foreach (string note in t.Notes) w.Raw("<p class=\"note\">").Text(note).Raw("</p>\n");
    }

    private static void PageTable(Writer w, PageTableView t)
    {
        w.Raw("<h3>").Text(t.Title).Raw("</h3>\n");
        if (t.Note.Length > 0) w.Raw("<p class=\"note\">").Text(t.Note).Raw("</p>\n");
        w.Raw("<table class=\"pages\"><caption>").Text($"The leaves of {t.Title} as runs: consecutive pages mapped to consecutive frames with the same access")
            .Raw("</caption>\n<thead><tr><th scope=\"col\">IOVA start</th><th scope=\"col\">IOVA end</th><th scope=\"col\">to (output address)</th><th scope=\"col\">pages</th><th scope=\"col\">access</th><th scope=\"col\">entries of the first page</th><th scope=\"col\">lines</th></tr></thead><tbody>\n");
        foreach (PageRun r in t.Runs)
        {
            MapStatus status = r.Write ? MapStatus.MappedReadWrite : r.Read ? MapStatus.MappedReadOnly : MapStatus.NotMapped;
            w.Raw(r.Hazard ? "<tr class=\"hazard\">" : r.Marker.Length > 0 ? "<tr class=\"marked\">" : "<tr>")
                .Raw("<td><code>").Raw($"{r.Iova:x16}").Raw("</code></td><td><code>").Raw($"{r.Last:x16}").Raw("</code></td><td><code>").Raw($"0x{r.Address:x}").Raw("</code></td><td>")
                .Num(r.Pages).Raw(" × ").Text(PageSizeText(r.PageSize)).Raw("</td><td><span class=\"swatch ").Raw(StatusClass(status)).Raw("\"></span> <b>").Text(StatusCode(status)).Raw("</b>");
            if (r.Marker.Length > 0) w.Raw(" <span class=\"").Raw(r.Hazard ? "hazard-tag" : "finding-tag").Raw("\">").Text(r.Marker).Raw("</span>");
            w.Raw("</td><td><code>").Text(r.Path).Raw("</code></td><td>").Text(r.Source).Raw("</td></tr>\n");
        }
        w.Raw("</tbody></table>\n");
    }

    private static string PageSizeText(ulong size) => size >= 1UL << 30 ? $"{size >> 30} GiB" : size >= 1UL << 20 ? $"{size >> 20} MiB" : $"{size >> 10} KiB";

    /// <summary>The level tag of a walk's unit: the host IOMMU is L0's; a vIOMMU is its VMM's level (L1, L2).</summary>
    private static string LevelTag(ReportPart part, DmaWalk walk) =>
        walk.Viommu is { } v ? part.Levels.FirstOrDefault(l => l.Level == v).Tag ?? "" : "L0";

    private static string StageName(TraceStage s) => s switch
    {
        TraceStage.RootTable => "root entry",
        TraceStage.ContextTable => "context entry",
        TraceStage.PasidDirectory => "PASID directory entry",
        TraceStage.PasidTable => "PASID entry",
        TraceStage.FirstStage => "first-stage entry",
        _ => "second-stage entry",
    };

    // ------------------------------------------------------------------ walks

    private static void Walk(Writer w, DmaWalk walk, string id, int number, string level)
    {
        WalkGrid grid = WalkGrid.Of(walk);
        int erratum = walk.References.Count(r => r.Kind == ReferenceKind.ErratumFlagUpdate);
        string unit = walk.Viommu is { } vm ? $"{vm}'s vIOMMU (emulated)" : "host IOMMU";
        w.Raw("<article class=\"walk").Raw(walk.Viommu is null ? "" : " viommu").Raw("\" id=\"").Raw(id).Raw("\" data-references=\"").Num(walk.References.Count).Raw("\" data-erratum=\"").Num(erratum)
            .Raw("\" data-unit=\"").Raw(walk.Viommu is null ? "host" : "viommu").Raw("\" data-level=\"").Text(level).Raw("\">\n<h4>");
        // The unit that walked, tagged with its level: an emulated device's DMA is translated by its VMM's vIOMMU in guest memory (V62).
        w.Raw("<span class=\"unit lv-").Raw(TagClass(level)).Raw("\">");
        if (level.Length > 0) w.Text(level).Raw(" · ").Text(walk.Viommu is null ? "host IOMMU" : "vIOMMU (emulated)");
        else w.Text(unit);
        w.Raw("</span> ")
            .Text($"DMA {number}: {walk.Title}").Raw("</h4>\n");
        if (walk.Viommu is { } owner)
            w.Raw("<p class=\"note\">").Text($"The walk {owner}'s vIOMMU (the emulated intel-iommu) did in {owner}'s memory for an emulated device: every address below is {owner}'s guest-physical address; the host IOMMU takes no part.").Raw("</p>\n");
        w.Raw("<p class=\"outcome\">");
        if (walk.Completed) w.Raw("<b>completed</b>");
        else if (walk.Fault is { } f) w.Raw("<b class=\"bad\">✖ FAULT ").Text($"{f.Condition} (0x{f.Code:x2})").Raw("</b>: ").Text(f.Explanation);
        else w.Raw("<b class=\"bad\">not completed</b>");
        w.Raw(". ").Text($"{walk.References.Count} memory references, {walk.References.Count(r => r.IsPagingRead)} paging-structure reads, {walk.References.Count(r => r.Kind != ReferenceKind.Read)} flag writes");
        if (erratum > 0) w.Raw(", <b class=\"bad\">").Num(erratum).Raw(" by the erratum into read-only memory</b>");
        w.Raw(".</p>\n");

        string shape = grid.Shape switch
        {
            WalkShape.Nested => $"nested: first stage {Levels(grid.FirstStageLevels)} × second stage {Levels(grid.SecondStageLevels)}",
            WalkShape.SecondStageOnly => $"second stage only, {Levels(grid.SecondStageLevels)}: one row",
            WalkShape.FirstStageOnly => $"first stage only, {Levels(grid.FirstStageLevels)}: one column",
            _ => "no paging-structure reference (pass-through, or answered by the caches, or stopped before the tables)",
        };
        w.Raw("<table class=\"grid\"><caption>").Text($"Walk of DMA {number} {(walk.Viommu is null ? "" : $"in {unit} ")}as the specification draws it ({shape}); numbers are the order of the references").Raw("</caption>\n");
        IReadOnlyList<int> columns = grid.Columns;
        w.Raw("<thead><tr><th scope=\"col\">").Raw(grid.Shape == WalkShape.Nested ? "first stage ↓ / second stage →" : "").Raw("</th>");
        foreach (int c in columns) w.Raw("<th scope=\"col\">").Text(ColumnName(grid, c)).Raw("</th>");
        if (columns.Count == 0) w.Raw("<th scope=\"col\">references</th>");
        w.Raw("</tr></thead>\n<tbody>\n");
        if (grid.Context.Count > 0)
        {
            w.Raw("<tr class=\"ctx\"><th scope=\"row\">root → context → PASID</th><td colspan=\"").Num(Math.Max(1, columns.Count)).Raw("\">");
            foreach (NumberedReference r in grid.Context) Reference(w, r, grid, walk);
            w.Raw("</td></tr>\n");
        }
        foreach (int row in grid.Rows)
        {
            w.Raw("<tr><th scope=\"row\">").Text(RowName(grid, row)).Raw("</th>");
            foreach (int c in columns)
            {
                IReadOnlyList<NumberedReference> refs = grid.Cell(row, c);
                bool isErratum = refs.Any(r => r.Reference.Kind == ReferenceKind.ErratumFlagUpdate);
                bool isFault = grid.FaultingNumber != 0 && refs.Any(r => r.Number == grid.FaultingNumber);
                string cls = isErratum ? "cell erratum" : isFault ? "cell fault" : refs.Count > 0 ? "cell" : "cell empty";
                w.Raw("<td class=\"").Raw(cls).Raw("\">");
                foreach (NumberedReference r in refs) Reference(w, r, grid, walk);
                if (refs.Count == 0)
                {
                    if (row == 0 && c == 0) w.Raw(walk.Completed ? "data access ✓" : "data access: not done");
                    else w.Raw("—");
                }
                w.Raw("</td>");
            }
            w.Raw("</tr>\n");
        }
        w.Raw("</tbody></table>\n");
        if (walk.Fault is { } fault && grid.FaultingNumber == 0)
            w.Raw("<p class=\"note\"><span class=\"fault-tag\">✖ FAULT ").Text($"{fault.Condition} (0x{fault.Code:x2})").Raw("</span> ").Text($"{fault.Explanation} (after the last reference{(fault.EntryAddress is { } e ? $"; entry at HPA 0x{e.Value:x}" : "")})").Raw("</p>\n");

        // Every reference as text.
        w.Raw("<details class=\"refs\"><summary>").Text($"The {walk.References.Count} references of DMA {number} as a list").Raw("</summary>\n<table class=\"refs\"><caption>")
            .Text($"Every memory reference of DMA {number}, in order").Raw("</caption>\n<thead><tr><th scope=\"col\">#</th><th scope=\"col\">what</th><th scope=\"col\">structure</th><th scope=\"col\">").Text(walk.Viommu is { } guestOf ? $"address ({guestOf}'s GPA)" : "HPA").Raw("</th><th scope=\"col\">GPA</th><th scope=\"col\">value</th><th scope=\"col\">fields</th></tr></thead><tbody>\n");
        bool legacy = !walk.Structures.Any(s => s.Scalable) && !walk.References.Any(r => r.Stage is TraceStage.PasidDirectory or TraceStage.PasidTable) && walk.Structures.Count > 0;
        for (int i = 0; i < walk.References.Count; i++)
        {
            MemoryReference r = walk.References[i];
            w.Raw("<tr data-n=\"").Num(i + 1).Raw("\"").Raw(r.Kind == ReferenceKind.ErratumFlagUpdate ? " class=\"erratum\"" : i + 1 == grid.FaultingNumber ? " class=\"fault\"" : "").Raw("><td>").Num(i + 1).Raw("</td><td>").Text(What(r, i + 1 == grid.FaultingNumber ? walk.Fault : null))
                .Raw("</td><td>").Text(Structure(r)).Raw("</td><td><code>").Raw($"0x{r.Address.Value:x}").Raw("</code></td><td>").Raw(r.Gpa is { } g ? $"<code>0x{g.Value:x}</code>" : "—")
                .Raw("</td><td><code>").Raw($"{r.Value:x16}").Raw(r.Kind != ReferenceKind.Read ? $" → {r.NewValue:x16}" : "").Raw("</code></td><td>").Text(Fields(r, legacy)).Raw("</td></tr>\n");
        }
        w.Raw("</tbody></table></details>\n</article>\n");
    }

    /// <summary>The levels a grid draws: from the deepest the trace shows down to 1 (a cache may have answered the ones above).</summary>
    private static string Levels(int top) => top <= 1 ? "L1" : $"L{top}–L1";

    private static string ColumnName(WalkGrid grid, int c) => c == 0
        ? grid.Shape switch { WalkShape.Nested => "first-stage entry (last row: data)", WalkShape.FirstStageOnly => "first-stage entry", _ => "data access" }
        : $"second-stage L{c} ({LevelName(c)})";

    private static string RowName(WalkGrid grid, int row) => grid.Shape switch
    {
        WalkShape.SecondStageOnly => "the DMA address",
        _ => row == 0 ? "final GPA (the data page)" : grid.Shape == WalkShape.Nested ? $"first-stage L{row} table ({LevelName(row)}): its GPA" : $"first-stage L{row} ({LevelName(row)})",
    };

    private static string LevelName(int level) => level switch { 5 => "PML5E", 4 => "PML4E", 3 => "PDPE", 2 => "PDE", 1 => "PTE", _ => $"level {level}" };

    private static void Reference(Writer w, NumberedReference n, WalkGrid grid, DmaWalk walk)
    {
        MemoryReference r = n.Reference;
        bool fault = n.Number == grid.FaultingNumber;
        string cls = r.Kind switch { ReferenceKind.Read => "ref k-read", ReferenceKind.FlagUpdate => "ref k-ad", _ => "ref k-erratum" };
        w.Raw("<span class=\"").Raw(cls).Raw(fault ? " is-fault" : "").Raw("\" data-n=\"").Num(n.Number).Raw("\"><b>").Num(n.Number).Raw("</b> ");
        w.Text(r.Kind switch
        {
            ReferenceKind.Read => r.Stage switch
            {
                TraceStage.RootTable => "root",
                TraceStage.ContextTable => "context",
                TraceStage.PasidDirectory => "PASID dir",
                TraceStage.PasidTable => "PASID entry",
                _ => "read",
            },
            ReferenceKind.FlagUpdate => $"✎ {WalkGrid.FlagsSet(r)} written",
            _ => $"⚠ ERRATUM: {WalkGrid.FlagsSet(r)} written in a read-only page",
        });
        w.Raw("</span>");
        if (fault && walk.Fault is { } f)
            w.Raw(" <span class=\"fault-tag\">✖ FAULT ").Text($"{f.Condition} (0x{f.Code:x2}): {f.Explanation}").Raw("</span>");
    }

    private static string What(in MemoryReference r, VtdSim.Hardware.Faults.DmaFault? fault)
    {
        string what = r.Kind switch
        {
            ReferenceKind.Read => "read",
            ReferenceKind.FlagUpdate => $"{WalkGrid.FlagsSet(r)} written",
            _ => $"ERRATUM: {WalkGrid.FlagsSet(r)} written in read-only memory",
        };
        return fault is null ? what : $"{what}; FAULT {fault.Condition} (0x{fault.Code:x2}): {fault.Explanation}";
    }

    private static string Structure(in MemoryReference r) => r.Stage switch
    {
        TraceStage.FirstStage => $"first-stage L{r.Level}",
        TraceStage.SecondStage => r.ForFirstStageLevel == 0 ? $"second-stage L{r.Level}" : $"second-stage L{r.Level} for the first-stage L{r.ForFirstStageLevel} table",
        _ => StageName(r.Stage),
    };

    /// <summary>A paging entry's fields in one line, by the decoder behind `vtdsim decode` (flags that are set, fields that are not zero).</summary>
    private static string Fields(in MemoryReference r, bool legacy)
    {
        if (r.Stage is not (TraceStage.FirstStage or TraceStage.SecondStage) || r.Level is < 1 or > 5) return "";
        StructureKind kind = r.Stage == TraceStage.FirstStage ? StructureDecoder.FirstStage : legacy ? StructureDecoder.LegacySecondLevel : StructureDecoder.SecondStage;
        DecodedStructure d = StructureDecoder.Decode(kind, [r.Kind == ReferenceKind.Read ? r.Value : r.NewValue], r.Level);
        var parts = new List<string>();
        foreach (DecodedField f in d.Fields)
        {
            if (f.Value == 0 || f.Role == FieldRole.Ignored) continue;
            parts.Add(f.High == f.Low ? f.Name : $"{f.Name}={f.ValueText}");
            if (f.Flagged) parts[^1] += " (reserved, set)";
        }
        return parts.Count == 0 ? "not present" : string.Join(" ", parts);
    }

    // ------------------------------------------------------------------ timeline

    private static void Timeline(Writer w, ReportPart part, int index)
    {
        var levels = part.Levels.Count > 0 ? part.Levels : part.Timeline.Select(e => e.Level).Distinct(StringComparer.Ordinal).Select(l => (l, "")).ToList();
        w.Raw("<h3>Timeline</h3>\n<table class=\"timeline\" id=\"p").Num(index).Raw("-timeline\"><caption>Steps (rows) and what happened at each level (columns: L0 the host, L1 a VMM and its guest, L2 a VMM in that guest)</caption>\n<thead><tr><th scope=\"col\">step</th>");
        foreach (var (level, tag) in levels) w.Raw("<th scope=\"col\" class=\"lv-").Raw(TagClass(tag)).Raw("\">").Text(tag.Length > 0 ? $"{tag}: {level}" : level).Raw("</th>");
        w.Raw("</tr></thead>\n<tbody>\n");
        var rows = new List<(int Step, string Title, string Status)>();
        if (part.Timeline.Any(e => e.Step < 0)) rows.Add((-1, "before the first step", "done"));
        foreach (TimelineStep s in part.Steps) rows.Add((s.Index, $"{s.Index + 1}. {s.Description}", s.Status));
        foreach (var (step, title, status) in rows)
        {
            w.Raw("<tr class=\"step-").Text(status).Raw("\"><th scope=\"row\">").Text(title);
            if (status != "done") w.Raw(" <b class=\"bad\">").Text(status == "error" ? "ERROR: the run stops here" : status).Raw("</b>");
            w.Raw("</th>");
            foreach (var (level, tag) in levels)
            {
                w.Raw("<td>");
                var events = part.Timeline.Where(e => e.Step == step && e.Level == level).ToList();
                if (events.Count > 0)
                {
                    w.Raw("<ul>");
                    foreach (TimelineEntry e in events)
                        w.Raw("<li class=\"ev ev-").Text(e.Kind).Raw("\" data-level=\"").Text(tag).Raw("\"><b>").Text(tag.Length > 0 ? $"{tag} {e.Kind}" : e.Kind).Raw("</b> ").Text(e.Text).Raw("</li>");
                    w.Raw("</ul>");
                }
                w.Raw("</td>");
            }
            w.Raw("</tr>\n");
        }
        w.Raw("</tbody></table>\n");
    }

    private static string TagClass(string tag) => tag switch { "L0" => "l0", "L1" => "l1", "L2" => "l2", _ => "ln" };

    // ------------------------------------------------------------------ writer

    private sealed class Writer
    {
        private readonly StringBuilder sb = new(64 * 1024);

        public Writer Raw(string s)
        {
            sb.Append(s);
            return this;
        }

        /// <summary>Text from the run or the user: escaped for an element's content and for a quoted attribute.</summary>
        public Writer Text(string? s)
        {
            sb.Append(WebUtility.HtmlEncode(s ?? ""));
            return this;
        }

        public Writer Num(int n)
        {
            sb.Append(n.ToString(CultureInfo.InvariantCulture));
            return this;
        }

        public override string ToString() => sb.ToString();
    }
}
