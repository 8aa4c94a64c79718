using VtdSim.Hardware.Events;
using VtdSim.Hardware.Registers;
using VtdSim.Hardware.Tests.Support;

namespace VtdSim.Hardware.Tests.Registers;

/// <summary>
/// Primary fault logging across several faults (vtd-facts 1.7; decisions D16): circular use of the records, FSTS.PPF,
/// FRI and PFO, and source-id compression on the QEMU profile. The sapphire-rapids profile has 8 records.
/// </summary>
public class FaultRecordingTests
{
    private const int Records = 8;

    [Fact]
    public void SapphireRapidsHasEightRecordsAt0x220()
    {
        var cap = new Capability(new FaultRecordingBench().Unit.ReadRegister64(RegisterOffset.CAP));
        Assert.Equal(Records, cap.NumberOfFaultRecords);
        Assert.Equal(0x220, cap.FaultRecordingOffset);
    }

    [Fact]
    public void FaultsFillTheRecordsInOrder()
    {
        var bench = new FaultRecordingBench();
        for (int i = 0; i < Records; i++)
            Assert.Equal(FaultDisposition.Recorded, bench.Raise(device: i, address: 0x1000UL * (ulong)(i + 1)));

        for (int i = 0; i < Records; i++)
        {
            FaultRecord r = bench.Record(i);
            Assert.True(r.Fault);
            Assert.Equal(FaultRecordingBench.Source(i).Value, r.SourceId);
            Assert.Equal(0x1000UL * (ulong)(i + 1), r.FaultInfo);
        }
        Assert.NotEqual(0u, bench.Fsts & FaultAssert.FstsPpf);
        Assert.Equal(0u, bench.Fsts & FaultAssert.FstsPfo);
        Assert.Equal(0, bench.FaultRecordIndex);
    }

    [Fact]
    public void RecordingWrapsAroundToRecordsSoftwareHasCleared()
    {
        var bench = new FaultRecordingBench();
        for (int i = 0; i < Records; i++) bench.Raise(device: i);
        bench.ClearRecord(0);
        bench.ClearRecord(1);

        Assert.Equal(FaultDisposition.Recorded, bench.Raise(device: 20));
        Assert.Equal(FaultDisposition.Recorded, bench.Raise(device: 21));

        Assert.Equal(FaultRecordingBench.Source(20).Value, bench.Record(0).SourceId);
        Assert.Equal(FaultRecordingBench.Source(21).Value, bench.Record(1).SourceId);
        Assert.Equal(FaultRecordingBench.Source(2).Value, bench.Record(2).SourceId); // untouched
        Assert.Equal(0u, bench.Fsts & FaultAssert.FstsPfo);
    }

    [Fact]
    public void FaultWhoseNextRecordIsStillPendingIsDroppedWithPfo()
    {
        var bench = new FaultRecordingBench();
        for (int i = 0; i < Records; i++) bench.Raise(device: i);

        Assert.Equal(FaultDisposition.DroppedOverflow, bench.Raise(device: 30, address: 0x77_7000));

        Assert.NotEqual(0u, bench.Fsts & FaultAssert.FstsPfo);
        FaultRecord first = bench.Record(0); // not overwritten
        Assert.Equal(FaultRecordingBench.Source(0).Value, first.SourceId);
        Assert.Equal(0x1000UL, first.FaultInfo);
    }

    [Fact]
    public void TheNextRecordDecidesOverflowNotTheOthers()
    {
        // Records 1..7 are free but the next one (0 after wrapping) is still pending: the fault is dropped.
        var bench = new FaultRecordingBench();
        for (int i = 0; i < Records; i++) bench.Raise(device: i);
        for (int i = 1; i < Records; i++) bench.ClearRecord(i);

        Assert.Equal(FaultDisposition.DroppedOverflow, bench.Raise(device: 30));
    }

    [Fact]
    public void PfoIsWriteOneToClear()
    {
        var bench = new FaultRecordingBench();
        for (int i = 0; i <= Records; i++) bench.Raise(device: i);
        Assert.NotEqual(0u, bench.Fsts & FaultAssert.FstsPfo);

        bench.Unit.WriteRegister32(RegisterOffset.FSTS, 0); // writing 0 changes nothing
        Assert.NotEqual(0u, bench.Fsts & FaultAssert.FstsPfo);

        bench.Unit.WriteRegister32(RegisterOffset.FSTS, FaultAssert.FstsPfo | FaultAssert.FstsPpf);
        Assert.Equal(0u, bench.Fsts & FaultAssert.FstsPfo);
        Assert.NotEqual(0u, bench.Fsts & FaultAssert.FstsPpf); // PPF is read-only: it follows the F bits
    }

    [Fact]
    public void WhilePfoIsSetAFreeNextRecordStillRecords()
    {
        // Decisions D16: only an occupied target record drops a fault (QEMU also drops while PFO is set).
        var bench = new FaultRecordingBench();
        for (int i = 0; i <= Records; i++) bench.Raise(device: i);
        bench.ClearRecord(0);

        Assert.Equal(FaultDisposition.Recorded, bench.Raise(device: 25));
        Assert.Equal(FaultRecordingBench.Source(25).Value, bench.Record(0).SourceId);
        Assert.NotEqual(0u, bench.Fsts & FaultAssert.FstsPfo);
    }

    [Fact]
    public void PpfIsTheOrOfAllFBits()
    {
        var bench = new FaultRecordingBench();
        Assert.Equal(0u, bench.Fsts & FaultAssert.FstsPpf);
        bench.Raise(device: 0);
        bench.Raise(device: 1);

        bench.ClearRecord(0);
        Assert.NotEqual(0u, bench.Fsts & FaultAssert.FstsPpf);

        bench.ClearRecord(1);
        Assert.Equal(0u, bench.Fsts & FaultAssert.FstsPpf);
    }

    [Fact]
    public void FriNamesTheRecordThatMadePpfSet()
    {
        var bench = new FaultRecordingBench();
        bench.Raise(device: 0);
        Assert.Equal(0, bench.FaultRecordIndex);
        bench.ClearRecord(0);

        bench.Raise(device: 1); // recorded in 1 while nothing else is pending
        Assert.Equal(1, bench.FaultRecordIndex);

        bench.Raise(device: 2); // PPF was already set: FRI keeps pointing at the first pending record
        Assert.Equal(1, bench.FaultRecordIndex);
    }

    [Fact]
    public void SapphireRapidsRecordsRepeatedFaultsFromOneSource()
    {
        var bench = new FaultRecordingBench();

        Assert.Equal(FaultDisposition.Recorded, bench.Raise(device: 5, address: 0x1000));
        Assert.Equal(FaultDisposition.Recorded, bench.Raise(device: 5, address: 0x2000));
        Assert.Equal(0x2000UL, bench.Record(1).FaultInfo);
    }

    [Fact]
    public void QemuDropsASecondFaultFromASourceWithAPendingRecord()
    {
        // QEMU compresses by source id (qemu-facts 4); the dropped fault does not count as an overflow.
        var bench = new FaultRecordingBench(FaultProfiles.Qemu72Legacy);

        Assert.Equal(FaultDisposition.Recorded, bench.Raise(device: 5, address: 0x1000));
        Assert.Equal(FaultDisposition.DroppedSameSource, bench.Raise(device: 5, address: 0x2000));

        Assert.Equal(0x1000UL, bench.Record(0).FaultInfo);
        Assert.Equal(0u, bench.Fsts & FaultAssert.FstsPfo);
    }

    [Fact]
    public void QemuOverflowsItsSingleRecordOnAFaultFromAnotherSource()
    {
        var bench = new FaultRecordingBench(FaultProfiles.Qemu72Legacy);
        bench.Raise(device: 5);

        Assert.Equal(FaultDisposition.DroppedOverflow, bench.Raise(device: 6));
        Assert.NotEqual(0u, bench.Fsts & FaultAssert.FstsPfo);
    }

    [Fact]
    public void QemuRecordsTheSourceAgainOnceItsRecordIsCleared()
    {
        var bench = new FaultRecordingBench(FaultProfiles.Qemu72Legacy);
        bench.Raise(device: 5, address: 0x1000);
        bench.ClearRecord(0);

        Assert.Equal(FaultDisposition.Recorded, bench.Raise(device: 5, address: 0x2000));
        Assert.Equal(0x2000UL, bench.Record(0).FaultInfo);
    }
}
