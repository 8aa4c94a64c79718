using VtdSim.Vmm.Machines;
using VtdSim.Vmm.Memory;

namespace VtdSim.Vmm.Pci;

/// <summary>
/// The PCI host bridge and bus 0 of a `q35` or `pc` machine: configuration cycles through the CONFIG_ADDRESS /
/// CONFIG_DATA ports 0xcf8 and 0xcfc–0xcff ("pci-conf-idx", "pci-conf-data" in the "I/O" address space; decision E1)
/// and, on q35, through MMCONFIG ("pcie-mmcfg-mmio") where the MCH's PCIEXBAR puts it (E5). A write to a function's
/// command register, BARs or expansion ROM BAR re-maps its BARs as QEMU's pci_update_mappings does (E6, E7): each BAR
/// decodes where its register says while its space is enabled, in the PCI memory space or the port I/O space, at
/// priority 1, so listeners see the move as a deletion and an addition; Bus Master Enable switches the function's
/// "bus master" alias. Nothing a guest writes here throws.
/// </summary>
public sealed class PciHost
{
    /// <summary>The MCH's PCIEXBAR register (q35): 64 bits at 0x60 of 00:00.0; at reset 0xb0000000, disabled.</summary>
    public const int PciexbarOffset = 0x60;

    private readonly PcMachine machine;
    private readonly PciFunctionModel?[] functions = new PciFunctionModel?[256];
    private readonly MemoryRegion mmconfig;

    internal PciHost(PcMachine machine)
    {
        this.machine = machine;
        MemorySystem m = machine.Memory;
        MemoryRegion io = machine.PortIo.Root;
        MemoryRegion index = m.Io("pci-conf-idx", 4);
        index.Ops = new AddressPort(this);
        MemoryRegion data = m.Io("pci-conf-data", 4);
        data.Ops = new DataPort(this);
        io.AddSubregion(index, 0xcf8);
        io.AddSubregion(data, 0xcfc);
        mmconfig = m.Io("pcie-mmcfg-mmio", 0x10000000);
        mmconfig.Ops = new Mmconfig(this);
    }

    /// <summary>The CONFIG_ADDRESS register (0xcf8): bit 31 enables, bits 23:16 bus, 15:8 devfn, 7:0 register.</summary>
    public uint ConfigAddress { get; private set; }

    /// <summary>Where MMCONFIG decodes (q35, once PCIEXBAR is enabled), and its size.</summary>
    public ulong? MmconfigBase => mmconfig.Container is null ? null : mmconfig.Address;

    public ulong MmconfigSize => (ulong)mmconfig.Size;

    /// <summary>The function at <paramref name="devFn"/> of bus 0, if any.</summary>
    public PciFunctionModel? Function(int devFn) => (uint)devFn < 256 ? functions[devFn] : null;

    /// <summary>Where the host bridge's seven PAM registers start: 0x90 on the MCH (q35), 0x59 on the i440FX (pc).</summary>
    public int PamOffset => machine.Options.Type == MachineType.Q35 ? 0x90 : 0x59;

    internal void Add(PciFunctionModel function)
    {
        functions[function.DevFn] = function;
        if (function.DevFn != 0) return;
        bool q35 = machine.Options.Type == MachineType.Q35;
        function.ConfigWritten = (offset, size) =>
        {
            if (q35 && Overlaps(offset, size, PciexbarOffset, 8)) UpdateMmconfig(function);
            if (Overlaps(offset, size, PamOffset, 7)) WritePam(function, offset, size);
        };
        function.ConfigRead = (offset, size) => Overlaps(offset, size, PamOffset, 7) ? ReadPam(function, offset, size) : null;
    }

    /// <summary>
    /// The PAM registers (decision E21): byte 0 bits 5:4 select what 0xf0000–0xfffff shows; bytes 1–6 hold two fields
    /// each (bits 1:0 and 5:4) for the 16 KiB segments 0xc0000–0xeffff in order; a field is RE (1) | WE (2), i.e.
    /// <see cref="PamMode"/>. Writes set the segments; reads show the segments' current modes (however they were set)
    /// in those fields and the written value in the other bits, which QEMU keeps too.
    /// </summary>
    private void WritePam(PciFunctionModel bridge, int offset, int size)
    {
        for (int at = Math.Max(offset, PamOffset); at < Math.Min(offset + size, PamOffset + 7); at++)
        {
            int k = at - PamOffset;
            uint value = bridge.Config.Read(at, 1);
            if (k == 0) machine.Pam[PcMachine.PamSegments - 1].SetMode((PamMode)((value >> 4) & 3));
            else
            {
                machine.Pam[2 * (k - 1)].SetMode((PamMode)(value & 3));
                machine.Pam[2 * (k - 1) + 1].SetMode((PamMode)((value >> 4) & 3));
            }
        }
    }

    private uint ReadPam(PciFunctionModel bridge, int offset, int size)
    {
        uint result = 0;
        for (int i = 0; i < size; i++)
        {
            int at = offset + i;
            uint b = bridge.Config.Read(at, 1);
            int k = at - PamOffset;
            if (k is >= 0 and < 7)
            {
                b &= k == 0 ? ~0x30u & 0xff : ~0x33u & 0xff;
                if (k == 0) b |= (uint)machine.Pam[PcMachine.PamSegments - 1].Mode << 4;
                else b |= (uint)machine.Pam[2 * (k - 1)].Mode | ((uint)machine.Pam[2 * (k - 1) + 1].Mode << 4);
            }
            result |= b << (8 * i);
        }
        return result;
    }

    /// <summary>
    /// A configuration read of <paramref name="size"/> (1, 2 or 4) bytes: all ones where no function answers, or for
    /// another size (E4).
    /// </summary>
    public uint ReadConfig(int bus, int devFn, int offset, int size) =>
        size is 1 or 2 or 4 ? Read(bus, devFn, offset, size) : uint.MaxValue;

    /// <summary>A read of 1 to 4 bytes (the data port hands over the bytes of an access that lie inside it).</summary>
    private uint Read(int bus, int devFn, int offset, int size)
    {
        uint ones = size < 4 ? (1u << (8 * size)) - 1 : uint.MaxValue;
        if (bus != 0 || Function(devFn) is not { } f) return ones;
        if (f.ConfigRead?.Invoke(offset, size) is uint computed) return computed;
        return f.Config.Read(offset, size);
    }

    /// <summary>
    /// A configuration write of 1, 2 or 4 bytes: the function's writable bits change, then what they control follows.
    /// Where no function answers, or for another size, nothing happens.
    /// </summary>
    public void WriteConfig(int bus, int devFn, int offset, int size, uint value)
    {
        if (size is 1 or 2 or 4) Write(bus, devFn, offset, size, value);
    }

    private void Write(int bus, int devFn, int offset, int size, uint value)
    {
        if (bus != 0 || Function(devFn) is not { } f || offset < 0 || offset >= f.Config.Size) return;
        using (machine.Memory.BeginTransaction())
        {
            f.Config.Write(offset, size, value);
            if (Overlaps(offset, size, PciConfigSpace.CommandOffset, 2) || Overlaps(offset, size, PciConfigSpace.Bar0Offset, 24)
                || Overlaps(offset, size, PciConfigSpace.RomOffset, 4))
                UpdateMappings(f);
            f.ConfigWritten?.Invoke(offset, size);
        }
    }

    /// <summary>
    /// Programs one BAR as firmware or a guest does: its register gets <paramref name="address"/> (the ROM's with the
    /// enable bit), or 0 — an address QEMU never decodes — for null; the function's decoding of that space is switched
    /// on. The one path by which the firmware and the VMM's run-time changes move BARs.
    /// </summary>
    public void ProgramBar(Bar bar, ulong? address)
    {
        ArgumentNullException.ThrowIfNull(bar);
        PciFunctionModel f = bar.Function;
        if (f is null || Function(f.DevFn) != f) throw new ArgumentException($"BAR {bar.Index} is not a BAR of a function on this machine's bus");
        using (machine.Memory.BeginTransaction())
        {
            ulong value = address ?? 0;
            if (bar.Space == BarSpace.Rom && address is not null) value |= 1;
            WriteConfig(0, f.DevFn, bar.Register, 4, (uint)value);
            if (bar.Wide) WriteConfig(0, f.DevFn, bar.Register + 4, 4, (uint)(value >> 32));
            ushort enable = bar.Space == BarSpace.Io ? PciConfigSpace.CommandIo : PciConfigSpace.CommandMemory;
            if (address is not null) WriteConfig(0, f.DevFn, PciConfigSpace.CommandOffset, 2, (uint)(f.Config.Command | enable));
        }
    }

    /// <summary>
    /// Where a BAR decodes given the command register, or null (QEMU's pci_bar_address): its space must be enabled (the
    /// ROM also needs its enable bit); the address is the register's, aligned down to the size; it does not decode at
    /// 0, where its last byte would wrap, where a 32-bit BAR (or an I/O BAR) would reach 0xffffffff, or where the last
    /// byte would be the top of the 64-bit space (E7).
    /// </summary>
    internal static ulong? DecodedAddress(PciFunctionModel f, Bar bar)
    {
        ushort command = f.Config.Command;
        bool io = bar.Space == BarSpace.Io;
        if ((command & (io ? PciConfigSpace.CommandIo : PciConfigSpace.CommandMemory)) == 0) return null;
        ulong register = f.Config.BarRegister(bar);
        if (bar.Space == BarSpace.Rom && (register & 1) == 0) return null;
        ulong start = register & ~(bar.Size - 1);
        ulong last = start + (bar.Size - 1);
        if (last <= start || start == 0 || last == ulong.MaxValue) return null;
        if (!bar.Wide && last >= uint.MaxValue) return null;
        return start;
    }

    private void UpdateMappings(PciFunctionModel f)
    {
        foreach (Bar bar in f.Bars)
        {
            ulong? at = DecodedAddress(f, bar);
            if (at == bar.Address) continue;
            if (bar.Region is { } region)
            {
                region.Container?.RemoveSubregion(region);
                if (at is ulong a) (bar.Space == BarSpace.Io ? machine.PortIo.Root : machine.Pci).AddSubregion(region, a, 1);
            }
            bar.Address = at;
        }
        f.BusMaster?.SetEnabled(f.BusMasterEnabled);
    }

    /// <summary>
    /// PCIEXBAR (q35): bit 0 enables, bits 2:1 give the length — 256 MiB (0), 128 MiB (1), 64 MiB (2); 3 is reserved
    /// and maps nothing — and the base is bits 35:28, plus bits 26:25 for 128 MiB and bit 25 for 64 MiB: QEMU 7.2's
    /// masks as observed, one bit lower than the MCH datasheet's (decision E5).
    /// </summary>
    private void UpdateMmconfig(PciFunctionModel mch)
    {
        ulong bar = mch.Config.Read(PciexbarOffset, 4) | ((ulong)mch.Config.Read(PciexbarOffset + 4, 4) << 32);
        const ulong Base256 = 0xf_f000_0000;
        (ulong size, ulong mask) = ((bar >> 1) & 3) switch
        {
            0 => (256UL << 20, Base256),
            1 => (128UL << 20, Base256 | 0x600_0000),
            2 => (64UL << 20, Base256 | 0x200_0000),
            _ => (0UL, 0UL),
        };
        bool enabled = (bar & 1) != 0 && size != 0;
        if (mmconfig.Container is { } parent) parent.RemoveSubregion(mmconfig);
        if (!enabled) return;
        mmconfig.SetSize(size);
        machine.System.AddSubregion(mmconfig, bar & mask);
    }

    private static bool Overlaps(int offset, int size, int start, int length) => offset < start + length && start < offset + size;

    /// <summary>0xcf8: a 32-bit write at 0xcf8 sets it; other writes are dropped; a read of any size gives its low bytes (observed on QEMU 7.2).</summary>
    private sealed class AddressPort(PciHost host) : IRegionOps
    {
        public bool TryRead(ulong offset, int size, out ulong value)
        {
            value = size >= 4 ? host.ConfigAddress : host.ConfigAddress & ((1u << (8 * size)) - 1);
            return true;
        }

        public bool TryWrite(ulong offset, int size, ulong value)
        {
            if (offset == 0 && size == 4) host.ConfigAddress = (uint)value;
            return true;
        }
    }

    /// <summary>
    /// 0xcfc–0xcff: with CONFIG_ADDRESS enabled, an access of 1, 2 or 4 bytes at port 0xcfc + n reaches register
    /// (CONFIG_ADDRESS bits 7:0) | n of the addressed function; bytes past 0xcff are not this port's (they read all ones).
    /// Disabled, reads are all ones and writes are dropped.
    /// </summary>
    private sealed class DataPort(PciHost host) : IRegionOps
    {
        public bool TryRead(ulong offset, int size, out ulong value)
        {
            uint address = host.ConfigAddress;
            int inside = Math.Min(size, 4 - (int)offset);
            ulong ones = size == 8 ? ulong.MaxValue : (1UL << (8 * size)) - 1;
            if ((address & 0x8000_0000) == 0 || size > 4)
            {
                value = ones;
                return true;
            }
            int register = (int)(address & 0xff) | (int)offset;
            ulong read = host.Read((int)(address >> 16) & 0xff, (int)(address >> 8) & 0xff, register, inside);
            value = (read | (ones & ~((1UL << (8 * inside)) - 1))) & ones;
            return true;
        }

        public bool TryWrite(ulong offset, int size, ulong value)
        {
            uint address = host.ConfigAddress;
            if ((address & 0x8000_0000) == 0 || size > 4) return true;
            int inside = Math.Min(size, 4 - (int)offset);
            int register = (int)(address & 0xff) | (int)offset;
            host.Write((int)(address >> 16) & 0xff, (int)(address >> 8) & 0xff, register, inside, (uint)value);
            return true;
        }
    }

    /// <summary>
    /// MMCONFIG: offset bits 27:20 are the bus, 19:12 the devfn, 11:0 the register; accesses of 1, 2 and 4 bytes, an
    /// 8-byte one as two 4-byte ones (QEMU's memory core splits it). Beyond a function's space, or where no function
    /// is, all ones.
    /// </summary>
    private sealed class Mmconfig(PciHost host) : IRegionOps
    {
        public bool TryRead(ulong offset, int size, out ulong value)
        {
            if (size == 8)
            {
                value = Read(offset, 4) | ((ulong)Read(offset + 4, 4) << 32);
                return true;
            }
            value = Read(offset, size);
            return true;
        }

        public bool TryWrite(ulong offset, int size, ulong value)
        {
            if (size == 8)
            {
                Write(offset, 4, (uint)value);
                Write(offset + 4, 4, (uint)(value >> 32));
            }
            else Write(offset, size, (uint)value);
            return true;
        }

        private uint Read(ulong offset, int size)
        {
            int register = (int)(offset & 0xfff);
            uint ones = size == 4 ? uint.MaxValue : (1u << (8 * size)) - 1;
            if (register + size > 0x1000) return ones;
            int devFn = (int)(offset >> 12) & 0xff;
            if (host.Function(devFn) is { } f && register + size > f.Config.Size) return ones;
            return host.ReadConfig((int)(offset >> 20) & 0xff, devFn, register, size);
        }

        private void Write(ulong offset, int size, uint value)
        {
            int register = (int)(offset & 0xfff);
            if (register + size > 0x1000) return;
            host.WriteConfig((int)(offset >> 20) & 0xff, (int)(offset >> 12) & 0xff, register, size, value);
        }
    }
}
