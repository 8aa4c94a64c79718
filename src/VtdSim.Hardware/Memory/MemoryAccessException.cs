using VtdSim.Hardware.Addressing;

namespace VtdSim.Hardware.Memory;

/// <summary>Thrown by the convenience (non-Try) accessors of <see cref="MachineMemory"/> when an access cannot complete.</summary>
public sealed class MemoryAccessException(Hpa address, int length, string reason)
    : Exception($"memory access of {length} byte(s) at {address} failed: {reason}")
{
    public Hpa Address { get; } = address;
    public int Length { get; } = length;
}
