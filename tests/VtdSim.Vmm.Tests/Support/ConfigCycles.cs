using VtdSim.Vmm.Machines;

namespace VtdSim.Vmm.Tests.Support;

/// <summary>Configuration cycles as a guest makes them: CONFIG_ADDRESS at 0xcf8, CONFIG_DATA at 0xcfc–0xcff.</summary>
internal static class ConfigCycles
{
    public static uint Address(int devFn, int register, int bus = 0) => 0x8000_0000u | (uint)(bus << 16) | (uint)(devFn << 8) | (uint)(register & 0xfc);

    public static ulong In(this PcMachine m, ushort port, int size)
    {
        Assert.True(m.PortIo.TryReadDevice(port, size, out ulong value));
        return value;
    }

    public static void Out(this PcMachine m, ushort port, int size, ulong value) => Assert.True(m.PortIo.TryWriteDevice(port, size, value));

    public static uint Cfg(this PcMachine m, int devFn, int register, int size = 4, int bus = 0)
    {
        m.Out(0xcf8, 4, Address(devFn, register, bus));
        return (uint)m.In((ushort)(0xcfc + (register & 3)), size);
    }

    public static void SetCfg(this PcMachine m, int devFn, int register, uint value, int size = 4, int bus = 0)
    {
        m.Out(0xcf8, 4, Address(devFn, register, bus));
        m.Out((ushort)(0xcfc + (register & 3)), size, value);
    }

    /// <summary>A CPU load from the "memory" address space where a device answers.</summary>
    public static ulong Mmio(this PcMachine m, ulong address, int size)
    {
        Assert.True(m.SystemMemory.TryReadDevice(address, size, out ulong value), $"0x{address:x} is memory, not a device");
        return value;
    }

    public static void SetMmio(this PcMachine m, ulong address, int size, ulong value) =>
        Assert.True(m.SystemMemory.TryWriteDevice(address, size, value), $"0x{address:x} is memory, not a device");
}
