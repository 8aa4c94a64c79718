using VtdSim.Hardware.Tracing;
using VtdSim.Scenarios.Running;

namespace VtdSim.Report;

/// <summary>The shape of a walk's grid: nested (first stage × second stage), second-stage only (one row), first-stage only (one column).</summary>
public enum WalkShape
{
    /// <summary>No paging-structure reference: pass-through, a cache hit, or a fault before the tables.</summary>
    NoPaging,
    Nested,
    SecondStageOnly,
    FirstStageOnly,
}

/// <summary>One reference of a walk placed in the grid: its number in walk order (from 1) and the reference.</summary>
public readonly record struct NumberedReference(int Number, MemoryReference Reference);

/// <summary>
/// A walk laid out as the VT-d specification draws a nested translation (section 3.8, the figure of a nested walk with
/// 4-level first-stage and 4-level second-stage tables): one row per first-stage level from the top, then the final GPA;
/// one column per second-stage level from the top, then the first-stage entry (in the last row: the data access).
/// Every reference of the trace is in exactly one place: the root, context and PASID references in
/// <see cref="Context"/>, the rest in <see cref="Cells"/>; flag updates share the cell of the entry they update.
/// </summary>
public sealed class WalkGrid
{
    private WalkGrid(WalkShape shape, int firstStageLevels, int secondStageLevels, List<NumberedReference> context, Dictionary<(int Row, int Column), List<NumberedReference>> cells, int faulting)
    {
        Shape = shape;
        FirstStageLevels = firstStageLevels;
        SecondStageLevels = secondStageLevels;
        Context = context;
        this.cells = cells;
        FaultingNumber = faulting;
    }

    private readonly Dictionary<(int Row, int Column), List<NumberedReference>> cells;

    public WalkShape Shape { get; }

    /// <summary>n: the first-stage levels the grid draws (0 when there is no first stage).</summary>
    public int FirstStageLevels { get; }

    /// <summary>m: the second-stage levels the grid draws (0 when there is no second stage).</summary>
    public int SecondStageLevels { get; }

    /// <summary>The root, context, PASID-directory and PASID-table references, in order.</summary>
    public IReadOnlyList<NumberedReference> Context { get; }

    /// <summary>The number of the reference the fault names (its entry), or 0 when no reference of the trace is it.</summary>
    public int FaultingNumber { get; }

    /// <summary>Rows: the first-stage levels n..1, then the final GPA (row index 0). Second-stage only: the one row 0.</summary>
    public IReadOnlyList<int> Rows => Shape switch
    {
        WalkShape.Nested or WalkShape.FirstStageOnly => [.. Enumerable.Range(1, FirstStageLevels).Reverse(), 0],
        WalkShape.SecondStageOnly => [0],
        _ => [],
    };

    /// <summary>Columns: the second-stage levels m..1, then the first-stage entry / data access (column index 0).</summary>
    public IReadOnlyList<int> Columns => Shape switch
    {
        WalkShape.Nested or WalkShape.SecondStageOnly => [.. Enumerable.Range(1, SecondStageLevels).Reverse(), 0],
        WalkShape.FirstStageOnly => [0],
        _ => [],
    };

    /// <summary>The references in the cell at (row, column), in walk order.</summary>
    public IReadOnlyList<NumberedReference> Cell(int row, int column) => cells.TryGetValue((row, column), out var list) ? list : [];

    /// <summary>The grid of <paramref name="walk"/>.</summary>
    public static WalkGrid Of(DmaWalk walk)
    {
        ArgumentNullException.ThrowIfNull(walk);
        var context = new List<NumberedReference>();
        var cells = new Dictionary<(int, int), List<NumberedReference>>();
        IReadOnlyList<MemoryReference> refs = walk.References;
        int n = 0, m = 0;
        bool first = false, second = false;
        foreach (MemoryReference r in refs)
        {
            if (r.Stage == TraceStage.FirstStage) { first = true; n = Math.Max(n, r.Level); }
            if (r.Stage == TraceStage.SecondStage) { second = true; m = Math.Max(m, r.Level); n = Math.Max(n, r.ForFirstStageLevel); }
        }
        // A nested walk: second-stage references that translate first-stage table GPAs, or first-stage entries with GPAs.
        bool nested = (first && second) || refs.Any(r => r.Stage == TraceStage.SecondStage && r.ForFirstStageLevel > 0)
                      || refs.Any(r => r.Stage == TraceStage.FirstStage && r.Gpa is not null);
        WalkShape shape = nested ? WalkShape.Nested : second ? WalkShape.SecondStageOnly : first ? WalkShape.FirstStageOnly : WalkShape.NoPaging;
        for (int i = 0; i < refs.Count; i++)
        {
            MemoryReference r = refs[i];
            var numbered = new NumberedReference(i + 1, r);
            (int row, int column)? at = r.Stage switch
            {
                TraceStage.FirstStage => (r.Level, 0),
                TraceStage.SecondStage => (shape == WalkShape.Nested ? r.ForFirstStageLevel : 0, r.Level),
                _ => null,
            };
            if (at is not { } place)
            {
                context.Add(numbered);
                continue;
            }
            if (!cells.TryGetValue(place, out var list)) cells[place] = list = [];
            list.Add(numbered);
        }
        int faulting = 0;
        if (walk.Fault is { EntryAddress: { } entry })
        {
            for (int i = refs.Count - 1; i >= 0; i--)
            {
                if (refs[i].Address == entry && refs[i].Kind == ReferenceKind.Read)
                {
                    faulting = i + 1;
                    break;
                }
            }
        }
        return new WalkGrid(shape, n, m, context, cells, faulting);
    }

    /// <summary>The flags a flag update set, by name: A, EA, D (first stage) or A, D (second stage).</summary>
    public static string FlagsSet(in MemoryReference r)
    {
        ulong set = r.NewValue & ~r.Value;
        var names = new List<string>();
        if (r.Stage == TraceStage.FirstStage)
        {
            if ((set & (1UL << 5)) != 0) names.Add("A");
            if ((set & (1UL << 10)) != 0) names.Add("EA");
            if ((set & (1UL << 6)) != 0) names.Add("D");
        }
        else
        {
            if ((set & (1UL << 8)) != 0) names.Add("A");
            if ((set & (1UL << 9)) != 0) names.Add("D");
        }
        return names.Count == 0 ? "flags" : string.Join("/", names);
    }
}
