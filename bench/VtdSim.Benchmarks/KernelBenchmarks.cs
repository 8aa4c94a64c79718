using BenchmarkDotNet.Attributes;
using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Profiles;
using VtdSim.Kernel;
using VtdSim.Kernel.Intel;
using VtdSim.Kernel.Iommufd;
using VtdSim.Kernel.Process;
using VtdSim.Machine;

namespace VtdSim.Benchmarks;

/// <summary>
/// Issue 4's map/unmap measures. Each operation maps and then unmaps (so it can repeat), on a sapphire-rapids host
/// whose domain has a device attached, so every unmap is followed by its IOTLB invalidation through queued
/// invalidation (map needs none: CM=0, no RWBF). Driver level: PagingDomain.Map/Unmap (Linux's iommu_map/unmap on
/// VT-d second stage). IOAS level: IOMMU_IOAS_MAP/UNMAP of 4 KiB of process memory, pinning included.
/// </summary>
[MemoryDiagnoser]
public class KernelBenchmarks
{
    private static readonly SourceId Device = new(0, 3, 0);
    private PagingDomain _domain = null!;
    private IommufdContext _fd = null!;
    private uint _ioas;
    private ulong _userPage;

    [GlobalSetup]
    public void Setup()
    {
        var machine = PhysicalMachine.Host(BuiltInProfiles.SapphireRapids, 1UL << 42);
        machine.AddFunction(new PciFunction(Device, "bench NIC"));
        machine.AddFunction(new PciFunction(new SourceId(0, 4, 0), "bench NIC 2"));
        var kernel = LinuxKernel.Boot(machine);
        if (kernel.Iommu.AllocPaging(PagingDomainFlags.NestParent, out var domain) != Errno.Success) throw new InvalidOperationException("alloc");
        _domain = domain!;
        if (kernel.Iommu.Attach(Device, _domain) != Errno.Success) throw new InvalidOperationException("attach");

        var process = kernel.CreateProcess("bench");
        _fd = kernel.OpenIommufd(process);
        _ioas = _fd.IoasAlloc();
        if (_fd.DeviceBind(new SourceId(0, 4, 0), out uint dev) != Errno.Success) throw new InvalidOperationException("bind");
        uint pt = _ioas;
        if (_fd.DeviceAttach(dev, ref pt) != Errno.Success) throw new InvalidOperationException("attach ioas");
        if (process.Mmap(4096, MemoryProtection.ReadWrite, out _userPage) != Errno.Success) throw new InvalidOperationException("mmap");
        if (process.Write64(_userPage, 1) != Errno.Success) throw new InvalidOperationException("touch");
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
    public ulong IoasMapUnmap4K()
    {
        ulong iova = 0x2000_0000;
        if (_fd.IoasMap(_ioas, IoasMapFlags.FixedIova | IoasMapFlags.Readable | IoasMapFlags.Writeable, _userPage, 4096, ref iova) != Errno.Success)
            throw new InvalidOperationException("IOAS_MAP failed");
        ulong length = 4096;
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
