using CsCheck;
using VtdSim.Scenarios.Loading;
using VtdSim.Tests.Shared;

namespace VtdSim.Scenarios.Tests;

/// <summary>
/// The loader under 10,000 seeded inputs made from the built-in files: characters deleted, inserted, replaced and
/// swapped, lines dropped, duplicated and swapped, files cut short and spliced, YAML punctuation thrown in. No input
/// makes it throw; each gives a scenario or an error with a position inside the file and a message.
/// </summary>
public class LoaderFuzzTests
{
    private static readonly string[] Corpus = BuiltIn.Names().Select(BuiltIn.Text).ToArray();

    private static readonly string[] Tokens =
    [
        ":", ": ", "- ", "{", "}", "[", "]", ",", "&a ", "*a", "!!str ", "!!map ", "? ", "|\n", ">\n", "\"", "'", "#", "\t", "\n", "  ", "~", "null",
        "0x", "0xffffffffffffffffff", "-1", "1G", "99999T", "on", "off", "host", "vm0", "nic", "steps", "expect", "dma", "vmms", "guest", "---\n", "...\n", "\u0000", "é", "%YAML 1.2\n",
    ];

    private static Gen<string> Inputs()
    {
        var file = Gen.Int[0, Corpus.Length - 1].Select(i => Corpus[i]);
        var chars = Gen.Select(file, Gen.Select(Gen.Int[0, 3], Gen.Int[0, 1 << 16], Gen.Char["abc:{}[],-'\" \n\t#&*!?|>0123456789x"]).Array[1, 6])
            .Select(t => TextEdits.Chars(t.Item1, t.Item2));
        var lines = Gen.Select(file, Gen.Select(Gen.Int[0, 2], Gen.Int[0, 400], Gen.Int[0, 400]).Array[1, 4]).Select(t => TextEdits.Lines(t.Item1, t.Item2));
        var cut = Gen.Select(file, Gen.Int[0, 1 << 16]).Select(t => t.Item1[..(t.Item2 % (t.Item1.Length + 1))]);
        var spliced = Gen.Select(file, file, Gen.Int[0, 1 << 16], Gen.Int[0, 1 << 16])
            .Select(t => t.Item1[..(t.Item3 % (t.Item1.Length + 1))] + t.Item2[(t.Item4 % (t.Item2.Length + 1))..]);
        var tokens = Gen.Select(file, Gen.Select(Gen.Int[0, 1 << 16], Gen.Int[0, Tokens.Length - 1]).Array[1, 4])
            .Select(t => t.Item2.Aggregate(t.Item1, (s, x) => s.Insert(x.Item1 % (s.Length + 1), Tokens[x.Item2])));
        return Gen.Frequency((4, chars), (3, lines), (2, cut), (2, spliced), (4, tokens));
    }

    [Fact]
    public void NoMutationOfABuiltInFileMakesTheLoaderThrowAndEachGetsAScenarioOrAPlacedError()
    {
        const int Count = 10_000;
        var gen = Inputs();
        var pcg = new PCG(11, 20_261);
        int loaded = 0;
        var messages = new HashSet<string>();
        for (int i = 0; i < Count; i++)
        {
            string text = gen.Generate(pcg, null, out _);
            ScenarioLoadResult r;
            try
            {
                r = ScenarioLoader.Load("fuzz.yaml", text);
            }
            catch (Exception e)
            {
                Assert.Fail($"input {i} threw {e.GetType().Name}: {e.Message}\n{System.Text.Json.JsonSerializer.Serialize(text)}");
                return;
            }
            if (r.Success)
            {
                loaded++;
                Assert.Null(r.Error);
                continue;
            }
            ScenarioError error = r.Error!;
            int lines = text.Split('\n').Length;
            Assert.InRange(error.Line, 1, lines + 1);
            Assert.True(error.Column >= 1, $"input {i}: column {error.Column}");
            Assert.False(string.IsNullOrWhiteSpace(error.Message), $"input {i} was refused without a message");
            Assert.StartsWith($"fuzz.yaml:{error.Line}:{error.Column}: ", error.ToString(), StringComparison.Ordinal);
            Assert.DoesNotContain("Exception", error.Message, StringComparison.Ordinal);
            messages.Add(error.Message.Split('\'')[0]);
        }
        // Many mutations keep the file whole or hit a value, so both outcomes and many different errors are reached.
        Assert.True(loaded > Count / 20, $"only {loaded} of {Count} inputs loaded");
        Assert.True(messages.Count > 30, $"only {messages.Count} kinds of error were reached");
    }
}
