using CsCheck;
using VtdSim.Hardware.Decoding;

namespace VtdSim.Hardware.Tests.Decoding;

/// <summary>
/// The decoder's text input under 120,000 seeded inputs: kind names, value counts, levels and values — random text,
/// numbers near the limits, valid values mutated and cut short. No exception escapes; every input gets either a
/// decoded structure or a message.
/// </summary>
public class StructureDecoderFuzzTests
{
    private static readonly string[] Values =
    [
        "0x00d2008c22260206", "0xf00f4a", "0", "18446744073709551615", "18446744073709551616", "0xffffffffffffffff", "0x10000000000000000",
        "0x", "0X1F", "-1", "+1", " 7 ", "1_000", "0x1_0", "١٢", "0xg", "", " ", "\u0000", "99999999999999999999999", "0x0000000000000000000001",
    ];

    private static Gen<string> Value()
    {
        var known = Gen.Int[0, Values.Length - 1].Select(i => Values[i]);
        var random = Gen.Char.Array[0, 24].Select(a => new string(a));
        var digits = Gen.Char["0123456789abcdefxX -+_"].Array[0, 24].Select(a => new string(a));
        var number = Gen.ULong.Select(Gen.Bool).Select(t => t.Item2 ? $"0x{t.Item1:x}" : t.Item1.ToString(System.Globalization.CultureInfo.InvariantCulture));
        var mutated = Gen.Select(number, Gen.Int[0, 30], Gen.Char).Select(t =>
        {
            string s = t.Item1;
            int i = t.Item2 % (s.Length + 1);
            return t.Item2 % 2 == 0 ? s.Insert(i, t.Item3.ToString()) : s[..i];
        });
        return Gen.Frequency((2, known), (1, random), (2, digits), (3, number), (2, mutated));
    }

    [Fact]
    public void NoInputMakesTheDecoderThrowAndEveryOneGetsAResultOrAMessage()
    {
        const int Inputs = 120_000;
        var names = StructureDecoder.Kinds.Select(k => k.Name).Concat(["pte", "CAP", "", "fs-pte ", "pasid"]).ToArray();
        var gen = Gen.Select(Gen.Int[0, names.Length - 1], Value().Array[0, 10], Gen.Int[-2, 8]);
        var pcg = new PCG(7, 12_004);
        int decoded = 0;
        for (int i = 0; i < Inputs; i++)
        {
            var (name, texts, level) = gen.Generate(pcg, null, out _);
            try
            {
                if (!StructureDecoder.TryFindKind(names[name], out StructureKind? kind, out string kindError))
                {
                    Assert.Contains("is not a structure the decoder knows", kindError);
                    continue;
                }
                // Most inputs are given the kind's own count, so that the values themselves are what is fuzzed.
                string[] given = i % 4 == 0 ? texts : [.. Enumerable.Range(0, kind.Qwords).Select(q => texts.Length == 0 ? "0" : texts[q % texts.Length])];
                if (StructureDecoder.TryDecode(kind, given, level, out DecodedStructure? result, out string error))
                {
                    decoded++;
                    Assert.Equal("", error);
                    Assert.Equal(kind.Qwords, result.Values.Count);
                    Assert.All(result.Fields, f => Assert.False(string.IsNullOrEmpty(f.Meaning)));
                }
                else
                {
                    Assert.Null(result);
                    Assert.False(string.IsNullOrWhiteSpace(error));
                }
            }
            catch (Exception e) when (e is not Xunit.Sdk.XunitException)
            {
                Assert.Fail($"input {i} threw {e.GetType().Name}: {e.Message}\nkind '{names[name]}', level {level}, values [{string.Join(", ", texts.Select(StructureDecoder.Printable))}]");
            }
        }
        Assert.True(decoded > Inputs / 20, $"only {decoded} of {Inputs} inputs were decoded");
    }
}
