using CsCheck;
using VtdSim.Kernel.Intel;
using VtdSim.Tests.Shared;

namespace VtdSim.Kernel.Tests;

/// <summary>
/// The DMAR line parser under 120,000 seeded inputs: random text, text from the line's own alphabet and tokens, valid
/// lines mutated, cut short and spliced. No exception escapes; every input gets either a fault or a message.
/// </summary>
public class DmarFaultLineFuzzTests
{
    private static readonly string[] Corpus =
    [
        "DMAR: [DMA Write NO_PASID] Request device [00:04.0] fault addr 0x1000 [fault reason 0x05] PTE Write access is not set",
        "DMAR: [DMA Read PASID 0x1] Request device [00:04.0] fault addr 0x1000 [fault reason 0x59] SM: Present bit in PASID Table Entry is clear",
        "[    0.938401] kernel: DMAR: [DMA Read NO_PASID] Request device [0x00:0x02.0] fault addr 0x70ad5000 [fault reason 0x07] Next page table ptr is invalid",
        "[  144.480641] DMAR: [DMA Read] Request device [00:02.0] PASID ffffffff fault addr 9c000000 [fault reason 06] PTE Read access is not set",
        "[10672.868940] DMAR: [DMA Write] Request device [00:12.0] fault addr 0 [fault reason 05] PTE Write access is not set",
        "DMAR: [INTR-REMAP] Request device [f0:1f.0] fault index 21 [fault reason 34] Present field in the IRTE entry is clear",
        "DMAR: [INTR-REMAP] Request device [0xf0:0x1f.0] fault index 0x21 [fault reason 0x22] Present field in the IRTE entry is clear",
        "DMAR: [DMA Read PASID 0x2] Request device [6a:01.0] fault addr 0x7fe0c9943000 [fault reason 0x3a] SM: Non-zero reserved field set in Root Entry",
        "DMAR: DRHD: handling fault status reg 3",
    ];

    private static readonly string[] Tokens =
    [
        "DMAR:", "DMAR: ", "[", "]", "DMA Read", "DMA Write", "INTR-REMAP", " NO_PASID", " PASID ", "0x", "ffffffff", " Request device [",
        "00", "0x00", ":", ".", "7", "8", "1f", "20", " fault addr ", " fault index ", "1000", "0x1000", "ffffffffffffffff", "10000000000000000",
        " [fault reason ", "05", "0x05", "0x77", "256", "0x100", "] ", "PTE Write access is not set", "Unknown", " ", "\t", "\r", "\u0000", "é",
    ];

    private static Gen<string> Lines()
    {
        var random = Gen.Char.Array[0, 160].Select(a => new string(a));
        var alphabet = Gen.Char["DMAR:[]() 0x123456789abcdefABCDEF.NO_PASIDReqstdvcfulrn-INT\t"].Array[0, 160].Select(a => new string(a));
        var tokens = Gen.Int[0, Tokens.Length - 1].Array[0, 24].Select(ix => string.Concat(ix.Select(i => Tokens[i])));
        var mutated = Gen.Select(Gen.Int[0, Corpus.Length - 1], Gen.Select(Gen.Int[0, 3], Gen.Int[0, 400], Gen.Char).Array[1, 5])
            .Select(t => TextEdits.Chars(Corpus[t.Item1], t.Item2));
        var cut = Gen.Select(Gen.Int[0, Corpus.Length - 1], Gen.Int[0, 200]).Select(t => Corpus[t.Item1][..Math.Min(t.Item2, Corpus[t.Item1].Length)]);
        var spliced = Gen.Select(Gen.Int[0, Corpus.Length - 1], Gen.Int[0, Corpus.Length - 1], Gen.Int[0, 200], Gen.Int[0, 200])
            .Select(t =>
            {
                string a = Corpus[t.Item1], b = Corpus[t.Item2];
                return a[..Math.Min(t.Item3, a.Length)] + b[Math.Min(t.Item4, b.Length)..];
            });
        return Gen.Frequency((1, random), (2, alphabet), (3, tokens), (4, mutated), (2, cut), (2, spliced));
    }

    [Fact]
    public void NoInputMakesTheParserThrowAndEveryOneGetsAFaultOrAMessage()
    {
        const int Inputs = 120_000;
        var gen = Lines();
        var pcg = new PCG(7, 12_003);
        int read = 0;
        for (int i = 0; i < Inputs; i++)
        {
            string line = gen.Generate(pcg, null, out _);
            bool ok;
            DmarFaultLine? fault;
            string error;
            try
            {
                ok = DmarFaultLine.TryParse(line, out fault, out error);
            }
            catch (Exception e)
            {
                Assert.Fail($"input {i} threw {e.GetType().Name}: {e.Message}\n{DmarFaultLine.Quote(line)}");
                return;
            }
            if (ok)
            {
                read++;
                Assert.NotNull(fault);
                Assert.Equal("", error);
                Assert.InRange(fault.Device, 0, 0x1f);
                Assert.InRange(fault.Function, 0, 7);
                Assert.NotNull(DmarFaultAdvice.For(fault.Reason).Meaning);
            }
            else
            {
                Assert.Null(fault);
                Assert.False(string.IsNullOrWhiteSpace(error), $"input {i} was refused without a message: {DmarFaultLine.Quote(line)}");
            }
        }
        // The mutations keep enough lines whole (an edit in the reason's text) for the deep paths to be reached.
        Assert.True(read > Inputs / 100, $"only {read} of {Inputs} inputs were read as faults");
    }
}
