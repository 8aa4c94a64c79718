using VtdSim.Vmm.Machines;
using VtdSim.Vmm.Memory;

namespace VtdSim.Vmm.Tests;

/// <summary>Accesses that reach devices through an address space's flat view (decision V20).</summary>
public class DispatchTests
{
    private sealed class Registers : IRegionOps
    {
        public readonly List<(ulong Offset, int Size, ulong Value)> Writes = [];

        public bool TryRead(ulong offset, int size, out ulong value)
        {
            value = 0x1000 + offset;
            return size == 4; // decodes only 32-bit accesses
        }

        public bool TryWrite(ulong offset, int size, ulong value)
        {
            Writes.Add((offset, size, value));
            return true;
        }
    }

    [Fact]
    public void AnIoRegionAnswersAtItsOffsetThroughAnAliasAndWhereverItIsMoved()
    {
        var m = new MemorySystem();
        MemoryRegion root = m.Container("system", MemorySystem.AddressSpaceSize);
        var device = new Registers();
        MemoryRegion regs = m.Io("regs", 0x1000);
        regs.Ops = device;
        MemoryRegion holder = m.Container("holder", 0x2000);
        holder.AddSubregion(regs, 0);
        root.AddSubregion(m.Alias("regs-alias", holder, 0x800, 0x800), 0x9000);
        AddressSpace space = m.AddAddressSpace("memory", root);

        Assert.True(space.TryReadDevice(0x9010, 4, out ulong v));
        Assert.Equal(0x1000UL + 0x810, v); // the alias shows the region from its 0x800 on
        Assert.True(space.TryWriteDevice(0x9020, 4, 0xabcd));
        Assert.Equal([(0x820UL, 4, 0xabcdUL)], device.Writes);
    }

    [Fact]
    public void UnassignedMemoryReadsZeroAndUnassignedPortsReadAllOnesMaskedToTheSize()
    {
        PcMachine machine = PcMachine.Create(new MachineOptions { RamSize = 1UL << 30, Defaults = false });
        Assert.True(machine.SystemMemory.TryReadDevice(0xf000_0000, 4, out ulong memory));
        Assert.Equal(0UL, memory);
        Assert.True(machine.PortIo.TryReadDevice(0x1234, 2, out ulong port));
        Assert.Equal(0xffffUL, port);
        Assert.True(machine.PortIo.TryReadDevice(0x1234, 8, out port));
        Assert.Equal(ulong.MaxValue, port);
        Assert.True(machine.SystemMemory.TryWriteDevice(0xf000_0000, 4, 1)); // dropped, as QEMU drops it
    }

    [Fact]
    public void MemoryIsLeftToTheCallerAndAnAccessTheDeviceRefusesIsUnassigned()
    {
        var m = new MemorySystem();
        MemoryRegion root = m.Container("system", MemorySystem.AddressSpaceSize);
        root.AddSubregion(m.Ram("ram", 0x1000), 0);
        MemoryRegion regs = m.Io("regs", 0x1000);
        regs.Ops = new Registers();
        root.AddSubregion(regs, 0x1000);
        AddressSpace space = m.AddAddressSpace("memory", root);

        Assert.False(space.TryReadDevice(0x10, 4, out _));
        Assert.False(space.TryWriteDevice(0x10, 4, 1));
        Assert.True(space.TryReadDevice(0x1000, 2, out ulong refused)); // the device decodes only 4-byte reads
        Assert.Equal(0UL, refused);
        Assert.Throws<ArgumentException>(() => space.TryReadDevice(0x1000, 3, out _));
    }
}
