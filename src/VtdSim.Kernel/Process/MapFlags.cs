namespace VtdSim.Kernel.Process;

/// <summary>
/// The mmap flags the model takes beyond MAP_PRIVATE|MAP_ANONYMOUS (or MAP_SHARED for a file), with Linux's values:
/// MAP_HUGETLB and the huge page size, log2 of it in bits 26..31 (MAP_HUGE_SHIFT); size 0 means the default, 2 MiB.
/// </summary>
[Flags]
public enum MapFlags : uint
{
    None = 0,
    /// <summary>MAP_HUGETLB: back the mapping with huge pages, each faulted in whole.</summary>
    Hugetlb = 0x4_0000,
    /// <summary>MAP_HUGE_2MB (21 &lt;&lt; MAP_HUGE_SHIFT).</summary>
    Huge2MB = 21u << 26,
    /// <summary>MAP_HUGE_1GB (30 &lt;&lt; MAP_HUGE_SHIFT).</summary>
    Huge1GB = 30u << 26,
    /// <summary>MAP_HUGE_MASK &lt;&lt; MAP_HUGE_SHIFT: where the huge page size goes.</summary>
    HugeSizeMask = 0x3Fu << 26,
}
