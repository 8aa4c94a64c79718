using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Building;
using VtdSim.Hardware.Faults;
using VtdSim.Hardware.Memory;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Structures;
using VtdSim.Hardware.Tests.Support;
using VtdSim.Hardware.Translation;

namespace VtdSim.Hardware.Tests.Faults;

/// <summary>
/// First-stage-only (PGTT=001) faults: SFS.x and the SGN.x permission faults of the first stage (vtd-facts 3.1, 4.4,
/// 4.5), on the architectural unit (HAW 46, 4-level first stage, FS1GP).
/// </summary>
public class FirstStageFaultTests
{
    private const ulong Va = 0x7f12_3456_7000;
    private const ulong Page = 0x3000_0000;

    private sealed record Setup(NestedBench Bench, FirstStageTableBuilder Fs, uint Pasid)
    {
        public VtdUnit Unit => Bench.Unit;
        public MachineMemory Memory => Bench.Memory;
        /// <summary>A user-mode request with the bench's PASID.</summary>
        public DmaRequest Request(ulong va, DmaAccess access = DmaAccess.Read) => new(NestedBench.Device, new Iova(va), access, Pasid);
    }

    /// <summary>Device 00:01.0, PASID 1 → a first-stage table in host memory mapping <see cref="Va"/> → <see cref="Page"/>.</summary>
    private static Setup FirstStageOnly(Func<PasidEntry, PasidEntry>? adjust = null, bool writable = true, bool user = true, bool executeDisable = false, ulong page = Page)
    {
        var bench = new NestedBench();
        var fs = FirstStageTableBuilder.InHostMemory(bench.HostFrames);
        fs.Map(new Iova(Va), page, 4096, writable, user, executeDisable);
        PasidEntry entry = PasidEntry.FirstStage(fs.Root, 2);
        bench.Tables.SetPasidEntry(NestedBench.Device, 1, adjust?.Invoke(entry) ?? entry);
        return new Setup(bench, fs, 1);
    }

    [Fact]
    [FaultCoverage(FaultReason.SFS1_EntryAccessError)]
    public void LowerLevelTableThatCannotBeReadFaultsSfs1()
    {
        var s = FirstStageOnly();
        s.Memory.InjectError(s.Fs.EntryHpa(new Iova(Va), 2).PageBase, 4096); // the page directory
        var request = s.Request(Va);

        DmaFault fault = FaultAssert.Recorded(s.Unit, s.Unit.Translate(request), FaultReason.SFS1_EntryAccessError, request);
        Assert.Equal(2, fault.Level);
        FaultAssert.Explains(fault, $"the first-stage L2 entry at 0x{s.Fs.EntryHpa(new Iova(Va), 2).Value:x} cannot be read");
        Assert.Null(fault.Gpa); // a first-stage-only walk has no guest-physical address to name
    }

    [Theory]
    [InlineData(Va + 0x1000)]    // the PTE next to the mapped one
    [InlineData(0x1000)]         // an empty PML4 slot
    [FaultCoverage(FaultReason.SFS2_EntryNotPresent)]
    public void UnmappedAddressFaultsSfs2(ulong va)
    {
        var s = FirstStageOnly();
        var request = s.Request(va);

        DmaFault fault = FaultAssert.Recorded(s.Unit, s.Unit.Translate(request), FaultReason.SFS2_EntryNotPresent, request);
        FaultAssert.Explains(fault, $"address 0x{va:x} is not mapped: the first-stage L{fault.Level} entry at 0x{fault.EntryAddress?.Value:x} is not present");
        Assert.Null(fault.Gpa);
    }

    [Theory]
    [InlineData(4, 7)]   // PS is reserved in a PML4E
    [InlineData(4, 46)]  // address bit at HAW
    [InlineData(1, 51)]
    [FaultCoverage(FaultReason.SFS3_EntryReserved)]
    public void EntryWithAReservedBitFaultsSfs3(int level, int bit)
    {
        var s = FirstStageOnly();
        FaultTables.SetBit(s.Memory, s.Fs.EntryHpa(new Iova(Va), level), bit);
        var request = s.Request(Va);

        DmaFault fault = FaultAssert.Recorded(s.Unit, s.Unit.Translate(request), FaultReason.SFS3_EntryReserved, request);
        FaultAssert.Explains(fault, $"the first-stage L{level} entry at 0x{s.Fs.EntryHpa(new Iova(Va), level).Value:x} has reserved bits 0x{1UL << bit:x} set");
    }

    [Fact]
    [FaultCoverage(FaultReason.SFS3_EntryReserved)]
    public void TwoMegabytePageWithLowFrameBitsSetFaultsSfs3()
    {
        var bench = new NestedBench();
        var fs = FirstStageTableBuilder.InHostMemory(bench.HostFrames);
        fs.Map(new Iova(0x4000_0000), 0x2000_0000, 2UL << 20);
        bench.Tables.SetPasidEntry(NestedBench.Device, 0, PasidEntry.FirstStage(fs.Root, 2));
        FaultTables.SetBit(bench.Memory, fs.EntryHpa(new Iova(0x4000_0000), 2), 13); // bits 20:13 of a 2 MiB PDE
        var request = bench.Read(0x4000_0000);

        FaultAssert.Recorded(bench.Unit, bench.Unit.Translate(request), FaultReason.SFS3_EntryReserved, request);
    }

    [Fact]
    [FaultCoverage(FaultReason.SFS3_EntryReserved)]
    public void OneGibPageOnAUnitWithoutFs1gpFaultsSfs3NamingTheMissingCapability()
    {
        // PS=1 in a PDPTE is a 1 GiB page only where CAP.FS1GP says so; elsewhere the entry is malformed, and no bit
        // of it is a reserved bit as such: the explanation names the capability instead.
        var profile = BuiltInProfiles.Architectural with
        {
            Name = "architectural-without-fs1gp",
            Cap = BuiltInProfiles.Architectural.Cap.WithFirstStage1GiBPages(false),
        };
        var bench = new NestedBench(profile);
        var fs = FirstStageTableBuilder.InHostMemory(bench.HostFrames);
        fs.Map(new Iova(0x4000_0000), 0x4000_0000, 1UL << 30);
        bench.Tables.SetPasidEntry(NestedBench.Device, 0, PasidEntry.FirstStage(fs.Root, 2));
        var request = bench.Read(0x4000_0000);

        DmaFault fault = FaultAssert.Recorded(bench.Unit, bench.Unit.Translate(request), FaultReason.SFS3_EntryReserved, request);
        Assert.Equal(3, fault.Level);
        FaultAssert.Explains(fault, $"the first-stage L3 entry at 0x{fs.EntryHpa(new Iova(0x4000_0000), 3).Value:x} maps a 1 GiB page but CAP.FS1GP=0");
    }

    [Fact]
    [FaultCoverage(FaultReason.SFS4_TopLevelAccessError)]
    public void TopLevelTableThatCannotBeReadFaultsSfs4()
    {
        var s = FirstStageOnly();
        s.Memory.InjectError(new Hpa(s.Fs.Root), 4096);
        var request = s.Request(Va);

        DmaFault fault = FaultAssert.Recorded(s.Unit, s.Unit.Translate(request), FaultReason.SFS4_TopLevelAccessError, request);
        FaultAssert.Explains(fault, $"the first-stage L4 entry at 0x{s.Fs.EntryHpa(new Iova(Va), 4).Value:x} cannot be read");
    }

    [Fact]
    [FaultCoverage(FaultReason.SFS9_FlagUpdateNotSnooped)]
    public void AccessedFlagUpdateOnANonSnoopedWalkFaultsSfs9AndWritesNothing()
    {
        // The builder leaves A clear, so the first walk must set it; with PWSNP=0 hardware may not do the locked RMW.
        var s = FirstStageOnly(e => e.WithPageWalkSnoop(false));
        Hpa top = s.Fs.EntryHpa(new Iova(Va), 4);
        ulong before = s.Memory.Read64(top);
        var request = s.Request(Va);

        DmaFault fault = FaultAssert.Recorded(s.Unit, s.Unit.Translate(request), FaultReason.SFS9_FlagUpdateNotSnooped, request);
        Assert.Equal(before, s.Memory.Read64(top));
        FaultAssert.Explains(fault, $"the first-stage L4 entry at 0x{top.Value:x} needs A set but the walk is not snooped (PWSNP=0)");
    }

    /// <summary>
    /// SFS.9 names the flags the walk needed: A on a read (A/EA with EAFE=1, where EA goes with A), D in the leaf on a
    /// write whose path already has A.
    /// </summary>
    [Theory]
    [InlineData(false, false, 4, "A")]
    [InlineData(true, false, 4, "A/EA")]
    [InlineData(false, true, 1, "D")]
    [FaultCoverage(FaultReason.SFS9_FlagUpdateNotSnooped)]
    public void TheNonSnoopedFlagUpdateFaultNamesTheFlagsTheWalkNeeded(bool extendedAccessed, bool write, int level, string flags)
    {
        var s = FirstStageOnly(e => e.WithPageWalkSnoop(false).WithExtendedAccessedFlagEnable(extendedAccessed));
        if (write)
        {
            for (int l = 4; l >= 1; l--)
            {
                Hpa entry = s.Fs.EntryHpa(new Iova(Va), l);
                s.Memory.Write64(entry, s.Memory.Read64(entry) | FirstStageEntry.AccessedBit);
            }
        }
        var request = s.Request(Va, write ? DmaAccess.Write : DmaAccess.Read);

        DmaFault fault = FaultAssert.Recorded(s.Unit, s.Unit.Translate(request), FaultReason.SFS9_FlagUpdateNotSnooped, request);
        Assert.Equal(level, fault.Level);
        FaultAssert.Explains(fault, $"the first-stage L{level} entry at 0x{s.Fs.EntryHpa(new Iova(Va), level).Value:x} needs {flags} set but");
    }

    [Fact]
    public void NonSnoopedWalkSucceedsWhenNoFlagNeedsSetting()
    {
        // SFS.9 is about the flag update, not about PWSNP=0 as such: with A already set everywhere a read translates.
        var s = FirstStageOnly(e => e.WithPageWalkSnoop(false));
        for (int level = 4; level >= 1; level--)
        {
            Hpa entry = s.Fs.EntryHpa(new Iova(Va), level);
            s.Memory.Write64(entry, s.Memory.Read64(entry) | FirstStageEntry.AccessedBit);
        }

        var result = s.Unit.Translate(s.Request(Va));

        Assert.True(result.Success, result.Fault?.ToString());
        Assert.Equal(new Hpa(Page), result.Address);
    }

    [Fact]
    [FaultCoverage(FaultReason.SFS10_FlagUpdateFailed)]
    public void FailedAtomicFlagUpdateFaultsSfs10()
    {
        // The table page can be read but not written, so the locked A update fails.
        var s = FirstStageOnly();
        s.Memory.InjectError(s.Fs.EntryHpa(new Iova(Va), 3).PageBase, 4096, InjectedErrorKind.WritesOnly);
        var request = s.Request(Va);

        DmaFault fault = FaultAssert.Recorded(s.Unit, s.Unit.Translate(request), FaultReason.SFS10_FlagUpdateFailed, request);
        Assert.Equal(3, fault.Level);
        FaultAssert.Explains(fault, $"the atomic update setting A in the first-stage L3 entry at 0x{s.Fs.EntryHpa(new Iova(Va), 3).Value:x} failed");
    }

    [Theory]
    [InlineData(0x0000_8000_0000_0000)] // bit 47 set, 63:48 clear
    [InlineData(0xFFFF_0000_0000_0000)] // 63:48 set, bit 47 clear
    [InlineData(0x0001_0000_0000_0000)]
    [FaultCoverage(FaultReason.SGN1_NonCanonical)]
    public void NonCanonicalAddressFaultsSgn1(ulong va)
    {
        var s = FirstStageOnly();
        var request = s.Request(va);

        DmaFault fault = FaultAssert.Recorded(s.Unit, s.Unit.Translate(request), FaultReason.SGN1_NonCanonical, request);
        FaultAssert.Explains(fault, $"address 0x{va:x} is not canonical for 4-level (48-bit) first-stage paging");
    }

    [Fact]
    [FaultCoverage(FaultReason.SGN2_UserAccessToSupervisorPage)]
    public void UserRequestToASupervisorPageFaultsSgn2()
    {
        var s = FirstStageOnly(e => e.WithSupervisorRequestEnable(true), user: false);
        Assert.True(s.Unit.Translate(s.Request(Va) with { Privileged = true }).Success); // a supervisor request may
        var request = s.Request(Va);

        DmaFault fault = FaultAssert.Recorded(s.Unit, s.Unit.Translate(request), FaultReason.SGN2_UserAccessToSupervisorPage, request);
        Assert.False(FaultRecord.Read(s.Unit).Privileged);
        FaultAssert.Explains(fault, $"user request to 0x{Va:x}, but its first-stage path has U/S=0 (supervisor only)");
    }

    [Fact]
    [FaultCoverage(FaultReason.SGN3_ExecuteDenied)]
    public void ExecuteRequestToAnXdPageFaultsSgn3()
    {
        var s = FirstStageOnly(e => e.WithExecuteRequestEnable(true), executeDisable: true);
        Assert.True(s.Unit.Translate(s.Request(Va)).Success); // data reads are fine
        var request = s.Request(Va) with { Execute = true };

        DmaFault fault = FaultAssert.Recorded(s.Unit, s.Unit.Translate(request), FaultReason.SGN3_ExecuteDenied, request);
        Assert.True(FaultRecord.Read(s.Unit).Execute);
        FaultAssert.Explains(fault, $"execute request to 0x{Va:x}, which the first stage marks XD");
    }

    [Fact]
    [FaultCoverage(FaultReason.SGN6_WriteDenied)]
    public void WriteToAReadOnlyPageFaultsSgn6AndLeavesMemoryAndDirtyAlone()
    {
        var s = FirstStageOnly(writable: false);
        var request = s.Request(Va + 8, DmaAccess.Write);

        var result = s.Unit.DmaWrite(request, BitConverter.GetBytes(0x1122_3344_5566_7788UL));

        DmaFault fault = FaultAssert.Recorded(s.Unit, result, FaultReason.SGN6_WriteDenied, request);
        Assert.Equal(0UL, s.Memory.Read64(new Hpa(Page + 8)));
        // A user request: R/W=0 alone refuses it, and the explanation does not blame WPE.
        Assert.EndsWith($"write to 0x{Va + 8:x}, which the first stage maps read-only (R/W=0 on its path)", fault.Explanation);
        Assert.False(new FirstStageEntry(s.Memory.Read64(s.Fs.EntryHpa(new Iova(Va), 1))).Dirty);
    }

    [Fact]
    [FaultCoverage(FaultReason.SGN6_WriteDenied)]
    public void SupervisorWriteToAReadOnlyPageFaultsSgn6OnlyWithWpe()
    {
        // WPE=0 lets supervisor writes ignore R/W=0 (vtd-facts 4.6); WPE=1 makes them fault.
        var lax = FirstStageOnly(e => e.WithSupervisorRequestEnable(true), writable: false);
        Assert.True(lax.Unit.Translate(lax.Request(Va, DmaAccess.Write) with { Privileged = true }).Success);

        var strict = FirstStageOnly(e => e.WithSupervisorRequestEnable(true).WithWriteProtectEnable(true), writable: false);
        var request = strict.Request(Va, DmaAccess.Write) with { Privileged = true };
        DmaFault fault = FaultAssert.Recorded(strict.Unit, strict.Unit.Translate(request), FaultReason.SGN6_WriteDenied, request);
        FaultAssert.Explains(fault, $"write to 0x{Va:x}, which the first stage maps read-only (R/W=0 on its path, WPE=1)");
    }

    [Fact]
    [FaultCoverage(FaultReason.SGN8_InterruptAddress)]
    public void MappingIntoTheInterruptRangeFaultsSgn8()
    {
        var s = FirstStageOnly(page: 0xFEE0_0000);
        var request = s.Request(Va + 0x10, DmaAccess.Write);

        DmaFault fault = FaultAssert.Recorded(s.Unit, s.Unit.Translate(request), FaultReason.SGN8_InterruptAddress, request);
        FaultAssert.Explains(fault, $"0x{Va + 0x10:x} translates to 0xfee00010, inside the interrupt range 0xFEE00000-0xFEEFFFFF");
    }
}
