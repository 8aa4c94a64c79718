using VtdSim.Vmm.Memory;
using VtdSim.Vmm.Pci;

namespace VtdSim.Vmm.Machines;

/// <summary>Where a BAR decodes: memory, prefetchable memory, port I/O, or the expansion ROM.</summary>
public enum BarSpace
{
    Memory,
    Prefetchable,
    Io,
    Rom,
}

/// <summary>
/// One BAR of a function: its number (6 for the expansion ROM), size, space, the region it shows where it decodes
/// (QEMU's name for it: "e1000e-mmio", "edu-mmio", "VGA.rom"), and whether it is a 64-bit BAR (two registers).
/// </summary>
public sealed record Bar(int Index, ulong Size, BarSpace Space, MemoryRegion? Region, bool Wide = false)
{
    /// <summary>Where it decodes now (null while it does not: unprogrammed, decoding off, or an unusable address; E7).</summary>
    public ulong? Address { get; internal set; }

    /// <summary>The function the BAR belongs to.</summary>
    public PciFunctionModel Function { get; internal set; } = null!;

    /// <summary>The offset of its register in the configuration header (0x10 + 4 × number; 0x30 for the ROM).</summary>
    public int Register => Space == BarSpace.Rom ? PciConfigSpace.RomOffset : PciConfigSpace.Bar0Offset + 4 * Index;
}

/// <summary>
/// A PCI function of the machine: its name (its bus-master address space's and QEMU's type name), devfn, identity,
/// configuration space and BARs.
/// </summary>
public sealed class PciFunctionModel
{
    internal PciFunctionModel(string name, int devFn, PciIdentity identity, params Bar[] bars)
    {
        Name = name;
        DevFn = devFn;
        Identity = identity;
        Bars = bars;
        foreach (Bar bar in bars) bar.Function = this;
        (byte[] area, byte[] mask) = QemuConfigImages.Area(name, identity.Express ? PciConfigSpace.ExpressSize : PciConfigSpace.ConventionalSize);
        Config = new PciConfigSpace(identity, bars, area, mask);
    }

    public string Name { get; }

    /// <summary>Device and function on bus 0 (device &lt;&lt; 3 | function).</summary>
    public int DevFn { get; }

    public PciIdentity Identity { get; }

    public PciConfigSpace Config { get; }

    public IReadOnlyList<Bar> Bars { get; }

    /// <summary>The "bus master" alias (enabled while the command register's Bus Master Enable is set).</summary>
    public MemoryRegion? BusMaster { get; internal set; }

    public AddressSpace? AddressSpace { get; internal set; }

    /// <summary>With intel-iommu: the function's "vtd-DD.F" root region.</summary>
    public MemoryRegion? IommuRoot { get; internal set; }

    /// <summary>For the standard VGA: its legacy window at 0xa0000 ("vga-lowmem").</summary>
    public MemoryRegion? LowMemory { get; private init; }

    /// <summary>Whether Bus Master Enable is set: the function may start DMA (its MSIs are DMA writes too).</summary>
    public bool BusMasterEnabled => (Config.Command & PciConfigSpace.CommandBusMaster) != 0;

    /// <summary>What the function does after software wrote its configuration space (a device's own registers there).</summary>
    internal Action<int, int>? ConfigWritten { get; set; }

    /// <summary>A device's view of a configuration register it computes on read (chipset registers backed by machine state).</summary>
    internal Func<int, int, uint?>? ConfigRead { get; set; }

    public override string ToString() => $"{DevFn >> 3:x2}.{DevFn & 7:x} {Name}";

    // QEMU 7.2's chipset and default functions (identities read from Debian's QEMU 7.2.22, decision E2).
    internal static PciFunctionModel Mch(int devFn) => new("mch", devFn, new PciIdentity(0x8086, 0x29c0, 0x00, 0x060000));

    internal static PciFunctionModel Ich9Lpc(int devFn) => new("ICH9-LPC", devFn, new PciIdentity(0x8086, 0x2918, 0x02, 0x060100, HeaderType: 0x80));

    internal static PciFunctionModel Ich9Smbus(MemorySystem m, int devFn) =>
        new("ICH9-SMB", devFn, new PciIdentity(0x8086, 0x2930, 0x02, 0x0c0500, HeaderType: 0x80, InterruptPin: 1),
            new Bar(4, 0x40, BarSpace.Io, m.Io("pm-smbus", 0x40)));

    internal static PciFunctionModel I440fx(int devFn) => new("i440FX", devFn, new PciIdentity(0x8086, 0x1237, 0x02, 0x060000));

    internal static PciFunctionModel Piix3(int devFn) => new("PIIX3", devFn, new PciIdentity(0x8086, 0x7000, 0x00, 0x060100, HeaderType: 0x80, Status: 0x0200));

    internal static PciFunctionModel Piix3Ide(MemorySystem m, int devFn) =>
        new("piix3-ide", devFn, new PciIdentity(0x8086, 0x7010, 0x00, 0x010180, Status: 0x0280),
            new Bar(4, 0x10, BarSpace.Io, m.Container("piix-bmdma-container", 0x10)));

    internal static PciFunctionModel Piix4Pm(int devFn) => new("PIIX4_PM", devFn, new PciIdentity(0x8086, 0x7113, 0x03, 0x068000, InterruptPin: 1, Status: 0x0280));

    internal static PciFunctionModel StdVga(MemorySystem m, int devFn)
    {
        MemoryRegion mmio = m.Io("vga.mmio", 0x1000);
        mmio.AddSubregion(m.Io("edid", 0x180), 0);
        mmio.AddSubregion(m.Io("vga ioports remapped", 0x20), 0x400);
        mmio.AddSubregion(m.Io("bochs dispi interface", 0x16), 0x500);
        mmio.AddSubregion(m.Io("qemu extended regs", 8), 0x600);
        return new PciFunctionModel("VGA", devFn, new PciIdentity(0x1234, 0x1111, 0x02, 0x030000),
            new Bar(0, 0x1000000, BarSpace.Prefetchable, m.Ram("vga.vram", 0x1000000)),
            new Bar(2, 0x1000, BarSpace.Memory, mmio),
            new Bar(6, 0x10000, BarSpace.Rom, m.Rom("VGA.rom", 0x10000)))
        { LowMemory = m.Io("vga-lowmem", 0x20000) };
    }

    internal static PciFunctionModel E1000e(MemorySystem m, int devFn)
    {
        MemoryRegion msix = m.Container("e1000e-msix", 0x4000);
        msix.AddSubregion(m.Io("msix-table", 0x50), 0);
        msix.AddSubregion(m.Io("msix-pba", 8), 0x2000);
        return new PciFunctionModel("e1000e", devFn,
            new PciIdentity(0x8086, 0x10d3, 0x00, 0x020000, SubsystemVendorId: 0x8086, SubsystemId: 0, InterruptPin: 1, Status: 0x0010, CapabilitiesPointer: 0xc8, Express: true),
            new Bar(0, 0x20000, BarSpace.Memory, m.Io("e1000e-mmio", 0x20000)),
            new Bar(1, 0x20000, BarSpace.Memory, m.Container("e1000e-flash", 0x20000)),
            new Bar(2, 0x20, BarSpace.Io, m.Io("e1000e-io", 0x20)),
            new Bar(3, 0x4000, BarSpace.Memory, msix),
            new Bar(6, 0x40000, BarSpace.Rom, m.Rom("e1000e.rom", 0x40000)));
    }

    internal static PciFunctionModel E1000(MemorySystem m, int devFn) =>
        new("e1000", devFn, new PciIdentity(0x8086, 0x100e, 0x03, 0x020000, InterruptPin: 1),
            new Bar(0, 0x20000, BarSpace.Memory, m.Io("e1000-mmio", 0x20000)),
            new Bar(1, 0x40, BarSpace.Io, m.Io("e1000-io", 0x40)),
            new Bar(6, 0x40000, BarSpace.Rom, m.Rom("e1000.rom", 0x40000)));

    internal static PciFunctionModel Ahci(MemorySystem m, int devFn) =>
        new("ich9-ahci", devFn, new PciIdentity(0x8086, 0x2922, 0x02, 0x010601, HeaderType: 0x80, InterruptPin: 1, Status: 0x0010, CapabilitiesPointer: 0x80),
            new Bar(4, 0x20, BarSpace.Io, m.Io("ahci-idp", 0x20)),
            new Bar(5, 0x1000, BarSpace.Memory, m.Io("ahci", 0x1000)));

    /// <summary>An emulated device's function (edu, iommu-testdev): its identity and BARs come from the device.</summary>
    internal static PciFunctionModel Device(string name, int devFn, PciIdentity identity, params Bar[] bars) => new(name, devFn, identity, bars);
}
