using VtdSim.Hardware.Addressing;

namespace VtdSim.Hardware.Structures;

/// <summary>
/// A 128-bit root-table entry, indexed by bus (spec 9.1/9.2). Legacy mode uses only the low half (P, CTP); scalable mode
/// uses both halves: LP/LCTP for devfn 0x00-0x7F and UP/UCTP for devfn 0x80-0xFF.
/// </summary>
public readonly record struct RootEntry(ulong Low, ulong High)
{
    public const int Size = 16;

    public bool Present => Bits.Test(Low, 0);
    public Hpa ContextTablePointer => new(Low & Bits.Mask(63, 12));
    public bool LowerPresent => Present;
    public Hpa LowerContextTablePointer => ContextTablePointer;
    public bool UpperPresent => Bits.Test(High, 0);
    public Hpa UpperContextTablePointer => new(High & Bits.Mask(63, 12));

    /// <summary>Reserved bits of a legacy root entry: 11:1, address bits at or above HAW, and the whole high half.</summary>
    public bool LegacyReservedBitsSet(int haw) => (Low & (Bits.Mask(11, 1) | Bits.AboveWidth(haw) | Bits.Mask(63, 52))) != 0 || High != 0;

    /// <summary>Reserved bits of a scalable root entry, in whichever half the devfn selects.</summary>
    public bool ScalableReservedBitsSet(bool upper, int haw) =>
        ((upper ? High : Low) & (Bits.Mask(11, 1) | Bits.AboveWidth(haw) | Bits.Mask(63, 52))) != 0;

    public static RootEntry Legacy(Hpa contextTable) => new(Bits.PageAddress(contextTable.Value, "context table") | 1, 0);

    public RootEntry WithLower(Hpa contextTable) => this with { Low = Bits.PageAddress(contextTable.Value, "lower context table") | 1 };
    public RootEntry WithUpper(Hpa contextTable) => this with { High = Bits.PageAddress(contextTable.Value, "upper context table") | 1 };
}
