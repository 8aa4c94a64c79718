namespace VtdSim.Vmm.Memory;

/// <summary>
/// One section of a flat view (QEMU's FlatRange / MemoryRegionSection): the guest addresses
/// [<see cref="Start"/>, <see cref="Start"/> + <see cref="Size"/>) show <see cref="Region"/> from
/// <see cref="OffsetInRegion"/> on. <see cref="ReadOnly"/> is set when the region or any region on the way to it
/// (an alias set read-only, as PAM does) is read-only. <see cref="Size"/> can be 2^64 (a whole address space).
/// </summary>
public readonly record struct MemorySection(ulong Start, UInt128 Size, MemoryRegion Region, ulong OffsetInRegion, bool ReadOnly, bool RomdMode)
{
    /// <summary>The last address of the section (Start + Size - 1; Start for an empty section, as QEMU prints it).</summary>
    public ulong Last => Size == 0 ? Start : (ulong)(Start + Size - 1);

    /// <summary>The kind of the region the section shows.</summary>
    public RegionKind Kind => Region.Kind;

    /// <summary>Guest RAM or ROM (memory a listener maps), including a ROM device in ROMD mode and device RAM.</summary>
    public bool IsMemory => Region.Kind is RegionKind.Ram or RegionKind.Rom or RegionKind.RamDevice
        || (Region.Kind == RegionKind.RomDevice && RomdMode);

    /// <summary>What `info mtree -f` prints in the parentheses after the priority: "rom" for a read-only section, else the region's type.</summary>
    public string TypeName => ReadOnly ? "rom" : Region.TypeName;
}
