using VtdSim.Vmm.Memory;

namespace VtdSim.Vmm.Machines;

/// <summary>Where a BAR decodes: memory, prefetchable memory, port I/O, or the expansion ROM.</summary>
public enum BarSpace
{
    Memory,
    Prefetchable,
    Io,
    Rom,
}

/// <summary>One BAR of a function: its number (6 for the ROM), size, space, and the region it shows when placed (none for I/O and ROM BARs in this model).</summary>
public sealed record Bar(int Index, ulong Size, BarSpace Space, MemoryRegion? Region)
{
    /// <summary>Where the firmware placed it (null while unassigned, as at reset).</summary>
    public ulong? Address { get; internal set; }
}

/// <summary>A PCI function as far as the memory map needs it: its name (its bus-master address space's), devfn and BARs.</summary>
public sealed class PciFunctionModel
{
    internal PciFunctionModel(string name, int devFn, params Bar[] bars)
    {
        Name = name;
        DevFn = devFn;
        Bars = bars;
    }

    public string Name { get; }

    /// <summary>Device and function on bus 0 (device &lt;&lt; 3 | function).</summary>
    public int DevFn { get; }

    public IReadOnlyList<Bar> Bars { get; }

    /// <summary>The "bus master" alias (enabled when the guest sets Bus Master Enable).</summary>
    public MemoryRegion? BusMaster { get; internal set; }

    public AddressSpace? AddressSpace { get; internal set; }

    /// <summary>With intel-iommu: the function's "vtd-DD.F" root region.</summary>
    public MemoryRegion? IommuRoot { get; internal set; }

    /// <summary>For the standard VGA: its legacy window at 0xa0000 ("vga-lowmem").</summary>
    public MemoryRegion? LowMemory { get; private init; }

    internal static PciFunctionModel StdVga(MemorySystem m, int devFn)
    {
        MemoryRegion mmio = m.Io("vga.mmio", 0x1000);
        mmio.AddSubregion(m.Io("edid", 0x180), 0);
        mmio.AddSubregion(m.Io("vga ioports remapped", 0x20), 0x400);
        mmio.AddSubregion(m.Io("bochs dispi interface", 0x16), 0x500);
        mmio.AddSubregion(m.Io("qemu extended regs", 8), 0x600);
        return new PciFunctionModel("VGA", devFn,
            new Bar(0, 0x1000000, BarSpace.Prefetchable, m.Ram("vga.vram", 0x1000000)),
            new Bar(2, 0x1000, BarSpace.Memory, mmio),
            new Bar(6, 0x10000, BarSpace.Rom, null))
        { LowMemory = m.Io("vga-lowmem", 0x20000) };
    }

    internal static PciFunctionModel E1000e(MemorySystem m, int devFn)
    {
        MemoryRegion msix = m.Container("e1000e-msix", 0x4000);
        msix.AddSubregion(m.Io("msix-table", 0x50), 0);
        msix.AddSubregion(m.Io("msix-pba", 8), 0x2000);
        return new PciFunctionModel("e1000e", devFn,
            new Bar(0, 0x20000, BarSpace.Memory, m.Io("e1000e-mmio", 0x20000)),
            new Bar(1, 0x20000, BarSpace.Memory, m.Container("e1000e-flash", 0x20000)),
            new Bar(2, 0x20, BarSpace.Io, null),
            new Bar(3, 0x4000, BarSpace.Memory, msix),
            new Bar(6, 0x40000, BarSpace.Rom, null));
    }

    internal static PciFunctionModel E1000(MemorySystem m, int devFn) =>
        new("e1000", devFn,
            new Bar(0, 0x20000, BarSpace.Memory, m.Io("e1000-mmio", 0x20000)),
            new Bar(1, 0x40, BarSpace.Io, null),
            new Bar(6, 0x40000, BarSpace.Rom, null));

    internal static PciFunctionModel Ahci(MemorySystem m, int devFn) =>
        new("ich9-ahci", devFn,
            new Bar(4, 0x20, BarSpace.Io, null),
            new Bar(5, 0x1000, BarSpace.Memory, m.Io("ahci", 0x1000)));
}
