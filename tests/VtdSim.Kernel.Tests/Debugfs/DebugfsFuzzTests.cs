using CsCheck;
using VtdSim.Kernel.Intel.Debugfs;
using VtdSim.Tests.Shared;

namespace VtdSim.Kernel.Tests.Debugfs;

/// <summary>
/// The debugfs reader and the analysis under 128,000 seeded inputs, 32,000 per file kind: the model kernel's own files
/// (scalable, legacy, the SPR17 hazard) with characters and lines edited, lines dropped, repeated and swapped, files
/// cut short, and random text. No exception escapes; every refusal names the file and a line of it; what is read is
/// analysed without an exception too.
/// </summary>
public class DebugfsFuzzTests
{
    private const int InputsPerKind = 32_000;

    private static readonly Lazy<Dictionary<string, string[]>> Corpus = new(() =>
    {
        var all = new Dictionary<string, List<string>>();
        foreach (var bench in new[] { DebugfsSetups.Scalable(), DebugfsSetups.Legacy(), DebugfsSetups.VgaBiosHazard() })
            foreach (var (path, text) in bench.Driver.DebugfsFiles())
            {
                string kind = path.Split('/')[^1];
                if (!all.TryGetValue(kind, out var list)) all[kind] = list = new();
                if (kind == DebugfsLayout.InvalidationQueue)
                    list.Add(string.Join('\n', text.Split('\n').Take(12)) + "\n"); // keep the queue short: its 128 slot lines are alike
                else if (text.Length > 0) list.Add(text);
            }
        return all.ToDictionary(p => p.Key, p => p.Value.ToArray());
    });

    private static readonly string[] Tokens =
    [
        "\t", "\t\t", " ", "\n", "0x", "0000000000000000", "ffffffffffffffff", "0x0000000000001003", ":", ".", "|", "-1", "5", "@0x", "Device ",
        "0000:00:02.0", " with pasid ", "IOMMU ", "IOMMU: ", "dmar0", "Register Base Address: ", "Root Table Address: ", "B.D.F", "CAP", "GSTS",
        "Invalidation queue on IOMMU: ", " Base: 0x", "Head: ", "Tail: ", "DMA Remapping is not enabled on ", "é", "\r", "\u0000",
    ];

    private static Gen<string> Inputs(string kind)
    {
        string[] corpus = Corpus.Value[kind];
        var random = Gen.Char.Array[0, 300].Select(a => new string(a));
        var tokens = Gen.Int[0, Tokens.Length - 1].Array[0, 60].Select(ix => string.Concat(ix.Select(i => Tokens[i])));
        var chars = Gen.Select(Gen.Int[0, corpus.Length - 1], Gen.Select(Gen.Int[0, 3], Gen.Int[0, 1 << 20], Gen.Char["0123456789abcdefx:. \t\n-|@"]).Array[1, 4])
            .Select(t => TextEdits.Chars(corpus[t.Item1], t.Item2));
        var lines = Gen.Select(Gen.Int[0, corpus.Length - 1], Gen.Select(Gen.Int[0, 2], Gen.Int[0, 1 << 20], Gen.Int[0, 1 << 20]).Array[1, 3])
            .Select(t => TextEdits.Lines(corpus[t.Item1], t.Item2));
        var cut = Gen.Select(Gen.Int[0, corpus.Length - 1], Gen.Int[0, 1 << 20]).Select(t => corpus[t.Item1][..(t.Item2 % (corpus[t.Item1].Length + 1))]);
        var whole = Gen.Int[0, corpus.Length - 1].Select(i => corpus[i]);
        return Gen.Frequency((1, random), (1, tokens), (5, chars), (3, lines), (2, cut), (1, whole));
    }

    [Theory]
    [InlineData("iommu_regset", 11)]
    [InlineData("dmar_translation_struct", 12)]
    [InlineData("0000:00:02.0/domain_translation_struct", 13)]
    [InlineData("invalidation_queue", 14)]
    public void NoInputThrowsAndEveryRefusalNamesFileAndLine(string path, uint seed)
    {
        var gen = Inputs(path.Split('/')[^1]);
        var pcg = new PCG(seed, 5_003);
        int read = 0;
        for (int i = 0; i < InputsPerKind; i++)
        {
            string text = gen.Generate(pcg, null, out _);
            var dump = new DebugfsDump();
            bool ok;
            DebugfsParseError? error;
            try
            {
                ok = DebugfsParser.TryParseFile(path, text, dump, out error);
                if (ok) DebugfsAnalysis.Analyze(dump);
            }
            catch (Exception e)
            {
                Assert.Fail($"input {i} threw {e.GetType().Name}: {e.Message}\n{text}");
                return;
            }
            if (ok)
            {
                read++;
                continue;
            }
            int lineCount = Math.Max(1, text.Split('\n').Length);
            Assert.Equal(path, error!.File);
            Assert.InRange(error.Line, 1, lineCount);
            Assert.StartsWith($"{path}:{error.Line}: ", error.Message, StringComparison.Ordinal);
            Assert.DoesNotContain('\t', error.Text);
        }
        Assert.True(read > InputsPerKind / 50, $"only {read} of {InputsPerKind} inputs were read");
    }
}
