using VtdSim.Scenarios.Matrix;
using VtdSim.Scenarios.Sharding;
using VtdSim.Scenarios.Tests.Matrix;

namespace VtdSim.Scenarios.Tests.Sharding;

/// <summary>`--shard I/N` and `vtdsim merge` (decisions S26, S27): the split, the self-describing output, the merge.</summary>
public class ShardTests
{
    [Theory]
    [InlineData("1/1", 1, 1)]
    [InlineData("3/8", 3, 8)]
    [InlineData("8/8", 8, 8)]
    public void IOverNIsTakenWithShardsNumberedFromOne(string text, int index, int count)
    {
        Assert.True(Shard.TryParse(text, out Shard shard, out _));
        Assert.Equal(new Shard(index, count), shard);
        Assert.Equal(text, shard.ToString());
    }

    [Theory]
    [InlineData("0/3", "'0/3' is out of range; shards are numbered from 1 to N (1/3 is the first, 3/3 the last)")]
    [InlineData("4/3", "'4/3' is out of range; shards are numbered from 1 to N (1/3 is the first, 3/3 the last)")]
    [InlineData("1/0", "'1/0' is out of range; shards are numbered from 1 to N (1/1 is the first, 1/1 the last)")]
    [InlineData("2", "'2' is not I/N; give the shard's number and the number of shards, as 2/8")]
    [InlineData("-1/3", "'-1/3' is not I/N; give the shard's number and the number of shards, as 2/8")]
    [InlineData("1/3/5", "'1/3/5' is not I/N; give the shard's number and the number of shards, as 2/8")]
    [InlineData("a/b", "'a/b' is not I/N; give the shard's number and the number of shards, as 2/8")]
    [InlineData("", "'' is not I/N; give the shard's number and the number of shards, as 2/8")]
    [InlineData("99999999999/3", "'99999999999/3' is not I/N; give the shard's number and the number of shards, as 2/8")]
    public void AnythingElseIsRefusedSayingWhatIsTaken(string text, string error)
    {
        Assert.False(Shard.TryParse(text, out _, out string said));
        Assert.Equal(error, said);
    }

    [Fact]
    public void TheShardsInOrderAreTheWholeListEachOnceInNearEqualParts()
    {
        for (int total = 0; total <= 200; total++)
        {
            for (int count = 1; count <= 40; count++)
            {
                var sizes = new List<int>();
                int next = 0;
                for (int i = 1; i <= count; i++)
                {
                    (int first, int n) = new Shard(i, count).Range(total);
                    Assert.Equal(next, first);
                    next += n;
                    sizes.Add(n);
                }
                Assert.Equal(total, next);
                Assert.True(sizes.Max() - sizes.Min() <= 1, $"{total} items in {count} shards: {string.Join(",", sizes)}");
            }
        }
    }

    private static IReadOnlyList<MatrixRow> Rows => MatrixTests.All.Value;

    private static readonly IReadOnlyList<string> Work = CompatibilityMatrix.Cells().Select(CompatibilityMatrix.Name).ToList();

    private static (string File, string Text) Part(int index, int count, IReadOnlyList<MatrixRow>? rows = null, IReadOnlyList<string>? work = null)
    {
        var shard = new Shard(index, count);
        (int first, int n) = shard.Range(Rows.Count);
        IReadOnlyList<MatrixRow> mine = rows ?? Rows.Skip(first).Take(n).ToList();
        return ($"shard-{index}-of-{count}.json", ShardOutput.Write(ShardOutput.Matrix, shard, work ?? Work, first, w => MatrixOutput.WriteRows(w, mine)));
    }

    [Fact]
    public void MergingEveryShardInAnyOrderGivesTheUnshardedJsonByteForByte()
    {
        string unsharded = MatrixOutput.Json(Rows);
        var random = new Random(11);
        foreach (int count in new[] { 1, 2, 3, 7, 96, 100 })
        {
            var parts = Enumerable.Range(1, count).Select(i => Part(i, count)).OrderBy(_ => random.Next()).ToList();
            ShardOutput.MergeResult r = ShardOutput.Merge(parts);
            Assert.Null(r.Error);
            Assert.Equal(unsharded, r.Output);
        }
    }

    [Fact]
    public void AShardsOutputSaysWhichShardOfWhichSweepItIs()
    {
        using var doc = System.Text.Json.JsonDocument.Parse(Part(2, 3).Text);
        var root = doc.RootElement;
        Assert.Equal(["command", "shard", "first", "work", "items"], root.EnumerateObject().Select(p => p.Name));
        Assert.Equal("matrix", root.GetProperty("command").GetString());
        Assert.Equal("2/3", root.GetProperty("shard").GetString());
        Assert.Equal(32, root.GetProperty("first").GetInt32());
        Assert.Equal(Work, root.GetProperty("work").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(Enumerable.Range(33, 32), root.GetProperty("items").EnumerateArray().Select(e => e.GetProperty("row").GetInt32()));
    }

    [Fact]
    public void MissingDuplicateOrForeignShardsAreRefusedNamingTheFile()
    {
        Assert.Equal("shard 2/3 of the `matrix` sweep is missing (given: 1/3 in shard-1-of-3.json, 3/3 in shard-3-of-3.json)",
            ShardOutput.Merge([Part(3, 3), Part(1, 3)]).Error);
        Assert.Equal("shards 2/4, 4/4 of the `matrix` sweep are missing (given: 1/4 in shard-1-of-4.json, 3/4 in shard-3-of-4.json)",
            ShardOutput.Merge([Part(1, 4), Part(3, 4)]).Error);
        var again = Part(2, 3) with { File = "copy.json" };
        Assert.Equal("copy.json: shard 2/3 is given twice (also shard-2-of-3.json)", ShardOutput.Merge([Part(1, 3), Part(2, 3), again, Part(3, 3)]).Error);
        Assert.Equal("shard-2-of-4.json: shard 2/4 of a `matrix` sweep of 96 items does not belong with shard-1-of-3.json (shard 1/3 of a `matrix` sweep of 96 items)",
            ShardOutput.Merge([Part(1, 3), Part(2, 4)]).Error);
        var other = Part(2, 3, work: [.. Work.Take(95), "another-cell"]);
        Assert.Equal("shard-2-of-3.json: shard 2/3 of a `matrix` sweep of 96 items does not belong with shard-1-of-3.json (shard 1/3 of a `matrix` sweep of 96 items, over another work list)",
            ShardOutput.Merge([Part(1, 3), other, Part(3, 3)]).Error);
        var short1 = Part(1, 3, rows: Rows.Take(5).ToList());
        Assert.Equal("shard-1-of-3.json: shard 1/3 should hold items 1 to 32 of 96, it holds 5 from item 1", ShardOutput.Merge([short1, Part(2, 3), Part(3, 3)]).Error);
        Assert.StartsWith("x.json: not JSON (", ShardOutput.Merge([("x.json", "{ nope")]).Error);
        Assert.Equal("y.json: expected the --json output of `vtdsim matrix --shard` or `vtdsim run --shard` (an object with command, shard, first, work, items)",
            ShardOutput.Merge([("y.json", MatrixOutput.Json(Rows.Take(2).ToList()))]).Error);
        Assert.Equal("z.json: shard '5/3' is out of range; shards are numbered from 1 to N (1/3 is the first, 3/3 the last)",
            ShardOutput.Merge([("z.json", Part(1, 3).Text.Replace("\"1/3\"", "\"5/3\"", StringComparison.Ordinal))]).Error);
        Assert.Equal("no files to merge", ShardOutput.Merge([]).Error);
    }
}
