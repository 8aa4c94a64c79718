using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Registers;
using VtdSim.Hardware.Structures;
using VtdSim.Hardware.Translation;
using VtdSim.Kernel.Intel;
using VtdSim.Machine;

namespace VtdSim.Kernel.Tests;

/// <summary>
/// What the Intel driver offers depends on what the unit reports: domain formats and widths, nesting, dirty tracking,
/// pass-through and the stage-1 options of a nested domain. Each refusal has Linux's errno (and its log line).
/// </summary>
public class DriverCapabilityTests
{
    private static readonly VtdProfile Sr = BuiltInProfiles.SapphireRapids;

    // ECAP bits (spec 11.4.3).
    private const int Pt = 6, Nest = 26, Srs = 31, Eafs = 34, Ssads = 45, Ssts = 46;

    private static VtdProfile Sapphire(Func<ExtendedCapability, ExtendedCapability>? ecap = null, Func<Capability, Capability>? cap = null) =>
        Sr with { Name = "sapphire-rapids-variant", Ecap = ecap?.Invoke(Sr.Ecap) ?? Sr.Ecap, Cap = cap?.Invoke(Sr.Cap) ?? Sr.Cap };

    private static readonly IntelIommuOptions SecondStageDefault = IntelIommuOptions.Default with { FirstStageByDefault = false };

    [Fact]
    public void PagingFlagsTheDriverDoesNotKnowAreEopnotsupp()
    {
        var bench = new KernelBench();
        Assert.Equal(Errno.EOPNOTSUPP, bench.Driver.AllocPaging((PagingDomainFlags)0x4, out var domain));
        Assert.Null(domain);
    }

    [Fact]
    public void ANestParentNeedsAUnitWithNesting()
    {
        var bench = new KernelBench(BuiltInProfiles.Qemu72Legacy);
        Assert.Equal(Errno.EOPNOTSUPP, bench.Driver.AllocPaging(PagingDomainFlags.NestParent, out _));
    }

    [Fact]
    public void DirtyTrackingNeedsSecondStageAccessedDirty()
    {
        var bench = new KernelBench(Sapphire(e => e.With(Ssads, false)));
        Assert.False(bench.Driver.DirtyTrackingSupported);
        Assert.Equal(Errno.EOPNOTSUPP, AllocDirty(bench));
    }

    [Fact]
    public void AUnitWithoutASecondStageOffersNoDirtyTrackingNoNestingAndOnlyFirstStageDomains()
    {
        // SSTS clear (and NEST with it, which needs both stages): the A/D bits alone do not make dirty tracking.
        var noSecondStage = Sapphire(e => e.With(Ssts, false).With(Nest, false)) with { Erratum772415 = false };
        var bench = new KernelBench(noSecondStage);
        Assert.Equal(Errno.EOPNOTSUPP, AllocDirty(bench));
        Assert.Equal(Errno.Success, bench.Driver.AllocPaging(PagingDomainFlags.None, out var domain));
        Assert.Equal(PagingFormat.FirstStage, domain!.Format);

        var secondStageFirst = new KernelBench(noSecondStage, SecondStageDefault);
        Assert.Equal(Errno.EOPNOTSUPP, secondStageFirst.Driver.AllocPaging(PagingDomainFlags.None, out _));
    }

    private static Errno AllocDirty(KernelBench bench) => bench.Driver.AllocPaging(PagingDomainFlags.DirtyTracking, out _);

    [Fact]
    public void ADomainWithoutAPageForItsRootIsEnomem()
    {
        var bench = new KernelBench();
        while (bench.Pages.TryAllocate() is not null) { }
        Assert.Equal(Errno.ENOMEM, bench.Driver.AllocPaging(PagingDomainFlags.None, out var domain));
        Assert.Null(domain);
    }

    [Theory]
    [InlineData(true, 5)]
    [InlineData(false, 4)]
    public void FirstStageTablesHaveFiveLevelsWhereTheUnitWalksThem(bool fiveLevel, int levels)
    {
        var bench = new KernelBench(Sapphire(cap: c => c.WithFirstStage5LevelPaging(fiveLevel)));
        Assert.Equal(Errno.Success, bench.Driver.AllocPaging(PagingDomainFlags.None, out var domain));
        Assert.Equal(PagingFormat.FirstStage, domain!.Format);
        Assert.Equal(levels, domain.Levels);
    }

    [Theory]
    [InlineData(0b01100, 57, 5)]  // 4- and 5-level SAGAW, 57-bit MGAW: the widest
    [InlineData(0b00100, 48, 4)]  // 4-level only
    [InlineData(0b00010, 39, 3)]  // 3-level only: 39 bits
    [InlineData(0b01100, 39, 4)]  // 5-level offered, but only with an MGAW of at least 48 bits
    public void SecondStageTablesTakeTheWidestAddressWidthTheUnitSupports(int sagaw, int mgaw, int levels)
    {
        var bench = new KernelBench(Sapphire(cap: c => c.WithSupportedAdjustedGuestAddressWidths(sagaw).WithMaximumGuestAddressWidth(mgaw)), SecondStageDefault);
        Assert.Equal(Errno.Success, bench.Driver.AllocPaging(PagingDomainFlags.None, out var domain));
        Assert.Equal(levels, domain!.Levels);
        Assert.Equal(Errno.Success, bench.Driver.Attach(KernelBench.Device, domain));
        bench.Machine.Memory.Write(new Hpa(0x4000_0000), "ss"u8);
        Assert.Equal(Errno.Success, domain.Map(0x10_0000, 0x4000_0000, 0x1000, IommuProt.Read));
        var buffer = new byte[2];
        Assert.Null(bench.DmaRead(0x10_0000, buffer).Fault);
        Assert.Equal("ss"u8.ToArray(), buffer);
    }

    [Fact]
    public void ANestedDomainNeedsANestParentOnAUnitWithNesting()
    {
        var s1 = new VtdS1Config(VtdS1Flags.None, 0x1000, 48);
        var legacy = new KernelBench(BuiltInProfiles.Qemu72Legacy);
        Assert.Equal(Errno.Success, legacy.Driver.AllocPaging(PagingDomainFlags.None, out var plain));
        Assert.Equal(Errno.EOPNOTSUPP, legacy.Driver.AllocNested(plain!, s1, out _));

        var bench = new KernelBench(Sr, SecondStageDefault);
        Assert.Equal(Errno.Success, bench.Driver.AllocPaging(PagingDomainFlags.None, out var notParent));
        Assert.Equal(Errno.EINVAL, bench.Driver.AllocNested(notParent!, s1, out var nested));
        Assert.Null(nested);
        Assert.Equal(Errno.EINVAL, bench.Driver.AllocNested(bench.Driver.Identity, s1, out _));
        Assert.Empty(notParent!.Children);
    }

    public static TheoryData<string, Func<ExtendedCapability, ExtendedCapability>?, Func<Capability, Capability>?, VtdS1Flags, uint, string> RefusedStage1 => new()
    {
        { "5-level", null, c => c.WithFirstStage5LevelPaging(false), VtdS1Flags.None, 57, "DMAR: 5-level paging not supported" },
        { "39-bit", null, null, VtdS1Flags.None, 39, "DMAR: Invalid stage-1 address width 39" },
        { "SRE", e => e.With(Srs, false), null, VtdS1Flags.SupervisorRequestEnable, 48, "DMAR: No supervisor request support on dmar0" },
        { "EAFE", e => e.With(Eafs, false), null, VtdS1Flags.ExtendedAccessedFlagEnable, 48, "DMAR: No extended access flag support on dmar0" },
    };

    [Theory]
    [MemberData(nameof(RefusedStage1))]
    public void AStage1TheUnitCannotWalkIsRefusedAtAttachWithEinval(string what, Func<ExtendedCapability, ExtendedCapability>? ecap,
        Func<Capability, Capability>? cap, VtdS1Flags flags, uint width, string logLine)
    {
        var bench = new KernelBench(Sapphire(ecap, cap));
        Assert.Equal(Errno.Success, bench.Driver.AllocPaging(PagingDomainFlags.NestParent, out var parent));
        Assert.Equal(Errno.Success, bench.Driver.AllocNested(parent!, new VtdS1Config(flags, 0x1000, width), out var nested));
        Assert.Equal(Errno.EINVAL, bench.Driver.Attach(KernelBench.Device, nested!));
        Assert.True(bench.Log.Lines.Contains(logLine), what);
        Assert.Same(bench.Driver.Blocked, bench.Driver.DomainOf(KernelBench.Device));
        Assert.Equal(0, bench.Driver.DomainIdsInUse);
    }

    [Fact]
    public void AStage1WithEveryOptionTheUnitOffersIsAttached()
    {
        var bench = new KernelBench();
        Assert.Equal(Errno.Success, bench.Driver.AllocPaging(PagingDomainFlags.NestParent, out var parent));
        var flags = VtdS1Flags.SupervisorRequestEnable | VtdS1Flags.ExtendedAccessedFlagEnable | VtdS1Flags.WriteProtectEnable;
        Assert.Equal(Errno.Success, bench.Driver.AllocNested(parent!, new VtdS1Config(flags, 0x1000, 57), out var nested));
        Assert.Equal(Errno.Success, bench.Driver.Attach(KernelBench.Device, nested!));
        var entry = bench.Driver.Unit.ReadPasidEntry(KernelBench.Device, IntelIommuDriver.RidPasid);
        Assert.Equal(PasidGranularTranslationType.Nested, entry.Pgtt);
    }

    [Fact]
    public void PassThroughNeedsTheUnitToOfferIt()
    {
        var bench = new KernelBench(Sapphire(e => e.With(Pt, false)));
        Assert.Equal(Errno.EINVAL, bench.Driver.Attach(KernelBench.Device, bench.Driver.Identity));
        Assert.Same(bench.Driver.Blocked, bench.Driver.DomainOf(KernelBench.Device));
    }

    [Theory]
    [InlineData(0b00100)]  // 4-level only
    [InlineData(0b00010)]  // 3-level only
    public void LegacyPassThroughCoversTheWidestAddressTheUnitTranslates(int sagaw)
    {
        var q = BuiltInProfiles.Qemu72Legacy;
        var bench = new KernelBench(q with { Name = "qemu-7.2-sagaw", Cap = q.Cap.WithSupportedAdjustedGuestAddressWidths(sagaw) });
        Assert.Equal(Errno.Success, bench.Driver.Attach(KernelBench.Device, bench.Driver.Identity));
        bench.Machine.Memory.Write(new Hpa(0x7_4000_0000), "pt"u8);
        var buffer = new byte[2];
        Assert.Null(bench.DmaRead(0x7_4000_0000, buffer).Fault);    // the same address, untranslated
        Assert.Equal("pt"u8.ToArray(), buffer);
    }

    [Fact]
    public void DirtyTrackingOnADomainNotAllocatedForItIsEopnotsupp()
    {
        var bench = new KernelBench(Sr, SecondStageDefault);
        Assert.Equal(Errno.Success, bench.Driver.AllocPaging(PagingDomainFlags.None, out var domain));
        Assert.Equal(Errno.EOPNOTSUPP, bench.Driver.SetDirtyTracking(domain!, true));
        Assert.False(domain!.DirtyTrackingEnabled);
    }

    [Fact]
    public void ADomainInUseCannotBeFreed()
    {
        var bench = new KernelBench();
        Assert.Equal(Errno.Success, bench.Driver.AllocPaging(PagingDomainFlags.NestParent, out var parent));
        Assert.Equal(Errno.Success, bench.Driver.Attach(KernelBench.Device, parent!));
        Assert.Throws<InvalidOperationException>(() => bench.Driver.Free(parent!));    // a device is attached
        Assert.Equal(Errno.Success, bench.Driver.Attach(KernelBench.Device, bench.Driver.Blocked));
        Assert.Equal(Errno.Success, bench.Driver.AllocNested(parent!, new VtdS1Config(VtdS1Flags.None, 0x1000, 48), out var nested));
        Assert.Throws<InvalidOperationException>(() => bench.Driver.Free(parent!));    // a nested domain is built on it
        bench.Driver.Free(nested!);
        bench.Driver.Free(parent!);
        Assert.Empty(parent!.Children);
    }

    [Fact]
    public void AFunctionsPasidCountIsItsOwnWidthCappedByTheUnits()
    {
        var bench = new KernelBench();
        var none = new SourceId(0, 4, 0);
        var wide = new SourceId(0, 5, 0);
        bench.Machine.AddFunction(new PciFunction(none, "no PASID", PasidWidth: 0));
        bench.Machine.AddFunction(new PciFunction(wide, "32-bit PASID", PasidWidth: 32));
        Assert.Equal(0u, bench.Driver.MaxPasids(none));
        Assert.Equal(0u, bench.Driver.MaxPasids(new SourceId(0, 9, 0)));   // no such function
        Assert.Equal(1u << 20, bench.Driver.MaxPasids(wide));               // the unit's 20 bits
        Assert.Equal(1u << 20, bench.Driver.MaxPasids(KernelBench.Device));
    }

    [Fact]
    public void ADriverThatWasNotProbedSaysSo()
    {
        var machine = PhysicalMachine.Host(Sr, 1UL << 32);
        var driver = new IntelIommuDriver(machine, new VtdSim.Kernel.Memory.PageAllocator(machine, new Hpa(0x10_0000), 1UL << 20), new KernelLog());
        var e = Assert.Throws<InvalidOperationException>(() => driver.ScalableMode);
        Assert.Equal("the Intel IOMMU driver has not been probed", e.Message);
    }
}
