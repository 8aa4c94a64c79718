using VtdSim.Cli.Qtest;

namespace VtdSim.Cli.Tests.Qtest;

/// <summary>Replies at the edges: argument counts and options, the top of the address space, the event queue's limit.</summary>
public class QtestLimitsTests
{
    [Theory]
    [InlineData("readq", "FAIL readq: takes 1 argument(s), got 0; usage: readq ADDR")]
    [InlineData("clock_step 1 2", "FAIL clock_step: takes 0 to 1 argument(s), got 2; usage: clock_step [NS]")]
    [InlineData("translate 00:01.0 0", "FAIL translate: takes 3 to 6 argument(s), got 2; usage: translate SID ADDR read|write [pasid=N] [priv] [exec]")]
    public void AWrongArgumentCountSaysHowManyTheCommandTakes(string line, string reply)
    {
        Assert.Equal(reply, new QtestHarness().Do(line));
    }

    [Fact]
    public void APasidThatIsNotANumberIsNamedByItsArgument()
    {
        string reply = new QtestHarness().Do("translate 00:01.0 0x1000 read pasid=zz");
        Assert.StartsWith("FAIL translate: pasid= (argument 4) ", reply);
        Assert.Contains("'zz'", reply);
    }

    [Fact]
    public void AnUnknownOptionListsTheOptionsThatCommandTakes()
    {
        var q = new QtestHarness();
        string translate = q.Do("translate 00:01.0 0x1000 read fast");
        Assert.EndsWith("argument 4 'fast' is not an option; options are pasid=N, priv, exec", translate);
        string dmaRead = q.Do("dma 00:01.0 0x1000 4 read fast");
        Assert.EndsWith("options are pasid=N, priv, exec", dmaRead);   // a read carries no data
        string dmaWrite = q.Do("dma 00:01.0 0x1000 4 write fast");
        Assert.EndsWith("options are pasid=N, priv, exec, data=0xHEX", dmaWrite);
    }

    [Fact]
    public void PortOutputChecksItsValueBeforeSayingPortIoIsNotModelled()
    {
        var q = new QtestHarness();
        Assert.StartsWith("FAIL outb: VALUE (argument 2) ", q.Do("outb 0x80 nope"));
        Assert.Equal("FAIL outb: port I/O is not modelled: this machine has RAM and the VT-d register page only", q.Do("outb 0x80 0x1"));
    }

    [Fact]
    public void AStoreThatRunsPastTheTopOfTheAddressSpaceIsRefusedNotWrapped()
    {
        var q = new QtestHarness();
        Assert.Equal("FAIL writeq: 0xfffffffffffffffc + 0x8 bytes runs past the top of the 64-bit address space",
            q.Do("writeq 0xfffffffffffffffc 0x1"));
        Assert.Equal("OK 0x0000000000000000", q.Do("readq 0x0")); // nothing wrapped around to address 0
    }

    [Fact]
    public void AFillLargerThanOneCallCanTakeIsRefusedBeforeAnythingIsWritten()
    {
        var machine = new QtestMachine(new QtestMachineOptions());
        Assert.False(machine.TryFill(0, 1UL << 32, 0xAA, out string error));
        Assert.Equal("0x100000000 bytes is too much for one fill", error);
        Assert.True(machine.TryRead(0, 8, out ulong first, out _));
        Assert.Equal(0UL, first);
    }

    [Fact]
    public void EventsBeyondTheQueueLimitAreCountedAsDroppedAndTheOldestGoFirst()
    {
        var q = new QtestHarness();
        // Each refused 1-byte register read leaves one warning event; one more than the queue holds.
        var lines = new string[QtestMachine.MaxPendingEvents + 1];
        for (int i = 0; i < lines.Length; i++) lines[i] = $"readb 0xfed900{i % 2 * 8:x2}";
        Assert.All(q.Lines(lines), r => Assert.StartsWith("FAIL readb:", r));

        string[] replies = q.Lines("events");
        Assert.Equal(QtestMachine.MaxPendingEvents + 1, replies.Length);
        Assert.Equal($"OK {QtestMachine.MaxPendingEvents} dropped=1", replies[^1]);
        Assert.StartsWith("EVENT #2 register 0x008: ", replies[0]); // the first read's event went; the second's is the oldest
        Assert.StartsWith($"EVENT #{QtestMachine.MaxPendingEvents + 1} register 0x000: ", replies[^2]);
        Assert.Equal("OK 0", q.Do("events"));                     // fetched: the count of dropped ones starts again
    }
}
