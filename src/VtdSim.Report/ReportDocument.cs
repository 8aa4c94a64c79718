using VtdSim.Hardware.Decoding;
using VtdSim.Scenarios.Running;

namespace VtdSim.Report;

/// <summary>A memory map to draw: one address space, each section with its status.</summary>
public sealed record MemoryMapView(string Title, string Note, IReadOnlyList<MapSection> Sections);

/// <summary>One event on the timeline: the step it happened in (-1: before the first step), its level and its text.</summary>
public sealed record TimelineEntry(int Step, string Level, string Kind, string Text);

/// <summary>A step of the timeline: its number (from 1), what it did, and how it ended (done, error, skipped).</summary>
public sealed record TimelineStep(int Index, string Description, string Status);

/// <summary>An expectation's verdict as the report lists it.</summary>
public sealed record VerdictView(bool Pass, string Where, string Expectation, string Reason);

/// <summary>
/// A remapping entry shown decoded by the decoder of `vtdsim decode` (root, context, PASID entry of a dump): its title,
/// the decoder, its qwords, where it comes from (file:line), and a marker when a finding names it (V61).
/// </summary>
public sealed record EntryView(string Title, StructureKind Kind, IReadOnlyList<ulong> Qwords, string Source, string Marker = "", bool Hazard = false);

/// <summary>
/// A run of leaves of a page table: consecutive IOVA pages of one size mapped to consecutive frames with the same access
/// (bit 0 read or present, bit 1 write in every format), the entries on the first page's path, the lines they come from,
/// and a marker when a finding names one of them.
/// </summary>
public sealed record PageRun(ulong Iova, ulong Last, ulong Address, ulong PageSize, int Pages, bool Read, bool Write, string Path, string Source, string Marker = "", bool Hazard = false);

/// <summary>One page table of a dump (a domain): what it is, a note, and its leaves as runs in IOVA order.</summary>
public sealed record PageTableView(string Title, string Note, IReadOnlyList<PageRun> Runs);

/// <summary>A finding of a checked input: its code, where (file:line), the device, the entry, what it means, the rule; the SPR17 hazard is marked.</summary>
public sealed record FindingView(string Code, string Where, string Device, string Entry, string Message, string Rule, bool Hazard);

/// <summary>A cell of a <see cref="TableView"/>: its text and a class that marks it (its text already says what the class shows).</summary>
public sealed record TableCell(string Text, string Class = "");

/// <summary>A plain table (the devices of a dump, the compatibility matrix): caption, column names, rows of cells.</summary>
public sealed record TableView(string Caption, IReadOnlyList<string> Columns, IReadOnlyList<IReadOnlyList<TableCell>> Rows, IReadOnlyList<string> Notes);

/// <summary>
/// One part of a report: a scenario run, an analysed memory map or one run of the demo. Every list may be empty; the
/// renderer leaves out what a part has none of.
/// </summary>
public sealed record ReportPart
{
    public required string Title { get; init; }

    /// <summary>Lines under the title (the file, the outcome).</summary>
    public IReadOnlyList<string> Summary { get; init; } = [];

    /// <summary>The question of the seed thread a tour screen answers (empty: none).</summary>
    public string Question { get; init; } = "";

    /// <summary>Findings of a checked input (`analyze debugfs`), shown first.</summary>
    public IReadOnlyList<FindingView> Findings { get; init; } = [];

    /// <summary>Tables of their own (the devices of a dump, the compatibility matrix).</summary>
    public IReadOnlyList<TableView> Tables { get; init; } = [];

    public IReadOnlyList<MemoryMapView> MemoryMaps { get; init; } = [];

    /// <summary>Remapping entries to show decoded when no walk read them (a dump's root, context and PASID entries).</summary>
    public IReadOnlyList<EntryView> Entries { get; init; } = [];

    /// <summary>Page tables of a dump, their leaves as runs.</summary>
    public IReadOnlyList<PageTableView> PageTables { get; init; } = [];

    public IReadOnlyList<DmaWalk> Walks { get; init; } = [];

    /// <summary>
    /// The levels of the timeline in order, each with its tag (L0 the host, L1 a VMM's guest, L2 a guest's VMM's guest); a
    /// vIOMMU's walk is tagged with its VMM's level.
    /// </summary>
    public IReadOnlyList<(string Level, string Tag)> Levels { get; init; } = [];

    public IReadOnlyList<TimelineStep> Steps { get; init; } = [];

    public IReadOnlyList<TimelineEntry> Timeline { get; init; } = [];

    public IReadOnlyList<VerdictView> Verdicts { get; init; } = [];
}

/// <summary>A whole report: a title and its parts, rendered by <see cref="HtmlReport.Render"/>.</summary>
public sealed record ReportDocument(string Title, IReadOnlyList<ReportPart> Parts);
