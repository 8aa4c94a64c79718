using System.Text.RegularExpressions;
using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Faults;
using VtdSim.Hardware.Translation;
using VtdSim.Kernel.Iommufd;
using VtdSim.Vmm.Memory;
using VtdSim.Vmm.Tests.Support;
using VtdSim.Vmm.Vfio;
using static VtdSim.Vmm.Tests.Support.VmmHosts;

namespace VtdSim.Vmm.Tests.Vfio;

/// <summary>Each erratum policy on each host, with x-flts on and off: what is mapped, skipped, refused, and said (F1–F8).</summary>
public class ErratumPolicyTests
{
    public static TheoryData<string, string, bool> Matrix()
    {
        var data = new TheoryData<string, string, bool>();
        foreach (string policy in new[] { "qemu-7.2", "qemu-11", "wants-nesting-maps-ro", "never-ro" })
            foreach (string host in new[] { "sapphire-rapids", "architectural" })
                foreach (bool xflts in new[] { false, true })
                    data.Add(policy, host, xflts);
        return data;
    }

    [Theory]
    [MemberData(nameof(Matrix))]
    public void PolicyHostAndXfltsGiveTheOutcomeTheTableSays(string policyName, string host, bool xflts)
    {
        Assert.True(ErratumPolicies.TryParse(policyName, out ErratumPolicy policy, out _));
        var kernel = Boot(Host(host));
        // The Intel driver builds the device's context and PASID tables on first attach and keeps them (as Linux):
        // a first VM that comes and goes leaves those, and every later one must leave nothing at all.
        Vmm.Start(kernel, Options(ErratumPolicy.Qemu72, xflts: false)).Quit();
        Counts before = Take(kernel);

        Vmm vmm = Vmm.Start(kernel, Options(policy, xflts));

        // The host does not enter into it: Linux reports the erratum flag on every VT-d unit and refuses read-only maps
        // in every nest parent (F5), so the outcome depends on the policy and x-flts only.
        if (policy == ErratumPolicy.Qemu72 && xflts)
        {
            Assert.Equal(VmmState.Failed, vmm.State);
            Assert.Equal(["qemu-system-x86_64: -device intel-iommu,x-scalable-mode=on,x-flts=on,caching-mode=on: Property 'intel-iommu.x-flts' not found"], vmm.Log.Lines);
            Assert.Equal(before, Take(kernel));
            return;
        }
        if (policy == ErratumPolicy.WantsNestingMapsRo && xflts)
        {
            Assert.Equal(VmmState.Failed, vmm.State);
            // At realize the map is at reset: the first read-only section in address order is pc.rom at 0xc0000.
            string line = Assert.Single(vmm.Log.Lines);
            Assert.Matches(new Regex(@"^qemu-system-x86_64: -device vfio-pci,host=0000:00:04\.0,iommufd=iommufd0: vfio 0000:00:04\.0: " +
                                     @"memory listener initialization failed: Region pc\.rom: vfio_container_dma_map\(0x[0-9a-f]+, 0xc0000, 0x20000, 0x[0-9a-f]+\) = -22 \(Invalid argument\)$"), line);
            Assert.Contains(kernel.Log.Lines, l => l == "DMAR: Read-only mapping is disallowed on the domain which serves as the parent in a nested configuration, due to HW errata (ERRATA_772415_SPR17)");
            // Nothing is left behind: folios, pins, kernel pages as before (the erratum lines are the only new log lines).
            Counts after = Take(kernel);
            Assert.Equal(before with { KernelLogLines = after.KernelLogLines }, after);
            Assert.True(Unbound(kernel, Nic));
            return;
        }

        Assert.Equal(VmmState.Running, vmm.State);
        Assert.Empty(vmm.Log.Lines);
        VfioContainer c = vmm.Container!;
        bool nest = xflts; // every policy but qemu-7.2 asks for a nest parent exactly when the vIOMMU wants nesting
        if (policy == ErratumPolicy.Qemu72)
        {
            Assert.Null(c.HwptId);
        }
        else
        {
            Assert.Equal(nest, (c.HwptFlags & HwptAllocFlags.NestParent) != 0);
            Assert.True((c.HwptFlags & HwptAllocFlags.DirtyTracking) != 0, "both hosts offer second-stage A/D");
        }
        Assert.Equal(policy == ErratumPolicy.Qemu11 && xflts, c.BypassRo);
        Assert.Equal(Expected(vmm.Machine.SystemMemory.Sections, policy, c.BypassRo), Actual(vmm));
        Assert.DoesNotContain(kernel.Log.Lines, l => l.Contains("ERRATA_772415_SPR17", StringComparison.Ordinal));

        vmm.Quit();
        Assert.Equal(before, Take(kernel));
        Assert.True(Unbound(kernel, Nic));
    }

    [Fact]
    public void Qemu11SkipsExactlyTheReadOnlySectionsOfTheFlatView()
    {
        var kernel = Boot(Host("sapphire-rapids"));
        Vmm vmm = Vmm.Start(kernel, Options(ErratumPolicy.Qemu11, xflts: true));
        Assert.Equal(VmmState.Running, vmm.State);

        var ramSections = vmm.Machine.SystemMemory.Sections.Where(s => s.Region.Kind is RegionKind.Ram or RegionKind.Rom).ToList();
        var mapped = Actual(vmm).Select(m => m.Iova).ToHashSet();
        var skipped = ramSections.Where(s => !mapped.Contains(s.Start)).Select(s => (s.Start, s.Region.Name)).ToList();
        var readOnly = ramSections.Where(s => s.ReadOnly).Select(s => (s.Start, s.Region.Name)).ToList();
        Assert.Equal(readOnly, skipped);
        // After SeaBIOS: the shadowed VGA BIOS (read-only guest RAM, the seed's "vbios") and the BIOS at the top of 4 GiB.
        Assert.Contains((0xc0000UL, "pc.ram"), skipped);
        Assert.Contains((0xfffc0000UL, "pc.bios"), skipped);
        Assert.All(Actual(vmm), m => Assert.Equal(IommuProtRw, m.Prot));
    }

    private const Kernel.Intel.IommuProt IommuProtRw = Kernel.Intel.IommuProt.Read | Kernel.Intel.IommuProt.Write;

    [Theory]
    [InlineData("sapphire-rapids")]
    [InlineData("architectural")]
    public void ADmaToASkippedGpaFaultsInTheHostsSecondStageAndToRamSeesTheVmmsBytes(string host)
    {
        var kernel = Boot(Host(host));
        Vmm vmm = Vmm.Start(kernel, Options(ErratumPolicy.Qemu11, xflts: true));
        var port = kernel.Machine.Dma;
        var buffer = new byte[16];

        // The shadowed VGA BIOS is read-only guest RAM: not mapped, so the device's read faults in the nest parent.
        DmaTransferResult r = port.Read(new DmaRequest(Nic, new Iova(0xc0000), DmaAccess.Read), buffer);
        Assert.Equal(FaultReason.SSS2_EntryNotPresent, r.Fault?.Reason);
        Assert.Equal(0, r.BytesTransferred);

        // Mapped RAM: one byte, one truth between the device and the VMM's process.
        ulong gpa = 0x123_4560;
        var va = vmm.Resolve(new Gpa(gpa)).UserVa!.Value;
        Assert.Equal(Kernel.Errno.Success, vmm.Process.Write(va, "written by the VMM"u8[..16]));
        Assert.True(port.Read(new DmaRequest(Nic, new Iova(gpa), DmaAccess.Read), buffer).Completed);
        Assert.Equal("written by the VMM"u8[..16].ToArray(), buffer);
        Assert.True(port.Write(new DmaRequest(Nic, new Iova(gpa + 0x1000), DmaAccess.Write), "DMA by the device"u8).Completed);
        var seen = new byte[17];
        Assert.Equal(Kernel.Errno.Success, vmm.Process.Read(vmm.Resolve(new Gpa(gpa + 0x1000)).UserVa!.Value, seen));
        Assert.Equal("DMA by the device"u8.ToArray(), seen);
        // ... and the host frame behind the process page is the one the IOMMU wrote.
        Assert.Equal(kernel.Machine.Memory.Read64(vmm.Process.Translate(vmm.Resolve(new Gpa(gpa + 0x1000)).UserVa!.Value)!.Value), BitConverter.ToUInt64(seen));
    }

    [Fact]
    public void UnderQemu72TheBiosIsReadableButNotWritableByTheDeviceAndUnderNeverRoItIsBoth()
    {
        var kernel = Boot(Host("sapphire-rapids"));
        Vmm old = Vmm.Start(kernel, Options(ErratumPolicy.Qemu72, xflts: false));
        var port = kernel.Machine.Dma;
        var bios = new byte[7];
        Assert.True(port.Read(new DmaRequest(Nic, new Iova(0xfffc0000), DmaAccess.Read), bios).Completed);
        Assert.Equal("pc.bios"u8.ToArray(), bios);
        DmaTransferResult w = port.Write(new DmaRequest(Nic, new Iova(0xfffc0000), DmaAccess.Write), "XXXXXXX"u8);
        Assert.NotNull(w.Fault);
        old.Quit();

        // never-ro maps the ROM read-write: nesting works, and the price is that a device can rewrite the guest's BIOS.
        Vmm neverRo = Vmm.Start(kernel, Options(ErratumPolicy.NeverRo, xflts: true));
        Assert.Equal(VmmState.Running, neverRo.State);
        Assert.True(port.Write(new DmaRequest(Nic, new Iova(0xfffc0000), DmaAccess.Write), "XXXXXXX"u8).Completed);
        Assert.True(neverRo.TryReadGuest(new Gpa(0xfffc0000), bios));
        Assert.Equal("XXXXXXX"u8.ToArray(), bios);
    }
}
