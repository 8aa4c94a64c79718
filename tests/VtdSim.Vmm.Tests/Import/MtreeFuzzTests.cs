using CsCheck;
using VtdSim.Hardware.Tests.Properties;
using VtdSim.Vmm.Memory;
using VtdSim.Vmm.Memory.Import;
using VtdSim.Vmm.Tests.Support;

namespace VtdSim.Vmm.Tests.Import;

/// <summary>
/// The `info mtree` reader against broken inputs: the real captures cut short, with lines swapped, dropped or doubled,
/// numbers garbled and random bytes put in. Whatever the input, no exception escapes; a refusal names the file and a
/// line of the input; an input that is read builds a map the model can render and print.
/// </summary>
public class MtreeFuzzTests
{
    private static readonly string[] Texts = Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "Captures"), "*.info-mtree*.txt")
        .Order(StringComparer.Ordinal).Select(f => File.ReadAllText(f).ReplaceLineEndings("\n")).ToArray();

    /// <summary>One to four consecutive blocks of a capture (small inputs, so many cases run).</summary>
    private static readonly Gen<string> Piece =
        from file in Gen.Int[0, Texts.Length - 1]
        let blocks = Captures.Blocks(Texts[file])
        from first in Gen.Int[0, blocks.Count - 1]
        from count in Gen.Int[1, 4]
        select string.Concat(blocks.Skip(first).Take(count));

    private static readonly Gen<char> AnyChar = Gen.OneOf(Gen.Char['\0', '\x7f'], Gen.Const('\n'), Gen.Const(' '), Gen.Char['0', 'f'], Gen.Char);

    private static readonly Gen<Func<string, string>> Mutation = Gen.OneOf(
        // cut short
        Gen.Double[0, 1].Select<double, Func<string, string>>(at => s => s[..(int)(s.Length * at)]),
        // two lines swapped
        Gen.Int.Select(Gen.Int).Select<(int, int), Func<string, string>>(p => s => Lines(s, l =>
        {
            int a = Math.Abs(p.Item1 % l.Count), b = Math.Abs(p.Item2 % l.Count);
            (l[a], l[b]) = (l[b], l[a]);
        })),
        // a line dropped or doubled
        Gen.Int.Select(Gen.Bool).Select<(int, bool), Func<string, string>>(p => s => Lines(s, l =>
        {
            int a = Math.Abs(p.Item1 % l.Count);
            if (p.Item2) l.RemoveAt(a);
            else l.Insert(a, l[a]);
        })),
        // a digit garbled (a number, a priority, an offset)
        Gen.Int.Select(AnyChar).Select<(int, char), Func<string, string>>(p => s =>
        {
            int[] digits = Enumerable.Range(0, s.Length).Where(i => char.IsAsciiHexDigit(s[i])).ToArray();
            if (digits.Length == 0) return s;
            int at = digits[Math.Abs(p.Item1 % digits.Length)];
            return s[..at] + p.Item2 + s[(at + 1)..];
        }),
        // random characters put in
        Gen.Int.Select(AnyChar.Array[1, 12]).Select<(int, char[]), Func<string, string>>(p => s =>
        {
            int at = s.Length == 0 ? 0 : Math.Abs(p.Item1 % (s.Length + 1));
            return s[..at] + new string(p.Item2) + s[at..];
        }));

    private static readonly Gen<string> Input =
        from piece in Piece
        from mutations in Mutation.Array[0, 3]
        select mutations.Aggregate(piece, (s, m) => m(s));

    [Fact]
    public void NoInputThrowsAndEveryRefusalNamesFileAndLine()
    {
        PropertyRunner.Run(Input, text =>
        {
            bool ok = MtreeParser.TryParse(text, "fuzz.txt", out ImportedMemoryMap? map, out MtreeParseError? error);
            int lines = text.Split('\n').Length;
            if (!ok)
            {
                Assert.Null(map);
                Assert.StartsWith("fuzz.txt:", error!.Message);
                Assert.InRange(error.Line, 1, lines);
                Assert.Contains(": cannot read '", error.Message);
                Assert.Contains("': expected ", error.Message);
                Assert.DoesNotContain("System.", error.Message);
                return;
            }
            MemorySystem? layout = map!.Build();
            if (layout is not null) MtreePrinter.Flat(layout);
            if (map.BuildTrees() is { } trees) MtreePrinter.Tree(trees, showDisabled: true);
        }, seed: 0x6d74726565, iterations: 100_000, print: t => t.Length > 2000 ? t[..2000] : t);
    }

    [Fact]
    public void RandomBytesAreRefusedAtTheirFirstLine()
    {
        PropertyRunner.Run(AnyChar.Array[1, 200].Select(c => new string(c)), text =>
        {
            if (MtreeParser.TryParse(text, "noise", out _, out MtreeParseError? error)) return;
            Assert.StartsWith($"noise:{error!.Line}: cannot read '", error.Message);
        }, seed: 0x6e6f697365, iterations: 5_000);
    }

    private static string Lines(string text, Action<List<string>> change)
    {
        var lines = text.Split('\n').ToList();
        if (lines.Count > 0) change(lines);
        return string.Join('\n', lines);
    }
}
