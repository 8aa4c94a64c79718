namespace VtdSim.Vmm.Memory;

/// <summary>
/// What a memory region is, as QEMU's memory API distinguishes them (docs/devel/memory.rst). Only the kinds that hold
/// contents of their own "terminate" rendering; a container shows what its subregions show and lets lower regions
/// show through its holes; an alias shows a window of another region.
/// </summary>
public enum RegionKind
{
    /// <summary>Holds subregions only (QEMU's memory_region_init); its holes are not its own.</summary>
    Container,

    /// <summary>Guest RAM (memory_region_init_ram); read-only when <see cref="MemoryRegion.ReadOnly"/> is set.</summary>
    Ram,

    /// <summary>ROM: RAM that the guest cannot write (memory_region_init_rom sets the read-only flag).</summary>
    Rom,

    /// <summary>ROM device (romd): in ROMD mode reads go to its memory and writes to its callbacks; otherwise all I/O.</summary>
    RomDevice,

    /// <summary>RAM of a device (a BAR mapped from the host, memory_region_init_ram_device_ptr): memory, but not guest RAM.</summary>
    RamDevice,

    /// <summary>I/O callbacks (MMIO or port I/O; memory_region_init_io).</summary>
    Io,

    /// <summary>An IOMMU region (memory_region_init_iommu): translated, not memory; printed as I/O.</summary>
    Iommu,

    /// <summary>A window onto another region at an offset (memory_region_init_alias).</summary>
    Alias,
}
