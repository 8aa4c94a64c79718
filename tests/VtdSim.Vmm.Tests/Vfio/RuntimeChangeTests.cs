using CsCheck;
using VtdSim.Hardware.Tests.Properties;
using VtdSim.Vmm.Machines;
using VtdSim.Vmm.Vfio;
using static VtdSim.Vmm.Tests.Support.VmmHosts;

namespace VtdSim.Vmm.Tests.Vfio;

/// <summary>BAR moves, PAM toggling and memory hot-add keep the IOAS equal to what the policy makes of the flat view.</summary>
public class RuntimeChangeTests
{
    private enum Op { Pam, VgaBar, PassthroughBar, HotAdd }

    private readonly record struct Step(Op Op, int A, int B);

    private static readonly Gen<Step> StepGen =
        Gen.Select(Gen.Int[0, 3], Gen.Int[0, 63], Gen.Int[0, 63], (op, a, b) => new Step((Op)op, a, b));

    private static readonly Gen<(int Policy, bool Xflts, Step[] Steps)> Cases =
        Gen.Select(Gen.Int[0, 2], Gen.Bool, StepGen.Array[1, 12], (p, x, s) => (p, x, s));

    private static readonly ErratumPolicy[] Running = [ErratumPolicy.Qemu72, ErratumPolicy.Qemu11, ErratumPolicy.NeverRo];

    [Fact]
    public void RandomChangeSequencesKeepTheIoasEqualToThePolicyAppliedToTheFlatView()
    {
        var kernel = Boot(Host("sapphire-rapids"));
        PropertyRunner.Run(Cases, c =>
        {
            ErratumPolicy policy = Running[c.Policy];
            bool xflts = c.Xflts && policy != ErratumPolicy.Qemu72;
            VmmOptions options = Options(policy, xflts, ram: 16UL << 20) with { Passthrough = [Nic, Gpu] };
            Vmm vmm = Vmm.Start(kernel, options);
            try
            {
                Assert.Equal(VmmState.Running, vmm.State);
                int dimms = 0;
                foreach (Step s in c.Steps)
                {
                    switch (s.Op)
                    {
                        case Op.Pam:
                            Assert.True(vmm.TrySetPam(s.A % PcMachine.PamSegments, (PamMode)(s.B % 4), out _));
                            break;
                        case Op.VgaBar:
                            Bar vram = vmm.Machine.Functions.First(f => f.Name == "VGA").Bars[0];
                            // Somewhere in the 32-bit PCI hole, or off (the guest clears Memory Space Enable).
                            ulong? at = s.A % 5 == 0 ? null : 0xc000_0000UL + (ulong)(s.A % 16) * vram.Size;
                            Assert.True(vmm.TryPlaceBar(vram, at, out _));
                            break;
                        case Op.PassthroughBar:
                            ulong? bar = s.A % 4 == 0 ? null : 0xd000_0000UL + (ulong)s.B * Vmm.PassthroughBarSize;
                            Assert.True(vmm.TryPlacePassthroughBar(s.A % 2, bar, out _));
                            break;
                        case Op.HotAdd:
                            // Above 4 GiB, 2 MiB to 8 MiB, sometimes over an earlier one (refused, nothing changes).
                            ulong gpa = 0x1_0000_0000UL + (ulong)(s.A % 8) * (4UL << 20);
                            bool added = vmm.TryHotAddMemory($"dimm{dimms}", gpa, (ulong)(1 + s.B % 4) * (2UL << 20), out string error);
                            if (added) dimms++;
                            else Assert.Contains("overlaps", error);
                            break;
                    }
                    Assert.Equal(VmmState.Running, vmm.State);
                    Assert.Equal(Expected(vmm.Machine.SystemMemory.Sections, policy, vmm.Container!.BypassRo), Actual(vmm));
                }
            }
            finally
            {
                vmm.Quit();
            }
            Assert.Equal(0, kernel.UserMemory.TotalPins);
        }, seed: 9, iterations: 40, print: c => $"{Running[c.Policy].Name()} x-flts={c.Xflts}: {string.Join(", ", c.Steps)}");
    }

    [Fact]
    public void APamToggleRemapsTheSegmentAndNothingElse()
    {
        var kernel = Boot(Host("sapphire-rapids"));
        Vmm vmm = Vmm.Start(kernel, Options(ErratumPolicy.Qemu72, xflts: false));
        const Kernel.Intel.IommuProt rw = Kernel.Intel.IommuProt.Read | Kernel.Intel.IommuProt.Write;
        Mapping At(ulong gpa) => Actual(vmm).Single(m => m.Iova <= gpa && gpa - m.Iova < m.Length);
        // SeaBIOS leaves 0xe8000-0xeffff read-write (segments 10 and 11, one section).
        Assert.Equal(new Mapping(0xe8000, 0x8000, rw), At(0xe8000));

        Assert.True(vmm.TrySetPam(10, PamMode.ReadOnly, out _));
        // The segment joins the read-only RAM below it (one section, so one mapping), READ only.
        Assert.Equal(Kernel.Intel.IommuProt.Read, At(0xe8000).Prot);
        Assert.Equal(0xec000UL, At(0xe8000).Iova + At(0xe8000).Length);
        Assert.Equal(new Mapping(0xec000, 0x4000, rw), At(0xec000));

        Assert.True(vmm.TrySetPam(10, PamMode.ReadWrite, out _));
        Assert.Equal(new Mapping(0xe8000, 0x8000, rw), At(0xe8000));
        Assert.False(vmm.TrySetPam(13, PamMode.ReadWrite, out string error));
        Assert.Equal("PAM segment 13 mode ReadWrite: there are 13 segments (0-12) with modes 0-3", error);
    }

    [Fact]
    public void PeerToPeerBarsAreAWarningOnceAndTheVmKeepsRunning()
    {
        var kernel = Boot(Host("sapphire-rapids"));
        Vmm vmm = Vmm.Start(kernel, Options(ErratumPolicy.Qemu11, xflts: true) with { Passthrough = [Nic, Gpu] });
        Assert.Same(vmm.Devices[0].Container, vmm.Devices[1].Container); // one container, one default HWPT
        Assert.True(vmm.TryPlacePassthroughBar(1, 0xd000_0000, out _));
        Assert.True(vmm.TryPlacePassthroughBar(0, 0xd010_0000, out _));
        Assert.Equal(VmmState.Running, vmm.State);
        Assert.Equal(4, vmm.Log.Lines.Count);
        Assert.Equal("qemu-system-x86_64: warning: IOMMU_IOAS_MAP failed: Bad address, PCI BAR?", vmm.Log.Lines[0]);
        Assert.Matches(@"^qemu-system-x86_64: warning: vfio_container_dma_map\(0x[0-9a-f]+, 0xd0000000, 0x100000, 0x7e0100000000\) = -14 \(Bad address\)$", vmm.Log.Lines[1]);
        Assert.Equal("0000:00:05.0: PCI peer-to-peer transactions on BARs are not supported.", vmm.Log.Lines[2]);
        Assert.Equal("qemu-system-x86_64: warning: IOMMU_IOAS_MAP failed: Bad address, PCI BAR?", vmm.Log.Lines[3]); // the second is reported once only
        Assert.DoesNotContain(Actual(vmm), m => m.Iova >= 0xd000_0000 && m.Iova < 0xe000_0000);
    }

    [Fact]
    public void SectionsNotAlignedToTheHostPageAreTrimmedOrRefusedAsQemuDoes()
    {
        var kernel = Boot(Host("sapphire-rapids"));
        Vmm vmm = Vmm.Start(kernel, Options(ErratumPolicy.Qemu72, xflts: false));
        var m = vmm.Machine.Memory;
        // Same offset within the page in the address space and in the region: trimmed to [0x2_0000_1000, 0x2_0000_2000).
        vmm.Machine.System.AddSubregion(m.Alias("trimmed", vmm.Machine.PcRam, 0x800, 0x1900), 0x2_0000_0800);
        Assert.Contains(new Mapping(0x2_0000_1000, 0x1000, Kernel.Intel.IommuProt.Read | Kernel.Intel.IommuProt.Write), Actual(vmm));
        // Different offsets within the page: QEMU cannot map it and says so.
        vmm.Machine.System.AddSubregion(m.Alias("skewed", vmm.Machine.PcRam, 0x400, 0x3000), 0x3_0000_0800);
        Assert.DoesNotContain(Actual(vmm), x => x.Iova >= 0x3_0000_0000 && x.Iova < 0x3_0001_0000);
        Assert.Equal("qemu-system-x86_64: vfio_listener_valid_section received unaligned region pc.ram iova=0x300000800 offset_within_region=0x400 qemu_real_host_page_size=0x1000",
            Assert.Single(vmm.Log.Lines));
        // Smaller than a page once trimmed: nothing.
        vmm.Machine.System.AddSubregion(m.Alias("tiny", vmm.Machine.PcRam, 0x100, 0x800), 0x4_0000_0100);
        Assert.DoesNotContain(Actual(vmm), x => x.Iova >= 0x4_0000_0000 && x.Iova < 0x4_0001_0000);
        Assert.Equal(Expected(vmm.Machine.SystemMemory.Sections, ErratumPolicy.Qemu72, false), Actual(vmm));
    }
}
