using System.Text.Json;
using VtdSim.Cli.Tests.Support;

namespace VtdSim.Cli.Tests;

/// <summary>`vtdsim decode`: every field in a table or in JSON; bad kinds, counts and values are usage errors that name them.</summary>
public class DecodeCommandTests
{
    private static (int Exit, string Output) Run(params string[] args)
    {
        var output = new StringWriter();
        int exit = Program.Run(args, output);
        return (exit, output.ToString());
    }

    [Fact]
    public void Qemu72sCapPrintsEveryFieldWithItsBitsAndMeaning()
    {
        var (exit, text) = Run("decode", "cap", "0x00d2008c22260206");
        Assert.Equal(0, exit);
        Assert.Contains("Capability register (CAP, offset 0x08): 0x00d2008c22260206", text);
        string[] rows = text.Split('\n');
        Assert.Contains(rows, r => r.Contains("│ 2:0 ") && r.Contains("│ ND ") && r.Contains("65536 domain ids"));
        Assert.Contains(rows, r => r.Contains("│ 12:8 ") && r.Contains("SAGAW") && r.Contains("39-bit (3-level)"));
        Assert.Contains(rows, r => r.Contains("│ 37:34 ") && r.Contains("SSLPS (SLLPS)") && r.Contains("2 MiB, 1 GiB"));
        Assert.Contains(rows, r => r.Contains("│ 63 ") && r.Contains("ESRTPS"));
        CliProcess.AssertPlain(text);
    }

    [Fact]
    public void JsonHasEveryFieldAndTheValuesAsHexStrings()
    {
        var (exit, text) = Run("decode", "pasid-entry", "--json", "0x10000000000000c9", "0x800005", "0x2000", "0", "0", "0", "0", "0");
        Assert.Equal(0, exit);
        using var doc = JsonDocument.Parse(text);
        var entry = Assert.Single(doc.RootElement.EnumerateArray().ToArray());
        Assert.Equal("pasid-entry", entry.GetProperty("kind").GetString());
        Assert.Equal("0x10000000000000c9", entry.GetProperty("values")[0].GetString());
        var fields = entry.GetProperty("fields").EnumerateArray().ToDictionary(f => f.GetProperty("bits").GetString()!);
        Assert.Equal("PGTT", fields["8:6"].GetProperty("name").GetString());
        Assert.Contains("nested (011)", fields["8:6"].GetProperty("meaning").GetString());
        Assert.Equal("0x5", fields["79:64"].GetProperty("value").GetString());
        Assert.True(fields["63:52"].GetProperty("flagged").GetBoolean()); // bit 60 of QW0
        Assert.Equal("reserved", fields["63:52"].GetProperty("role").GetString());
    }

    [Fact]
    public void SeveralValuesOfAOneQwordKindDecodeOneAfterAnother()
    {
        var (exit, text) = Run("decode", "pte", "--stage", "first", "--level", "2", "0x2000a3", "0x5003");
        Assert.Equal(0, exit);
        Assert.Contains("PDE (level 2), maps a 2 MiB page: 0x00000000002000a3", text);
        Assert.Contains("PDE (level 2), points to a table: 0x0000000000005003", text);
    }

    [Fact]
    public void ReservedBitsSetAreMarkedInWords()
    {
        var (exit, text) = Run("decode", "root", "0x5001", "1");
        Assert.Equal(0, exit);
        Assert.Contains("! reserved: SET, must be 0", text);
        Assert.Contains("note: reserved bits are set", text);
    }

    public static TheoryData<string[], string> BadInputs => new()
    {
        { ["decode"], "'' is not a structure" },
        { ["decode", "wat", "1"], "'wat' is not a structure the decoder knows; give one of cap, ecap" },
        { ["decode", "pte", "1"], "--stage first, second or legacy" },
        { ["decode", "pte", "--stage", "third", "1"], "--stage: 'third' is not first, second or legacy" },
        { ["decode", "cap", "--stage", "first", "1"], "only the kind pte takes a stage" },
        { ["decode", "cap", "--level", "2", "1"], "--level: only paging entries have a level" },
        { ["decode", "fs-pte", "--level", "6", "1"], "--level: 6 is out of range" },
        { ["decode", "fs-pte", "--level", "x", "1"], "--level: 'x' is not a whole number" },
        { ["decode", "cap"], "decode cap: takes one 64-bit value (or several, one structure each); 0 given" },
        { ["decode", "context", "1", "2", "3"], "decode context: takes 2 values per structure, low qword first (QW0 to QW1); 3 given" },
        { ["decode", "cap", "0xfg"], "decode cap: value '0xfg': not a hex number" },
        { ["decode", "cap", "1", "ten"], "decode cap: structure 2: value 'ten': not a number; give hex with 0x (0x1f) or decimal (31)" },
        { ["decode", "context", "1", "0x1ffffffffffffffff"], "decode context: QW1 '0x1ffffffffffffffff': does not fit in 64 bits" },
    };

    [Theory]
    [MemberData(nameof(BadInputs))]
    public void BadInputIsAUsageErrorThatNamesIt(string[] args, string message)
    {
        var (exit, text) = Run(args);
        Assert.Equal(2, exit);
        Assert.Contains(message, text);
        Assert.Contains("see 'vtdsim decode --help'", text);
        CliProcess.AssertPlain(text);
    }
}
