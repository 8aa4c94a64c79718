using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Caches;
using VtdSim.Hardware.Memory;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Translation;
using VtdSim.Hardware.Registers;
using VtdSim.Kernel;
using VtdSim.Kernel.Intel;
using VtdSim.Kernel.Iommufd;
using VtdSim.Kernel.Process;
using VtdSim.Vmm.Machines;
using VtdSim.Vmm.Memory;
using VtdSim.Vmm.Nesting;
using VtdSim.Vmm.Vfio;
using static VtdSim.Vmm.Tests.Guest.GuestSupport;
using static VtdSim.Vmm.Tests.Nesting.NestingSupport;
using static VtdSim.Vmm.Tests.Support.VmmHosts;

namespace VtdSim.Vmm.Tests.Nesting;

/// <summary>
/// L0 / L1 / L2 in one run (issue 10): a host function assigned to L1 under an x-flts vIOMMU, then by L1's VMM — on
/// the L1 guest kernel, whose iommufd sits on that vIOMMU — to L2. The seed thread's claims about L1 and L2, run.
/// </summary>
public class ThreeLevelTests
{
    [Fact]
    public void AnL2DevicesDmaIsOneNestedHostWalkIntoTheHostFrameBehindTheL2Gpa()
    {
        ThreeLevels run = ThreeLevels.Start(BuiltInProfiles.SapphireRapids);
        Vmm l1 = run.L1, l2 = run.L2;

        // L1's VMM made a paging domain of L1's kernel on the L0 vIOMMU: a first-stage one (the vIOMMU has no second
        // stage), which L0's VMM bound on the host as a nested HWPT over its nest parent.
        Assert.Equal(NestingAttachment.FirstStage, Assert.Single(l1.NestingBindings).Attachment);
        Assert.Empty(l1.Log.Lines);
        Assert.Empty(l2.Log.Lines);

        var gpa2 = new Gpa(0x0234_5678);
        Hpa inL1 = HostAddressOf(l2, gpa2);                      // L2 GPA → L1 GPA (the L2 VMM's page in L1)
        Hpa frame = HostAddressOf(l1, new Gpa(inL1.Value));      // L1 GPA → HPA (the L1 VMM's page on the host)
        CacheStatistics hostIotlb = Iotlb(run.Host.Machine.HardwareIommu!);
        long misses = hostIotlb.Misses, hits = hostIotlb.Hits;
        CacheStatistics viommuIotlb = Iotlb(l1.VIommu!);
        long viommuLookups = viommuIotlb.Misses + viommuIotlb.Hits;

        DmaTransferResult w = l2.GuestMachine.Dma.Write(new DmaRequest(run.L2Device, new Iova(gpa2.Value), DmaAccess.Write), BitConverter.GetBytes(0x0123_4567_89ab_cdefUL));

        Assert.True(w.Completed, w.ToString());
        Assert.Equal(0x0123_4567_89ab_cdefUL, run.Host.Machine.Memory.Read64(frame));
        // One walk in the host hardware (an IOTLB miss, then a fill), none in the L0 vIOMMU (the host walked L1's
        // first stage itself); the walk is a 2-D one for the host function.
        Assert.Equal(misses + 1, hostIotlb.Misses);
        Assert.Equal(hits, hostIotlb.Hits);
        Assert.Equal(viommuLookups, viommuIotlb.Misses + viommuIotlb.Hits);
        TranslationResult t = run.Host.Machine.HardwareIommu!.Translate(new DmaRequest(Nic, new Iova(gpa2.Value), DmaAccess.Read));
        Assert.Equal(TranslationKind.Nested, t.Kind);
        Assert.Equal(frame, t.Address);

        // And a read by the device returns what an L2 CPU store put there.
        l2.GuestMachine.Write(new Hpa(gpa2.Value + 8), 8, 0x5a5a_0000_1111_2222);
        var bytes = new byte[8];
        Assert.True(l2.GuestMachine.Dma.Read(new DmaRequest(run.L2Device, new Iova(gpa2.Value + 8), DmaAccess.Read), bytes).Completed);
        Assert.Equal(0x5a5a_0000_1111_2222UL, BitConverter.ToUInt64(bytes));
        run.Quit();
    }

    /// <summary>
    /// Alex Williamson's question ("how would lack of read-only mapping support be conveyed to those nested use
    /// cases?"), run: an L1 VMM that wants x-flts for L2 asks L1's kernel what the unit is and for a nest parent. The
    /// L0 vIOMMU reports VT-d with a first stage only (no NEST, no second stage) — and the erratum flag, which Linux
    /// sets for every unit — and refuses NEST_PARENT with EOPNOTSUPP; QEMU stops the L2 VM with its text and leaves
    /// nothing behind. The read-only question never comes up: there is no nest parent to refuse a read-only map.
    /// </summary>
    [Theory]
    [InlineData(ErratumPolicy.Qemu11)]
    [InlineData(ErratumPolicy.WantsNestingMapsRo)]
    [InlineData(ErratumPolicy.NeverRo)]
    public void AnL1VmmThatAsksForNestingFindsNoNestOnTheL0VIommuAndItsVmDoesNotStart(ErratumPolicy policy)
    {
        ThreeLevels run = ThreeLevels.Start(BuiltInProfiles.SapphireRapids, l2Policy: policy, l2Iommu: Properties);
        Vmm l2 = run.L2;

        Assert.Equal(VmmState.Failed, l2.State);
        Assert.Equal(
            "qemu-system-x86_64: -device vfio-pci,host=0000:00:01.0,iommufd=iommufd0: vfio 0000:00:01.0: Failed to allocate hwpt: Operation not supported",
            Assert.Single(l2.Log.Lines));
        Assert.True(Unbound(run.L1Kernel, run.L1.Devices[0].Guest!.Value)); // nothing left in L1's kernel
        Assert.Equal(0, run.L1Kernel.UserMemory.TotalPins);

        // What it got, asked by hand: IOMMU_GET_HW_INFO and IOMMU_HWPT_ALLOC on L1's iommufd.
        ProcessAddressSpace app = run.L1Kernel.CreateProcess("probe");
        IommufdContext fd = run.L1Kernel.OpenIommufd(app);
        Assert.Equal(Errno.Success, fd.DeviceBind(run.L1.Devices[0].Guest!.Value, out uint dev));
        var info = new byte[VtdUapi.HwInfoSize];
        uint length = (uint)info.Length;
        HwInfoType type = HwInfoType.Default;
        Assert.Equal(Errno.Success, fd.GetHwInfo(dev, ref length, info, ref type, out _, out HwCapabilities caps));
        Assert.Equal(HwInfoType.IntelVtd, type);
        Assert.Equal((HwCapabilities)0, caps & HwCapabilities.DirtyTracking); // no second stage, no SS A/D
        VtdHwInfo vtd = VtdUapi.DecodeHwInfo(info);
        Assert.Equal(VtdHwInfo.Errata772415Spr17, vtd.Flags);
        var ecap = new ExtendedCapability(vtd.EcapReg);
        Assert.Equal((true, true, false, false), (ecap.ScalableModeTranslation, ecap.FirstStageTranslation, ecap.SecondStageTranslation, ecap.NestedTranslation));
        Assert.Equal(run.L1.VIommu!.ReadRegister64(RegisterOffset.ECAP), vtd.EcapReg);
        Assert.Equal(Errno.Success, fd.IoasAlloc(0, out uint ioas));
        Assert.Equal(Errno.EOPNOTSUPP, fd.HwptAlloc(dev, ioas, HwptAllocFlags.NestParent, out _));
        Assert.Equal(Errno.EOPNOTSUPP, fd.HwptAlloc(dev, ioas, HwptAllocFlags.DirtyTracking, out _));
        Assert.Equal(Errno.Success, fd.HwptAlloc(dev, ioas, 0, out uint paging)); // a first-stage domain
        Assert.Equal(PagingFormat.FirstStage, fd.Get<HwptPaging>(paging)!.PagingDomain.Format);
        fd.Close();
        run.Quit();
    }

    /// <summary>
    /// Kevin Tian's answer, run: what an L1 VMM without x-flts falls back to — caching-mode shadowing of L2's
    /// second-stage (scalable) or legacy tables into an IOAS of L1's kernel, whose paging domain on the L0 vIOMMU is a
    /// first-stage one. A read-only map by the L2 guest is shadowed read-only and accepted at every level; the L2
    /// device reads through it and its write faults; read-write maps take writes into the right host frame. The L2
    /// vIOMMU has aw-bits=39: with 48, QEMU 11's host check refuses it (next test).
    /// </summary>
    [Theory]
    [InlineData("x-scalable-mode=on,caching-mode=on,aw-bits=39")]
    [InlineData("caching-mode=on,aw-bits=39")]
    public void WithoutNestingAnL1VmmShadowsL2sTablesIntoFirstStageDomainsWhereReadOnlyMapsAreFine(string l2Iommu)
    {
        ThreeLevels run = ThreeLevels.Start(BuiltInProfiles.SapphireRapids, l2Iommu: l2Iommu);
        Vmm l2 = run.L2;
        Assert.True(l2.State == VmmState.Running, l2.Log.ToString());
        const ulong iova = 0x100_0000, roIova = 0x200_0000;
        GuestUser user = MapForDevice(l2, iova, 0x2000);
        Assert.Equal(Errno.Success, user.App.Mmap(0x1000, MemoryProtection.ReadWrite, out Uva ro));
        Assert.Equal(Errno.Success, user.App.Write64(ro, 0x0dd0_f00d));
        ulong at = roIova;
        Assert.Equal(Errno.Success, user.Fd.IoasMap(user.Ioas, IoasMapFlags.Readable | IoasMapFlags.FixedIova, ro, 0x1000, ref at));

        ShadowBinding shadow = Assert.Single(l2.ShadowBindings);
        Assert.True(shadow.Active);
        Assert.False(Assert.Single(run.L1.ShadowBindings).Active); // L1's device is nested by L0's VMM, not shadowed
        Assert.Equal(NestingAttachment.FirstStage, Assert.Single(run.L1.NestingBindings).Attachment);
        // L1's shadow HWPT is a first-stage domain of L1's kernel, and it holds the read-only map read-only.
        IommufdContext l1Fd = l2.Container!.Iommufd;
        Assert.Equal(PagingFormat.FirstStage, l1Fd.Get<HwptPaging>(shadow.HwptId ?? l2.Container.HwptId!.Value)!.PagingDomain.Format);
        Assert.Contains(l1Fd.Get<Ioas>(shadow.IoasId!.Value)!.Areas, a => a.Iova == roIova && a.Prot == IommuProt.Read);

        var bytes = new byte[8];
        Assert.True(l2.GuestMachine.Dma.Read(new DmaRequest(user.Device, new Iova(roIova), DmaAccess.Read), bytes).Completed);
        Assert.Equal(0x0dd0_f00dUL, BitConverter.ToUInt64(bytes));
        Hpa roFrame = L2HostFrame(run, user.App, ro);
        DmaTransferResult refused = l2.GuestMachine.Dma.Write(new DmaRequest(user.Device, new Iova(roIova), DmaAccess.Write), BitConverter.GetBytes(1UL));
        Assert.False(refused.Completed);
        Assert.Equal(0x0dd0_f00dUL, run.Host.Machine.Memory.Read64(roFrame));

        Assert.True(l2.GuestMachine.Dma.Write(new DmaRequest(user.Device, new Iova(iova + 0x1008), DmaAccess.Write), BitConverter.GetBytes(0x77UL)).Completed);
        Assert.Equal(0x77UL, run.Host.Machine.Memory.Read64(L2HostFrame(run, user.App, user.Buffer + 0x1008)));
        Assert.Empty(l2.Log.Lines);
        Assert.Empty(run.L1.Log.Lines);
        run.Quit();
    }

    /// <summary>
    /// The fallback's catch (decision N60): L1's paging domains are first-stage ones, whose aperture is the lower half
    /// of a 48-bit space (sign-extended addresses), so the IOAS of L1's VMM ends at 2^47 − 1 and QEMU 11's aw-bits check
    /// refuses a vIOMMU for L2 with its default aw-bits of 48 — in legacy and scalable mode alike.
    /// </summary>
    [Theory]
    [InlineData("x-scalable-mode=on,caching-mode=on")]
    [InlineData("caching-mode=on")]
    public void AnL2VIommuWithQemu11sDefault48AwBitsIsWiderThanL1sFirstStageDomains(string l2Iommu)
    {
        ThreeLevels run = ThreeLevels.Start(BuiltInProfiles.SapphireRapids, l2Iommu: l2Iommu);
        Assert.Equal(VmmState.Failed, run.L2.State);
        Assert.Equal(
            "qemu-system-x86_64: -device vfio-pci,host=0000:00:01.0,iommufd=iommufd0: vfio 0000:00:01.0: Failed to set vIOMMU: aw-bits 48 > host aw-bits 47",
            Assert.Single(run.L2.Log.Lines));
        Assert.True(Unbound(run.L1Kernel, run.L1.Devices[0].Guest!.Value));
        run.Quit();
    }

    /// <summary>
    /// Kevin Tian's "only L0 QEMU needs to care about this RO thing in stage-2", run on an erratum host with the rule:
    /// L0's VMM (QEMU 11) bypasses L1's read-only sections in its nest parent, L1's VMM maps L2's read-only sections
    /// (the BIOS, the VGA BIOS) read-only into L1's first-stage domain — accepted, nothing logged at any level — and
    /// DMAs by the L2 device read them and cannot write them: no byte behind a read-only section of L1 or L2 changes.
    /// </summary>
    [Theory]
    [InlineData(ErratumPolicy.Qemu11)]
    [InlineData(ErratumPolicy.Qemu72)]
    public void L1sReadOnlyMapsIntoItsFirstStageDomainsAreAcceptedOnAnErratumHostAndNothingIsWritten(ErratumPolicy l2Policy)
    {
        ThreeLevels run = ThreeLevels.Start(BuiltInProfiles.SapphireRapids, l2Policy: l2Policy, defaults: true);
        Vmm l1 = run.L1, l2 = run.L2;
        Assert.True(l2.State == VmmState.Running, l2.Log.ToString());
        Assert.True(l1.Container!.BypassRo);
        Assert.Equal(Expected(l1.Machine.SystemMemory.Sections, ErratumPolicy.Qemu11, bypassRo: true), Actual(l1));
        List<Mapping> l2Maps = Actual(l2);
        Assert.Equal(Expected(l2.Machine.SystemMemory.Sections, l2Policy, bypassRo: false), l2Maps);
        Assert.Contains(l2Maps, m => m.Iova == 0xc0000 && m.Prot == IommuProt.Read); // the VGA BIOS, read-only

        AssertReadOnlyPagesHoldAgainstTheL2Device(run);
        Assert.Empty(l1.Log.Lines);
        Assert.Empty(l2.Log.Lines);
        Assert.DoesNotContain(run.Host.Log.Lines.Concat(run.L1Kernel.Log.Lines), l => l.Contains("Read-only mapping is disallowed", StringComparison.Ordinal));

        // An L1 kernel that puts its first-stage table on its own VGA BIOS gets nothing from the erratum here: L0's
        // VMM never mapped that page in the nest parent, so the host walk faults and the page stays as it was.
        Hpa l1Rom = HostAddressOf(l1, new Gpa(0xc0000));
        MoveFirstStageTable(l1, l1.Devices[0].Guest!.Value, 0xc0000);
        byte[] before = ReadFrame(run, l1Rom);
        DmaTransferResult r = l2.GuestMachine.Dma.Write(new DmaRequest(run.L2Device, new Iova(0x10_0000), DmaAccess.Write), BitConverter.GetBytes(1UL));
        Assert.False(r.Completed);
        Assert.Equal(before, ReadFrame(run, l1Rom));
        Assert.Empty(l1.GuestTableWrites);
        run.Quit();
    }

    /// <summary>
    /// The same on an L0 whose kernel lacks the rule (before 6.7) and whose VMM maps L1's ROM read-only into the nest
    /// parent (wants-nesting-maps-ro): L1's and L2's read-only maps still change nothing — the host writes A/D only into
    /// L1's first-stage tables, which are L1 RAM. The corruption appears exactly where the thread says: once an L1
    /// first-stage table lies in a page L0's second stage maps read-only (L1's VGA BIOS), the erratum host writes it,
    /// and L0's VMM reports it; on the architectural unit the walk faults instead.
    /// </summary>
    [Theory]
    [InlineData("sapphire-rapids", true)]
    [InlineData("architectural", false)]
    public void OnAnL0WithoutTheRuleTheErratumWritesOnlyAnL1FirstStageTableInL0sReadOnlySecondStage(string profile, bool erratum)
    {
        ThreeLevels run = ThreeLevels.Start(BuiltInProfiles.Find(profile), l1Policy: ErratumPolicy.WantsNestingMapsRo, enforceErratum: false, defaults: true);
        Vmm l1 = run.L1, l2 = run.L2;
        Assert.True(l2.State == VmmState.Running, l2.Log.ToString());
        Assert.Equal(Expected(l1.Machine.SystemMemory.Sections, ErratumPolicy.WantsNestingMapsRo, bypassRo: false), Actual(l1));

        AssertReadOnlyPagesHoldAgainstTheL2Device(run);
        Assert.Empty(l1.GuestTableWrites);
        Assert.Empty(l2.GuestTableWrites);

        Hpa l1Rom = HostAddressOf(l1, new Gpa(0xc0000));
        MoveFirstStageTable(l1, l1.Devices[0].Guest!.Value, 0xc0000);
        byte[] before = ReadFrame(run, l1Rom);
        DmaTransferResult r = l2.GuestMachine.Dma.Write(new DmaRequest(run.L2Device, new Iova(0x10_0000), DmaAccess.Write), BitConverter.GetBytes(1UL));
        byte[] after = ReadFrame(run, l1Rom);
        if (erratum)
        {
            Assert.True(r.Completed, r.ToString());
            Assert.NotEqual(before, after);
            GuestTableWrite w = Assert.Single(l1.GuestTableWrites);
            Assert.Equal((new Gpa(0xc0000), l1Rom, 4), (new Gpa(w.EntryGpa.Value & ~0xFFFUL), w.HostFrame, w.Level));
        }
        else
        {
            Assert.False(r.Completed);
            Assert.Equal(before, after);
            Assert.Empty(l1.GuestTableWrites);
        }
        Assert.Empty(l2.GuestTableWrites);
        run.Quit();
    }

    /// <summary>
    /// Every page of a read-only RAM or ROM section of L2 (mapped read-only by L1's VMM), read and then written by the
    /// L2 device: reads return L2's bytes, writes are refused, and no host frame behind a read-only section of L1 or
    /// L2 is written by anyone — the IOMMU's A/D updates included.
    /// </summary>
    private static void AssertReadOnlyPagesHoldAgainstTheL2Device(ThreeLevels run)
    {
        Vmm l1 = run.L1, l2 = run.L2;
        var guarded = new HashSet<ulong>();
        foreach (ulong gpa in ReadOnlyPages(l1)) guarded.Add(HostAddressOf(l1, new Gpa(gpa)).Value);
        List<ulong> l2Pages = ReadOnlyPages(l2);
        Assert.NotEmpty(l2Pages);
        foreach (ulong gpa in l2Pages) guarded.Add(L2Frame(run, gpa).Value);
        var snapshot = guarded.ToDictionary(f => f, f => ReadFrame(run, new Hpa(f)));
        var hits = new List<MemoryWrite>();
        using (run.Host.Machine.Memory.ObserveWrites(new Hpa(0), run.Host.Machine.Memory.Size, w =>
               {
                   if (guarded.Contains(w.Address.Value & ~0xFFFUL)) hits.Add(w);
               }))
        {
            var bytes = new byte[8];
            var held = new byte[8];
            foreach (ulong gpa in l2Pages)
            {
                ulong at = gpa + 0x10;
                Assert.True(l2.GuestMachine.Dma.Read(new DmaRequest(run.L2Device, new Iova(at), DmaAccess.Read), bytes).Completed, $"read 0x{at:x}");
                Assert.True(l2.TryReadGuest(new Gpa(at), held));
                Assert.Equal(held, bytes);
                Assert.False(l2.GuestMachine.Dma.Write(new DmaRequest(run.L2Device, new Iova(at), DmaAccess.Write), BitConverter.GetBytes(~0UL)).Completed, $"write 0x{at:x}");
            }
            Assert.True(l2.GuestMachine.Dma.Write(new DmaRequest(run.L2Device, new Iova(0x20_0000), DmaAccess.Write), BitConverter.GetBytes(0x42UL)).Completed);
            Assert.Equal(0x42UL, run.Host.Machine.Memory.Read64(L2Frame(run, 0x20_0000)));
        }
        Assert.Empty(hits);
        foreach (var (frame, bytes) in snapshot) Assert.Equal(bytes, ReadFrame(run, new Hpa(frame)));
    }

    /// <summary>
    /// The resident pages of a VMM's read-only RAM and ROM sections (what its listener maps read-only; a page never
    /// touched has no frame yet that anyone could write).
    /// </summary>
    private static List<ulong> ReadOnlyPages(Vmm vmm) =>
        vmm.Machine.SystemMemory.Sections
            .Where(s => s.ReadOnly && s.Kind is RegionKind.Ram or RegionKind.Rom && s.Size >= 0x1000)
            .SelectMany(s => Enumerable.Range(0, (int)((ulong)s.Size / 0x1000)).Select(i => ((s.Start + 0xFFF) & ~0xFFFUL) + (ulong)i * 0x1000))
            .Where(p => vmm.Resolve(new Gpa(p)) is { IsRam: true, UserVa: Uva va } && vmm.Process.Translate(va) is not null)
            .ToList();

    private static Hpa L2Frame(ThreeLevels run, ulong gpa) => HostAddressOf(run.L1, new Gpa(HostAddressOf(run.L2, new Gpa(gpa)).Value));

    private static byte[] ReadFrame(ThreeLevels run, Hpa frame)
    {
        var bytes = new byte[0x1000];
        run.Host.Machine.Memory.Read(frame, bytes);
        return bytes;
    }

    /// <summary>The host frame behind an L2 guest process's address: L2's page table, the L2 VMM's, the L1 VMM's.</summary>
    private static Hpa L2HostFrame(ThreeLevels run, ProcessAddressSpace l2Process, Uva va) =>
        HostAddressOf(run.L1, new Gpa(HostAddressOf(run.L2, l2Process, va).Value));

    private static CacheStatistics Iotlb(Hardware.VtdUnit unit) => unit.CacheReports().First(r => r.Name == "iotlb").Statistics;
}

/// <summary>
/// The three levels: a host (L0) with the NIC, an L1 VMM (QEMU 11, x-flts vIOMMU) with the NIC passed through and its
/// guest kernel booted, and an L2 VMM on that kernel with L1's function passed through (no vIOMMU in L2 unless asked).
/// </summary>
internal sealed record ThreeLevels(LinuxKernel Host, Vmm L1, LinuxKernel L1Kernel, Vmm L2)
{
    /// <summary>The passthrough device's requester id on L2's bus.</summary>
    public SourceId L2Device => L2.Devices[0].Guest!.Value;

    public static ThreeLevels Start(VtdProfile profile, ErratumPolicy l1Policy = ErratumPolicy.Qemu11, ErratumPolicy l2Policy = ErratumPolicy.Qemu11,
        string? l2Iommu = null, bool enforceErratum = true, bool defaults = false, IReadOnlyList<Machine.PciFunction>? l1Functions = null)
    {
        LinuxKernel host = NestingSupport.Host(profile, new Kernel.Intel.IntelIommuOptions { EnforceErratum772415 = enforceErratum });
        Vmm l1 = Vmm.Start(host, Options(l1Policy, defaults: defaults) with { Name = "l1" });
        Assert.Equal(VmmState.Running, l1.State);
        foreach (Machine.PciFunction f in l1Functions ?? []) l1.GuestMachine.AddFunction(f); // emulated functions of L1
        LinuxKernel l1Kernel = BootGuest(l1);
        Vmm l2 = Vmm.Start(l1Kernel, L2Options(l1, l2Policy, l2Iommu, defaults));
        return new ThreeLevels(host, l1, l1Kernel, l2);
    }

    /// <summary>What L1's VMM is started with: q35, 64 MiB, the L1 function passed through, intel-iommu as given.</summary>
    public static VmmOptions L2Options(Vmm l1, ErratumPolicy policy, string? iommu = null, bool defaults = false) => new VmmOptions
    {
        Name = "l2",
        Machine = new MachineOptions { Type = MachineType.Q35, RamSize = 64UL << 20, Booted = true, Defaults = defaults },
        ErratumPolicy = policy,
        Passthrough = [l1.Devices[0].Guest!.Value],
    }.WithIntelIommu(iommu is null ? null : IntelIommu(iommu));

    public void Quit()
    {
        L2.Quit();
        L1.Quit();
        Assert.Equal(0, Host.UserMemory.TotalPins);
    }
}
