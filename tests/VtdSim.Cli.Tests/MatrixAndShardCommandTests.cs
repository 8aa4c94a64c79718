using System.Text.Json;
using VtdSim.Cli.Commands;
using VtdSim.Cli.Tests.Support;
using VtdSim.Scenarios.Loading;
using VtdSim.Scenarios.Matrix;

namespace VtdSim.Cli.Tests;

/// <summary>`vtdsim matrix`, `vtdsim run --all`, `--shard I/N` and `vtdsim merge` (in-process).</summary>
public class MatrixAndShardCommandTests
{
    private static (int Exit, string Output) Run(params string[] args)
    {
        var output = new StringWriter();
        int exit = Program.Run(args, output);
        return (exit, output.ToString());
    }

    [Fact]
    public void TheTableSaysEveryVerdictInWords()
    {
        MatrixCell[] cells =
        [
            new(true, false, "wants-nesting-maps-ro", MatrixViommu.XFlts, MatrixGuest.Malicious),
            new(false, false, "wants-nesting-maps-ro", MatrixViommu.XFlts, MatrixGuest.Malicious),
            new(true, true, "wants-nesting-maps-ro", MatrixViommu.XFlts, MatrixGuest.Benign),
            new(true, true, "qemu-11", MatrixViommu.None, MatrixGuest.Malicious),
        ];
        var output = new StringWriter();
        var console = ConsoleFactory.Create(output);
        console.Profile.Width = 400; // one line per row, so that each cell's text is whole
        MatrixCommand.Render(console, CompatibilityMatrix.Run(cells));
        string text = output.ToString();
        Assert.Contains("YES (1 A/D write into a read-only page)", text);
        Assert.Contains("0x77 SFS.8", text);
        Assert.Contains("no: EINVAL:", text);
        Assert.Contains("malicious (n/a: no vIOMMU; runs as benign)", text);
        Assert.Contains("read-only memory corrupted", text);
        CliProcess.AssertPlain(text);
    }

    [Fact]
    public void AMatrixShardIsItsPartOfTheRowsAndSaysSo()
    {
        var (exit, text) = Run("matrix", "--json", "--shard", "2/40");
        Assert.Equal(0, exit);
        using var doc = JsonDocument.Parse(text);
        Assert.Equal("matrix", doc.RootElement.GetProperty("command").GetString());
        Assert.Equal("2/40", doc.RootElement.GetProperty("shard").GetString());
        Assert.Equal(96, doc.RootElement.GetProperty("work").GetArrayLength());
        Assert.Equal([3, 4], doc.RootElement.GetProperty("items").EnumerateArray().Select(r => r.GetProperty("row").GetInt32()));
    }

    [Theory]
    [InlineData(new[] { "matrix", "--shard", "0/4", "--json" }, "vtdsim: --shard: '0/4' is out of range; shards are numbered from 1 to N (1/4 is the first, 4/4 the last)")]
    [InlineData(new[] { "matrix", "--shard", "1/4" }, "vtdsim: --shard writes a part of the matrix to merge later: give --json with it")]
    [InlineData(new[] { "matrix", "--json", "--csv" }, "vtdsim: --json, --csv and --markdown are alternatives: give one")]
    [InlineData(new[] { "run" }, "vtdsim: give one or more scenario files, or --all for the built-in ones")]
    [InlineData(new[] { "run", "--all", "x.yaml" }, "vtdsim: give scenario files or --all, not both")]
    [InlineData(new[] { "run", "--all", "--shard", "1/2" }, "vtdsim: --shard writes a part of the runs to merge later: give --json with it")]
    [InlineData(new[] { "run", "--all", "--json", "--shard", "3" }, "vtdsim: --shard: '3' is not I/N; give the shard's number and the number of shards, as 2/8")]
    public void ABadShardOrFormatIsAUsageErrorInWords(string[] args, string said)
    {
        var (exit, text) = Run(args);
        Assert.Equal(Program.Usage, exit);
        Assert.StartsWith(said + "\n", text);
        CliProcess.AssertPlain(text);
    }

    [Fact]
    public void RunAllRunsEveryBuiltInScenarioCarriedInTheTool()
    {
        var (exit, text) = Run("run", "--all");
        Assert.Equal(0, exit);
        string[] files = Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "scenarios"), "*.yaml").Select(f => "scenarios/" + Path.GetFileName(f)).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(files, BuiltInScenarios.Names);
        foreach (string name in files) Assert.Contains($"PASS {name}: all ", text);
        Assert.Contains($"{files.Length} of {files.Length} scenarios passed", text);
    }

    [Fact]
    public void RunShardsMergedAreTheUnshardedRunByteForByte()
    {
        string unsharded = Run("run", "--all", "--json").Output;
        string dir = Path.Combine(Path.GetTempPath(), $"vtdsim-shards-{Environment.ProcessId}");
        Directory.CreateDirectory(dir);
        try
        {
            var files = new List<string>();
            foreach (int i in new[] { 3, 1, 2 })
            {
                var (exit, part) = Run("run", "--all", "--json", "--shard", $"{i}/3");
                Assert.Equal(0, exit);
                string file = Path.Combine(dir, $"part{i}.json");
                File.WriteAllText(file, part);
                files.Add(file);
            }
            var (merged, text) = Run(["merge", .. files]);
            Assert.Equal(0, merged);
            Assert.Equal(unsharded, text);

            var (missing, said) = Run("merge", files[0], files[1]);
            Assert.Equal(Program.Usage, missing);
            Assert.Equal($"vtdsim: shard 2/3 of the `run` sweep is missing (given: 1/3 in {files[1]}, 3/3 in {files[0]})\n", said);
            var (twice, said2) = Run(["merge", .. files, files[2]]);
            Assert.Equal(Program.Usage, twice);
            Assert.Equal($"vtdsim: {files[2]}: shard 2/3 is given twice (also {files[2]})\n", said2);
            var (unreadable, said3) = Run("merge", files[0], Path.Combine(dir, "nope.json"));
            Assert.Equal(Program.Usage, unreadable);
            Assert.Equal($"vtdsim: {Path.Combine(dir, "nope.json")}: cannot read the file: no such file\n", said3);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
