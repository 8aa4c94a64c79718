using VtdSim.Cli.Qtest;
using VtdSim.Hardware.Profiles;

namespace VtdSim.Cli.Tests.Qtest;

public class QtestSessionTests
{
    private const string Cap = "0xfed90008", Ecap = "0xfed90010";

    [Fact]
    public void WritesAndReadsAtEveryWidthReplyLikeQemu()
    {
        var q = new QtestHarness();
        string[] replies = q.Lines(
            "writeq 0x1000 0x1122334455667788",
            "readq 0x1000",
            "readl 0x1000",
            "readl 0x1004",
            "readw 0x1006",
            "readb 0x1007",
            "writeb 0x2000 0xab",
            "writew 0x2002 0xcdef",
            "writel 0x2004 0x01020304",
            "readq 0x2000",
            "readb 0x2001");
        Assert.Equal(new[]
        {
            "OK",
            "OK 0x1122334455667788",
            "OK 0x0000000055667788",
            "OK 0x0000000011223344",
            "OK 0x0000000000001122",
            "OK 0x0000000000000011",
            "OK", "OK", "OK",
            "OK 0x01020304cdef00ab",
            "OK 0x0000000000000000",
        }, replies);
    }

    [Fact]
    public void WriteValuesAreTruncatedToTheAccessWidthAsQemuDoes()
    {
        var q = new QtestHarness();
        q.Ok("writeq 0x3000 0xffffffffffffffff");
        q.Ok("writeb 0x3000 0x1234");
        q.Ok("writew 0x3002 0x12345678");
        Assert.Equal("OK 0xffffffff5678ff34", q.Do("readq 0x3000"));
    }

    [Fact]
    public void NumbersAreParsedLikeStrtoullBaseZero()
    {
        var q = new QtestHarness();
        q.Ok("writeb 4096 255");      // decimal
        q.Ok("writeb 010001 0377");   // octal 0x1001, 0xff
        q.Ok("writeb 0X1002 +0xFf");  // upper-case prefix, '+' sign
        Assert.Equal("OK 0x0000000000ffffff", q.Do("readl 0x1000"));
    }

    [Fact]
    public void DefaultProfileIsQemu72AndItsCapabilityRegistersReadThroughMmio()
    {
        var q = new QtestHarness();
        Assert.Equal(BuiltInProfiles.Qemu72Legacy.Name, q.Machine.Unit.Profile.Name);
        Assert.Equal("OK 0x00d2008c22260206", q.Do($"readq {Cap}"));
        Assert.Equal("OK 0x0000000000f00f4a", q.Do($"readq {Ecap}"));
        Assert.Equal("OK 0x0000000022260206", q.Do($"readl {Cap}"));
        Assert.Equal("OK 0x0000000000d2008c", q.Do("readl 0xfed9000c"));
        Assert.Equal("OK 0x0000000000000010", q.Do("readl 0xfed90000")); // VER 1.0
    }

    [Theory]
    // aw-bits=48: SAGAW gains 48-bit/4-level (0x2 -> 0x6), MGAW becomes 47 (0x26 -> 0x2f), as QEMU's vtd_cap_init.
    [InlineData(48, null, null, null, "0x00d2008c222f0606", "0x0000000000f00f4a", 48)]
    [InlineData(39, null, null, null, "0x00d2008c22260206", "0x0000000000f00f4a", 39)]
    // x-scalable-mode=on as measured on QEMU 7.2.22: SMTS, SRS, SSTS.
    [InlineData(null, true, null, null, "0x00d2008c22260206", "0x0000480080f00f4a", 39)]
    [InlineData(null, null, true, null, "0x00d2008c22260286", "0x0000000000f00f4a", 39)] // CAP.CM (bit 7)
    [InlineData(null, null, null, true, "0x00d2008c22260206", "0x0000000000f00fca", 39)] // ECAP.SC (bit 7)
    public void QemuPropertiesChangeTheRegistersAsQemuDoes(int? aw, bool? scalable, bool? caching, bool? snoop, string cap, string ecap, int haw)
    {
        Assert.True(new LegacyUnit(null, aw, scalable, caching, snoop, QemuVersion.Qemu72).TryProfile(out var profile, out string error), error);
        var q = new QtestHarness(new QtestMachineOptions { Profile = profile });
        Assert.Equal($"OK {cap}", q.Do($"readq {Cap}"));
        Assert.Equal($"OK {ecap}", q.Do($"readq {Ecap}"));
        Assert.Equal(haw, q.Machine.Unit.Profile.HostAddressWidth);
        Assert.Contains($"cap={cap} ecap={ecap} haw={haw}", q.Do("info"));
    }

    [Fact]
    public void ScalableModeOffOnAScalableProfileClearsTheBitsItSets()
    {
        Assert.True(new LegacyUnit(BuiltInProfiles.Qemu72Scalable, null, false, null, null, QemuVersion.Qemu72).TryProfile(out var profile, out string error), error);
        Assert.Equal(BuiltInProfiles.Qemu72Legacy.Ecap, profile.Ecap);
    }

    [Fact]
    public void UnsupportedAwBitsIsRefusedLikeQemu()
    {
        Assert.False(new LegacyUnit(null, 57, null, null, null, QemuVersion.Qemu72).TryProfile(out _, out string error));
        Assert.Equal("Supported values for aw-bits are: 39, 48", error); // QEMU 7.2's text
    }

    [Fact]
    public void ReadAndWriteMoveHexBytesFirstByteFirst()
    {
        var q = new QtestHarness();
        q.Ok("write 0x5000 4 0xdeadbeef");
        Assert.Equal("OK 0xdeadbeef", q.Do("read 0x5000 4"));
        Assert.Equal("OK 0x00000000efbeadde", q.Do("readq 0x5000"));
        q.Ok("write 0x6000 4 0xaa");          // shorter data: the rest is zero
        Assert.Equal("OK 0xaa000000", q.Do("read 0x6000 4"));
        q.Ok("write 0x6000 2 0x11223344");    // longer data: truncated to SIZE
        Assert.Equal("OK 0x11220000", q.Do("read 0x6000 4"));
        q.Ok("write 0x6000 0 0x");            // zero size writes nothing
    }

    [Fact]
    public void Base64RoundTrip()
    {
        var q = new QtestHarness();
        byte[] data = Enumerable.Range(0, 300).Select(i => (byte)(i * 7)).ToArray();
        string b64 = Convert.ToBase64String(data);
        q.Ok($"b64write 0x7ff0 300 {b64}"); // crosses a page boundary
        Assert.Equal($"OK {b64}", q.Do("b64read 0x7ff0 300"));
        Assert.Equal("OK " + QtestNumbers.FormatHexData(data.AsSpan(0, 16)), q.Do("read 0x7ff0 16"));
        Assert.Equal("OK ", q.Do("b64read 0x7ff0 0")); // QEMU's reply for an empty read keeps the space
    }

    [Fact]
    public void Base64WriteZeroFillsShortDataAndTruncatesLongData()
    {
        var q = new QtestHarness();
        q.Ok("memset 0x1000 8 0xff");
        q.Ok($"b64write 0x1000 4 {Convert.ToBase64String([1, 2])}");
        Assert.Equal("OK 0x01020000ffffffff", q.Do("read 0x1000 8"));
        q.Ok($"b64write 0x1000 2 {Convert.ToBase64String([9, 9, 9, 9])}");
        Assert.Equal("OK 0x09090000ffffffff", q.Do("read 0x1000 8"));
    }

    [Fact]
    public void MemsetFillsWithTheLowByteAndZeroSizeDoesNothing()
    {
        var q = new QtestHarness();
        q.Ok("memset 0x8ffe 4 0x1a5");
        Assert.Equal("OK 0x00a5a5a5a500", q.Do("read 0x8ffd 6"));
        q.Ok("memset 0x8ffe 0 0x11");
        Assert.Equal("OK 0xa5a5a5a5", q.Do("read 0x8ffe 4"));
    }

    [Fact]
    public void BulkReadOfTheRegisterPageUsesRegisterAccesses()
    {
        var q = new QtestHarness();
        // VER (0x10), reserved, CAP, ECAP: little-endian bytes.
        Assert.Equal("OK 0x1000000000000000060226228c00d2004a0ff00000000000", q.Do("read 0xfed90000 0x18"));
        // A range from RAM into the page: RAM bytes, then register bytes.
        q.Ok("writeq 0xfed8fff8 0x0807060504030201");
        Assert.Equal("OK 0x010203040506070810000000", q.Do("read 0xfed8fff8 12"));
    }

    [Fact]
    public void ClockMovesOnlyByClockStepAndClockSet()
    {
        var q = new QtestHarness();
        Assert.Equal(new[] { "OK 0", "OK 100", "OK 100", "OK 1000", "OK 1000", "OK 1000" },
            q.Lines("clock_step", "clock_step 100", "clock_set 50", "clock_set 1000", "clock_step", "clock_step -5"));
        Assert.Equal(1000, q.Machine.ClockNs);
        Assert.StartsWith("FAIL clock_step:", q.Do($"clock_step {long.MaxValue}"));
        Assert.Equal("OK 1000", q.Do("clock_step 0"));
    }

    [Fact]
    public void EndiannessIsLittle()
    {
        Assert.Equal("OK little", new QtestHarness().Do("endianness"));
    }

    [Fact]
    public void UnknownCommandUsesQemusWording()
    {
        Assert.Equal("FAIL Unknown command 'memread'", new QtestHarness().Do("memread 0x0 4"));
    }

    [Theory]
    [InlineData("", "empty line")]
    [InlineData("   ", "empty line")]
    [InlineData("bogus 1 2", "FAIL Unknown command 'bogus'")]
    [InlineData("READL 0x0", "FAIL Unknown command 'READL'")]
    [InlineData("readl", "readl: takes 1 argument(s), got 0; usage: readl ADDR")]
    [InlineData("readl 0x0 0x4", "readl: takes 1 argument(s), got 2")]
    [InlineData("writel 0x0", "writel: takes 2 argument(s), got 1; usage: writel ADDR VALUE")]
    [InlineData("readl 0xzz", "ADDR (argument 1) '0xzz' is not a number")]
    [InlineData("readl 08", "ADDR (argument 1) '08' is not a number")]
    [InlineData("readl 0x", "ADDR (argument 1) '0x' is not a number")]
    [InlineData("readl -1", "ADDR (argument 1) '-1' is negative")]
    [InlineData("writel 0x0 0x1g", "VALUE (argument 2) '0x1g' is not a number")]
    [InlineData("readl 0x10000000000000000", "does not fit in 64 bits")]
    [InlineData("readq 0x100000000", "0x100000000 (+8) is beyond RAM")]
    [InlineData("readq 0xfffffffffffffffc", "runs past the top of the 64-bit address space")]
    [InlineData("readb 0xfed90008", "the VT-d register page at 0xfed90000 refused the 1-byte read at offset 0x8")]
    [InlineData("writew 0xfed90018 0x1", "refused the 2-byte write at offset 0x18")]
    [InlineData("readq 0xfed8fffc", "straddles the edge of the VT-d register page")]
    [InlineData("read 0x0 0", "SIZE (argument 2) must not be 0")]
    [InlineData("read 0x0 0x1000001", "exceeds the limit of 0x1000000 bytes")]
    [InlineData("b64read 0xfffff000 0x2000", "0x100000000 is beyond RAM")]
    [InlineData("read 0xfed90002 4", "takes only 4- or 8-byte naturally aligned accesses")]
    [InlineData("write 0x0 4 0xzz", "DATA (argument 3): data has 'z' at character 3")]
    [InlineData("write 0x0 4 1234", "must start with 0x")]
    [InlineData("write 0x0 4 0x123", "odd number of hex digits")]
    [InlineData("write 0x0 4", "write: takes 3 argument(s), got 2")]
    [InlineData("b64write 0x0 4 !!!!", "B64_DATA (argument 3) '!!!!' is not base64")]
    [InlineData("memset 0x0 0x2000000 0", "exceeds the limit")]
    [InlineData("clock_step abc", "NS (argument 1) 'abc' is not a signed 64-bit number")]
    [InlineData("clock_set", "clock_set: takes 1 argument(s), got 0")]
    [InlineData("inb 0x60", "port I/O is not modelled")]
    [InlineData("irq_intercept_in ioapic", "FAIL Unknown device")]
    [InlineData("dma 00:01.0 0x0 4 sideways", "argument 4 'sideways' must be 'read' or 'write'")]
    [InlineData("dma 0g:01.0 0x0 4 read", "SID (argument 1): '0g:01.0' is not a requester id")]
    [InlineData("dma 00:20.0 0x0 4 read", "SID (argument 1): '00:20.0' is not a requester id")]
    [InlineData("dma 0x10000 0x0 4 read", "SID (argument 1) 0x10000 does not fit in 16 bits")]
    [InlineData("dma 00:01.0 0x0 0 read", "LEN (argument 3) must not be 0")]
    [InlineData("dma 00:01.0 0x0 4 read data=0x00", "data= (argument 5) only goes with a dma write")]
    [InlineData("dma 00:01.0 0x0 4 write priv", "priv and exec travel in the PASID prefix, so they need pasid=N")]
    [InlineData("dma 00:01.0 0x0 4 write pasid=0x100000", "pasid= (argument 5) 0x100000 does not fit in 20 bits")]
    [InlineData("dma 00:01.0 0x0 4 write pasid=1 pasid=2", "'pasid' is given twice")]
    [InlineData("dma 00:01.0 0x0 4 write colour=red", "argument 5 'colour=red' is not an option")]
    [InlineData("dma 00:01.0 0x0 4 write data=0xq", "data=: data has 'q'")]
    [InlineData("dma 00:01.0 0xfffffffffffffffe 4 read", "runs past the top")]
    [InlineData("translate 00:01.0 0x0", "translate: takes 3 to 6 argument(s), got 2")]
    [InlineData("reset now", "reset: takes 0 argument(s), got 1")]
    public void MalformedLinesGetFailWithAReasonAndTheSessionGoesOn(string bad, string reason)
    {
        var q = new QtestHarness();
        q.Ok("writel 0x0 0x5a5a5a5a");
        string[] replies = q.Send(bad + "\nreadl 0x0\n");
        Assert.Equal(2, replies.Length);
        Assert.StartsWith("FAIL", replies[0]);
        Assert.Contains(reason, replies[0]);
        Assert.Equal("OK 0x000000005a5a5a5a", replies[1]);
    }

    [Theory]
    [InlineData("00:01.-1")]
    [InlineData("00:01.8")]
    [InlineData("00:01.")]
    [InlineData("00:0x1.0")]
    [InlineData("00:01.+1")]
    [InlineData("+0:01.0")]
    [InlineData("100:00.0")]
    [InlineData("00:20.0")]
    [InlineData("00:001.0")]
    [InlineData(":01.0")]
    [InlineData("00:.0")]
    [InlineData("00:01.0.0")]
    [InlineData("00:01:0")]
    [InlineData("0000:00:01.0")]
    [InlineData("00:01.00")]
    public void ARequesterIdIsParsedStrictlyAsLspciPrintsIt(string sid)
    {
        var q = new QtestHarness();
        foreach (string line in new[] { $"translate {sid} 0 read", $"dma {sid} 0 4 read" })
        {
            string reply = q.Do(line);
            Assert.StartsWith($"FAIL {line.Split(' ')[0]}: SID (argument 1): '{sid}' is not a requester id", reply);
            Assert.Contains("bus:device.function", reply);
            Assert.DoesNotContain("internal error", reply);
            Support.CliProcess.AssertPlain(reply);
        }
    }

    [Theory]
    [InlineData("00:01.0", 0x0008)]
    [InlineData("0:1.0", 0x0008)]
    [InlineData("ff:1f.7", 0xffff)]
    [InlineData("FF:1F.7", 0xffff)]
    [InlineData("3a:00.2", 0x3a02)]
    public void ARequesterIdAsLspciPrintsItIsAccepted(string sid, int value)
    {
        var q = new QtestHarness();
        q.Ok("writeq 0xfed90020 0x100000");   // RTADDR: an empty legacy root table
        q.Ok("writel 0xfed90018 0x40000000"); // SRTP
        q.Ok("writel 0xfed90018 0x80000000"); // TE
        Assert.StartsWith("FAIL fault", q.Do($"translate {sid} 0x1000 read"));
        string frcdHigh = q.Do("readq 0xfed90228"); // FRCD 0, upper half: SID in bits 15:0
        Assert.Equal(value, (int)(Convert.ToUInt64(frcdHigh[3..], 16) & 0xFFFF));
    }

    [Fact]
    public void ABulkWriteThatDoesNotFitWritesNothing()
    {
        var q = new QtestHarness(new QtestMachineOptions { RamSize = 1UL << 20 });
        string hex = "0x" + string.Concat(Enumerable.Repeat("ee", 0x200));
        Assert.Contains("is beyond RAM", q.Do($"write 0xfff00 0x200 {hex}"));
        Assert.Contains("is beyond RAM", q.Do("memset 0xfff00 0x200 0xee"));
        Assert.Equal("OK 0x0000000000000000", q.Do("readq 0xfff00"));
    }

    [Fact]
    public void CarriageReturnsAndRepeatedSpacesAreTolerated()
    {
        var q = new QtestHarness();
        Assert.Equal(new[] { "OK", "OK 0x0000000000000007" }, q.Send("writel  0x10\t7\r\nreadl 0x10\r\n"));
    }

    [Fact]
    public void AnOverlongLineIsRefusedAndTheNextLineIsServed()
    {
        var q = new QtestHarness();
        string[] replies = q.Send("write 0x0 64 0x" + new string('1', 128) + "\nwritel 0x0 0x1\nreadl 0x0\n", maxLineLength: 64);
        Assert.Equal(new[] { "FAIL line longer than 64 bytes; ignored", "OK", "OK 0x0000000000000001" }, replies);
    }

    [Fact]
    public void AnUnfinishedLastLineIsDroppedAndTheStateIsKeptForTheNextSession()
    {
        var q = new QtestHarness();
        Assert.Equal(new[] { "OK" }, q.Send("writel 0x0 0x55\nwritel 0x0 0x66"));
        Assert.Equal("OK 0x0000000000000055", q.Do("readl 0x0"));
    }

    [Fact]
    public void RamIsSparse()
    {
        var q = new QtestHarness(new QtestMachineOptions { RamSize = 1UL << 40 });
        q.Ok("writeq 0xfffffffff8 0x1234");
        Assert.Equal("OK 0x0000000000001234", q.Do("readq 0xfffffffff8"));
        Assert.Equal("OK 0x0000000000000000", q.Do("readq 0x8000000000"));
        Assert.Equal(1, q.Machine.Machine.Memory.MaterializedFrames);
        Assert.Contains("is beyond RAM", q.Do("readq 0x10000000000"));
    }

    [Fact]
    public void EventsReturnsWhatHappenedSinceTheLastCall()
    {
        var q = new QtestHarness();
        Assert.StartsWith("FAIL", q.Do("readb 0xfed90000"));
        string[] replies = q.Lines("events");
        Assert.Equal(2, replies.Length);
        Assert.StartsWith("EVENT #1 register 0x000: 1-byte MMIO read", replies[0]);
        Assert.Equal("OK 1", replies[1]);
        Assert.Equal("OK 0", q.Do("events"));
    }

    [Fact]
    public void ResetBuildsTheMachineAgainAsAtStartup()
    {
        var q = new QtestHarness();
        q.Ok("writeq 0x1000 0x99");
        q.Ok("writeq 0xfed90020 0x100000"); // RTADDR
        Assert.Equal("OK 5", q.Do("clock_step 5"));
        Assert.StartsWith("FAIL", q.Do("readb 0xfed90000")); // leaves an event
        q.Ok("reset");
        Assert.Equal(new[] { "OK 0x0000000000000000", "OK 0x0000000000000000", "OK 0", "OK 0", "OK 0x00d2008c22260206" },
            q.Lines("readq 0x1000", "readq 0xfed90020", "clock_step", "events", "readq 0xfed90008"));
        Assert.Equal(0, q.Machine.Machine.Memory.MaterializedFrames);
    }

    [Fact]
    public void HelpListsEveryCommand()
    {
        string reply = new QtestHarness().Do("help");
        foreach (var (name, _) in QtestInterpreter.CommandList) Assert.Contains($" {name}", reply);
    }

    [Fact]
    public void DocsDescribeEveryCommand()
    {
        string? dir = AppContext.BaseDirectory;
        while (dir is not null && !File.Exists(Path.Combine(dir, "VtdSim.slnx"))) dir = Path.GetDirectoryName(dir);
        Assert.NotNull(dir);
        string doc = File.ReadAllText(Path.Combine(dir, "docs", "qtest.md"));
        foreach (var (name, _) in QtestInterpreter.CommandList) Assert.Contains($"`{name}", doc);
    }
}
