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
/// One part of a report: a scenario run, an analysed memory map or one run of the demo. Every list may be empty; the
/// renderer leaves out what a part has none of.
/// </summary>
public sealed record ReportPart
{
    public required string Title { get; init; }

    /// <summary>Lines under the title (the file, the outcome).</summary>
    public IReadOnlyList<string> Summary { get; init; } = [];

    public IReadOnlyList<MemoryMapView> MemoryMaps { get; init; } = [];

    public IReadOnlyList<DmaWalk> Walks { get; init; } = [];

    /// <summary>The levels of the timeline in order, each with its tag (L0 the host, L1 a VMM's guest, L2 a guest's VMM's guest).</summary>
    public IReadOnlyList<(string Level, string Tag)> Levels { get; init; } = [];

    public IReadOnlyList<TimelineStep> Steps { get; init; } = [];

    public IReadOnlyList<TimelineEntry> Timeline { get; init; } = [];

    public IReadOnlyList<VerdictView> Verdicts { get; init; } = [];
}

/// <summary>A whole report: a title and its parts, rendered by <see cref="HtmlReport.Render"/>.</summary>
public sealed record ReportDocument(string Title, IReadOnlyList<ReportPart> Parts);
