using System.Globalization;

namespace VtdSim.Vmm.Memory;

/// <summary>
/// A node of a memory map, as QEMU's MemoryRegion: a name, a size (up to 2^64), a kind, and — once added to a
/// container — an offset in it and a signed priority. Regions are made by a <see cref="MemorySystem"/> and change only
/// through its methods here; every change re-renders the address spaces and tells their listeners (at once, or at the
/// end of the system's current transaction). A change that cannot be made throws <see cref="MemoryMapException"/>
/// naming the region and changes nothing.
/// </summary>
public sealed class MemoryRegion
{
    private readonly List<MemoryRegion> subregions = [];
    private readonly List<MemoryRegion> aliasedBy = [];

    internal MemoryRegion(MemorySystem system, string name, RegionKind kind, UInt128 size, MemoryRegion? aliasTarget, ulong aliasOffset)
    {
        System = system;
        Name = name;
        Kind = kind;
        Size = size;
        AliasTarget = aliasTarget;
        AliasOffset = aliasOffset;
        ReadOnly = kind == RegionKind.Rom;
    }

    public MemorySystem System { get; }

    public string Name { get; }

    public RegionKind Kind { get; }

    /// <summary>The size in bytes; 2^64 for a region that spans a whole address space.</summary>
    public UInt128 Size { get; private set; }

    /// <summary>The offset in the container (0 while the region is in none).</summary>
    public ulong Address { get; private set; }

    /// <summary>The priority among the container's subregions: a higher one covers a lower one where they overlap.</summary>
    public int Priority { get; private set; }

    /// <summary>A disabled region and everything below it is not rendered.</summary>
    public bool Enabled { get; private set; } = true;

    /// <summary>Guest writes are refused here (QEMU's readonly flag; set on ROM, and on RAM or an alias by PAM and firmware).</summary>
    public bool ReadOnly { get; private set; }

    /// <summary>For a ROM device: reads go straight to its memory (ROMD mode, the default) or to its callbacks.</summary>
    public bool RomdMode { get; private set; } = true;

    /// <summary>The container this region is a subregion of, if any.</summary>
    public MemoryRegion? Container { get; private set; }

    /// <summary>For an alias: the region it shows, from <see cref="AliasOffset"/> on.</summary>
    public MemoryRegion? AliasTarget { get; }

    public ulong AliasOffset { get; private set; }

    /// <summary>
    /// What backs a RAM region's bytes. Opaque to the memory map: the VMM sets it (later, a range of its process's
    /// address space) and listeners read it from the sections they get.
    /// </summary>
    public object? Backing { get; set; }

    /// <summary>
    /// What accesses to an I/O region (or a ROM device outside ROMD mode) do: the device behind it. Null for regions the
    /// model lays out but does not emulate (an access then behaves as unassigned, decision V20).
    /// </summary>
    public IRegionOps? Ops { get; set; }

    /// <summary>The subregions in QEMU's list order: higher priority first, and among equal priorities the one added last first.</summary>
    public IReadOnlyList<MemoryRegion> Subregions => subregions;

    /// <summary>The region holds contents of its own (it "terminates" rendering: its holes are not see-through).</summary>
    public bool Terminates => Kind is not (RegionKind.Container or RegionKind.Alias);

    /// <summary>QEMU's type name as `info mtree` prints it: an alias has its target's type.</summary>
    public string TypeName => Kind switch
    {
        RegionKind.Alias => AliasTarget!.TypeName,
        RegionKind.RamDevice => "ramd",
        RegionKind.RomDevice => RomdMode ? "romd" : "i/o",
        RegionKind.Ram or RegionKind.Rom => ReadOnly ? "rom" : "ram",
        _ => "i/o",
    };

    /// <summary>Adds <paramref name="child"/> at <paramref name="offset"/> with <paramref name="priority"/> (memory_region_add_subregion_overlap).</summary>
    public void AddSubregion(MemoryRegion child, ulong offset, int priority = 0) => AddSubregion(child, offset, priority, checkGraph: true);

    /// <summary>
    /// <see cref="AddSubregion(MemoryRegion, ulong, int)"/> for a builder that rules out loops and address-space roots
    /// itself (the `info mtree` importer, decision I9): without <paramref name="checkGraph"/> the two checks that walk
    /// the map (the loop search and the address-space roots) are left out; the others stay.
    /// </summary>
    internal void AddSubregion(MemoryRegion child, ulong offset, int priority, bool checkGraph)
    {
        ArgumentNullException.ThrowIfNull(child);
        if (child.System != System) throw Error(child, "belongs to another memory system");
        if (child.Container is { } parent) throw Error(child, $"is already a subregion of '{parent.Name}'");
        if (child == this) throw Error(child, "cannot be a subregion of itself");
        if (checkGraph && System.IsRoot(child)) throw Error(child, "is the root of an address space");
        if (checkGraph && Reaches(child, this)) throw Error(child, $"contains '{Name}' (directly or through an alias), so adding it there would make a loop");
        CheckFits(child, offset, child.Size);
        child.Address = offset;
        child.Priority = priority;
        child.Container = this;
        Insert(child);
        System.Changed();
    }

    /// <summary>Removes <paramref name="child"/> from this container (memory_region_del_subregion).</summary>
    public void RemoveSubregion(MemoryRegion child)
    {
        ArgumentNullException.ThrowIfNull(child);
        if (child.Container != this) throw Error(child, $"is not a subregion of '{Name}'");
        subregions.Remove(child);
        child.Container = null;
        System.Changed();
    }

    /// <summary>Moves the region within its container (memory_region_set_address: out and back in, so it goes first among its priority).</summary>
    public void SetAddress(ulong offset)
    {
        if (Container is not { } parent) throw Error(this, "is in no container, so it has no address to change");
        if (offset == Address) return;
        CheckFits(this, offset, Size);
        parent.subregions.Remove(this);
        Address = offset;
        parent.Insert(this);
        System.Changed();
    }

    public void SetEnabled(bool enabled)
    {
        if (enabled == Enabled) return;
        Enabled = enabled;
        System.Changed();
    }

    public void SetReadOnly(bool readOnly)
    {
        if (readOnly == ReadOnly) return;
        ReadOnly = readOnly;
        System.Changed();
    }

    /// <summary>Switches a ROM device between ROMD mode (reads from memory) and I/O mode (memory_region_rom_device_set_romd).</summary>
    public void SetRomdMode(bool romd)
    {
        if (Kind != RegionKind.RomDevice) throw Error(this, "is not a ROM device");
        if (romd == RomdMode) return;
        RomdMode = romd;
        System.Changed();
    }

    /// <summary>Points an alias at another offset of its target (memory_region_set_alias_offset).</summary>
    public void SetAliasOffset(ulong offset)
    {
        if (AliasTarget is not { } target) throw Error(this, "is not an alias");
        if (offset == AliasOffset) return;
        CheckAliasWindow(Name, target, offset, Size);
        AliasOffset = offset;
        System.Changed();
    }

    /// <summary>Resizes the region (memory_region_set_size); aliases of it must still fit in it.</summary>
    public void SetSize(UInt128 size)
    {
        if (size == Size) return;
        CheckSize(Name, size);
        if (Container is not null) CheckFits(this, Address, size);
        if (AliasTarget is { } target) CheckAliasWindow(Name, target, AliasOffset, size);
        foreach (MemoryRegion alias in aliasedBy)
            if ((UInt128)alias.AliasOffset + alias.Size > size)
                throw Error(this, $"cannot shrink to 0x{size:x}: alias '{alias.Name}' shows 0x{alias.AliasOffset:x}-0x{(UInt128)alias.AliasOffset + alias.Size - 1:x} of it");
        Size = size;
        System.Changed();
    }

    public override string ToString() => Name;

    internal void AddAliasOf(MemoryRegion alias) => aliasedBy.Add(alias);

    internal static void CheckSize(string name, UInt128 size)
    {
        if (size > MemorySystem.AddressSpaceSize)
            throw new MemoryMapException($"memory region '{name}': size 0x{size.ToString("x", CultureInfo.InvariantCulture)} is larger than 2^64");
    }

    internal static void CheckAliasWindow(string name, MemoryRegion target, ulong offset, UInt128 size)
    {
        if ((UInt128)offset + size > target.Size)
            throw new MemoryMapException(
                $"memory region '{name}': the alias window 0x{offset:x} + 0x{size.ToString("x", CultureInfo.InvariantCulture)} goes beyond its target '{target.Name}' (size 0x{target.Size.ToString("x", CultureInfo.InvariantCulture)})");
    }

    private static void CheckFits(MemoryRegion child, ulong offset, UInt128 size)
    {
        if ((UInt128)offset + size > MemorySystem.AddressSpaceSize)
            throw Error(child, $"at offset 0x{offset:x} with size 0x{size.ToString("x", CultureInfo.InvariantCulture)} would pass 2^64");
    }

    /// <summary>QEMU's list order: before the first subregion whose priority is not higher.</summary>
    private void Insert(MemoryRegion child)
    {
        int at = subregions.FindIndex(other => child.Priority >= other.Priority);
        if (at < 0) subregions.Add(child);
        else subregions.Insert(at, child);
    }

    /// <summary>Whether rendering <paramref name="from"/> can reach <paramref name="to"/> (through subregions and alias targets).</summary>
    private static bool Reaches(MemoryRegion from, MemoryRegion to)
    {
        var seen = new HashSet<MemoryRegion>(ReferenceEqualityComparer.Instance);
        var stack = new Stack<MemoryRegion>();
        stack.Push(from);
        while (stack.Count > 0)
        {
            MemoryRegion r = stack.Pop();
            if (r == to) return true;
            if (!seen.Add(r)) continue;
            if (r.AliasTarget is { } t) stack.Push(t);
            foreach (MemoryRegion s in r.subregions) stack.Push(s);
        }
        return false;
    }

    private static MemoryMapException Error(MemoryRegion region, string what) => new($"memory region '{region.Name}' {what}");
}
