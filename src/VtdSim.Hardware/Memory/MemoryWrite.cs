using VtdSim.Hardware.Addressing;

namespace VtdSim.Hardware.Memory;

/// <summary>One write seen by a write observer: where, how many bytes, and who wrote.</summary>
public readonly record struct MemoryWrite(Hpa Address, int Length, WriteOrigin Origin);
