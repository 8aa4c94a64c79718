using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Faults;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Structures;
using VtdSim.Hardware.Tests.Support;
using VtdSim.Hardware.Translation;

namespace VtdSim.Hardware.Tests.Faults;

/// <summary>
/// Scalable-mode root and context faults (SRT.x, SCT.x; vtd-facts 2.3, 2.6, 5.2), on the architectural unit unless a
/// case needs a capability it has (then the qemu-7.2-scalable capabilities).
/// </summary>
public class ScalableContextFaultTests
{
    private const ulong Gpa0 = 0x40_0000;

    /// <summary>Device 00:01.0 with a working second-stage-only RID_PASID entry mapping <see cref="Gpa0"/>.</summary>
    private static NestedBench WorkingDevice(VtdProfile? profile = null)
    {
        var bench = new NestedBench(profile);
        bench.SecondStage.Map(new Gpa(Gpa0), new Hpa(0x3000_0000));
        bench.Tables.SetPasidEntry(NestedBench.Device, 0, PasidEntry.SecondStage(bench.SecondStage.Root, bench.SecondStage.AddressWidth, 1));
        Assert.True(bench.Unit.Translate(bench.Read(Gpa0)).Success);
        return bench;
    }

    private static Hpa ContextEntry(NestedBench bench, SourceId source) =>
        FaultTables.LowerContextTable(bench.Memory, bench.Tables.Root, source.Bus) + (ulong)(source.DevFn & 0x7F) * ScalableContextEntry.Size;

    [Fact]
    [FaultCoverage(FaultReason.SRT1_RootAccessError)]
    public void RootTableThatCannotBeReadFaultsSrt1()
    {
        var bench = WorkingDevice();
        bench.Memory.InjectError(bench.Tables.Root, 4096);
        var request = bench.Read(Gpa0);

        FaultAssert.Recorded(bench.Unit, bench.Unit.Translate(request), FaultReason.SRT1_RootAccessError, request);
    }

    [Theory]
    [InlineData(2, 0x08)]  // nothing on bus 2
    [InlineData(0, 0x80)]  // bus 0 has a lower context table (devfn 0x08) but UP=0 for devfn 0x80-0xFF
    [FaultCoverage(FaultReason.SRT2_RootNotPresent)]
    public void RootEntryHalfNotPresentFaultsSrt2(int bus, int devfn)
    {
        var bench = WorkingDevice();
        var request = new DmaRequest(new SourceId((ushort)(bus << 8 | devfn)), new Iova(Gpa0), DmaAccess.Read);

        FaultAssert.Recorded(bench.Unit, bench.Unit.Translate(request), FaultReason.SRT2_RootNotPresent, request);
    }

    [Theory]
    [InlineData(1)]   // LCTP half: bits 11:1
    [InlineData(46)]  // LCTP bit at HAW
    [InlineData(52)]
    [FaultCoverage(FaultReason.SRT3_RootReserved)]
    public void RootEntryWithAReservedBitFaultsSrt3(int bit)
    {
        var bench = WorkingDevice();
        FaultTables.SetBit(bench.Memory, bench.Tables.Root, bit);
        var request = bench.Read(Gpa0);

        FaultAssert.Recorded(bench.Unit, bench.Unit.Translate(request), FaultReason.SRT3_RootReserved, request);
    }

    [Fact]
    [FaultCoverage(FaultReason.SRT3_RootReserved)]
    public void ReservedBitInTheUpperHalfFaultsSrt3ForUpperDevfnsOnly()
    {
        var bench = WorkingDevice();
        var upper = new SourceId(0, 0x10, 0); // devfn 0x80
        bench.Tables.SetPasidEntry(upper, 0, PasidEntry.SecondStage(bench.SecondStage.Root, bench.SecondStage.AddressWidth, 1));
        FaultTables.SetBit(bench.Memory, bench.Tables.Root, 64 + 2); // UCTP half, bit 2
        var request = new DmaRequest(upper, new Iova(Gpa0), DmaAccess.Read);

        Assert.True(bench.Unit.Translate(bench.Read(Gpa0)).Success); // the lower half is still fine
        FaultAssert.Recorded(bench.Unit, bench.Unit.Translate(request), FaultReason.SRT3_RootReserved, request);
    }

    [Fact]
    [FaultCoverage(FaultReason.SCT1_ContextAccessError)]
    public void ContextTableThatCannotBeReadFaultsSct1()
    {
        var bench = WorkingDevice();
        bench.Memory.InjectError(ContextEntry(bench, NestedBench.Device).PageBase, 4096);
        var request = bench.Read(Gpa0);

        FaultAssert.Recorded(bench.Unit, bench.Unit.Translate(request), FaultReason.SCT1_ContextAccessError, request);
    }

    [Fact]
    [FaultCoverage(FaultReason.SCT2_ContextNotPresent)]
    public void DeviceWithoutContextEntryFaultsSct2()
    {
        var bench = WorkingDevice();
        var request = new DmaRequest(new SourceId(0, 2, 0), new Iova(Gpa0), DmaAccess.Write); // same context table

        FaultAssert.Recorded(bench.Unit, bench.Unit.Translate(request), FaultReason.SCT2_ContextNotPresent, request);
    }

    [Theory]
    [InlineData(5)]         // Q0 8:5
    [InlineData(46)]        // PASIDDIRPTR bit at HAW
    [InlineData(64 + 21)]   // Q1 63:21
    [InlineData(128)]       // Q2
    [InlineData(192 + 63)]  // Q3
    [FaultCoverage(FaultReason.SCT3_ContextReserved)]
    public void ContextEntryWithAReservedBitFaultsSct3(int bit)
    {
        var bench = WorkingDevice();
        FaultTables.SetBit(bench.Memory, ContextEntry(bench, NestedBench.Device), bit);
        var request = bench.Read(Gpa0);

        FaultAssert.Recorded(bench.Unit, bench.Unit.Translate(request), FaultReason.SCT3_ContextReserved, request);
    }

    public enum UnsupportedField { DteWithoutDt, PasideWithoutPasid, RidPasidWithoutRps, PreWithoutPrs, RidPrivWithoutRprivs }

    /// <summary>
    /// A field for a feature the unit does not report is Reserved(0) (spec 9.4): setting it is a reserved-field fault,
    /// SCT.3, not an invalid-programming one (SCT.4) and not ignored (decisions D47).
    /// </summary>
    [Theory]
    [InlineData(UnsupportedField.DteWithoutDt)]         // qemu-7.2-scalable: ECAP.DT=0
    [InlineData(UnsupportedField.PasideWithoutPasid)]   // qemu-7.2-scalable: ECAP.PASID=0
    [InlineData(UnsupportedField.RidPasidWithoutRps)]   // qemu-7.2-scalable: ECAP.RPS=0
    [InlineData(UnsupportedField.PreWithoutPrs)]        // architectural: ECAP.PRS=0
    [InlineData(UnsupportedField.RidPrivWithoutRprivs)] // architectural: ECAP.RPRIVS=0
    [FaultCoverage(FaultReason.SCT3_ContextReserved)]
    public void ContextEnablingAFeatureTheUnitLacksFaultsSct3(UnsupportedField kind)
    {
        var bench = kind is UnsupportedField.PreWithoutPrs or UnsupportedField.RidPrivWithoutRprivs ? new NestedBench() : QemuScalableBench();
        SetUnsupportedField(bench, kind, fpd: false);
        var request = bench.Read(Gpa0);

        FaultAssert.Recorded(bench.Unit, bench.Unit.Translate(request), FaultReason.SCT3_ContextReserved, request);
    }

    /// <summary>SCT.3 is not qualified (D13): the entry's own FPD cannot hide it, as it could an SCT.4 (D47).</summary>
    [Fact]
    public void ContextFpdDoesNotHideAFieldForAFeatureTheUnitLacks()
    {
        var bench = QemuScalableBench();
        SetUnsupportedField(bench, UnsupportedField.PasideWithoutPasid, fpd: true);
        var request = bench.Read(Gpa0);

        FaultAssert.Recorded(bench.Unit, bench.Unit.Translate(request), FaultReason.SCT3_ContextReserved, request);
    }

    /// <summary>The same context entry with the feature's field clear translates: only the field makes it fault.</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ContextWithoutTheUnsupportedFieldTranslatesOnTheQemuScalableUnit(bool fpd)
    {
        var bench = QemuScalableBench();
        bench.Tables.SetScalableContext(NestedBench.Device, dir => ScalableContextEntry.Create(dir).WithFaultProcessingDisable(fpd));
        bench.SecondStage.Map(new Gpa(Gpa0), new Hpa(0x3000_0000));
        bench.Tables.SetPasidEntry(NestedBench.Device, 0, PasidEntry.SecondStage(bench.SecondStage.Root, bench.SecondStage.AddressWidth, 1));

        Assert.True(bench.Unit.Translate(bench.Read(Gpa0)).Success);
    }

    /// <summary>The qemu-7.2-scalable unit, with 3-level second-stage tables (its only SAGAW).</summary>
    private static NestedBench QemuScalableBench() => new(FaultProfiles.Qemu72Scalable, ssLevels: 3);

    private static void SetUnsupportedField(NestedBench bench, UnsupportedField kind, bool fpd)
    {
        bench.SecondStage.Map(new Gpa(Gpa0), new Hpa(0x3000_0000));
        bench.Tables.SetPasidEntry(NestedBench.Device, 0, PasidEntry.SecondStage(bench.SecondStage.Root, bench.SecondStage.AddressWidth, 1));
        bench.Tables.SetScalableContext(NestedBench.Device, dir => (kind switch
        {
            UnsupportedField.DteWithoutDt => ScalableContextEntry.Create(dir).WithDeviceTlbEnable(true),
            UnsupportedField.PasideWithoutPasid => ScalableContextEntry.Create(dir).WithPasidEnable(true),
            UnsupportedField.RidPasidWithoutRps => ScalableContextEntry.Create(dir, ridPasid: 5),
            UnsupportedField.PreWithoutPrs => ScalableContextEntry.Create(dir).WithPageRequestEnable(true),
            _ => ScalableContextEntry.Create(dir).WithRidPrivilege(true),
        }).WithFaultProcessingDisable(fpd));
    }

    [Fact]
    [FaultCoverage(FaultReason.SCT5_DeviceTlbDisabled)]
    public void TranslatedRequestWithDteClearFaultsSct5()
    {
        var bench = WorkingDevice(); // the builder's context entry has DTE=0
        var request = bench.Read(Gpa0) with { AddressType = AddressType.Translated };

        FaultAssert.Recorded(bench.Unit, bench.Unit.Translate(request), FaultReason.SCT5_DeviceTlbDisabled, request);
        Assert.Equal(2, FaultRecord.Read(bench.Unit).AddressType); // AT=10: translated
    }

    [Fact]
    [FaultCoverage(FaultReason.SCT6_PasidDisabled)]
    public void RequestWithPasidWhilePasideIsClearFaultsSct6()
    {
        var bench = new NestedBench();
        bench.Tables.SetScalableContext(NestedBench.Device, dir => ScalableContextEntry.Create(dir)); // PASIDE=0
        bench.SecondStage.Map(new Gpa(Gpa0), new Hpa(0x3000_0000));
        bench.Tables.SetPasidEntry(NestedBench.Device, 0, PasidEntry.SecondStage(bench.SecondStage.Root, bench.SecondStage.AddressWidth, 1));
        Assert.True(bench.Unit.Translate(bench.Read(Gpa0)).Success); // without PASID it works, through RID_PASID 0
        var request = bench.Read(Gpa0) with { Pasid = 0 };

        FaultAssert.Recorded(bench.Unit, bench.Unit.Translate(request), FaultReason.SCT6_PasidDisabled, request);
    }

    [Fact]
    [FaultCoverage(FaultReason.SCT7_PasidBeyondDirectory)]
    public void PasidBeyondTheDirectorySizeFaultsSct7()
    {
        // PDTS=0: 2^7 directory entries of 64 PASIDs each, so PASIDs 0..0x1FFF.
        var bench = new NestedBench();
        bench.Tables.SetScalableContext(NestedBench.Device, dir => ScalableContextEntry.Create(dir, pdts: 0).WithPasidEnable(true));
        var request = bench.Read(Gpa0) with { Pasid = 0x2000 };

        FaultAssert.Recorded(bench.Unit, bench.Unit.Translate(request), FaultReason.SCT7_PasidBeyondDirectory, request);
        FaultRecord record = FaultRecord.Read(bench.Unit);
        Assert.True(record.PasidPresent);
        Assert.Equal(0x2000u, record.PasidValue);
    }

    [Fact]
    [FaultCoverage(FaultReason.SCT9_RidPasidInvalid)]
    public void RidPasidBeyondTheDirectorySizeFaultsSct9()
    {
        // ECAP.RPS is set on the architectural unit, so requests without PASID use RID_PASID, here beyond PDTS=0.
        var bench = new NestedBench();
        Assert.True(bench.Unit.Profile.Ecap.RidPasid);
        bench.Tables.SetScalableContext(NestedBench.Device, dir => ScalableContextEntry.Create(dir, pdts: 0, ridPasid: 0x2000));
        var request = bench.Read(Gpa0);

        FaultAssert.Recorded(bench.Unit, bench.Unit.Translate(request), FaultReason.SCT9_RidPasidInvalid, request);
    }
}
