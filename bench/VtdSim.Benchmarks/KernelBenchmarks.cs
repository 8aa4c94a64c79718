using BenchmarkDotNet.Attributes;
using VtdSim.Hardware.Addressing;
using VtdSim.Kernel;
using VtdSim.Kernel.Intel;
using VtdSim.Kernel.Iommufd;
using VtdSim.Kernel.Process;

namespace VtdSim.Benchmarks;

/// <summary>
/// Issue 4's map/unmap measures. Each operation maps and then unmaps (so it can repeat), on a sapphire-rapids host
/// whose domain has a device attached, so every unmap is followed by its IOTLB invalidation through queued
/// invalidation (map needs none: CM=0, no RWBF). Driver level: PagingDomain.Map/Unmap (Linux's iommu_map/unmap on
/// VT-d second stage). IOAS level: IOMMU_IOAS_MAP/UNMAP of process memory, pinning and unpinning included: 4 KiB of
/// ordinary memory, and issue 4's 1 TiB backed by 1 GiB hugetlb pages (present in the process: the set-up faulted
/// them in, so each call pins 1024 folios, maps 1024 one-GiB leaves, unmaps them with the flush, and unpins).
/// </summary>
[MemoryDiagnoser]
public class KernelBenchmarks
{
    private const ulong Tebibyte = 1UL << 40;
    private PagingDomain _domain = null!;
    private IommufdContext _fd = null!;
    private uint _ioas;
    private Uva _userPage;
    private Uva _hugeVa;

    [GlobalSetup]
    public void Setup()
    {
        // User memory above the MMIO hole, 1 GiB aligned and large enough for 1 TiB of 1 GiB pages besides the 4 KiB page.
        var layout = new KernelMemoryLayout(new Hpa(0x10_0000), 63UL << 20, new Hpa(4UL << 30), Tebibyte + (1UL << 30));
        var host = new KernelBenchHost(1UL << 42, layout);
        _domain = host.Domain;
        _fd = host.Iommufd;
        _ioas = host.Ioas;
        var process = host.Process;
        if (process.Mmap(4096, MemoryProtection.ReadWrite, out _userPage) != Errno.Success) throw new InvalidOperationException("mmap");
        if (process.Write64(_userPage, 1) != Errno.Success) throw new InvalidOperationException("touch");
        if (process.Mmap(Tebibyte, MemoryProtection.ReadWrite, out _hugeVa, new Uva(Tebibyte), MapFlags.Hugetlb | MapFlags.Huge1GB) != Errno.Success)
            throw new InvalidOperationException("mmap hugetlb");
        IoasMapUnmap1T(); // faults the huge pages in
    }

    [Benchmark(Description = "Domain map+unmap 4 KiB")]
    public ulong MapUnmap4K() => MapUnmap(0x1000_0000, 4096);

    [Benchmark(Description = "Domain map+unmap 2 MiB")]
    public ulong MapUnmap2M() => MapUnmap(0x4000_0000, 2UL << 20);

    [Benchmark(Description = "Domain map+unmap 1 GiB")]
    public ulong MapUnmap1G() => MapUnmap(0x40_0000_0000, 1UL << 30);

    /// <summary>The page-table half of issue 4's "1 TiB IOAS backed by 1 GiB pages": 1024 leaf entries, then the unmap and its flush.</summary>
    [Benchmark(Description = "Domain map+unmap 1 TiB (1 GiB pages)")]
    public ulong MapUnmap1T() => MapUnmap(1UL << 40, 1UL << 40);

    [Benchmark(Description = "IOAS map+unmap 4 KiB (pinning)")]
    public ulong IoasMapUnmap4K() => IoasMapUnmap(_userPage, 0x2000_0000, 4096);

    /// <summary>Issue 4's target: a 1 TiB IOAS backed by 1 GiB pages in under 1 ms.</summary>
    [Benchmark(Description = "IOAS map+unmap 1 TiB (1 GiB hugetlb pages)")]
    public ulong IoasMapUnmap1T() => IoasMapUnmap(_hugeVa, 2 * Tebibyte, Tebibyte);

    private ulong IoasMapUnmap(Uva userVa, ulong iova, ulong size)
    {
        if (_fd.IoasMap(_ioas, IoasMapFlags.FixedIova | IoasMapFlags.Readable | IoasMapFlags.Writeable, userVa, size, ref iova) != Errno.Success)
            throw new InvalidOperationException("IOAS_MAP failed");
        ulong length = size;
        _fd.IoasUnmap(_ioas, iova, ref length);
        return length;
    }

    private ulong MapUnmap(ulong iova, ulong size)
    {
        // The physical range equals the IOVA: aligned for every page size, and never touched (sparse memory).
        if (_domain.Map(iova, iova, size, IommuProt.Read | IommuProt.Write) != Errno.Success) throw new InvalidOperationException("map failed");
        return _domain.Unmap(iova, size);
    }
}
