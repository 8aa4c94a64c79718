using CsCheck;
using VtdSim.Hardware.Tests.Properties;
using VtdSim.Vmm.Machines;
using VtdSim.Vmm.Memory;
using VtdSim.Vmm.Pci;
using VtdSim.Vmm.Tests.Support;

namespace VtdSim.Vmm.Tests.Pci;

/// <summary>BARs that move when the guest programs them: the flat view follows, as QEMU's pci_update_mappings (E6, E7).</summary>
public class BarMappingTests
{
    private const int Vga = 0x08, Nic = 0x10;

    private sealed class Recorder : IMemoryListener
    {
        public readonly List<(bool Add, MemorySection Section)> Events = [];
        public readonly List<MemorySection> Mirror = [];

        public void RegionDel(in MemorySection section)
        {
            Events.Add((false, section));
            Assert.True(Mirror.Remove(section));
        }

        public void RegionAdd(in MemorySection section)
        {
            Events.Add((true, section));
            Mirror.Add(section);
        }
    }

    private static PcMachine Q35() => PcMachine.Create(new MachineOptions { Type = MachineType.Q35, RamSize = 1UL << 30 });

    private static MemorySection? At(AddressSpace space, ulong address) => space.Find(address);

    [Fact]
    public void ProgrammingABarWithMemoryDecodingOnMovesItsRegionAndTheListenerSeesDeletionThenAddition()
    {
        PcMachine m = Q35();
        var recorder = new Recorder();
        m.SystemMemory.AddListener(recorder);
        m.SetCfg(Vga, 0x10, 0xe0000000);
        Assert.DoesNotContain(m.SystemMemory.Sections, s => s.Region.Name == "vga.vram"); // decoding still off
        recorder.Events.Clear();
        m.SetCfg(Vga, 0x04, PciConfigSpace.CommandMemory);
        Assert.Equal("vga.vram", At(m.SystemMemory, 0xe0000000)!.Value.Region.Name);
        Assert.Equal(0xe0000000UL, m.Functions.Single(f => f.DevFn == Vga).Bars[0].Address);

        recorder.Events.Clear();
        m.SetCfg(Vga, 0x10, 0xe1000000);
        Assert.Equal("vga.vram", At(m.SystemMemory, 0xe1000000)!.Value.Region.Name);
        Assert.Contains(recorder.Events, e => !e.Add && e.Section.Start == 0xe0000000 && e.Section.Region.Name == "vga.vram");
        Assert.Contains(recorder.Events, e => e.Add && e.Section.Start == 0xe1000000 && e.Section.Region.Name == "vga.vram");
        int firstAdd = recorder.Events.FindIndex(e => e.Add);
        Assert.True(recorder.Events.Skip(firstAdd).All(e => e.Add)); // QEMU's two passes: deletions, then additions
        Assert.Equal(m.SystemMemory.Sections.OrderBy(s => s.Start), recorder.Mirror.OrderBy(s => s.Start));

        m.SetCfg(Vga, 0x04, 0); // memory decoding off: every memory BAR of the function leaves the view
        Assert.DoesNotContain(m.SystemMemory.Sections, s => s.Region.Name == "vga.vram");
        Assert.Null(m.Functions.Single(f => f.DevFn == Vga).Bars[0].Address);
    }

    [Fact]
    public void SizingWithDecodingOnMapsNothingBecauseA32BitBarWouldReachTheTop()
    {
        PcMachine m = Q35();
        m.SetCfg(Vga, 0x04, PciConfigSpace.CommandMemory);
        List<MemorySection> before = [.. m.SystemMemory.Sections];
        m.SetCfg(Vga, 0x10, 0xffffffff);
        Assert.Equal(0xff000008u, m.Cfg(Vga, 0x10));
        Assert.Equal(before, m.SystemMemory.Sections); // pc.bios at the top of 4 GiB is not covered
    }

    [Fact]
    public void AddressZeroIsNeverDecodedAndIoBarsGoToThePortSpace()
    {
        PcMachine m = Q35();
        m.SetCfg(Nic, 0x04, PciConfigSpace.CommandMemory | PciConfigSpace.CommandIo);
        Assert.All(m.Functions.Single(f => f.DevFn == Nic).Bars, b => Assert.Null(b.Address)); // all registers are 0
        m.SetCfg(Nic, 0x18, 0xc041); // BAR2: I/O, 32 ports; the type bit stays
        Assert.Equal(0xc041u, m.Cfg(Nic, 0x18));
        Assert.Equal("e1000e-io", At(m.PortIo, 0xc05f)!.Value.Region.Name);
        Assert.Equal(0xc040UL, At(m.PortIo, 0xc05f)!.Value.Start);
        m.SetCfg(Nic, 0x04, PciConfigSpace.CommandMemory);
        Assert.Equal("io", At(m.PortIo, 0xc040)!.Value.Region.Name); // the bare I/O region again (V18)
    }

    [Fact]
    public void TheExpansionRomDecodesOnlyWithItsEnableBitAndIsReadOnly()
    {
        PcMachine m = Q35();
        m.SetCfg(Vga, 0x04, PciConfigSpace.CommandMemory);
        m.SetCfg(Vga, 0x30, 0xfeb00000);
        Assert.Null(At(m.SystemMemory, 0xfeb00000));
        m.SetCfg(Vga, 0x30, 0xfeb00001);
        MemorySection rom = At(m.SystemMemory, 0xfeb00000)!.Value;
        Assert.Equal("VGA.rom", rom.Region.Name);
        Assert.True(rom.ReadOnly);
        Assert.Equal(0xfeb0ffffUL, rom.Last);
    }

    [Fact]
    public void GarbageIsMappedAsAskedAndTheHigherPriorityRegionWins()
    {
        PcMachine m = Q35();
        m.SetCfg(Vga, 0x04, PciConfigSpace.CommandMemory);
        m.SetCfg(Vga, 0x10, 0x01000000); // over guest RAM: the PCI space is below RAM (priority -1), RAM still shows
        Assert.Equal(0x01000000UL, m.Functions.Single(f => f.DevFn == Vga).Bars[0].Address);
        Assert.Equal("pc.ram", At(m.SystemMemory, 0x01000000)!.Value.Region.Name);

        m.SetCfg(Nic, 0x04, PciConfigSpace.CommandMemory);
        m.SetCfg(Vga, 0x18, 0xe0000000);  // vga.mmio (4 KiB)
        m.SetCfg(Nic, 0x10, 0xe0000000);  // e1000e-mmio over it: added last, so it wins (equal priorities)
        Assert.Equal("e1000e-mmio", At(m.SystemMemory, 0xe0000000)!.Value.Region.Name);
        m.SetCfg(Nic, 0x10, 0xe0100000);  // moved away: vga.mmio shows again
        Assert.Equal("edid", At(m.SystemMemory, 0xe0000000)!.Value.Region.Name); // vga.mmio's first subregion
    }

    [Fact]
    public void A64BitBarDecodesAboveFourGibAndBeyondTheAddressWidthButNotAtTheTop()
    {
        var memory = new MemorySystem();
        var bar = new Bar(0, 0x1000, BarSpace.Memory, memory.Io("wide", 0x1000), Wide: true);
        PciFunctionModel f = PciFunctionModel.Device("wide", 0x20, new PciIdentity(0x1234, 0x5678, 0, 0xff00), bar);
        f.Config.Write(0x04, 2, PciConfigSpace.CommandMemory);
        f.Config.Write(0x10, 4, 0xffffffff);
        f.Config.Write(0x14, 4, 0xffffffff);
        Assert.Equal(0xfffff004u, f.Config.Read(0x10, 4)); // 64-bit type, 4 KiB
        Assert.Equal(0xffffffffu, f.Config.Read(0x14, 4));
        Assert.Null(PciHost.DecodedAddress(f, bar)); // its last byte would be the top of the space
        f.Config.Write(0x10, 4, 0x0000_0000);
        f.Config.Write(0x14, 4, 0x0010_0000); // 2^52: above any host's physical address width, QEMU maps it anyway
        Assert.Equal(0x0010_0000_0000_0000UL, PciHost.DecodedAddress(f, bar));
    }

    private static readonly uint[] Interesting = [0u, 0x7u, 0xffffffffu, 0xe0000000u, 0xfeb00001u, 0xc001u, 0xb0000001u];

    [Fact]
    public void RandomConfigurationWritesNeverThrowAndTheMapAlwaysFollowsTheRegisters()
    {
        int[] devFns = [0x00, 0x08, 0x10, 0xf8, 0xfa, 0xfb];
        Gen<(int Fn, int Register, int Size, uint Value)> write =
            Gen.Int[0, devFns.Length - 1].Select(Gen.Int[0, 0xff], // header, PCIEXBAR (0x60) and PAM (0x90) too
                Gen.Int[0, 2].Select(i => 1 << i),
                Gen.Int[0, 13].Select(Gen.UInt, (pick, random) => pick < Interesting.Length ? Interesting[pick] : random));
        PropertyRunner.Run(write.Array[1, 30], writes =>
        {
            PcMachine m = Q35();
            var recorder = new Recorder();
            m.SystemMemory.AddListener(recorder);
            foreach ((int fn, int register, int size, uint value) in writes)
            {
                int aligned = register & ~(size - 1);
                m.SetCfg(devFns[fn], aligned, value, size);
            }
            foreach (PciFunctionModel f in m.Functions)
            {
                Assert.Equal(f.BusMasterEnabled, f.BusMaster!.Enabled);
                foreach (Bar bar in f.Bars)
                {
                    Assert.Equal(PciHost.DecodedAddress(f, bar), bar.Address);
                    if (bar.Region is not { } region) continue;
                    if (bar.Address is ulong at)
                    {
                        Assert.Same(bar.Space == BarSpace.Io ? m.PortIo.Root : m.Pci, region.Container);
                        Assert.Equal(at, region.Address);
                    }
                    else Assert.Null(region.Container);
                }
            }
            Assert.Equal(m.SystemMemory.Sections.OrderBy(s => s.Start), recorder.Mirror.OrderBy(s => s.Start));
        }, seed: 0x9c1, iterations: 300);
    }
}
