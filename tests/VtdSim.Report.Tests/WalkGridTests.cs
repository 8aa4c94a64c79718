using VtdSim.Hardware;
using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Tracing;
using VtdSim.Scenarios.Running;

namespace VtdSim.Report.Tests;

/// <summary>The grid's layout: every reference in exactly one place, in the row and column the specification's figure gives it.</summary>
public class WalkGridTests
{
    /// <summary>
    /// A nested walk of n first-stage and m second-stage levels as the hardware makes it (vtd-facts 4.3): for each
    /// first-stage level, m second-stage reads of its table's GPA then the entry; then m reads of the final GPA; cut
    /// after <paramref name="cut"/> references (a fault stops a walk anywhere).
    /// </summary>
    private static List<MemoryReference> Nested(int n, int m, int cut)
    {
        var refs = new List<MemoryReference>
        {
            new(TraceStage.RootTable, 0, new Hpa(0x1000), 1),
            new(TraceStage.ContextTable, 0, new Hpa(0x2000), 1),
            new(TraceStage.PasidDirectory, 0, new Hpa(0x3000), 1),
            new(TraceStage.PasidTable, 0, new Hpa(0x4000), 1),
        };
        for (int fs = n; fs >= 1; fs--)
        {
            for (int ss = m; ss >= 1; ss--) refs.Add(new MemoryReference(TraceStage.SecondStage, ss, new Hpa(0x10000UL * (ulong)ss), 3, ForFirstStageLevel: fs));
            refs.Add(new MemoryReference(TraceStage.FirstStage, fs, new Hpa(0x100000UL * (ulong)fs), 1, Gpa: new Gpa(0x1000UL * (ulong)fs)));
            refs.Add(new MemoryReference(TraceStage.FirstStage, fs, new Hpa(0x100000UL * (ulong)fs), 1, ReferenceKind.FlagUpdate, 1 | 1 << 5, new Gpa(0x1000UL * (ulong)fs)));
        }
        for (int ss = m; ss >= 1; ss--) refs.Add(new MemoryReference(TraceStage.SecondStage, ss, new Hpa(0x10000UL * (ulong)ss), 3));
        return refs.Take(cut).ToList();
    }

    private static DmaWalk Walk(IReadOnlyList<MemoryReference> refs) =>
        new("test", new SourceId(0, 4, 0), 0x1000, false, 8, refs, [], null, true);

    [Fact]
    public void EveryReferenceIsInExactlyOnePlaceInWalkOrder()
    {
        // Every shape from 1x1 to 5x5, cut after every reference: the space is small enough to try all of it.
        for (int n = 1; n <= 5; n++)
        for (int m = 1; m <= 5; m++)
        for (int cut = 0; cut <= Nested(n, m, int.MaxValue).Count; cut++)
        {
            var refs = Nested(n, m, cut);
            WalkGrid grid = WalkGrid.Of(Walk(refs));
            var placed = grid.Context.Concat(grid.Rows.SelectMany(r => grid.Columns.SelectMany(c => grid.Cell(r, c)))).Select(x => x.Number).Order().ToList();
            Assert.Equal(Enumerable.Range(1, refs.Count), placed);
            foreach (int r in grid.Rows)
                foreach (int c in grid.Columns)
                    Assert.True(grid.Cell(r, c).Select(x => x.Number).SequenceEqual(grid.Cell(r, c).Select(x => x.Number).Order()), "walk order within a cell");
        }
    }

    [Theory]
    [InlineData(4, 4)]
    [InlineData(5, 5)]
    [InlineData(4, 5)]
    [InlineData(2, 3)]
    public void ANestedWalkIsTheFiguresGrid(int n, int m)
    {
        WalkGrid grid = WalkGrid.Of(Walk(Nested(n, m, int.MaxValue)));
        Assert.Equal(WalkShape.Nested, grid.Shape);
        Assert.Equal(n + 1, grid.Rows.Count);
        Assert.Equal(m + 1, grid.Columns.Count);
        // (n+1)(m+1)-1 paging reads: every cell but the final access holds exactly one read.
        foreach (int r in grid.Rows)
            foreach (int c in grid.Columns)
                Assert.Equal(r == 0 && c == 0 ? 0 : 1, grid.Cell(r, c).Count(x => x.Reference.Kind == ReferenceKind.Read));
        // Each first-stage flag update shares its entry's cell.
        Assert.All(grid.Rows.Where(r => r > 0), r => Assert.Single(grid.Cell(r, 0), x => x.Reference.Kind == ReferenceKind.FlagUpdate));
    }

    [Fact]
    public void ASecondStageOnlyWalkIsOneRowAndAFirstStageOnlyWalkOneColumn()
    {
        var ss = new List<MemoryReference> { new(TraceStage.SecondStage, 4, new Hpa(0x1000), 3), new(TraceStage.SecondStage, 3, new Hpa(0x2000), 3), new(TraceStage.SecondStage, 2, new Hpa(0x3000), 3), new(TraceStage.SecondStage, 1, new Hpa(0x4000), 3) };
        WalkGrid row = WalkGrid.Of(Walk(ss));
        Assert.Equal(WalkShape.SecondStageOnly, row.Shape);
        Assert.Single(row.Rows);
        Assert.Equal(5, row.Columns.Count);

        var fs = new List<MemoryReference> { new(TraceStage.FirstStage, 4, new Hpa(0x1000), 1), new(TraceStage.FirstStage, 3, new Hpa(0x2000), 1), new(TraceStage.FirstStage, 2, new Hpa(0x3000), 1), new(TraceStage.FirstStage, 1, new Hpa(0x4000), 1) };
        WalkGrid column = WalkGrid.Of(Walk(fs));
        Assert.Equal(WalkShape.FirstStageOnly, column.Shape);
        Assert.Single(column.Columns);
        Assert.Equal(5, column.Rows.Count);
    }

    [Theory]
    [InlineData(TraceStage.FirstStage, 0x21UL, 0x461UL, "EA/D")]
    [InlineData(TraceStage.FirstStage, 0x1UL, 0x21UL, "A")]
    [InlineData(TraceStage.SecondStage, 0x3UL, 0x303UL, "A/D")]
    public void AFlagUpdateNamesTheFlagsItSet(TraceStage stage, ulong before, ulong after, string flags) =>
        Assert.Equal(flags, WalkGrid.FlagsSet(new MemoryReference(stage, 1, new Hpa(0x1000), before, ReferenceKind.FlagUpdate, after)));
}
