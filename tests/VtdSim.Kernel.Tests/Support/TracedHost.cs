using VtdSim.Hardware;
using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Memory;
using VtdSim.Hardware.Profiles;
using VtdSim.Machine;

namespace VtdSim.Kernel.Tests.Support;

/// <summary>
/// A bare-metal host whose VT-d register page records every register write the CPU makes, in order, so a test can
/// check the register sequence a driver uses (register-based invalidation, write-buffer flushes, firmware hand-over).
/// </summary>
public sealed class TracedHost
{
    public TracedHost(VtdProfile profile, ulong memorySize = 1UL << 32)
    {
        var memory = new PhysicalMemory(memorySize);
        Unit = new VtdUnit(memory, profile);
        Machine = new PhysicalMachine(memory, Unit.RegisterBase, new VtdUnitDmaPort(Unit)) { HardwareIommu = Unit };
        Machine.Map(new Recording(new VtdUnitMmio(Unit), Writes));
    }

    public VtdUnit Unit { get; }
    public PhysicalMachine Machine { get; }
    /// <summary>(register offset, value) of every accepted register write.</summary>
    public List<(int Offset, ulong Value)> Writes { get; } = new();

    /// <summary>The values written to one register, oldest first, from write <paramref name="from"/> on.</summary>
    public ulong[] WritesTo(int offset, int from = 0) => [.. Writes.Skip(from).Where(w => w.Offset == offset).Select(w => w.Value)];

    private sealed class Recording(IMmioRegion inner, List<(int, ulong)> writes) : IMmioRegion
    {
        public Hpa Base => inner.Base;
        public ulong Size => inner.Size;
        public bool TryRead(ulong offset, int size, out ulong value) => inner.TryRead(offset, size, out value);

        public bool TryWrite(ulong offset, int size, ulong value)
        {
            if (!inner.TryWrite(offset, size, value)) return false;
            writes.Add(((int)offset, value));
            return true;
        }
    }
}
