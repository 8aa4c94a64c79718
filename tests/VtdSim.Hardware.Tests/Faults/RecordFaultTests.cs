using CsCheck;
using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Events;
using VtdSim.Hardware.Faults;
using VtdSim.Hardware.Registers;
using VtdSim.Hardware.Structures;
using VtdSim.Hardware.Tests.Properties;
using VtdSim.Hardware.Tests.Support;
using VtdSim.Hardware.Translation;

namespace VtdSim.Hardware.Tests.Faults;

/// <summary>
/// <see cref="VtdUnit.RecordFault"/>, the vIOMMU's fault-delivery seam (decision N46): a fault recorded from outside
/// goes through the unit's own recording — FRCD, FSTS.PPF/FRI/PFO, FECTL.IP/IM and the fault event — and FPD, exactly
/// as a fault of its own walk.
/// </summary>
public class RecordFaultTests
{
    private const uint Im = 1u << 31, Ip = 1u << 30, Pfo = 1u << 0, Ppf = 1u << 1;

    private static FaultRecordingBench Programmed(bool masked)
    {
        var bench = new FaultRecordingBench();
        bench.Unit.WriteRegister32(RegisterOffset.FEDATA, 0x4041);
        bench.Unit.WriteRegister32(RegisterOffset.FEADDR, 0xFEE0_1000);
        if (!masked) bench.Unit.WriteRegister32(RegisterOffset.FECTL, 0);
        return bench;
    }

    [Fact]
    public void AnInjectedFaultFillsTheRecordAsTheSpecLaysItOut()
    {
        var bench = Programmed(masked: false);
        var request = new DmaRequest(FaultRecordingBench.Source(2), new Iova(0x7000_1234), DmaAccess.Write, Pasid: 5, Privileged: true);

        Assert.Equal(FaultDisposition.Recorded, bench.Unit.RecordFault(request, FaultReason.SFS2_EntryNotPresent, "guest first stage"));

        FaultRecord r = bench.Record(0);
        Assert.True(r.Fault);
        Assert.Equal((0x7000_1000UL, (ushort)0x0110, (byte)0x71), (r.FaultInfo, r.SourceId, r.Reason));
        Assert.Equal((false, false, true, true, 5u), (r.T1, r.T2, r.Privileged, r.PasidPresent, r.PasidValue));
        Assert.Equal(Ppf, bench.Fsts); // FRI 0
        FaultEvent e = FaultAssert.LastFaultEvent(bench.Unit);
        Assert.Equal((FaultReason.SFS2_EntryNotPresent, "guest first stage", FaultDisposition.Recorded), (e.Fault.Reason, e.Fault.Explanation, e.Disposition));
        var msi = Assert.Single(bench.Interrupts);
        Assert.Equal((0xFEE0_1000UL, 0x4041u), (msi.Address, msi.Data));
    }

    [Fact]
    public void WhileMaskedTheEventIsHeldInIpAndSentOnUnmask()
    {
        var bench = Programmed(masked: true);
        bench.Unit.RecordFault(FaultRecordingBench.Request(1), FaultReason.SGN6_WriteDenied, "x");
        Assert.Equal(Im | Ip, bench.Fectl);
        Assert.Empty(bench.Interrupts);

        bench.Unit.WriteRegister32(RegisterOffset.FECTL, 0);

        Assert.Single(bench.Interrupts);
        Assert.Equal(0u, bench.Fectl);
    }

    [Fact]
    public void WhenEveryRecordIsInUseTheNextSetsPfoAndClearingLetsTheFollowingOneIn()
    {
        var bench = Programmed(masked: false);
        int records = new Capability(bench.Unit.ReadRegister64(RegisterOffset.CAP)).NumberOfFaultRecords;
        for (int i = 0; i < records; i++)
            Assert.Equal(FaultDisposition.Recorded, bench.Unit.RecordFault(FaultRecordingBench.Request(i + 1), FaultReason.SFS2_EntryNotPresent, "x"));
        Assert.Single(bench.Interrupts); // one event: the status went from quiet to pending once

        Assert.Equal(FaultDisposition.DroppedOverflow, bench.Unit.RecordFault(FaultRecordingBench.Request(30), FaultReason.SFS2_EntryNotPresent, "x"));
        Assert.Equal(Ppf | Pfo, bench.Fsts);

        for (int i = 0; i < records; i++) bench.ClearRecord(i);
        bench.Unit.WriteRegister32(RegisterOffset.FSTS, Pfo);
        Assert.Equal(0u, bench.Fsts);
        Assert.Equal(FaultDisposition.Recorded, bench.Unit.RecordFault(FaultRecordingBench.Request(31), FaultReason.SFS2_EntryNotPresent, "x"));
        Assert.Equal(2, bench.Interrupts.Count); // quiet again, so a new event
        Assert.Equal(0, bench.FaultRecordIndex); // the ring went round: record 0 is next
    }

    [Fact]
    public void FpdInTheDevicesPasidEntrySuppressesAQualifiedReasonButNotAnotherOne()
    {
        var bench = new NestedBench();
        bench.Tables.SetPasidEntry(NestedBench.Device, 0,
            PasidEntry.SecondStage(bench.SecondStage.Root, bench.SecondStage.AddressWidth, 1).WithFaultProcessingDisable(true));

        Assert.Equal(FaultDisposition.SuppressedByFpd, bench.Unit.RecordFault(bench.Read(0x1000), FaultReason.SFS2_EntryNotPresent, "x"));
        FaultAssert.AssertNoRecords(bench.Unit);
        Assert.Equal(FaultDisposition.Recorded, bench.Unit.RecordFault(bench.Read(0x1000), FaultReason.SPT1_PasidEntryAccessError, "x"));
    }

    [Fact]
    public void AnInjectedFaultLeavesTheSameRegistersAsTheUnitsOwnWalkFault()
    {
        // Invariant: for any requests, the records, FSTS and FECTL after RecordFault with the walk's reason equal those
        // after the walk itself faulted (an empty root table: SRT.2 for every request).
        var gen = Gen.Select(Gen.Int[1, 31], Gen.ULong[0, (1UL << 48) - 1], Gen.Bool, Gen.Bool).Array[1, 12];
        PropertyRunner.Run(gen, requests =>
        {
            var walked = Programmed(masked: false);
            var injected = Programmed(masked: false);
            foreach (var (device, address, write, masked) in requests)
            {
                var request = FaultRecordingBench.Request(device, address, write ? DmaAccess.Write : DmaAccess.Read);
                FaultDisposition expected = walked.Raise(request);
                Assert.Equal(expected, injected.Unit.RecordFault(request, walked.ExpectedReason, "injected"));
                if (masked)
                {
                    walked.Unit.WriteRegister32(RegisterOffset.FECTL, Im);
                    injected.Unit.WriteRegister32(RegisterOffset.FECTL, Im);
                }
            }
            for (int i = 0; i < 8; i++) Assert.Equal(walked.Record(i), injected.Record(i));
            Assert.Equal((walked.Fsts, walked.Fectl, walked.Interrupts.Count), (injected.Fsts, injected.Fectl, injected.Interrupts.Count));
        }, seed: 46_001, iterations: 500);
    }
}
