namespace VtdSim.Vmm;

/// <summary>
/// What backs the guest's main RAM (`-m`), as QEMU's memory backends: anonymous private memory (the default),
/// hugetlbfs with 2 MiB or 1 GiB pages (`memory-backend-file,mem-path=/dev/hugepages…` / MAP_HUGETLB), or a shared
/// file (`memory-backend-memfd`). ROMs and device RAM (`pc.bios`, `pc.rom`, `vga.vram`) are anonymous memory whatever
/// the RAM backend, as QEMU allocates them as RAM blocks of their own.
/// </summary>
public enum GuestRamBackend
{
    Anonymous,
    Hugetlb2M,
    Hugetlb1G,
    SharedFile,
}
