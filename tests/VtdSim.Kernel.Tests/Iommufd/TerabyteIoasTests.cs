using VtdSim.Kernel.Iommufd;
using VtdSim.Kernel.Process;
using VtdSim.Kernel.Tests.Process;
using static VtdSim.Kernel.Tests.Iommufd.IommufdBench;

namespace VtdSim.Kernel.Tests.Iommufd;

/// <summary>
/// Issue 4's case: a 1 TiB IOAS backed by 1 GiB huge pages, with devices attached. What it costs must follow what is
/// mapped (1024 folios, 1024 runs, 1024 leaves per domain), not the address space (2^28 pages of 4 KiB).
/// </summary>
public class TerabyteIoasTests
{
    private const ulong GiB = 1UL << 30, TiB = 1UL << 40;

    [Fact]
    public void OneTebibyteOfGibibytePagesMapsAsGibibyteLeavesAndCostsWhatIsMapped()
    {
        var b = new IommufdBench(layout: HugePageKernel.Layout(TiB), memorySize: 1UL << 42);
        uint ioas = b.Ioas();
        var (dev0, auto) = b.BindAttach(Dev0, ioas);
        uint parent = b.Hwpt(dev0, ioas, HwptAllocFlags.NestParent);
        b.BindAttach(Dev1, parent);
        int tablePages = b.Kernel.Pages.PagesInUse;
        Assert.Equal(Errno.Success, b.Process.Mmap(TiB, MemoryProtection.ReadWrite, out Uva va, new Uva(TiB), MapFlags.Hugetlb | MapFlags.Huge1GB));

        ulong iova = 2 * TiB;
        b.Map(ioas, va, TiB, iova: iova); // faults in and pins all of it

        Assert.Equal(1024, b.Kernel.UserMemory.PagesInUse);
        Assert.Equal(TiB, b.Kernel.UserMemory.BytesInUse);
        Assert.Equal((long)(TiB / 4096), b.Kernel.UserMemory.TotalPins);
        Assert.Equal(1024, b.Process.ResidentPages);
        var area = b.IoasOf(ioas).Areas.Single();
        Assert.Equal(1024, area.Runs.Count);
        Assert.All(area.Runs, r => Assert.Equal(18, r.Folio.Order));
        // Nothing was written: the folios were zeroed without touching memory; page tables are a handful of pages.
        Assert.True(b.Machine.Memory.MaterializedFrames < 1024, $"{b.Machine.Memory.MaterializedFrames} frames materialised");
        Assert.True(b.Kernel.Pages.PagesInUse - tablePages < 16, $"{b.Kernel.Pages.PagesInUse - tablePages} table pages");

        foreach (uint hwpt in new[] { auto, parent })
        {
            var table = b.PagingOf(hwpt).PagingDomain.Table;
            foreach (ulong gib in new ulong[] { 0, 1, 511, 512, 1023 })
                Assert.Equal(GiB, table.Lookup(iova + gib * GiB + 0x5000)!.Value.PageSize);
        }

        // DMA from both devices lands in the right huge page.
        ulong offset = 777 * GiB + 0x1234_5678;
        Assert.True(b.DmaWrite64(Dev0, iova + offset, 0x7E4A));
        Assert.Equal(Errno.Success, b.Process.Read64(va + offset, out ulong seen));
        Assert.Equal(0x7E4AUL, seen);
        Assert.Equal(0x7E4AUL, b.DmaRead64(Dev1, iova + offset));
        Assert.Equal(b.Process.Translate(va + offset)!.Value.Value, b.PagingOf(parent).PagingDomain.Table.Lookup(iova + offset)!.Value.Physical);

        // Unmap releases every pin; the process still maps the folios until it unmaps them.
        ulong length = TiB;
        Assert.Equal(Errno.Success, b.Fd.IoasUnmap(ioas, iova, ref length));
        Assert.Equal(TiB, length);
        Assert.Equal(0, b.Kernel.UserMemory.TotalPins);
        Assert.Null(b.DmaRead64(Dev0, iova + offset));
        Assert.Equal(1024, b.Kernel.UserMemory.PagesInUse);
        Assert.Equal(Errno.Success, b.Process.Munmap(va, TiB));
        Assert.Equal(0, b.Kernel.UserMemory.PagesInUse);
    }
}
