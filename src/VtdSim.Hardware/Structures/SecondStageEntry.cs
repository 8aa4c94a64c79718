using System.Runtime.CompilerServices;

namespace VtdSim.Hardware.Structures;

/// <summary>
/// A second-stage paging entry (spec 9.8), also the format of legacy second-level entries. It has no present bit: an
/// entry is not present when R=W=0 (and X=0 where X is in use).
/// </summary>
public readonly record struct SecondStageEntry(ulong Raw)
{
    public const ulong ReadBit = 1UL << 0;
    public const ulong WriteBit = 1UL << 1;
    public const ulong ExecuteBit = 1UL << 2;
    public const ulong IgnorePatBit = 1UL << 6;
    public const ulong PageSizeBit = 1UL << 7;
    public const ulong AccessedBit = 1UL << 8;
    public const ulong DirtyBit = 1UL << 9;
    public const ulong SnoopBit = 1UL << 11;
    public const ulong TransientMappingBit = 1UL << 62;
    public const ulong AddressMask = 0x000F_FFFF_FFFF_F000;

    public bool Read => (Raw & ReadBit) != 0;
    public bool Write => (Raw & WriteBit) != 0;
    public bool Execute => (Raw & ExecuteBit) != 0;
    public int ExtendedMemoryType => (int)Bits.Get(Raw, 5, 3);
    public bool IgnorePat => (Raw & IgnorePatBit) != 0;
    public bool PageSize => (Raw & PageSizeBit) != 0;
    public bool Accessed => (Raw & AccessedBit) != 0;
    public bool Dirty => (Raw & DirtyBit) != 0;
    public bool Snoop => (Raw & SnoopBit) != 0;
    public bool TransientMapping => (Raw & TransientMappingBit) != 0;
    public ulong Address => Raw & AddressMask;

    public static SecondStageEntry Table(ulong nextTable, bool read = true, bool write = true, bool execute = false) =>
        new(Bits.PageAddress(nextTable, "next table") | (read ? ReadBit : 0) | (write ? WriteBit : 0) | (execute ? ExecuteBit : 0));

    public static SecondStageEntry Page(ulong frame, int level = 1, bool read = true, bool write = true, bool execute = false)
    {
        if (level is < 1 or > 3) throw new ArgumentOutOfRangeException(nameof(level), level, "second-stage pages exist at levels 1..3");
        ulong size = 1UL << (12 + 9 * (level - 1));
        if ((frame & (size - 1)) != 0) throw new ArgumentException($"frame 0x{frame:x} is not aligned to its 0x{size:x}-byte page", nameof(frame));
        return new(Bits.PageAddress(frame, "page frame") | (read ? ReadBit : 0) | (write ? WriteBit : 0) | (execute ? ExecuteBit : 0) | (level > 1 ? PageSizeBit : 0));
    }

    public SecondStageEntry WithRead(bool on) => new(Bits.Set(Raw, 0, on));
    public SecondStageEntry WithWrite(bool on) => new(Bits.Set(Raw, 1, on));
    public SecondStageEntry WithExecute(bool on) => new(Bits.Set(Raw, 2, on));
    public SecondStageEntry WithAccessed(bool on) => new(Bits.Set(Raw, 8, on));
    public SecondStageEntry WithDirty(bool on) => new(Bits.Set(Raw, 9, on));
    public SecondStageEntry WithSnoop(bool on) => new(Bits.Set(Raw, 11, on));

    /// <summary>
    /// Reserved bits for an entry at <paramref name="level"/>: address bits at or above HAW; in non-leaf entries bit 11
    /// and bit 62, plus PS in PML5E/PML4E; in leaves SNP unless ECAP.SC and TM unless ECAP.DT; the low frame bits of
    /// large pages.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong ReservedMask(int level, bool leaf, int haw, bool snoopControl, bool deviceTlb)
    {
        ulong mask = Bits.AboveWidth(haw);
        if (!leaf)
        {
            mask |= SnoopBit | TransientMappingBit;
            if (level >= 4) mask |= PageSizeBit;
            return mask;
        }
        if (!snoopControl) mask |= SnoopBit;
        if (!deviceTlb) mask |= TransientMappingBit;
        if (level == 2) mask |= Bits.Mask(20, 12);
        if (level == 3) mask |= Bits.Mask(29, 12);
        return mask;
    }
}
