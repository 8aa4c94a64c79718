using VtdSim.Hardware.Addressing;

namespace VtdSim.Hardware.Structures;

/// <summary>
/// A 512-bit scalable-mode PASID table entry, indexed by PASID[5:0] (spec 9.6). Field names follow rev 4.x
/// (SSPTPTR, FSPTPTR, SSEE, SSADE, FSPM). Q3..Q7 are reserved.
/// </summary>
public readonly record struct PasidEntry(ulong Q0, ulong Q1, ulong Q2, ulong Q3 = 0, ulong Q4 = 0, ulong Q5 = 0, ulong Q6 = 0, ulong Q7 = 0)
{
    public const int Size = 64;

    public bool Present => Bits.Test(Q0, 0);
    public bool FaultProcessingDisable => Bits.Test(Q0, 1);
    /// <summary>AW: second-stage adjusted guest address width, same encoding as the legacy context AW.</summary>
    public int AddressWidth => (int)Bits.Get(Q0, 4, 2);
    public bool SecondStageExecuteEnable => Bits.Test(Q0, 5);
    public PasidGranularTranslationType Pgtt => (PasidGranularTranslationType)Bits.Get(Q0, 8, 6);
    public bool SecondStageAccessedDirtyEnable => Bits.Test(Q0, 9);
    public Hpa SecondStagePageTablePointer => new(Q0 & Bits.Mask(63, 12));
    public ushort DomainId => (ushort)Bits.Get(Q1, 15, 0);
    public bool PageWalkSnoop => Bits.Test(Q1, 23);
    public bool PageSnoop => Bits.Test(Q1, 24);
    public bool SupervisorRequestEnable => Bits.Test(Q2, 0);
    public bool ExecuteRequestEnable => Bits.Test(Q2, 1);
    /// <summary>FSPM: 0 = 4-level (48-bit) first stage, 1 = 5-level (57-bit), 2/3 reserved.</summary>
    public int FirstStagePagingMode => (int)Bits.Get(Q2, 3, 2);
    public bool WriteProtectEnable => Bits.Test(Q2, 4);
    public bool ExtendedAccessedFlagEnable => Bits.Test(Q2, 7);
    /// <summary>FSPTPTR: an HPA for PGTT first-stage-only, a GPA for PGTT nested.</summary>
    public ulong FirstStagePageTablePointer => Q2 & Bits.Mask(63, 12);

    /// <summary>
    /// Reserved bits (SPT.3): Q0 11:10; Q1 22:16; Q2 11:8 and 6:5 (the rev 3.0 NXE/SMEP bits, see docs/decisions.md);
    /// Q3..Q7; HPA pointer bits at or above HAW (SSPTPTR 63:HAW). Memory-type fields (Q1 31:25, 63:32) are reserved
    /// without ECAP.MTS. FSPTPTR (Q2 63:12, one field) is checked against HAW only where it is an HPA (PGTT first-stage
    /// only); in a nested entry it is a GPA, none of whose bits is reserved: a GPA beyond the second stage's width faults
    /// SFS.5 when the walk translates it (decisions D33).
    /// </summary>
    public bool ReservedBitsSet(int haw, bool memoryTypeSupport)
    {
        ulong above = Bits.AboveWidth(haw) | Bits.Mask(63, 52);
        if ((Q0 & (Bits.Mask(11, 10) | above)) != 0) return true;
        if ((Q1 & (Bits.Mask(22, 16) | (memoryTypeSupport ? 0 : Bits.Mask(63, 25)))) != 0) return true;
        ulong q2Reserved = Bits.Mask(11, 8) | Bits.Mask(6, 5);
        if (Pgtt == PasidGranularTranslationType.FirstStageOnly) q2Reserved |= above;
        if ((Q2 & q2Reserved) != 0) return true;
        return (Q3 | Q4 | Q5 | Q6 | Q7) != 0;
    }

    public static PasidEntry FirstStage(ulong fsptptr, ushort domainId, bool fiveLevel = false) =>
        new PasidEntry(0, 0, 0)
            .WithPgtt(PasidGranularTranslationType.FirstStageOnly)
            .WithDomainId(domainId).WithPageWalkSnoop(true)
            .WithFirstStagePointer(fsptptr).WithFirstStagePagingMode(fiveLevel ? 1 : 0)
            .WithPresent(true);

    public static PasidEntry SecondStage(Hpa ssptptr, int addressWidth, ushort domainId) =>
        new PasidEntry(0, 0, 0)
            .WithPgtt(PasidGranularTranslationType.SecondStageOnly)
            .WithSecondStagePointer(ssptptr).WithAddressWidth(addressWidth)
            .WithDomainId(domainId).WithPageWalkSnoop(true).WithPresent(true);

    public static PasidEntry NestedEntry(ulong fsptptrGpa, Hpa ssptptr, int addressWidth, ushort domainId, bool fiveLevelFirstStage = false) =>
        SecondStage(ssptptr, addressWidth, domainId)
            .WithPgtt(PasidGranularTranslationType.Nested)
            .WithFirstStagePointer(fsptptrGpa).WithFirstStagePagingMode(fiveLevelFirstStage ? 1 : 0);

    public static PasidEntry PassThroughEntry(ushort domainId) =>
        new PasidEntry(0, 0, 0).WithPgtt(PasidGranularTranslationType.PassThrough).WithDomainId(domainId).WithPresent(true);

    public PasidEntry WithPresent(bool on) => this with { Q0 = Bits.Set(Q0, 0, on) };
    public PasidEntry WithFaultProcessingDisable(bool on) => this with { Q0 = Bits.Set(Q0, 1, on) };
    public PasidEntry WithAddressWidth(int aw) => this with { Q0 = Bits.Set(Q0, 4, 2, (ulong)aw, "AW") };
    public PasidEntry WithSecondStageExecuteEnable(bool on) => this with { Q0 = Bits.Set(Q0, 5, on) };
    public PasidEntry WithPgtt(PasidGranularTranslationType pgtt) => this with { Q0 = Bits.Set(Q0, 8, 6, (ulong)pgtt, "PGTT") };
    public PasidEntry WithSecondStageAccessedDirtyEnable(bool on) => this with { Q0 = Bits.Set(Q0, 9, on) };
    public PasidEntry WithSecondStagePointer(Hpa table) => this with { Q0 = (Q0 & 0xFFF) | Bits.PageAddress(table.Value, "SSPTPTR") };
    public PasidEntry WithDomainId(ushort did) => this with { Q1 = Bits.Set(Q1, 15, 0, did, "DID") };
    public PasidEntry WithPageWalkSnoop(bool on) => this with { Q1 = Bits.Set(Q1, 23, on) };
    public PasidEntry WithPageSnoop(bool on) => this with { Q1 = Bits.Set(Q1, 24, on) };
    public PasidEntry WithSupervisorRequestEnable(bool on) => this with { Q2 = Bits.Set(Q2, 0, on) };
    public PasidEntry WithExecuteRequestEnable(bool on) => this with { Q2 = Bits.Set(Q2, 1, on) };
    public PasidEntry WithFirstStagePagingMode(int fspm) => this with { Q2 = Bits.Set(Q2, 3, 2, (ulong)fspm, "FSPM") };
    public PasidEntry WithWriteProtectEnable(bool on) => this with { Q2 = Bits.Set(Q2, 4, on) };
    public PasidEntry WithExtendedAccessedFlagEnable(bool on) => this with { Q2 = Bits.Set(Q2, 7, on) };
    /// <summary>FSPTPTR, bits 63:12 of Q2: any 4 KiB aligned address (a nested entry's GPA may use every bit).</summary>
    public PasidEntry WithFirstStagePointer(ulong table) => this with { Q2 = (Q2 & 0xFFF) | Bits.PageAlignedInput(table, "FSPTPTR") };
}
