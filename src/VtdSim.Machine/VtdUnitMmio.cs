using VtdSim.Hardware;
using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Registers;

namespace VtdSim.Machine;

/// <summary>The VT-d unit's 4 KiB register page as an MMIO region.</summary>
public sealed class VtdUnitMmio(VtdUnit unit) : IMmioRegion
{
    public VtdUnit Unit { get; } = unit;
    public Hpa Base => Unit.RegisterBase;
    public ulong Size => RegisterOffset.Size;
    public bool TryRead(ulong offset, int size, out ulong value) => Unit.TryMmioRead(Base + offset, size, out value);
    public bool TryWrite(ulong offset, int size, ulong value) => Unit.TryMmioWrite(Base + offset, size, value);
}
