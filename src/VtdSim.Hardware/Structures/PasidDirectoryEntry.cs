using VtdSim.Hardware.Addressing;

namespace VtdSim.Hardware.Structures;

/// <summary>A 64-bit scalable-mode PASID directory entry, indexed by PASID[19:6] (spec 9.5).</summary>
public readonly record struct PasidDirectoryEntry(ulong Raw)
{
    public const int Size = 8;

    public bool Present => Bits.Test(Raw, 0);
    public bool FaultProcessingDisable => Bits.Test(Raw, 1);
    public Hpa PasidTablePointer => new(Raw & Bits.Mask(63, 12));

    /// <summary>Reserved: 11:2 and pointer bits at or above HAW.</summary>
    public bool ReservedBitsSet(int haw) => (Raw & (Bits.Mask(11, 2) | Bits.AboveWidth(haw) | Bits.Mask(63, 52))) != 0;

    public static PasidDirectoryEntry Create(Hpa pasidTable) => new(Bits.PageAddress(pasidTable.Value, "PASID table") | 1);
    public PasidDirectoryEntry WithPresent(bool on) => new(Bits.Set(Raw, 0, on));
    public PasidDirectoryEntry WithFaultProcessingDisable(bool on) => new(Bits.Set(Raw, 1, on));
}
