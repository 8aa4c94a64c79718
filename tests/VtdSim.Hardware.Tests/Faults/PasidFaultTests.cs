using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Building;
using VtdSim.Hardware.Faults;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Registers;
using VtdSim.Hardware.Structures;
using VtdSim.Hardware.Tests.Support;

namespace VtdSim.Hardware.Tests.Faults;

/// <summary>PASID-directory and PASID-table faults (SPD.x, SPT.x; vtd-facts 2.4, 2.5, 4.1; decisions D11).</summary>
public class PasidFaultTests
{
    private const ulong Gpa0 = 0x40_0000;

    private static PasidEntry SecondStageOnly(NestedBench bench) =>
        PasidEntry.SecondStage(bench.SecondStage.Root, bench.SecondStage.AddressWidth, 1);

    /// <summary>Device 00:01.0 with PASID 0 (its RID_PASID) mapping <see cref="Gpa0"/> through the second stage; returns the PASID entry's address.</summary>
    private static (NestedBench Bench, Hpa Entry) WorkingDevice()
    {
        var bench = new NestedBench();
        bench.SecondStage.Map(new Gpa(Gpa0), new Hpa(0x3000_0000));
        Hpa entry = bench.Tables.SetPasidEntry(NestedBench.Device, 0, SecondStageOnly(bench));
        Assert.True(bench.Unit.Translate(bench.Read(Gpa0)).Success);
        return (bench, entry);
    }

    [Fact]
    [FaultCoverage(FaultReason.SPD1_DirectoryAccessError)]
    public void PasidDirectoryThatCannotBeReadFaultsSpd1()
    {
        var (bench, _) = WorkingDevice();
        bench.Memory.InjectError(bench.Tables.PasidDirectoryEntryAddress(NestedBench.Device, 0).PageBase, 4096);
        var request = bench.Read(Gpa0);

        FaultAssert.Recorded(bench.Unit, bench.Unit.Translate(request), FaultReason.SPD1_DirectoryAccessError, request);
    }

    [Fact]
    [FaultCoverage(FaultReason.SPD2_DirectoryNotPresent)]
    public void PasidWhoseDirectoryEntryIsNotPresentFaultsSpd2()
    {
        var (bench, _) = WorkingDevice();
        var request = bench.Read(Gpa0) with { Pasid = 64 }; // directory index 1; only index 0 has a table

        FaultAssert.Recorded(bench.Unit, bench.Unit.Translate(request), FaultReason.SPD2_DirectoryNotPresent, request);
    }

    [Theory]
    [InlineData(2)]   // bits 11:2
    [InlineData(46)]  // table pointer bit at HAW
    [FaultCoverage(FaultReason.SPD3_DirectoryReserved)]
    public void PasidDirectoryEntryWithAReservedBitFaultsSpd3(int bit)
    {
        var (bench, _) = WorkingDevice();
        FaultTables.SetBit(bench.Memory, bench.Tables.PasidDirectoryEntryAddress(NestedBench.Device, 0), bit);
        var request = bench.Read(Gpa0);

        FaultAssert.Recorded(bench.Unit, bench.Unit.Translate(request), FaultReason.SPD3_DirectoryReserved, request);
    }

    [Fact]
    [FaultCoverage(FaultReason.SPT1_PasidEntryAccessError)]
    public void PasidTableThatCannotBeReadFaultsSpt1()
    {
        var (bench, entry) = WorkingDevice();
        bench.Memory.InjectError(entry.PageBase, 4096);
        var request = bench.Read(Gpa0);

        FaultAssert.Recorded(bench.Unit, bench.Unit.Translate(request), FaultReason.SPT1_PasidEntryAccessError, request);
    }

    [Fact]
    [FaultCoverage(FaultReason.SPT2_PasidEntryNotPresent)]
    public void PasidWithoutPasidEntryFaultsSpt2()
    {
        var (bench, _) = WorkingDevice();
        var request = bench.Write(Gpa0) with { Pasid = 1 }; // same PASID table as PASID 0, entry empty

        FaultAssert.Recorded(bench.Unit, bench.Unit.Translate(request), FaultReason.SPT2_PasidEntryNotPresent, request);
    }

    [Theory]
    [InlineData(10)]         // Q0 11:10
    [InlineData(46)]         // SSPTPTR bit at HAW
    [InlineData(64 + 16)]    // Q1 22:16
    [InlineData(64 + 25)]    // memory-type fields, reserved without ECAP.MTS
    [InlineData(128 + 5)]    // rev 3.0 NXE (decisions D7)
    [InlineData(128 + 8)]    // Q2 11:8
    [InlineData(192)]        // Q3
    [InlineData(7 * 64 + 63)] // Q7
    [FaultCoverage(FaultReason.SPT3_PasidEntryReserved)]
    public void PasidEntryWithAReservedBitFaultsSpt3(int bit)
    {
        var (bench, entry) = WorkingDevice();
        FaultTables.SetBit(bench.Memory, entry, bit);
        var request = bench.Read(Gpa0);

        FaultAssert.Recorded(bench.Unit, bench.Unit.Translate(request), FaultReason.SPT3_PasidEntryReserved, request);
    }

    public enum InvalidEntry
    {
        PgttZero, PgttReserved, AwNotInSagaw, FspmReserved,
        NestedWithoutNest, FirstStageWithoutFsts,
    }

    [Theory]
    [InlineData(InvalidEntry.PgttZero)]
    [InlineData(InvalidEntry.PgttReserved)]          // PGTT=101
    [InlineData(InvalidEntry.AwNotInSagaw)]          // AW=1 (39-bit); the architectural unit offers 48/57 only
    [InlineData(InvalidEntry.FspmReserved)]          // FSPM=10
    [InlineData(InvalidEntry.NestedWithoutNest)]     // qemu-7.2-scalable has no ECAP.NEST
    [InlineData(InvalidEntry.FirstStageWithoutFsts)] // ... nor ECAP.FSTS
    [FaultCoverage(FaultReason.SPT4_PasidEntryInvalid)]
    public void PasidEntryAskingForWhatTheUnitLacksFaultsSpt4(InvalidEntry kind)
    {
        bool qemu = kind is InvalidEntry.NestedWithoutNest or InvalidEntry.FirstStageWithoutFsts;
        var bench = new NestedBench(qemu ? FaultProfiles.Qemu72Scalable : null);
        if (qemu) // the builder's default context sets PASIDE, which this unit would refuse (SCT.3, D47) before any PASID entry
            bench.Tables.SetScalableContext(NestedBench.Device, dir => ScalableContextEntry.Create(dir));
        var fs = FirstStageTableBuilder.InHostMemory(bench.HostFrames);
        Hpa ss = bench.SecondStage.Root;
        int qemuAw = 1; // qemu-7.2: 39-bit/3-level only, so AW itself is valid in the qemu cases
        PasidEntry entry = kind switch
        {
            InvalidEntry.PgttZero => SecondStageOnly(bench).WithPgtt(PasidGranularTranslationType.Reserved0),
            InvalidEntry.PgttReserved => SecondStageOnly(bench).WithPgtt(PasidGranularTranslationType.Reserved5),
            InvalidEntry.AwNotInSagaw => PasidEntry.SecondStage(ss, 1, 1),
            InvalidEntry.FspmReserved => PasidEntry.FirstStage(fs.Root, 1).WithFirstStagePagingMode(2),
            InvalidEntry.NestedWithoutNest => PasidEntry.NestedEntry(0x10_0000, ss, qemuAw, 1),
            _ => PasidEntry.FirstStage(fs.Root, 1),
        };
        bench.Tables.SetPasidEntry(NestedBench.Device, 0, entry);
        var request = bench.Read(Gpa0);

        FaultAssert.Recorded(bench.Unit, bench.Unit.Translate(request), FaultReason.SPT4_PasidEntryInvalid, request);
    }

    public enum UnsupportedField { SsadeWithoutSsads, PgsnpWithoutSc, SreWithoutSrs, SseeWithoutErs, EreWithoutErs, EafeWithoutEafs }

    /// <summary>
    /// A field for a feature the unit does not report is Reserved(0) (spec 9.6), whatever the PGTT: setting it is a
    /// reserved-field fault, SPT.3, not SPT.4 (decisions D47). Intel hardware reports SRE without ECAP.SRS this way on a
    /// second-stage-only entry (Linux commit 7fc961cf7ffc).
    /// </summary>
    [Theory]
    [InlineData(UnsupportedField.SsadeWithoutSsads)] // qemu-7.2-scalable has no ECAP.SSADS
    [InlineData(UnsupportedField.PgsnpWithoutSc)]    // ... nor ECAP.SC
    [InlineData(UnsupportedField.SseeWithoutErs)]    // ... nor ECAP.ERS
    [InlineData(UnsupportedField.SreWithoutSrs)]     // architectural without ECAP.SRS, second-stage-only entry
    [InlineData(UnsupportedField.EreWithoutErs)]     // architectural without ECAP.ERS, first-stage entry
    [InlineData(UnsupportedField.EafeWithoutEafs)]   // architectural without ECAP.EAFS, first-stage entry
    [FaultCoverage(FaultReason.SPT3_PasidEntryReserved)]
    public void PasidEntryFieldForAFeatureTheUnitLacksFaultsSpt3(UnsupportedField kind)
    {
        bool qemu = kind is UnsupportedField.SsadeWithoutSsads or UnsupportedField.PgsnpWithoutSc or UnsupportedField.SseeWithoutErs;
        VtdProfile architectural = BuiltInProfiles.Architectural;
        int bit = kind switch
        {
            UnsupportedField.SreWithoutSrs => ExtendedCapabilityBit.SRS,
            UnsupportedField.EreWithoutErs => ExtendedCapabilityBit.ERS,
            _ => ExtendedCapabilityBit.EAFS,
        };
        var bench = qemu
            ? new NestedBench(FaultProfiles.Qemu72Scalable, ssLevels: 3)
            : new NestedBench(architectural with { Name = "architectural-less", Ecap = architectural.Ecap.With(bit, false) });
        if (qemu) // the builder's default context sets PASIDE, which this unit would refuse (SCT.3) before any PASID entry
            bench.Tables.SetScalableContext(NestedBench.Device, dir => ScalableContextEntry.Create(dir));
        var fs = FirstStageTableBuilder.InHostMemory(bench.HostFrames);
        bench.SecondStage.Map(new Gpa(Gpa0), new Hpa(0x3000_0000));
        PasidEntry ssOnly = SecondStageOnly(bench);
        PasidEntry entry = kind switch
        {
            UnsupportedField.SsadeWithoutSsads => ssOnly.WithSecondStageAccessedDirtyEnable(true),
            UnsupportedField.PgsnpWithoutSc => ssOnly.WithPageSnoop(true),
            UnsupportedField.SreWithoutSrs => ssOnly.WithSupervisorRequestEnable(true),
            UnsupportedField.SseeWithoutErs => ssOnly.WithSecondStageExecuteEnable(true),
            UnsupportedField.EreWithoutErs => PasidEntry.FirstStage(fs.Root, 1).WithExecuteRequestEnable(true),
            _ => PasidEntry.FirstStage(fs.Root, 1).WithExtendedAccessedFlagEnable(true),
        };
        bench.Tables.SetPasidEntry(NestedBench.Device, 0, entry);
        var request = bench.Read(Gpa0);

        FaultAssert.Recorded(bench.Unit, bench.Unit.Translate(request), FaultReason.SPT3_PasidEntryReserved, request);
    }

    [Fact]
    [FaultCoverage(FaultReason.SPT5_ExecuteRequestDisabled)]
    public void ExecuteRequestWithEreClearFaultsSpt5()
    {
        var bench = new NestedBench();
        var fs = FirstStageTableBuilder.InHostMemory(bench.HostFrames);
        fs.Map(new Iova(0x7000), 0x3000_0000);
        bench.Tables.SetPasidEntry(NestedBench.Device, 1, PasidEntry.FirstStage(fs.Root, 2)); // ERE=0
        var read = bench.Read(0x7000) with { Pasid = 1 };
        Assert.True(bench.Unit.Translate(read).Success);
        var request = read with { Execute = true };

        FaultAssert.Recorded(bench.Unit, bench.Unit.Translate(request), FaultReason.SPT5_ExecuteRequestDisabled, request);
        Assert.True(FaultRecord.Read(bench.Unit).Execute);
    }

    [Fact]
    [FaultCoverage(FaultReason.SPT6_SupervisorRequestDisabled)]
    public void SupervisorRequestWithSreClearFaultsSpt6()
    {
        var bench = new NestedBench();
        var fs = FirstStageTableBuilder.InHostMemory(bench.HostFrames);
        fs.Map(new Iova(0x7000), 0x3000_0000);
        bench.Tables.SetPasidEntry(NestedBench.Device, 1, PasidEntry.FirstStage(fs.Root, 2)); // SRE=0
        var request = bench.Read(0x7000) with { Pasid = 1, Privileged = true };

        FaultAssert.Recorded(bench.Unit, bench.Unit.Translate(request), FaultReason.SPT6_SupervisorRequestDisabled, request);
        Assert.True(FaultRecord.Read(bench.Unit).Privileged);
    }

    [Fact]
    public void SupervisorCheckComesBeforeTheExecuteCheck()
    {
        // Decisions D11: with both SRE=0 and ERE=0, a supervisor execute request reports SPT.6.
        var bench = new NestedBench();
        var fs = FirstStageTableBuilder.InHostMemory(bench.HostFrames);
        bench.Tables.SetPasidEntry(NestedBench.Device, 1, PasidEntry.FirstStage(fs.Root, 2));
        var request = bench.Read(0x7000) with { Pasid = 1, Privileged = true, Execute = true };

        FaultAssert.Recorded(bench.Unit, bench.Unit.Translate(request), FaultReason.SPT6_SupervisorRequestDisabled, request);
    }
}
