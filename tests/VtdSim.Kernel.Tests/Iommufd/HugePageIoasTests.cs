using VtdSim.Hardware.Addressing;
using VtdSim.Kernel.Intel;
using VtdSim.Kernel.Iommufd;
using VtdSim.Kernel.Process;
using VtdSim.Kernel.Tests.Process;
using static VtdSim.Kernel.Tests.Iommufd.IommufdBench;

namespace VtdSim.Kernel.Tests.Iommufd;

/// <summary>IOAS_MAP of hugetlb memory: pinned by runs, mapped with IOMMU leaves as large as the huge pages.</summary>
public class HugePageIoasTests
{
    private const ulong Page = 4096, MiB = 1UL << 20, GiB = 1UL << 30;

    private static IommufdBench NewBench() => new(layout: HugePageKernel.Layout(8 * GiB));

    /// <summary>Huge pages at a fixed address, every 4 KiB page stamped with its index.</summary>
    private static Uva HugeBuffer(IommufdBench b, ulong size, int hugePages, ulong at)
    {
        var flags = MapFlags.Hugetlb | (size == GiB ? MapFlags.Huge1GB : MapFlags.Huge2MB);
        Assert.Equal(Errno.Success, b.Process.Mmap((ulong)hugePages * size, MemoryProtection.ReadWrite, out Uva va, new Uva(at), flags));
        for (ulong off = 0; off < (ulong)hugePages * size; off += size / 4)
            Assert.Equal(Errno.Success, b.Process.Write64(va + off + 8, Stamp(0x16, off / Page)));
        return va;
    }

    [Theory]
    [InlineData(2UL << 20)]
    [InlineData(1UL << 30)]
    public void AHugePageAtAnAlignedIovaIsOneLeafInEveryDomainAndDmaReachesIt(ulong size)
    {
        var b = NewBench();
        uint ioas = b.Ioas();
        var (dev0, auto) = b.BindAttach(Dev0, ioas);          // first stage (automatic)
        uint parent = b.Hwpt(dev0, ioas, HwptAllocFlags.NestParent); // second stage
        b.BindAttach(Dev1, parent);
        Uva va = HugeBuffer(b, size, 2, at: 0x40_0000_0000);
        ulong iova = 0x80_0000_0000;
        b.Map(ioas, va, 2 * size, iova: iova);

        var area = b.IoasOf(ioas).Areas.Single();
        Assert.Equal(2, area.Runs.Count);
        Assert.All(area.Runs, r => Assert.Equal((uint)(size / Page), r.PageCount));
        foreach (uint hwpt in new[] { auto, parent })
        {
            var table = b.PagingOf(hwpt).PagingDomain.Table;
            Assert.Equal(size, table.Lookup(iova)!.Value.PageSize);
            Assert.Equal(size, table.Lookup(iova + size + size / 2)!.Value.PageSize);
            Assert.Equal(b.Process.Translate(va + size + 0x1234)!.Value.Value, table.Lookup(iova + size + 0x1234)!.Value.Physical);
        }

        // DMA through the hardware: both devices read the CPU's stamp, and a device write is seen by the CPU.
        ulong quarter = size / 4;
        Assert.Equal(Stamp(0x16, (size + quarter) / Page), b.DmaRead64(Dev0, iova + size + quarter + 8));
        Assert.Equal(Stamp(0x16, quarter / Page), b.DmaRead64(Dev1, iova + quarter + 8));
        Assert.True(b.DmaWrite64(Dev1, iova + 2 * size - 8, 0xD0A));
        Assert.Equal(Errno.Success, b.Process.Read64(va + (2 * size - 8), out ulong seen));
        Assert.Equal(0xD0AUL, seen);
        Assert.Null(b.DmaRead64(Dev0, iova + 2 * size)); // just past the area
    }

    [Fact]
    public void AnIovaThatIsNotAlignedLikeTheHugePageGetsSmallerLeaves()
    {
        var b = NewBench();
        uint ioas = b.Ioas();
        var (_, auto) = b.BindAttach(Dev0, ioas);
        Uva va = HugeBuffer(b, 2 * MiB, 1, at: 0x40_0000_0000);
        ulong iova = 0x80_0000_1000; // 4 KiB aligned only
        b.Map(ioas, va, 2 * MiB, iova: iova);
        Assert.Equal(Page, b.PagingOf(auto).PagingDomain.Table.Lookup(iova + MiB)!.Value.PageSize);
        Assert.Equal(Stamp(0x16, 128), b.DmaRead64(Dev0, iova + 512 * 1024 + 8));
    }

    [Fact]
    public void PinsOfAHugeAreaAreCountedOnItsFolioAndGoWithTheLastArea()
    {
        var b = NewBench();
        uint a = b.Ioas(), c = b.Ioas();
        Uva va = HugeBuffer(b, 2 * MiB, 1, at: 0x40_0000_0000);
        b.Map(a, va, 2 * MiB, iova: 0x4000_0000);
        var folio = b.Kernel.UserMemory.FrameAt(b.Process.Translate(va)!.Value)!;
        Assert.Equal(512, folio.PinCount);
        Assert.Equal(512, b.Kernel.UserMemory.TotalPins);

        // A copy of a sub-range shares the pins: one run, trimmed to the copied pages.
        ulong dst = 0x10_0000;
        Assert.Equal(Errno.Success, b.Fd.IoasCopy(c, a, IoasMapFlags.ReadWrite | IoasMapFlags.FixedIova, 3 * Page, ref dst, 0x4000_0000 + 255 * Page));
        var copy = b.IoasOf(c).Areas.Single();
        var run = Assert.Single(copy.Runs);
        Assert.Same(folio, run.Folio);
        Assert.Equal((255u, 3u), (run.FirstPage, run.PageCount));
        Assert.Equal(folio.Address + 256 * Page, copy.Pages[1]);
        Assert.Equal(512, folio.PinCount);
        b.BindAttach(Dev0, c);
        Assert.Equal(Stamp(0x16, 256), b.DmaRead64(Dev0, 0x10_1000 + 8));

        ulong len = ulong.MaxValue;
        Assert.Equal(Errno.Success, b.Fd.IoasUnmap(a, 0, ref len));
        Assert.Equal(512, folio.PinCount); // the copy still holds them
        Assert.Equal(Errno.Success, b.Process.Munmap(va, 2 * MiB));
        Assert.False(folio.Freed);
        len = ulong.MaxValue;
        Assert.Equal(Errno.Success, b.Fd.IoasUnmap(c, 0, ref len));
        Assert.True(folio.Freed);
        Assert.Equal(0, b.Kernel.UserMemory.TotalPins);
    }

    [Fact]
    public void AnAccessReadsAndWritesAcrossPagesOfAHugeArea()
    {
        var b = NewBench();
        uint ioas = b.Ioas();
        Uva va = HugeBuffer(b, 2 * MiB, 1, at: 0x40_0000_0000);
        b.Map(ioas, va, 2 * MiB, iova: 0x20_0000);
        Assert.Equal(Errno.Success, b.Fd.AccessCreate(ioas, out uint access));
        var data = Enumerable.Range(0, 32).Select(i => (byte)(0x80 + i)).ToArray();
        Assert.Equal(Errno.Success, b.Fd.AccessWrite(access, 0x20_0000 + 7 * Page - 16, data));
        var back = new byte[32];
        Assert.Equal(Errno.Success, b.Process.Read(va + (7 * Page - 16), back));
        Assert.Equal(data, back);
        Assert.Equal(Errno.Success, b.Fd.AccessRead(access, 0x20_0000 + 128 * Page, back.AsSpan(0, 16)));
        Assert.Equal(Stamp(0x16, 128), BitConverter.ToUInt64(back, 8));
    }
}
