using BenchmarkDotNet.Attributes;
using VtdSim.Kernel;
using VtdSim.Kernel.Intel;
using VtdSim.Kernel.Iommufd;
using VtdSim.Kernel.Process;

namespace VtdSim.Benchmarks;

/// <summary>
/// Map and unmap of 4 KiB in a populated table, separately where that can be done, as Linux's published per-call
/// figures are (55 ns map, 69 ns unmap on VT-d second stage): a neighbouring page stays mapped, so no table page is
/// allocated or freed, and each operation is one of <see cref="Pages"/> in a row. The domain "map" row ends with one
/// unmap of the whole range (its cost shared out over the maps); the "unmap" row starts with one map of the whole
/// range, and every single unmap is followed by its own page-selective flush (one row repeats the unmaps on a domain
/// with no device attached, which needs no flush). An IOAS area can only be unmapped whole, and measuring IOAS_MAP alone
/// would need a clean-up between invocations that keeps the JIT from optimising the code under test, so the IOAS row is
/// map+unmap. Same host as <see cref="KernelBenchmarks"/>.
/// </summary>
[MemoryDiagnoser]
public class KernelSteadyStateBenchmarks
{
    private const int Pages = 511;
    private const ulong Page = 4096;
    private const ulong DomainBase = 0x1000_0000, IoasBase = 0x2000_0000, Keeper = (Pages) * Page; // the last page of each 2 MiB
    private PagingDomain _domain = null!, _detached = null!;
    private IommufdContext _fd = null!;
    private uint _ioas;
    private Uva _user;

    [GlobalSetup]
    public void Setup()
    {
        var host = new KernelBenchHost(1UL << 36);
        _domain = host.Domain;
        Check(_domain.Map(DomainBase + Keeper, 0x8000_0000, Page, IommuProt.Read | IommuProt.Write), "keeper");
        Check(host.Kernel.Iommu.AllocPaging(PagingDomainFlags.NestParent, out var detached), "alloc");
        _detached = detached!;
        Check(_detached.Map(DomainBase + Keeper, 0x8000_0000, Page, IommuProt.Read | IommuProt.Write), "keeper");

        _fd = host.Iommufd;
        _ioas = host.Ioas;
        Check(host.Process.Mmap((Pages + 1) * Page, MemoryProtection.ReadWrite, out _user), "mmap");
        for (ulong i = 0; i <= Pages; i++) Check(host.Process.Write64(_user + i * Page, i), "touch");
        ulong keeper = IoasBase + Keeper;
        Check(_fd.IoasMap(_ioas, Flags, _user + Keeper, Page, ref keeper), "keeper");
    }

    private const IoasMapFlags Flags = IoasMapFlags.FixedIova | IoasMapFlags.Readable | IoasMapFlags.Writeable;

    [Benchmark(Description = "Domain map 4 KiB, populated table", OperationsPerInvoke = Pages)]
    public ulong DomainMap4K()
    {
        for (ulong i = 0; i < Pages; i++) Check(_domain.Map(DomainBase + i * Page, 0x4000_0000 + 2 * i * Page, Page, IommuProt.Read | IommuProt.Write), "map");
        return _domain.Unmap(DomainBase, Pages * Page);
    }

    [Benchmark(Description = "Domain unmap 4 KiB (+ its flush), populated table", OperationsPerInvoke = Pages)]
    public ulong DomainUnmap4K() => MapRangeThenUnmapEachPage(_domain);

    /// <summary>The same unmaps on a domain no device is attached to: no invalidation to send, the page-table work alone.</summary>
    [Benchmark(Description = "Domain unmap 4 KiB, populated table, no device (no flush)", OperationsPerInvoke = Pages)]
    public ulong DetachedUnmap4K() => MapRangeThenUnmapEachPage(_detached);

    /// <summary>One map of the whole range, then an unmap per page (the operations measured).</summary>
    private static ulong MapRangeThenUnmapEachPage(PagingDomain domain)
    {
        Check(domain.Map(DomainBase, 0x4000_0000, Pages * Page, IommuProt.Read | IommuProt.Write), "map");
        ulong unmapped = 0;
        for (ulong i = 0; i < Pages; i++) unmapped += domain.Unmap(DomainBase + i * Page, Page);
        return unmapped;
    }

    [Benchmark(Description = "IOAS map+unmap 4 KiB (pinning), populated table", OperationsPerInvoke = Pages)]
    public ulong IoasMapUnmap4K()
    {
        ulong total = 0;
        for (ulong i = 0; i < Pages; i++)
        {
            ulong iova = IoasBase + i * Page;
            Check(_fd.IoasMap(_ioas, Flags, _user + i * Page, Page, ref iova), "IOAS_MAP");
            ulong length = Page;
            Check(_fd.IoasUnmap(_ioas, iova, ref length), "IOAS_UNMAP");
            total += length;
        }
        return total;
    }

    private static void Check(Errno e, string what) => KernelBenchHost.Check(e, what);
}
