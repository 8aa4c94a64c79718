using VtdSim.Hardware.Addressing;

namespace VtdSim.Hardware.Structures;

/// <summary>A 256-bit scalable-mode context entry, indexed by devfn &amp; 0x7F (spec 9.4).</summary>
public readonly record struct ScalableContextEntry(ulong Q0, ulong Q1, ulong Q2, ulong Q3)
{
    public const int Size = 32;

    public bool Present => Bits.Test(Q0, 0);
    public bool FaultProcessingDisable => Bits.Test(Q0, 1);
    public bool DeviceTlbEnable => Bits.Test(Q0, 2);
    public bool PasidEnable => Bits.Test(Q0, 3);
    public bool PageRequestEnable => Bits.Test(Q0, 4);
    /// <summary>PDTS: the PASID directory holds 2^(PDTS+7) entries.</summary>
    public int PasidDirectorySize => (int)Bits.Get(Q0, 11, 9);
    /// <summary>The largest PASID the directory can reach: 2^(PDTS+13) - 1.</summary>
    public uint MaxPasid => (1u << (PasidDirectorySize + 13)) - 1;
    public Hpa PasidDirectoryPointer => new(Q0 & Bits.Mask(63, 12));
    public uint RidPasid => (uint)Bits.Get(Q1, 19, 0);
    public bool RidPrivilege => Bits.Test(Q1, 20);

    /// <summary>Reserved: Q0 8:5 and pointer bits at or above HAW; Q1 63:21; all of Q2 and Q3.</summary>
    public bool ReservedBitsSet(int haw) =>
        (Q0 & (Bits.Mask(8, 5) | Bits.AboveWidth(haw) | Bits.Mask(63, 52))) != 0 || (Q1 & Bits.Mask(63, 21)) != 0 || Q2 != 0 || Q3 != 0;

    public static ScalableContextEntry Create(Hpa pasidDirectory, int pdts = 7, uint ridPasid = 0)
    {
        ulong q0 = Bits.PageAddress(pasidDirectory.Value, "PASID directory") | Bits.Set(0, 11, 9, (ulong)pdts, "PDTS") | 1;
        return new ScalableContextEntry(q0, Bits.Set(0, 19, 0, ridPasid, "RID_PASID"), 0, 0);
    }

    public ScalableContextEntry WithPresent(bool on) => this with { Q0 = Bits.Set(Q0, 0, on) };
    public ScalableContextEntry WithFaultProcessingDisable(bool on) => this with { Q0 = Bits.Set(Q0, 1, on) };
    public ScalableContextEntry WithDeviceTlbEnable(bool on) => this with { Q0 = Bits.Set(Q0, 2, on) };
    public ScalableContextEntry WithPasidEnable(bool on) => this with { Q0 = Bits.Set(Q0, 3, on) };
    public ScalableContextEntry WithPageRequestEnable(bool on) => this with { Q0 = Bits.Set(Q0, 4, on) };
    public ScalableContextEntry WithRidPrivilege(bool on) => this with { Q1 = Bits.Set(Q1, 20, on) };
}
