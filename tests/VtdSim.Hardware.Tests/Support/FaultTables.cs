using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Memory;

namespace VtdSim.Hardware.Tests.Support;

/// <summary>Corrupts in-memory remapping structures the way a buggy driver or a stray write would, for fault tests.</summary>
public static class FaultTables
{
    /// <summary>Sets bit <paramref name="bit"/> (counted across the whole multi-qword entry) of the entry at <paramref name="entry"/>.</summary>
    public static void SetBit(MachineMemory memory, Hpa entry, int bit)
    {
        Hpa word = entry + (ulong)(bit / 64 * 8);
        memory.Write64(word, memory.Read64(word) | (1UL << (bit % 64)));
    }

    /// <summary>The context table a root entry's low half (legacy CTP, scalable LCTP) points at.</summary>
    public static Hpa LowerContextTable(MachineMemory memory, Hpa rootTable, int bus) =>
        new(memory.Read64(rootTable + (ulong)bus * 16) & ~0xFFFUL);
}
