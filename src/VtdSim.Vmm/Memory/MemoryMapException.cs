namespace VtdSim.Vmm.Memory;

/// <summary>
/// A change to the memory map that QEMU would stop on with an assertion (a region added twice, an alias beyond its
/// target, a size or offset that passes 2^64): a defect of the code that builds the map, never of guest input. The
/// message names the region; the map is left exactly as it was.
/// </summary>
public sealed class MemoryMapException(string message) : Exception(message);
