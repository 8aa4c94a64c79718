using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Building;
using VtdSim.Hardware.Events;
using VtdSim.Hardware.Faults;
using VtdSim.Hardware.Structures;
using VtdSim.Hardware.Tests.Support;
using VtdSim.Hardware.Translation;

namespace VtdSim.Hardware.Tests.Registers;

/// <summary>How one fault is encoded in its fault-recording register (vtd-facts 1.7, FRCD high qword).</summary>
public class FaultRecordEncodingTests
{
    [Theory]
    [InlineData(DmaAccess.Write, false, false)]   // T1=0, T2=0: write
    [InlineData(DmaAccess.Read, true, false)]     // T1=1, T2=0: read
    [InlineData(DmaAccess.AtomicOp, true, true)]  // T1=1, T2=1: AtomicOp
    public void TypeBitsEncodeTheAccess(DmaAccess access, bool t1, bool t2)
    {
        var bench = new FaultRecordingBench();
        var request = FaultRecordingBench.Request(3, 0x1234_5678, access);

        Assert.Equal(FaultDisposition.Recorded, bench.Raise(request));

        FaultRecord record = bench.Record(0);
        Assert.Equal(t1, record.T1);
        Assert.Equal(t2, record.T2);
        Assert.Equal(0x1234_5000UL, record.Low);
        Assert.Equal(FaultRecordingBench.Source(3).Value, record.SourceId);
        Assert.Equal((byte)bench.ExpectedReason, record.Reason);
    }

    [Fact]
    public void RequestWithPasidSetsPpAndPv()
    {
        var bench = new FaultRecordingBench();
        bench.Raise(FaultRecordingBench.Request(1) with { Pasid = 0xABCDE });

        FaultRecord record = bench.Record(0);
        Assert.True(record.PasidPresent);
        Assert.Equal(0xABCDEu, record.PasidValue); // all 20 PASID bits, 59:40
        Assert.False(record.Privileged);
        Assert.False(record.Execute);
    }

    [Fact]
    public void RequestWithoutPasidHitByAnEarlyFaultHasNoPasid()
    {
        // The fault happens at the root entry, before any RID_PASID could be looked up.
        var bench = new FaultRecordingBench();
        bench.Raise(FaultRecordingBench.Request(1));

        FaultRecord record = bench.Record(0);
        Assert.False(record.PasidPresent);
        Assert.Equal(0u, record.PasidValue);
    }

    [Theory]
    [InlineData(true, false)]
    [InlineData(false, true)]
    [InlineData(true, true)]
    public void PrivilegedAndExecuteRequestsSetPrivAndExe(bool privileged, bool execute)
    {
        var bench = new FaultRecordingBench();
        bench.Raise(FaultRecordingBench.Request(1) with { Pasid = 5, Privileged = privileged, Execute = execute });

        FaultRecord record = bench.Record(0);
        Assert.Equal(privileged, record.Privileged);
        Assert.Equal(execute, record.Execute);
    }

    [Fact]
    public void FirstStageWalkFaultRecordsTheRequestAttributes()
    {
        // A supervisor execute read with PASID 0x42 that misses in its first-stage table (SFS.2).
        var bench = new NestedBench();
        var fs = FirstStageTableBuilder.InHostMemory(bench.HostFrames);
        bench.Tables.SetPasidEntry(NestedBench.Device, 0x42,
            PasidEntry.FirstStage(fs.Root, 2).WithSupervisorRequestEnable(true).WithExecuteRequestEnable(true));
        var request = new DmaRequest(NestedBench.Device, new Iova(0x5000_0ABC), DmaAccess.Read, Pasid: 0x42, Privileged: true, Execute: true);

        FaultAssert.Recorded(bench.Unit, bench.Unit.Translate(request), FaultReason.SFS2_EntryNotPresent, request);
        FaultRecord record = FaultRecord.Read(bench.Unit);
        Assert.True(record.PasidPresent);
        Assert.Equal(0x42u, record.PasidValue);
        Assert.True(record.Privileged);
        Assert.True(record.Execute);
        Assert.True(record.T1);
        Assert.Equal(0, record.AddressType); // AT=00: untranslated
    }

    [Fact]
    public void TranslatedRequestRecordsAddressType10()
    {
        var bench = new FaultRecordingBench();
        bench.Raise(FaultRecordingBench.Request(1) with { AddressType = AddressType.Translated });

        Assert.Equal(2, bench.Record(0).AddressType);
    }

    [Fact]
    public void TranslationRequestFaultGoesBackToTheDeviceNotToTheRegisters()
    {
        // An ATS translation request's fault is reported in the completion (decisions D15).
        var bench = new FaultRecordingBench();
        var request = FaultRecordingBench.Request(1) with { AddressType = AddressType.TranslationRequest };

        var result = bench.Unit.Translate(request);

        Assert.Equal(bench.ExpectedReason, result.Fault?.Reason);
        Assert.Equal(FaultDisposition.ReturnedToDevice, FaultAssert.LastFaultEvent(bench.Unit).Disposition);
        FaultAssert.AssertNoRecords(bench.Unit);
    }

    [Fact]
    public void FIsWriteOneToClearAndTheRestOfTheRecordIsReadOnly()
    {
        var bench = new FaultRecordingBench();
        bench.Raise(7, 0x9000);
        FaultRecord before = bench.Record(0);
        int offset = FaultRecord.RecordOffset(bench.Unit, 0);

        // Writing 0 to F, or anything to the other dwords, changes nothing.
        bench.Unit.WriteRegister32(offset + 12, 0);
        bench.Unit.WriteRegister64(offset, 0xFFFF_FFFF_FFFF_FFFF);
        bench.Unit.WriteRegister32(offset + 8, 0xFFFF_FFFF);
        Assert.Equal(before, bench.Record(0));

        bench.ClearRecord(0); // write 1 to F
        FaultRecord after = bench.Record(0);
        Assert.False(after.Fault);
        Assert.Equal(0u, bench.Fsts & FaultAssert.FstsPpf);
    }

    [Fact]
    public void A64BitWriteWithBit63SetClearsF()
    {
        var bench = new FaultRecordingBench();
        bench.Raise(2);
        int offset = FaultRecord.RecordOffset(bench.Unit, 0);

        bench.Unit.WriteRegister64(offset + 8, 1UL << 63);

        Assert.False(bench.Record(0).Fault);
    }

    [Fact]
    public void MultiPageDmaRecordsThePageThatFaulted()
    {
        // The transfer stops at the first unmapped page; FI names that page, not the start of the transfer.
        var bench = new LegacyBench().WithMapping(0x6000, LegacyBench.DataBase);
        var request = LegacyBench.Write(0x6800);
        var data = new byte[0x1000];
        Array.Fill(data, (byte)0xA5);

        var result = bench.Unit.DmaWrite(request, data);

        Assert.Equal(0x800, result.BytesTransferred);
        Assert.Equal(FaultReason.LGN2_WriteDenied, result.Fault?.Reason);
        Assert.Equal(0x7000UL, FaultRecord.Read(bench.Unit).FaultInfo);
        Assert.Equal(0xA5A5_A5A5_A5A5_A5A5UL, bench.Memory.Read64(new Hpa(LegacyBench.DataBase + 0xFF8)));
    }
}
