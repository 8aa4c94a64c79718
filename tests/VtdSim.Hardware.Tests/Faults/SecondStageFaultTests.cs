using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Faults;
using VtdSim.Hardware.Memory;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Structures;
using VtdSim.Hardware.Tests.Support;
using VtdSim.Hardware.Translation;

namespace VtdSim.Hardware.Tests.Faults;

/// <summary>
/// Second-stage-only (PGTT=010) faults: SSS.x and the SGN.x permission and width faults of the second stage
/// (vtd-facts 3.2, 4.2, 4.5; decisions D6), on the architectural unit with a 4-level (48-bit) second stage.
/// </summary>
public class SecondStageFaultTests
{
    private const ulong Gpa0 = 0x40_0000;
    private const ulong Page = 0x3000_0000;

    /// <summary>Device 00:01.0's RID_PASID (0) → a 4-level second stage mapping <see cref="Gpa0"/> → <paramref name="page"/>.</summary>
    private static NestedBench SecondStageOnly(Func<PasidEntry, PasidEntry>? adjust = null, bool read = true, bool write = true, bool execute = false,
        ulong page = Page, uint pasid = 0)
    {
        var bench = new NestedBench();
        bench.SecondStage.Map(new Gpa(Gpa0), new Hpa(page), 4096, read, write, execute);
        PasidEntry entry = PasidEntry.SecondStage(bench.SecondStage.Root, bench.SecondStage.AddressWidth, 1);
        bench.Tables.SetPasidEntry(NestedBench.Device, pasid, adjust?.Invoke(entry) ?? entry);
        return bench;
    }

    [Fact]
    [FaultCoverage(FaultReason.SSS1_EntryAccessError)]
    public void LowerLevelTableThatCannotBeReadFaultsSss1()
    {
        var bench = SecondStageOnly();
        bench.Memory.InjectError(bench.SecondStage.EntryAddress(new Gpa(Gpa0), 1).PageBase, 4096);
        var request = bench.Read(Gpa0);

        DmaFault fault = FaultAssert.Recorded(bench.Unit, bench.Unit.Translate(request), FaultReason.SSS1_EntryAccessError, request);
        Assert.Equal(1, fault.Level);
        FaultAssert.Explains(fault, $"the second-stage L1 entry at 0x{bench.SecondStage.EntryAddress(new Gpa(Gpa0), 1).Value:x} for GPA 0x{Gpa0:x} cannot be read");
    }

    [Theory]
    [InlineData(Gpa0 + 0x1000)]
    [InlineData(0x80_0000_0000)] // an empty PML4 slot
    [FaultCoverage(FaultReason.SSS2_EntryNotPresent)]
    public void UnmappedGpaFaultsSss2(ulong gpa)
    {
        var bench = SecondStageOnly();
        var request = bench.Write(gpa);

        FaultAssert.Recorded(bench.Unit, bench.Unit.Translate(request), FaultReason.SSS2_EntryNotPresent, request);
    }

    [Theory]
    [InlineData(4, 7)]   // PS is reserved in a PML4E
    [InlineData(3, 11)]  // bit 11 is reserved in non-leaf entries
    [InlineData(2, 62)]  // so is bit 62
    [InlineData(1, 46)]  // address bit at HAW
    [FaultCoverage(FaultReason.SSS3_EntryReserved)]
    public void EntryWithAReservedBitFaultsSss3(int level, int bit)
    {
        var bench = SecondStageOnly();
        FaultTables.SetBit(bench.Memory, bench.SecondStage.EntryAddress(new Gpa(Gpa0), level), bit);
        var request = bench.Read(Gpa0);

        DmaFault fault = FaultAssert.Recorded(bench.Unit, bench.Unit.Translate(request), FaultReason.SSS3_EntryReserved, request);
        FaultAssert.Explains(fault, $"the second-stage L{level} entry at 0x{bench.SecondStage.EntryAddress(new Gpa(Gpa0), level).Value:x} for GPA 0x{Gpa0:x} has reserved bits 0x{1UL << bit:x} set");
    }

    [Fact]
    public void SnoopAndTransientMappingBitsAreNotReservedInLeavesWhenTheUnitHasScAndDt()
    {
        // The architectural unit has ECAP.SC and ECAP.DT, so SNP (11) and TM (62) are defined leaf bits here.
        var bench = SecondStageOnly();
        Hpa leaf = bench.SecondStage.EntryAddress(new Gpa(Gpa0), 1);
        bench.Memory.Write64(leaf, bench.Memory.Read64(leaf) | SecondStageEntry.SnoopBit | SecondStageEntry.TransientMappingBit);

        Assert.True(bench.Unit.Translate(bench.Read(Gpa0)).Success);
    }

    [Fact]
    [FaultCoverage(FaultReason.SSS4_RootAccessError)]
    public void RootTableThatCannotBeReadFaultsSss4()
    {
        var bench = SecondStageOnly();
        bench.Memory.InjectError(bench.SecondStage.Root, 4096);
        var request = bench.Read(Gpa0);

        DmaFault fault = FaultAssert.Recorded(bench.Unit, bench.Unit.Translate(request), FaultReason.SSS4_RootAccessError, request);
        FaultAssert.Explains(fault, $"the second-stage L4 entry at 0x{bench.SecondStage.EntryAddress(new Gpa(Gpa0), 4).Value:x} for GPA 0x{Gpa0:x} cannot be read");
    }

    [Fact]
    [FaultCoverage(FaultReason.SSS5_FlagUpdateNotSnooped)]
    public void AccessedFlagUpdateOnANonSnoopedWalkFaultsSss5AndWritesNothing()
    {
        // SSADE=1 makes the walk set A; the builder leaves A clear; PWSNP=0 forbids the locked update.
        var bench = SecondStageOnly(e => e.WithSecondStageAccessedDirtyEnable(true).WithPageWalkSnoop(false));
        Hpa root = bench.SecondStage.EntryAddress(new Gpa(Gpa0), 4);
        ulong before = bench.Memory.Read64(root);
        var request = bench.Read(Gpa0);

        DmaFault fault = FaultAssert.Recorded(bench.Unit, bench.Unit.Translate(request), FaultReason.SSS5_FlagUpdateNotSnooped, request);
        Assert.Equal(before, bench.Memory.Read64(root));
        FaultAssert.Explains(fault, "the second-stage L4 entry needs its A flag set but the walk is not snooped (PWSNP=0)");
    }

    [Fact]
    [FaultCoverage(FaultReason.SSS5_FlagUpdateNotSnooped)]
    public void DirtyFlagUpdateOnANonSnoopedWalkFaultsSss5NamingD()
    {
        // A already set on the whole path: a read needs nothing, a write needs D in the leaf.
        var bench = SecondStageOnly(e => e.WithSecondStageAccessedDirtyEnable(true).WithPageWalkSnoop(false));
        for (int level = 4; level >= 1; level--)
        {
            Hpa entry = bench.SecondStage.EntryAddress(new Gpa(Gpa0), level);
            bench.Memory.Write64(entry, bench.Memory.Read64(entry) | SecondStageEntry.AccessedBit);
        }
        Assert.True(bench.Unit.Translate(bench.Read(Gpa0)).Success);
        var request = bench.Write(Gpa0);

        DmaFault fault = FaultAssert.Recorded(bench.Unit, bench.Unit.Translate(request), FaultReason.SSS5_FlagUpdateNotSnooped, request);
        Assert.Equal(1, fault.Level);
        FaultAssert.Explains(fault, "the second-stage L1 entry needs its D flag set but the walk is not snooped (PWSNP=0)");
    }

    [Fact]
    [FaultCoverage(FaultReason.SSS3_EntryReserved)]
    public void PsInALevel3EntryOfAUnitWithout1GibPagesFaultsSss3NamingTheCapability()
    {
        var profile = BuiltInProfiles.Architectural with
        {
            Name = "architectural-without-1g-ss-pages",
            Cap = BuiltInProfiles.Architectural.Cap.WithSecondStageLargePages(twoMiB: true, oneGiB: false),
        };
        var bench = new NestedBench(profile);
        bench.SecondStage.Map(new Gpa(Gpa0), new Hpa(Page));
        bench.Tables.SetPasidEntry(NestedBench.Device, 0, PasidEntry.SecondStage(bench.SecondStage.Root, bench.SecondStage.AddressWidth, 1));
        Hpa pdpte = bench.SecondStage.EntryAddress(new Gpa(Gpa0), 3);
        FaultTables.SetBit(bench.Memory, pdpte, 7);
        var request = bench.Read(Gpa0);

        DmaFault fault = FaultAssert.Recorded(bench.Unit, bench.Unit.Translate(request), FaultReason.SSS3_EntryReserved, request);
        FaultAssert.Explains(fault, $"the second-stage L3 entry at 0x{pdpte.Value:x} for GPA 0x{Gpa0:x} has PS=1 at level 3, a page size CAP.SSLPS does not offer");
    }

    [Fact]
    public void NonSnoopedWalkWithoutSsadeNeedsNoFlagUpdate()
    {
        var bench = SecondStageOnly(e => e.WithPageWalkSnoop(false));

        Assert.True(bench.Unit.Translate(bench.Write(Gpa0)).Success);
    }

    [Fact]
    [FaultCoverage(FaultReason.SSS6_FlagUpdateFailed)]
    public void FailedAtomicFlagUpdateFaultsSss6()
    {
        var bench = SecondStageOnly(e => e.WithSecondStageAccessedDirtyEnable(true));
        bench.Memory.InjectError(bench.SecondStage.EntryAddress(new Gpa(Gpa0), 2).PageBase, 4096, InjectedErrorKind.WritesOnly);
        var request = bench.Read(Gpa0);

        DmaFault fault = FaultAssert.Recorded(bench.Unit, bench.Unit.Translate(request), FaultReason.SSS6_FlagUpdateFailed, request);
        Assert.Equal(2, fault.Level);
        FaultAssert.Explains(fault, $"the atomic update of the second-stage L2 entry at 0x{bench.SecondStage.EntryAddress(new Gpa(Gpa0), 2).Value:x} failed");
    }

    [Fact]
    [FaultCoverage(FaultReason.SGN3_ExecuteDenied)]
    public void ExecuteRequestToANonExecutablePageFaultsSgn3WithSsee()
    {
        // With SSEE=1 the second stage's X bit governs execute requests (vtd-facts 2.5, 4.4).
        var bench = SecondStageOnly(e => e.WithSecondStageExecuteEnable(true), execute: false, pasid: 1);
        var request = bench.Read(Gpa0) with { Pasid = 1, Execute = true };

        DmaFault fault = FaultAssert.Recorded(bench.Unit, bench.Unit.Translate(request), FaultReason.SGN3_ExecuteDenied, request);
        FaultAssert.Explains(fault, $"execute request to GPA 0x{Gpa0:x}, which the second stage maps without X (SSEE=1)");
    }

    /// <summary>
    /// An execute request is a read with ER=1, so a page the second stage maps with neither R nor X (present through W)
    /// lacks two rights. The read check comes first: SGN.7, the fault the same request gets with SSEE=0, where X is not
    /// consulted at all (decisions D32). With R=1 and X=0 it is SGN.3 (above); with X=1 and R=0, SGN.7 as well.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void AnExecuteReadOfAPageWithoutReadPermissionFaultsSgn7WhateverItsX(bool execute)
    {
        var bench = SecondStageOnly(e => e.WithSecondStageExecuteEnable(true).WithExecuteRequestEnable(true), read: false, write: true, execute: execute, pasid: 1);
        var request = bench.Read(Gpa0) with { Pasid = 1, Execute = true };

        FaultAssert.Recorded(bench.Unit, bench.Unit.Translate(request), FaultReason.SGN7_ReadDenied, request);
    }

    [Theory]
    [InlineData(1UL << 48)]             // first GPA beyond a 4-level (48-bit) second stage
    [InlineData(0xFFFF_FFFF_FFFF_F000)]
    [FaultCoverage(FaultReason.SGN5_AddressBeyondGuestWidth)]
    public void GpaBeyondTheSecondStageWidthFaultsSgn5(ulong gpa)
    {
        var bench = SecondStageOnly();
        var request = bench.Read(gpa);

        DmaFault fault = FaultAssert.Recorded(bench.Unit, bench.Unit.Translate(request), FaultReason.SGN5_AddressBeyondGuestWidth, request);
        FaultAssert.Explains(fault, $"GPA 0x{gpa:x} is beyond the second stage's input limit 0xffffffffffff");
    }

    [Fact]
    [FaultCoverage(FaultReason.SGN6_WriteDenied)]
    public void WriteToAReadOnlyPageFaultsSgn6AndLeavesMemoryAlone()
    {
        var bench = SecondStageOnly(write: false);
        var request = bench.Write(Gpa0);

        var result = bench.Unit.DmaWrite(request, new byte[] { 0xFF, 0xFF });

        DmaFault fault = FaultAssert.Recorded(bench.Unit, result, FaultReason.SGN6_WriteDenied, request);
        Assert.Equal(0UL, bench.Memory.Read64(new Hpa(Page)));
        FaultAssert.Explains(fault, $"write to 0x{Gpa0:x}, which the second stage maps read-only");
        Assert.False(FaultRecord.Read(bench.Unit).T1); // T1=0, T2=0: write
    }

    [Fact]
    [FaultCoverage(FaultReason.SGN7_ReadDenied)]
    public void ReadOfAWriteOnlyPageFaultsSgn7()
    {
        var bench = SecondStageOnly(read: false, write: true);
        var request = bench.Read(Gpa0);

        FaultAssert.Recorded(bench.Unit, bench.Unit.Translate(request), FaultReason.SGN7_ReadDenied, request);
    }

    [Fact]
    [FaultCoverage(FaultReason.SGN7_ReadDenied)]
    public void AtomicOpOnAWriteOnlyPageFaultsSgn7()
    {
        // An AtomicOp needs both rights (vtd-facts 4.4); here only W is granted.
        var bench = SecondStageOnly(read: false, write: true);
        var request = new DmaRequest(NestedBench.Device, new Iova(Gpa0), DmaAccess.AtomicOp);

        FaultAssert.Recorded(bench.Unit, bench.Unit.Translate(request), FaultReason.SGN7_ReadDenied, request);
    }

    [Fact]
    [FaultCoverage(FaultReason.SGN8_InterruptAddress)]
    public void MappingIntoTheInterruptRangeFaultsSgn8()
    {
        var bench = SecondStageOnly(page: 0xFEE0_0000);
        var request = bench.Write(Gpa0);

        DmaFault fault = FaultAssert.Recorded(bench.Unit, bench.Unit.Translate(request), FaultReason.SGN8_InterruptAddress, request);
        FaultAssert.Explains(fault, $"GPA 0x{Gpa0:x} translates to 0xfee00000, inside the interrupt range 0xFEE00000-0xFEEFFFFF");
    }
}
