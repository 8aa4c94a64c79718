using VtdSim.Hardware.Addressing;

namespace VtdSim.Hardware.Structures;

/// <summary>A 128-bit legacy-mode context entry, indexed by devfn (spec 9.3).</summary>
public readonly record struct LegacyContextEntry(ulong Low, ulong High)
{
    public const int Size = 16;

    public bool Present => Bits.Test(Low, 0);
    public bool FaultProcessingDisable => Bits.Test(Low, 1);
    public TranslationType TranslationType => (TranslationType)Bits.Get(Low, 3, 2);
    public Hpa SecondLevelPageTablePointer => new(Low & Bits.Mask(63, 12));
    /// <summary>AW: the adjusted guest address width, 0 = 30-bit/2-level .. 3 = 57-bit/5-level.</summary>
    public int AddressWidth => (int)Bits.Get(High, 2, 0);
    public ushort DomainId => (ushort)Bits.Get(High, 23, 8);

    /// <summary>Reserved: low 11:4 and address bits at or above HAW; high bit 7 (71) and 63:24 (127:88).</summary>
    public bool ReservedBitsSet(int haw) =>
        (Low & (Bits.Mask(11, 4) | Bits.AboveWidth(haw) | Bits.Mask(63, 52))) != 0 || (High & (Bits.Mask(7, 7) | Bits.Mask(63, 24))) != 0;

    public static LegacyContextEntry Create(Hpa secondLevelTable, int addressWidth, ushort domainId, TranslationType tt = TranslationType.UntranslatedOnly)
    {
        ulong low = Bits.PageAddress(secondLevelTable.Value, "second-level table") | ((ulong)tt << 2) | 1;
        ulong high = Bits.Set(0, 2, 0, (ulong)addressWidth, "AW") | ((ulong)domainId << 8);
        return new LegacyContextEntry(low, high);
    }

    public LegacyContextEntry WithPresent(bool on) => this with { Low = Bits.Set(Low, 0, on) };
    public LegacyContextEntry WithFaultProcessingDisable(bool on) => this with { Low = Bits.Set(Low, 1, on) };
    public LegacyContextEntry WithTranslationType(TranslationType tt) => this with { Low = Bits.Set(Low, 3, 2, (ulong)tt, "TT") };
}
