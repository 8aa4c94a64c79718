using VtdSim.Cli.Qtest;
using VtdSim.Hardware.Profiles;

namespace VtdSim.Cli.Tests.Qtest;

/// <summary>
/// A legacy-mode translation set up purely through qtest writes, as a QEMU qtest would program intel-iommu: root table,
/// context entry, 3-level second-level tables (aw-bits 39), RTADDR, GCMD.SRTP, GCMD.TE; then DMA through it.
/// </summary>
public class QtestTranslationScenarioTests
{
    private const ulong Regs = 0xfed90000;
    private const ulong Root = 0x100000, Context = 0x101000, L3 = 0x102000, L2 = 0x103000, L1 = 0x104000;
    private const ulong DataPage = 0x800000, ReadOnlyPage = 0x801000;
    private const string Device = "00:01.0"; // SID 0x0008, devfn 8

    /// <summary>IOVA 0x345000 -> 0x800000 read/write; IOVA 0x346000 -> 0x801000 read-only; nothing else.</summary>
    private static QtestHarness ProgrammedMachine(VtdProfile? profile = null)
    {
        var q = new QtestHarness(new QtestMachineOptions { Profile = profile ?? BuiltInProfiles.Qemu72Legacy });
        // Root entry for bus 0: context table pointer | P.
        q.Ok($"writeq 0x{Root:x} 0x{Context | 1:x}");
        q.Ok($"writeq 0x{Root + 8:x} 0x0");
        // Context entry for devfn 8: SLPTPTR | TT=00 (untranslated only) | P; high: AW=1 (39-bit, 3-level), DID=1.
        q.Ok($"writeq 0x{Context + 8 * 16:x} 0x{L3 | 1:x}");
        q.Ok($"writeq 0x{Context + 8 * 16 + 8:x} 0x101");
        // IOVA 0x345000: L3 index 0, L2 index 1, L1 index 0x145. R=bit 0, W=bit 1.
        q.Ok($"writeq 0x{L3:x} 0x{L2 | 3:x}");
        q.Ok($"writeq 0x{L2 + 1 * 8:x} 0x{L1 | 3:x}");
        q.Ok($"writeq 0x{L1 + 0x145 * 8:x} 0x{DataPage | 3:x}");
        q.Ok($"writeq 0x{L1 + 0x146 * 8:x} 0x{ReadOnlyPage | 1:x}");
        // RTADDR (legacy TTM=00), then SRTP, then TE (GCMD bits 30 and 31), checking GSTS after each.
        q.Ok($"writeq 0x{Regs + 0x20:x} 0x{Root:x}");
        q.Ok($"writel 0x{Regs + 0x18:x} 0x40000000");
        Assert.Equal("OK 0x0000000040000000", q.Do($"readl 0x{Regs + 0x1c:x}"));
        q.Ok($"writel 0x{Regs + 0x18:x} 0x80000000");
        Assert.Equal("OK 0x00000000c0000000", q.Do($"readl 0x{Regs + 0x1c:x}"));
        Assert.True(q.Machine.Unit.TranslationEnabled);
        return q;
    }

    [Fact]
    public void BeforeTranslationIsEnabledDmaGoesStraightToMemory()
    {
        var q = new QtestHarness();
        q.Ok("writel 0x345000 0x04030201");
        Assert.Equal("OK 4 0x01020304", q.Do($"dma {Device} 0x345000 4 read"));
        Assert.Equal("OK 0x0000000000345000 page=0x1000 rights=rwxu kind=Disabled", q.Do($"translate {Device} 0x345000 write"));
    }

    [Fact]
    public void DmaReadAndWriteGoThroughTheProgrammedTables()
    {
        var q = ProgrammedMachine();
        q.Ok($"writeq 0x{DataPage + 0x10:x} 0x8877665544332211");
        Assert.Equal("OK 8 0x1122334455667788", q.Do($"dma {Device} 0x345010 8 read"));

        Assert.Equal("OK 4", q.Do($"dma {Device} 0x345100 4 write data=0xcafef00d"));
        Assert.Equal("OK 0xcafef00d", q.Do($"read 0x{DataPage + 0x100:x} 4"));
        Assert.Equal("OK 0x0000000000000000", q.Do("readl 0x345100")); // the IOVA itself was not written

        // The read-only page reads fine; a numeric SID works too.
        q.Ok($"writel 0x{ReadOnlyPage:x} 0x0000beef");
        Assert.Equal("OK 2 0xefbe", q.Do("dma 0x0008 0x346000 2 read"));

        Assert.Equal("OK 0x0000000000800abc page=0x1000 rights=rwx kind=Legacy", q.Do($"translate {Device} 0x345abc read"));
        Assert.Equal("OK 0", q.Do("events")); // nothing faulted
    }

    [Fact]
    public void CachesReportsTheCountersOfEveryTranslationCache()
    {
        var q = ProgrammedMachine();
        Assert.StartsWith("OK 4", q.Do($"dma {Device} 0x345000 4 read")); // walks: context-cache and IOTLB miss, then fill
        Assert.StartsWith("OK 4", q.Do($"dma {Device} 0x345004 4 read")); // hits both
        string[] lines = q.Lines("caches");
        Assert.Equal("OK 5", lines[^1]);
        Assert.Equal("CACHE context capacity=4096 hits=1 misses=1 fills=1 evictions=0 invalidated=0 holding=1", lines[0]);
        Assert.Equal("CACHE pasid capacity=0 hits=0 misses=0 fills=0 evictions=0 invalidated=0 holding=0", lines[1]); // QEMU 7.2 has none
        Assert.Equal("CACHE iotlb capacity=1024 hits=1 misses=1 fills=1 evictions=0 invalidated=0 holding=1", lines[2]);

        q.Ok($"writeq 0x{Regs + 0xf8:x} 0x9000000000000000"); // IOTLB register (QEMU's ECAP.IRO = 0xf0, +8): IVT, global
        Assert.Contains("CACHE iotlb capacity=1024 hits=1 misses=1 fills=1 evictions=0 invalidated=1 holding=0", q.Lines("caches"));
    }

    [Fact]
    public void ADmaWriteToAReadOnlyPageFaultsAndTheFaultIsInTheFrcd()
    {
        var q = ProgrammedMachine();
        q.Ok($"writel 0x{ReadOnlyPage:x} 0x11111111");
        string reply = q.Do($"dma {Device} 0x346008 4 write data=0x22222222");
        Assert.StartsWith("FAIL fault fr=0x05 condition=LGN.2 fi=0x0000000000346000 moved=0 disposition=recorded: ", reply);
        Assert.Equal("OK 0x0000000011111111", q.Do($"readl 0x{ReadOnlyPage:x}")); // nothing written

        // FRCD 0 at FRO 0x220: low = FI; high = F (63) | T (62, 0 = write) | FR (39:32) | SID (15:0).
        Assert.Equal("OK 0x0000000000346000", q.Do($"readq 0x{Regs + 0x220:x}"));
        Assert.Equal("OK 0x8000000500000008", q.Do($"readq 0x{Regs + 0x228:x}"));
        // FSTS: PPF (bit 1), FRI 0.
        Assert.Equal("OK 0x0000000000000002", q.Do($"readl 0x{Regs + 0x34:x}"));

        string[] events = q.Lines("events");
        Assert.Equal(2, events.Length);
        Assert.StartsWith("EVENT #1 fault LGN.2 (0x05) write from 00:01.0", events[0]);
        Assert.Equal("OK 1", events[1]);
    }

    [Fact]
    public void AReadThatRunsIntoAnUnmappedPageReturnsTheBytesBeforeTheFault()
    {
        var q = ProgrammedMachine();
        q.Ok($"writel 0x{ReadOnlyPage + 0xffc:x} 0x44332211");
        // 0x346ffc..0x347003: four bytes from the read-only page, then IOVA 0x347000 (L1 index 0x147) is not mapped.
        string reply = q.Do($"dma {Device} 0x346ffc 8 read");
        Assert.StartsWith("FAIL fault fr=0x06 condition=LGN.3 fi=0x0000000000347000 moved=4 data=0x11223344 disposition=recorded: ", reply);
        // T = 1 for a read.
        Assert.Equal("OK 0xc000000600000008", q.Do($"readq 0x{Regs + 0x228:x}"));
    }

    [Fact]
    public void QemuProfileCompressesASecondFaultFromTheSameSourceUntilFIsCleared()
    {
        var q = ProgrammedMachine();
        Assert.Contains("disposition=recorded", q.Do($"dma {Device} 0x500000 4 read"));
        Assert.Contains("disposition=dropped-same-source", q.Do($"dma {Device} 0x600000 4 read"));
        Assert.Equal("OK 0x0000000000500000", q.Do($"readq 0x{Regs + 0x220:x}"));
        // F is write-1-to-clear (bit 31 of the FRCD's last dword).
        q.Ok($"writel 0x{Regs + 0x22c:x} 0x80000000");
        Assert.Contains("disposition=recorded", q.Do($"dma {Device} 0x600000 4 read"));
        Assert.Equal("OK 0x0000000000600000", q.Do($"readq 0x{Regs + 0x220:x}"));
    }

    [Fact]
    public void ADeviceWithoutAContextEntryFaults()
    {
        var q = ProgrammedMachine();
        Assert.StartsWith("FAIL fault fr=0x02 condition=LCT.2 fi=0x0000000000345000 disposition=recorded: ", q.Do("translate 00:02.0 0x345000 read"));
        Assert.Equal("OK 0xc000000200000010", q.Do($"readq 0x{Regs + 0x228:x}")); // SID 00:02.0 = 0x10, T = 1 (read)
    }

    [Fact]
    public void ResetAfterTheScenarioTurnsTranslationOff()
    {
        var q = ProgrammedMachine();
        q.Ok("reset");
        Assert.False(q.Machine.Unit.TranslationEnabled);
        Assert.Equal("OK 0x0000000000000000", q.Do($"readl 0x{Regs + 0x1c:x}"));
        Assert.Equal("OK 4 0x00000000", q.Do($"dma {Device} 0x345000 4 read"));
    }
}
