using VtdSim.Cli.Commands;
using VtdSim.Cli.Tests.Support;

namespace VtdSim.Cli.Tests;

/// <summary>`vtdsim explain`: a fault line or a reason code explained; lines on stdin one by one, bad ones named by number.</summary>
public class ExplainCommandTests
{
    private const string ModelLine = "DMAR: [DMA Write NO_PASID] Request device [00:04.0] fault addr 0x1000 [fault reason 0x05] PTE Write access is not set";

    private static (int Exit, string Output) Run(params string[] args)
    {
        var output = new StringWriter();
        int exit = Program.Run(args, output);
        return (exit, output.ToString());
    }

    [Fact]
    public void ALineIsExplainedWithDeviceAddressConditionCausesAndChecks()
    {
        var (exit, text) = Run("explain", ModelLine);
        Assert.Equal(0, exit);
        Assert.Contains("device:   00:04.0 (requester id 0x0020)", text);
        Assert.Contains("request:  DMA write, without PASID", text);
        Assert.Contains("address:  0x1000", text);
        Assert.Contains("reason:   0x05 LGN.2: write request without write permission", text);
        Assert.Contains("Linux:    \"PTE Write access is not set\"", text);
        Assert.Contains("likely causes:", text);
        Assert.Contains("check:", text);
        CliProcess.AssertPlain(text);
    }

    [Fact]
    public void WordsGivenUnquotedAreOneLine()
    {
        var (exit, text) = Run(["explain", .. ModelLine.Split(' ')]);
        Assert.Equal(0, exit);
        Assert.Contains("LGN.2", text);
    }

    [Fact]
    public void AReasonAloneIsExplained()
    {
        var (exit, text) = Run("explain", "--reason", "0x77");
        Assert.Equal(0, exit);
        Assert.Contains("reason:   0x77 SFS.8: nested: the second stage denies the write needed to set A/EA/D in a first-stage entry", text);
        Assert.Contains("772415", text);
        Assert.DoesNotContain("device:", text);
        Assert.Contains("SFS.8", Run("explain", "--reason", "119").Output);
    }

    [Theory]
    [InlineData(new[] { "explain", "--reason", "0x100" }, "--reason: '0x100' is not a reason code: they are one byte")]
    [InlineData(new[] { "explain", "--reason", "x" }, "--reason: 'x' is not a reason code")]
    [InlineData(new[] { "explain", "--reason", "5", "DMAR:" }, "give a reason code or a line, not both")]
    [InlineData(new[] { "explain", "hello" }, "vtdsim: not a DMAR fault line: it has no 'DMAR:': 'hello'")]
    public void BadInputIsAUsageErrorThatNamesIt(string[] args, string message)
    {
        var (exit, text) = Run(args);
        Assert.Equal(2, exit);
        Assert.Contains(message, text);
        CliProcess.AssertPlain(text);
    }

    [Fact]
    public void LinesOnStdinAreExplainedAndBadOnesNamedByNumberWhileTheOthersGoOn()
    {
        string input = string.Join("\n",
            "[    0.938401] kernel: DMAR: [DMA Read NO_PASID] Request device [0x00:0x02.0] fault addr 0x70ad5000 [fault reason 0x07] Next page table ptr is invalid",
            "DMAR: DRHD: handling fault status reg 3",
            "",
            "[  144.480641] DMAR: [DMA Read] Request device [00:02.0] PASID ffffffff fault addr 9c000000 [fault reason 06] PTE Read access is not set",
            "garbage \u0001 here");
        var output = new StringWriter();
        var error = new StringWriter();
        int exit = ExplainCommand.ExplainLines(new StringReader(input), output, error, numbered: true);
        Assert.Equal(2, exit);
        string text = output.ToString();
        Assert.Contains("line 1: [    0.938401] kernel: DMAR: [DMA Read NO_PASID]", text);
        Assert.Contains("reason:   0x07 LSL.1", text);
        Assert.Contains("line 4: [  144.480641] DMAR: [DMA Read]", text);
        Assert.Contains("reason:   0x06 LGN.3", text);
        string[] errors = error.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, errors.Length);
        Assert.StartsWith("vtdsim: line 2: a DMAR fault status line, not a fault line", errors[0]);
        Assert.Equal("vtdsim: line 5: not a DMAR fault line: it has no 'DMAR:': 'garbage \\x01 here'", errors[1]);
    }

    [Fact]
    public void GoodLinesOnlyEndWithZeroAndNothingAtAllIsAnError()
    {
        var error = new StringWriter();
        Assert.Equal(0, ExplainCommand.ExplainLines(new StringReader(ModelLine + "\n\n"), new StringWriter(), error, numbered: true));
        Assert.Equal("", error.ToString());
        Assert.Equal(2, ExplainCommand.ExplainLines(new StringReader(""), new StringWriter(), error, numbered: true));
        Assert.Contains("nothing but blank lines on stdin", error.ToString());
        Assert.Equal(2, Run("explain", " ").Exit);
        Assert.Contains("the line is empty", Run("explain", "").Output);
    }

    [Fact]
    public void JsonCarriesTheSameExplanationInAFixedOrder()
    {
        var (exit, first) = Run("explain", "--json", ModelLine);
        Assert.Equal(0, exit);
        Assert.Equal(first, Run("explain", "--json", ModelLine).Output);
        using var doc = System.Text.Json.JsonDocument.Parse(first);
        var fault = doc.RootElement.GetProperty("faults").EnumerateArray().Single();
        Assert.Equal(["line", "text", "device", "requesterId", "request", "pasid", "address", "form", "warnings", "reason"], fault.EnumerateObject().Select(p => p.Name));
        Assert.Equal("00:04.0", fault.GetProperty("device").GetString());
        Assert.Equal("dma-write", fault.GetProperty("request").GetString());
        Assert.Equal(System.Text.Json.JsonValueKind.Null, fault.GetProperty("pasid").ValueKind);
        var reason = fault.GetProperty("reason");
        Assert.Equal(["code", "condition", "specification", "linux", "kind", "meaning", "causes", "checks"], reason.EnumerateObject().Select(p => p.Name));
        Assert.Equal(("0x05", "LGN.2", "PTE Write access is not set"), (reason.GetProperty("code").GetString(), reason.GetProperty("condition").GetString(), reason.GetProperty("linux").GetString()));
        // The text form says the same.
        string plain = Run("explain", ModelLine).Output;
        Assert.Contains($"meaning:  {reason.GetProperty("meaning").GetString()}", plain);
        Assert.All(reason.GetProperty("causes").EnumerateArray(), c => Assert.Contains($"- {c.GetString()}", plain));
    }

    [Fact]
    public void JsonForAReasonAndForLinesOnStdin()
    {
        var (exit, text) = Run("explain", "--json", "--reason", "0x77");
        Assert.Equal(0, exit);
        using (var doc = System.Text.Json.JsonDocument.Parse(text))
            Assert.Equal("SFS.8", doc.RootElement.GetProperty("reason").GetProperty("condition").GetString());

        var output = new StringWriter();
        var error = new StringWriter();
        int status = ExplainCommand.ExplainLines(new StringReader("garbage\n" + ModelLine + "\n"), output, error, numbered: true, json: true);
        Assert.Equal(2, status);
        using var lines = System.Text.Json.JsonDocument.Parse(output.ToString());
        Assert.Equal(2, lines.RootElement.GetProperty("faults").EnumerateArray().Single().GetProperty("line").GetInt32());
        Assert.StartsWith("vtdsim: line 1: ", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void EachFormAndKindOfLineIsExplainedAsWhatItIs()
    {
        // An interrupt-remapping line has an interrupt index, not an address; Linux 4.x/5.x wrote a DMA read without
        // PASID with a decimal reason code and a bare hex address, which here is not page-aligned; 5.14 and later
        // name the PASID in hex. A text that is not Linux's for the code is warned about.
        var (exit, text) = Run("explain", "DMAR: [INTR-REMAP] Request device [f0:1f.0] fault index 21 [fault reason 34] Present field in the IRTE entry is clear");
        Assert.Equal(0, exit);
        Assert.Contains("request:  an interrupt (remapping); interrupt index 0x21", text);
        Assert.DoesNotContain("address:", text);

        (exit, text) = Run("explain", "DMAR: [DMA Read] Request device [00:02.0] fault addr 1234 [fault reason 05] PTE Read access is not set");
        Assert.Equal(0, exit);
        Assert.Contains("request:  DMA read, without PASID", text);
        Assert.Contains("address:  0x1234 (the faulting page; Linux prints the page address, this one is not page-aligned)", text);
        Assert.Contains("form:     Linux 4.x/5.x's (no PASID; reason code in decimal)", text);
        Assert.Contains("warning:  the text is not Linux's for reason 0x05", text);

        (exit, text) = Run("explain", "DMAR: [DMA Read PASID 0x2] Request device [6a:01.0] fault addr 0x7fe0c9943000 [fault reason 0x3a] SM: Non-zero reserved field set in Root Entry");
        Assert.Equal(0, exit);
        Assert.Contains("request:  DMA read, with PASID 0x2", text);
        Assert.DoesNotContain("warning:", text);
        CliProcess.AssertPlain(text);
    }

    [Fact]
    public void JsonNamesTheKindOfRequestItsPasidOrItsInterruptIndexAndTheWarnings()
    {
        var (exit, text) = Run("explain", "--json", "DMAR: [INTR-REMAP] Request device [f0:1f.0] fault index 21 [fault reason 34] Present field in the IRTE entry is clear");
        Assert.Equal(0, exit);
        using (var doc = System.Text.Json.JsonDocument.Parse(text))
        {
            var fault = doc.RootElement.GetProperty("faults").EnumerateArray().Single();
            Assert.Equal("interrupt-remapping", fault.GetProperty("request").GetString());
            Assert.Equal("0x21", fault.GetProperty("interruptIndex").GetString());
            Assert.False(fault.TryGetProperty("address", out _));
        }

        (exit, text) = Run("explain", "--json", "DMAR: [DMA Read PASID 0x2] Request device [6a:01.0] fault addr 0x7fe0c9943000 [fault reason 0x3a] SM: Non-zero reserved field set in Root Entry");
        Assert.Equal(0, exit);
        using (var doc = System.Text.Json.JsonDocument.Parse(text))
        {
            var fault = doc.RootElement.GetProperty("faults").EnumerateArray().Single();
            Assert.Equal(("dma-read", "0x2", "0x7fe0c9943000"), (fault.GetProperty("request").GetString(), fault.GetProperty("pasid").GetString(), fault.GetProperty("address").GetString()));
        }

        (exit, text) = Run("explain", "--json", "DMAR: [DMA Read] Request device [00:02.0] fault addr 1000 [fault reason 05] PTE Read access is not set");
        Assert.Equal(0, exit);
        using (var doc = System.Text.Json.JsonDocument.Parse(text))
        {
            string warning = Assert.Single(doc.RootElement.GetProperty("faults").EnumerateArray().Single().GetProperty("warnings").EnumerateArray()).GetString()!;
            Assert.StartsWith("the text is not Linux's for reason 0x05", warning, StringComparison.Ordinal);
        }
    }
}
