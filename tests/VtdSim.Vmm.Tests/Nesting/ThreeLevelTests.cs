using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Caches;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Translation;
using VtdSim.Kernel;
using VtdSim.Vmm.Machines;
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
        string? l2Iommu = null, bool enforceErratum = true, bool l2Defaults = false)
    {
        LinuxKernel host = NestingSupport.Host(profile, new Kernel.Intel.IntelIommuOptions { EnforceErratum772415 = enforceErratum });
        Vmm l1 = Vmm.Start(host, Options(l1Policy) with { Name = "l1" });
        Assert.Equal(VmmState.Running, l1.State);
        LinuxKernel l1Kernel = BootGuest(l1);
        Vmm l2 = Vmm.Start(l1Kernel, L2Options(l1, l2Policy, l2Iommu, l2Defaults));
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
