using VtdSim.Hardware.Addressing;
using VtdSim.Kernel.Iommufd;
using VtdSim.Kernel.Process;
using VtdSim.Kernel.Tests.Iommufd;
using VtdSim.Kernel.Tests.Process;
using static VtdSim.Kernel.Tests.Iommufd.IommufdBench;

namespace VtdSim.Kernel.Tests.Mutation;

/// <summary>
/// The io_pagetable (IoPagetable.cs) where mutation testing (docs/testing.md) found that no test noticed a change:
/// ranges that share one byte with a reserved or allowed range, allowed ranges that replace or touch each other, the
/// top of the IOVA space, an automatic length too big to place, an unmap that ends on an area's first byte, areas that
/// start inside a huge page, and the undo of a map that runs out of kernel pages part way.
/// </summary>
public class IoPagetableMutationTests
{
    private const ulong Page = 4096, MiB = 1UL << 20, Top2MiB = 0xFFFF_FFFF_FFE0_0000;
    private static readonly IovaRange Msi = IommufdContext.MsiWindow;

    /// <summary>A kernel with 2 MiB of its own pages, so taking all of them is quick.</summary>
    private static readonly KernelMemoryLayout SmallKernel = new(new Hpa(0x10_0000), 2 * MiB, new Hpa(64 * MiB), 960 * MiB);

    [Fact]
    public void AnAllowedRangeThatSharesOneByteWithAReservedRangeIsRefusedAndOneThatStopsShortIsNot()
    {
        // iopt_set_allow_iova: the ranges are inclusive; [x, msi.start] and [msi.last, y] each meet the device's
        // reserved MSI window in one byte (EADDRINUSE), [x, msi.start - 1] and [msi.last + 1, y] do not.
        var b = new IommufdBench();
        uint ioas = b.Ioas();
        b.BindAttach(Dev0, ioas);
        Assert.Equal(Errno.EADDRINUSE, b.Fd.IoasAllowIovas(ioas, [new IovaRange(0x10_0000, Msi.Start)]));
        Assert.Equal(Errno.EADDRINUSE, b.Fd.IoasAllowIovas(ioas, [new IovaRange(Msi.Last, Msi.Last + MiB)]));
        Assert.Empty(b.IoasOf(ioas).AllowedRanges);
        Assert.Equal(Errno.Success, b.Fd.IoasAllowIovas(ioas, [new IovaRange(0x10_0000, Msi.Start - 1), new IovaRange(Msi.Last + 1, Msi.Last + MiB)]));
        Assert.Equal(2, b.IoasOf(ioas).AllowedRanges.Count);
    }

    [Theory]
    [InlineData(0x10_0000UL, 0xFEE0_0000UL, false)] // ends on the window's first byte
    [InlineData(0xFEEF_FFFFUL, 0xFFF0_0000UL, false)] // starts on the window's last byte
    [InlineData(0x10_0000UL, 0xFEDF_FFFFUL, true)]
    [InlineData(0xFEF0_0000UL, 0xFFF0_0000UL, true)]
    public void ADeviceWhoseReservedWindowSharesOneByteWithAnAllowedRangeCannotAttach(ulong start, ulong last, bool attaches)
    {
        // iopt_reserve_iova refuses a reserved range that meets an allowed one (EADDRINUSE), so the attach that
        // reserves the MSI window fails and the IOAS is as it was.
        var b = new IommufdBench();
        uint ioas = b.Ioas();
        Assert.Equal(Errno.Success, b.Fd.IoasAllowIovas(ioas, [new IovaRange(start, last)]));
        uint dev = b.Bind(Dev0);
        uint pt = ioas;
        Assert.Equal(attaches ? Errno.Success : Errno.EADDRINUSE, b.Fd.DeviceAttach(dev, ref pt));
        Assert.Equal(attaches, b.IoasOf(ioas).Iopt.Reserved.Count != 0);
    }

    [Fact]
    public void AllowingAgainReplacesTheAllowedRanges()
    {
        // The second IOAS_ALLOW_IOVAS replaces the first list: an automatic IOVA then comes from the new range only,
        // although the old one is lower.
        var b = new IommufdBench();
        uint ioas = b.Ioas();
        Assert.Equal(Errno.Success, b.Fd.IoasAllowIovas(ioas, [new IovaRange(0x10_0000, 0x1F_FFFF)]));
        Assert.Equal(Errno.Success, b.Fd.IoasAllowIovas(ioas, [new IovaRange(0x40_0000, 0x4F_FFFF)]));
        Assert.Equal(0x40_0000UL, b.Map(ioas, b.Buffer(1), Page));
        Assert.Equal(new IovaRange(0x40_0000, 0x4F_FFFF), Assert.Single(b.IoasOf(ioas).AllowedRanges));
    }

    [Fact]
    public void AdjacentAllowedRangesAreOneSpanForAnAutomaticIova()
    {
        // Two pages allowed as two ranges that touch: a two-page map fits across them (iopt_alloc_iova walks the
        // allowed intervals as one span where they are contiguous).
        var b = new IommufdBench();
        uint ioas = b.Ioas();
        Assert.Equal(Errno.Success, b.Fd.IoasAllowIovas(ioas, [new IovaRange(0x10_0000, 0x10_0FFF), new IovaRange(0x10_1000, 0x10_1FFF)]));
        Assert.Equal(0x10_0000UL, b.Map(ioas, b.Buffer(2), 2 * Page));
    }

    [Fact]
    public void AnAutomaticIovaStaysInsideTheAllowedRangeEvenWhereTheHoleAroundItIsLarger()
    {
        // Three pages allowed with an area in the middle one, and an area far above (a fixed map need not lie in an
        // allowed range): a two-page automatic map fits in neither free page of the allowed range and must not spill
        // from its last page into the free space up to the area above.
        var b = new IommufdBench();
        uint ioas = b.Ioas();
        Assert.Equal(Errno.Success, b.Fd.IoasAllowIovas(ioas, [new IovaRange(0x10_0000, 0x10_2FFF)]));
        b.Map(ioas, b.Buffer(1), Page, iova: 0x10_1000);
        b.Map(ioas, b.Buffer(1), Page, iova: 0x20_0000);
        ulong iova = 0;
        Assert.Equal(Errno.ENOSPC, b.Fd.IoasMap(ioas, IoasMapFlags.ReadWrite, b.Buffer(2), 2 * Page, ref iova));
        Assert.Equal(2, b.IoasOf(ioas).Iopt.AreaCount);
    }

    [Fact]
    public void AnAllowedRangeAtTheTopOfTheSpaceTooSmallForTheAlignmentIsNoSpaceNotIovaZero()
    {
        // 1 MiB allowed at the very top; a 2 MiB map of 2 MiB-aligned memory needs a 2 MiB-aligned IOVA, which the
        // range cannot hold (and rounding its start up would wrap past 2^64): ENOSPC.
        var b = new IommufdBench();
        uint ioas = b.Ioas();
        Assert.Equal(Errno.Success, b.Fd.IoasAllowIovas(ioas, [new IovaRange(ulong.MaxValue - MiB + 1, ulong.MaxValue)]));
        Uva va = b.Buffer(512, at: new Uva(0x4000_0000));
        ulong iova = 0;
        Assert.Equal(Errno.ENOSPC, b.Fd.IoasMap(ioas, IoasMapFlags.ReadWrite, va, 2 * MiB, ref iova));
        Assert.Equal(0, b.IoasOf(ioas).Iopt.AreaCount);
    }

    [Fact]
    public void TheTopTwoMegabytesOfTheSpaceHoldAnAlignedMapThatEndsBelowTheLastPage()
    {
        // 2 MiB allowed at the very top; a map of 1 MiB + 4 KiB from 2 MiB-aligned memory wants a 2 MiB-aligned IOVA:
        // 2^64 − 2 MiB is one (rounding it up does not wrap), and the map ends below the last page, which an automatic
        // IOVA never uses.
        var b = new IommufdBench();
        uint ioas = b.Ioas();
        Assert.Equal(Errno.Success, b.Fd.IoasAllowIovas(ioas, [new IovaRange(Top2MiB, ulong.MaxValue)]));
        Uva va = b.Buffer(257, at: new Uva(0x4000_0000));
        ulong iova = 0;
        Assert.Equal(Errno.Success, b.Fd.IoasMap(ioas, IoasMapFlags.ReadWrite, va, MiB + Page, ref iova));
        Assert.Equal(Top2MiB, iova);
    }

    [Fact]
    public void AnAutomaticMapOfHalfTheAddressSpaceOrMoreIsAnOverflow()
    {
        // iopt_alloc_iova: length >= ULONG_MAX / 2 is EOVERFLOW, before anything is pinned (the user range is not even
        // mapped in the process, which a pin would find: EFAULT).
        var b = new IommufdBench();
        uint ioas = b.Ioas();
        ulong iova = 0;
        Assert.Equal(Errno.EOVERFLOW, b.Fd.IoasMap(ioas, IoasMapFlags.ReadWrite, new Uva(0x1000), 1UL << 63, ref iova));
        Assert.Equal(Errno.EFAULT, b.Fd.IoasMap(ioas, IoasMapFlags.ReadWrite, new Uva(0x1000), 1UL << 62, ref iova));
    }

    [Fact]
    public void AnUnmapThatEndsOnTheFirstByteOfAnAreaCutsItAndIsNoEntry()
    {
        // iopt_unmap_iova_range over [0x10_0000, 0x10_1000]: the area at 0x10_1000 is met by the range's last byte
        // and sticks out, so the unmap stops there with ENOENT (the area below it is gone already, as in Linux).
        var b = new IommufdBench();
        uint ioas = b.Ioas();
        b.BindAttach(Dev0, ioas);
        b.Map(ioas, b.Buffer(1, stamp: 1), Page, iova: 0x10_0000);
        b.Map(ioas, b.Buffer(1, stamp: 2), Page, iova: 0x10_1000);
        ulong length = Page + 1;
        Assert.Equal(Errno.ENOENT, b.Fd.IoasUnmap(ioas, 0x10_0000, ref length));
        Assert.Equal(Page + 1, length);
        Assert.Equal(0x10_1000UL, Assert.Single(b.IoasOf(ioas).Areas).Iova);
        Assert.Null(b.DmaRead64(Dev0, 0x10_0000));
        Assert.Equal(Stamp(2, 0), b.DmaRead64(Dev0, 0x10_1000));
    }

    [Fact]
    public void ACopyFromInsideAHugePageAcrossItsEndMapsEveryPageToItsOwnFrameAndNothingBeyond()
    {
        // Two 2 MiB huge pages that are not physically adjacent, mapped in one IOAS; a 2 MiB copy starting 1 MiB into
        // the first ends 1 MiB into the second. Its area holds two pinned runs (the tail of the first page, the head
        // of the second) and every 4 KiB page of it reaches its own frame; the page after the copy is not mapped.
        var b = new IommufdBench(layout: HugePageKernel.Layout(HugePageKernel.GiB));
        Uva va = HugeBuffers(b, out var pinned);
        var (first, second) = (pinned[0], pinned[1]);
        uint src = b.Ioas();
        b.Map(src, va, 6 * MiB, iova: 0x4000_0000);
        uint dst = b.Ioas();
        b.BindAttach(Dev0, dst);
        ulong at = 0x8000_0000;
        Assert.Equal(Errno.Success, b.Fd.IoasCopy(dst, src, IoasMapFlags.ReadWrite | IoasMapFlags.FixedIova, 2 * MiB, ref at, 0x4000_0000 + MiB));

        var runs = Assert.Single(b.IoasOf(dst).Areas).Runs;
        Assert.Equal([new PinnedRun(first.Folio, 256, 256), new PinnedRun(second.Folio, 0, 256)], runs);
        for (ulong p = 0; p < 512; p++) Assert.Equal(Stamp(0x16, 256 + p), b.DmaRead64(Dev0, 0x8000_0000 + p * Page));
        Assert.Null(b.DmaRead64(Dev0, 0x8000_0000 + 2 * MiB));
    }

    [Fact]
    public void ACopyThatEndsInsideAHugePageMapsNothingPastItsEnd()
    {
        // The copy's last run is cut short of its huge page's end, whether that page follows the one before it in
        // physical memory (a 5 MiB copy: the second and third pages are joined into one range) or not (3 MiB): the
        // domain maps exactly the copy's pages.
        var b = new IommufdBench(layout: HugePageKernel.Layout(HugePageKernel.GiB));
        Uva va = HugeBuffers(b, out _);
        uint src = b.Ioas();
        b.Map(src, va, 6 * MiB, iova: 0x4000_0000);
        uint dst = b.Ioas();
        b.BindAttach(Dev0, dst);
        foreach (ulong length in new[] { 3 * MiB, 5 * MiB })
        {
            ulong at = 0x8000_0000;
            Assert.Equal(Errno.Success, b.Fd.IoasCopy(dst, src, IoasMapFlags.ReadWrite | IoasMapFlags.FixedIova, length, ref at, 0x4000_0000));
            Assert.Equal(Stamp(0x16, length / Page - 1), b.DmaRead64(Dev0, 0x8000_0000 + length - Page));
            Assert.Null(b.DmaRead64(Dev0, 0x8000_0000 + length));
            ulong unmapped = length;
            Assert.Equal(Errno.Success, b.Fd.IoasUnmap(dst, 0x8000_0000, ref unmapped));
        }
    }

    [Fact]
    public void AMapWhoseSecondRunFindsNoPageForATableLeavesNothingMapped()
    {
        // Two 4 KiB pages on frames in reverse order (two runs), mapped at 0x1F_F000: the first page goes into a table
        // that exists, the second needs a new last-level table for 0x20_0000 and the kernel has no page left: ENOMEM,
        // and the first page is unmapped again (iopt_area_fill_domain's undo).
        var b = new IommufdBench(layout: SmallKernel);
        uint ioas = b.Ioas();
        b.BindAttach(Dev0, ioas);
        b.Map(ioas, b.Buffer(1, stamp: 1), Page, iova: 0x1F_0000);
        Uva va = ReversedPages(b);
        using (new KernelPageStarvation(b.Kernel))
        {
            ulong iova = 0x1F_F000;
            Assert.Equal(Errno.ENOMEM, b.Fd.IoasMap(ioas, IoasMapFlags.ReadWrite | IoasMapFlags.FixedIova, va, 2 * Page, ref iova));
        }
        Assert.Single(b.IoasOf(ioas).Areas);
        Assert.Null(b.DmaRead64(Dev0, 0x1F_F000));
        Assert.Equal(Stamp(1, 0), b.DmaRead64(Dev0, 0x1F_0000));
    }

    [Fact]
    public void ACopyWhoseSecondAreaFindsNoPageForATableTakesTheFirstOutAgain()
    {
        // A copy of two source areas lands at 0x1F_F000: the first area fits a table that exists, the second needs a
        // new one and the kernel has no page left: ENOMEM, and the copy's first area is gone again from the tree and
        // the domain (iopt_map_pages' undo of the areas this call made).
        var b = new IommufdBench(layout: SmallKernel);
        uint src = b.Ioas();
        b.Map(src, b.Buffer(1, stamp: 3), Page, iova: 0x10_0000);
        b.Map(src, b.Buffer(1, stamp: 4), Page, iova: 0x10_1000);
        uint dst = b.Ioas();
        b.BindAttach(Dev0, dst);
        b.Map(dst, b.Buffer(1, stamp: 1), Page, iova: 0x1F_0000);
        using (new KernelPageStarvation(b.Kernel))
        {
            ulong at = 0x1F_F000;
            Assert.Equal(Errno.ENOMEM, b.Fd.IoasCopy(dst, src, IoasMapFlags.ReadWrite | IoasMapFlags.FixedIova, 2 * Page, ref at, 0x10_0000));
        }
        Assert.Equal(0x1F_0000UL, Assert.Single(b.IoasOf(dst).Areas).Iova);
        Assert.Null(b.DmaRead64(Dev0, 0x1F_F000));
        // With pages again, the same copy succeeds: nothing of the failed one was left in the way.
        ulong again = 0x1F_F000;
        Assert.Equal(Errno.Success, b.Fd.IoasCopy(dst, src, IoasMapFlags.ReadWrite | IoasMapFlags.FixedIova, 2 * Page, ref again, 0x10_0000));
        Assert.Equal(Stamp(4, 0), b.DmaRead64(Dev0, 0x20_0000));
    }

    /// <summary>
    /// Three 2 MiB huge pages (6 MiB at 1 GiB), each 4 KiB page stamped with its index, on frames in the order 2, 0, 1:
    /// the first is not physically followed by the second, the second is by the third. Their pinned runs are returned.
    /// </summary>
    private static Uva HugeBuffers(IommufdBench b, out IReadOnlyList<PinnedRun> runs)
    {
        const ulong at = 0x4000_0000;
        var flags = MapFlags.Hugetlb | MapFlags.Huge2MB;
        Assert.Equal(Errno.Success, b.Process.Mmap(6 * MiB, MemoryProtection.ReadWrite, out Uva va, new Uva(at), flags));
        Assert.Equal(Errno.Success, b.Process.Write64(va + 2 * MiB, 0));
        Assert.Equal(Errno.Success, b.Process.Write64(va + 4 * MiB, 0));
        for (ulong p = 0; p < 1536; p++) Assert.Equal(Errno.Success, b.Process.Write64(va + p * Page, Stamp(0x16, p)));
        uint probe = b.Ioas();
        b.Map(probe, va, 6 * MiB, iova: 0x4000_0000);
        runs = Assert.Single(b.IoasOf(probe).Areas).Runs;
        Assert.Equal(3, runs.Count);
        Assert.NotEqual(runs[0].Address + 2 * MiB, runs[1].Address); // the preconditions
        Assert.Equal(runs[1].Address + 2 * MiB, runs[2].Address);
        ulong unmapped = ulong.MaxValue;
        Assert.Equal(Errno.Success, b.Fd.IoasUnmap(probe, 0, ref unmapped));
        Assert.Equal(Errno.Success, b.Fd.Destroy(probe));
        return va;
    }

    /// <summary>Two anonymous pages whose frames are in reverse order, so they pin as two runs.</summary>
    private static Uva ReversedPages(IommufdBench b)
    {
        Assert.Equal(Errno.Success, b.Process.Mmap(2 * Page, MemoryProtection.ReadWrite, out Uva va));
        Assert.Equal(Errno.Success, b.Process.Write64(va + Page, Stamp(2, 1)));
        Assert.Equal(Errno.Success, b.Process.Write64(va, Stamp(2, 0)));
        return va;
    }
}
