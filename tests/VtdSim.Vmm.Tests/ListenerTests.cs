using CsCheck;
using VtdSim.Hardware.Tests.Properties;
using VtdSim.Vmm.Machines;
using VtdSim.Vmm.Memory;

namespace VtdSim.Vmm.Tests;

/// <summary>The memory listener: QEMU's order of events, and replaying them always gives the new flat view.</summary>
public class ListenerTests
{
    private sealed class Recorder : IMemoryListener
    {
        public readonly List<(bool Add, MemorySection Section)> Events = [];
        public readonly List<MemorySection> Mirror = [];

        public void RegionDel(in MemorySection section)
        {
            Events.Add((false, section));
            Assert.True(Mirror.Remove(section), $"deleted a section the listener never got: {section}");
        }

        public void RegionAdd(in MemorySection section)
        {
            Events.Add((true, section));
            Mirror.Add(section);
        }
    }

    [Fact]
    public void ABarMoveIsDeletionsFirstThenAdditionsEachInAddressOrder()
    {
        PcMachine machine = PcMachine.Create(new MachineOptions { RamSize = 2UL << 30, Booted = true });
        var recorder = new Recorder();
        machine.SystemMemory.AddListener(recorder);
        recorder.Events.Clear();
        MemoryRegion vram = machine.Pci.Subregions.Single(r => r.Name == "vga.vram");
        vram.SetAddress(0x1_0000_0000);
        Assert.Equal([(false, 0xfd000000UL), (true, 0x1_0000_0000UL)], recorder.Events.Select(e => (e.Add, e.Section.Start)));
    }

    [Fact]
    public void PamToggleIsOneChange()
    {
        PcMachine machine = PcMachine.Create(new MachineOptions { RamSize = 2UL << 30 });
        var recorder = new Recorder();
        machine.SystemMemory.AddListener(recorder);
        recorder.Events.Clear();
        machine.Pam[12].SetMode(PamMode.ReadOnly);
        // The BIOS section 0xe0000-0xfffff (isa-bios) goes; its lower half comes back and read-only RAM comes at 0xf0000.
        Assert.Equal([(false, 0xe0000UL), (true, 0xe0000UL), (true, 0xf0000UL)], recorder.Events.Select(e => (e.Add, e.Section.Start)));
        Assert.Contains(recorder.Events, e => e.Add && e.Section is { Start: 0xf0000, ReadOnly: true } && e.Section.Region == machine.PcRam);
    }

    /// <summary>After any sequence of changes, the previous view with the listener's deletions and additions applied is the new view.</summary>
    [Fact]
    public void ReplayingTheEventsGivesTheNewFlatView()
    {
        PropertyRunner.Run(Gen.Int[0, 7].Select(Gen.ULong[0, 0x3f], Gen.Int[0, 9]).Array[1, 40], ops =>
        {
            var m = new MemorySystem();
            MemoryRegion root = m.Container("root", MemorySystem.AddressSpaceSize);
            AddressSpace space = m.AddAddressSpace("as", root);
            MemoryRegion ram = m.Ram("ram", 0x40000);
            root.AddSubregion(ram, 0);
            var pool = new List<MemoryRegion>
            {
                m.Alias("a0", ram, 0x1000, 0x4000), m.Alias("a1", ram, 0x8000, 0x2000), m.Io("bar0", 0x2000),
                m.RamDevice("bar1", 0x1000), m.Rom("rom", 0x3000), m.Container("box", 0x8000), m.Io("io", 0x1000),
                m.RomDevice("flash", 0x2000),
            };
            pool[5].AddSubregion(m.Io("inbox", 0x1000), 0x1000);
            var recorder = new Recorder();
            space.AddListener(recorder);
            foreach (var (what, page, pick) in ops)
            {
                MemoryRegion r = pool[pick % pool.Count];
                ulong at = page << 12;
                switch (what)
                {
                    case 0 when r.Container is null: root.AddSubregion(r, at, pick % 3 - 1); break;
                    case 1 when r.Container is not null: root.RemoveSubregion(r); break;
                    case 2 when r.Container is not null: r.SetAddress(at); break;
                    case 3: r.SetEnabled(!r.Enabled); break;
                    case 4: r.SetReadOnly(!r.ReadOnly); break;
                    case 5 when r.AliasTarget is not null && (UInt128)at + r.Size <= ram.Size: r.SetAliasOffset(at); break;
                    case 6 when r.Kind == RegionKind.RomDevice: r.SetRomdMode(!r.RomdMode); break;
                    case 7:
                        using (m.BeginTransaction())
                        {
                            ram.SetReadOnly(!ram.ReadOnly);
                            if (r.Container is not null) r.SetAddress(at);
                        }
                        break;
                }
                Assert.Equal(space.Sections, recorder.Mirror.OrderBy(s => s.Start));
            }
        }, seed: 0x115_7E7E, iterations: 100);
    }
}
