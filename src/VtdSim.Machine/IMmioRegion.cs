using VtdSim.Hardware.Addressing;

namespace VtdSim.Machine;

/// <summary>A device register block mapped into the physical address space (what a CPU load or store to MMIO reaches).</summary>
public interface IMmioRegion
{
    Hpa Base { get; }
    ulong Size { get; }
    /// <summary>A CPU read of <paramref name="size"/> bytes at <paramref name="offset"/>; false if the device does not accept that access.</summary>
    bool TryRead(ulong offset, int size, out ulong value);
    /// <summary>A CPU write; false if the device does not accept that access (it is then dropped).</summary>
    bool TryWrite(ulong offset, int size, ulong value);
}
