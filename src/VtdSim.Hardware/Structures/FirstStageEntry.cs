using System.Runtime.CompilerServices;

namespace VtdSim.Hardware.Structures;

/// <summary>A first-stage paging entry (IA-32e format, spec 9.7): PML5E, PML4E, PDPE, PDE or PTE.</summary>
public readonly record struct FirstStageEntry(ulong Raw)
{
    public const ulong PresentBit = 1UL << 0;
    public const ulong ReadWriteBit = 1UL << 1;
    public const ulong UserBit = 1UL << 2;
    public const ulong AccessedBit = 1UL << 5;
    public const ulong DirtyBit = 1UL << 6;
    public const ulong PageSizeBit = 1UL << 7;
    public const ulong GlobalBit = 1UL << 8;
    public const ulong ExtendedAccessedBit = 1UL << 10;
    public const ulong ExecuteDisableBit = 1UL << 63;
    public const ulong AddressMask = 0x000F_FFFF_FFFF_F000;

    public bool Present => (Raw & PresentBit) != 0;
    public bool Writable => (Raw & ReadWriteBit) != 0;
    public bool User => (Raw & UserBit) != 0;
    public bool WriteThrough => Bits.Test(Raw, 3);
    public bool CacheDisable => Bits.Test(Raw, 4);
    public bool Accessed => (Raw & AccessedBit) != 0;
    public bool Dirty => (Raw & DirtyBit) != 0;
    public bool PageSize => (Raw & PageSizeBit) != 0;
    public bool Global => (Raw & GlobalBit) != 0;
    public bool ExtendedAccessed => (Raw & ExtendedAccessedBit) != 0;
    public bool ExecuteDisable => (Raw & ExecuteDisableBit) != 0;
    /// <summary>Bits 51:12: the next table, or the page frame (whose low bits must be zero for large pages).</summary>
    public ulong Address => Raw & AddressMask;

    public static FirstStageEntry Table(ulong nextTable, bool writable = true, bool user = true) =>
        new(Bits.PageAddress(nextTable, "next table") | PresentBit | (writable ? ReadWriteBit : 0) | (user ? UserBit : 0));

    public static FirstStageEntry Page(ulong frame, int level = 1, bool writable = true, bool user = true)
    {
        ulong size = 1UL << (12 + 9 * (level - 1));
        if (level is < 1 or > 3) throw new ArgumentOutOfRangeException(nameof(level), level, "first-stage pages exist at levels 1..3");
        if ((frame & (size - 1)) != 0) throw new ArgumentException($"frame 0x{frame:x} is not aligned to its 0x{size:x}-byte page", nameof(frame));
        return new(Bits.PageAddress(frame, "page frame") | PresentBit | (writable ? ReadWriteBit : 0) | (user ? UserBit : 0) | (level > 1 ? PageSizeBit : 0));
    }

    public FirstStageEntry WithPresent(bool on) => new(Bits.Set(Raw, 0, on));
    public FirstStageEntry WithWritable(bool on) => new(Bits.Set(Raw, 1, on));
    public FirstStageEntry WithUser(bool on) => new(Bits.Set(Raw, 2, on));
    public FirstStageEntry WithAccessed(bool on) => new(Bits.Set(Raw, 5, on));
    public FirstStageEntry WithDirty(bool on) => new(Bits.Set(Raw, 6, on));
    public FirstStageEntry WithExtendedAccessed(bool on) => new(Bits.Set(Raw, 10, on));
    public FirstStageEntry WithExecuteDisable(bool on) => new(Bits.Set(Raw, 63, on));

    /// <summary>
    /// Reserved bits for an entry at <paramref name="level"/> (5 = PML5E .. 1 = PTE): address bits at or above HAW,
    /// PS in PML5E/PML4E, and the low frame bits of 2 MiB/1 GiB pages (PAT stays at bit 12). Bits 62:52 are ignored.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong ReservedMask(int level, bool leaf, int haw)
    {
        ulong mask = Bits.AboveWidth(haw);
        if (level >= 4) mask |= PageSizeBit;
        if (leaf && level == 2) mask |= Bits.Mask(20, 13);
        if (leaf && level == 3) mask |= Bits.Mask(29, 13);
        return mask;
    }
}
