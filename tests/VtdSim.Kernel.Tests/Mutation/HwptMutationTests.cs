using VtdSim.Hardware.Addressing;
using VtdSim.Kernel.Intel;
using VtdSim.Kernel.Iommufd;
using VtdSim.Kernel.Process;
using VtdSim.Kernel.Tests.Iommufd;
using VtdSim.Kernel.Tests.Process;
using static VtdSim.Kernel.Tests.Iommufd.IommufdBench;

namespace VtdSim.Kernel.Tests.Mutation;

/// <summary>
/// HWPT calls (IommufdContext.Hwpt.cs) where mutation testing (docs/testing.md) found that no test noticed a change: the
/// typed API on a closed iommufd, an automatic domain whose attach runs out of pages, a nested HWPT on a parent that
/// is not a nest parent, guest invalidations that touch or wrap past 2^64 or say only leaves changed, turning dirty
/// tracking on twice, and dirty bitmaps over huge pages, several areas, folded pages and bitmaps too small.
/// </summary>
public class HwptMutationTests
{
    private const ulong Page = 4096, MiB = 1UL << 20;

    public static TheoryData<string> TypedCalls() => new(Calls.Keys);

    // Each with a field that is refused before the object lookup: a closed file must say so first.
    private static readonly Dictionary<string, Action<IommufdContext>> Calls = new()
    {
        ["HwptAlloc, reserved"] = fd => fd.HwptAlloc(1, 1, HwptAllocFlags.None, out _, reserved: 1),
        ["HwptInvalidate, reserved"] = fd =>
        {
            uint n = 0;
            fd.HwptInvalidate(1, HwptInvalidateDataType.VtdS1, 24, ref n, null, reserved: 1);
        },
        ["HwptSetDirtyTracking, unknown flag"] = fd => fd.HwptSetDirtyTracking(1, (DirtyTrackingFlags)0x80),
        ["HwptGetDirtyBitmap, unknown flag"] = fd => fd.HwptGetDirtyBitmap(1, 0, Page, Page, new ulong[1], (DirtyBitmapFlags)0x80),
    };

    [Theory]
    [MemberData(nameof(TypedCalls))]
    public void ATypedHwptCallOnAClosedIommufdIsAUseAfterClose(string call)
    {
        var b = new IommufdBench();
        b.Fd.Close();
        Assert.Throws<ObjectDisposedException>(() => Calls[call](b.Fd));
    }

    [Fact]
    public void AnAttachThatRunsOutOfPagesAnywhereLeavesEveryPageAndObjectAsItWas()
    {
        // An automatic domain is allocated, attached at once and then filled with the IOAS's areas; each step takes
        // kernel pages (the domain's root, the page tables of the areas). With the pages running out at each point in
        // turn the attach is ENOMEM and gives every page back, until it succeeds. (The device was attached once
        // before, so its context and PASID tables exist: they live as long as the device, as in Linux.)
        var b = new IommufdBench(layout: new KernelMemoryLayout(new Hpa(0x10_0000), 2 * MiB, new Hpa(64 * MiB), 960 * MiB));
        uint dev = b.Bind(Dev0);
        uint scratch = b.Ioas();
        uint pt = scratch;
        Assert.Equal(Errno.Success, b.Fd.DeviceAttach(dev, ref pt));
        Assert.Equal(Errno.Success, b.Fd.DeviceDetach(dev));
        Assert.Equal(Errno.Success, b.Fd.Destroy(scratch));
        uint ioas = b.Ioas();
        b.Map(ioas, b.Buffer(1), Page, iova: 0x10_0000);
        b.Map(ioas, b.Buffer(1), Page, iova: 0x8000_0000);
        int inUse = b.Kernel.Pages.PagesInUse;
        for (int free = 0; ; free++)
        {
            Assert.True(free < 64, "the attach never succeeded");
            pt = ioas;
            Errno e;
            using (new KernelPageStarvation(b.Kernel, leave: free)) e = b.Fd.DeviceAttach(dev, ref pt);
            if (e == Errno.Success) break;
            Assert.Equal(Errno.ENOMEM, e);
            Assert.True(inUse == b.Kernel.Pages.PagesInUse, $"with {free} pages free: {b.Kernel.Pages.PagesInUse - inUse} page(s) kept");
            Assert.Empty(b.IoasOf(ioas).HwptList);
            Assert.Null(b.DmaRead64(Dev0, 0x8000_0000));
        }
        Assert.NotNull(b.DmaRead64(Dev0, 0x8000_0000));
        Assert.NotNull(b.DmaRead64(Dev0, 0x10_0000));
    }

    [Fact]
    public void AnAttachRefusedForItsReservedWindowFreesTheAutomaticDomainItMade()
    {
        // The automatic domain is allocated (its root table is a kernel page) before the attach reserves the MSI
        // window; an allowed range over the window makes that EADDRINUSE, and the domain goes again with its page.
        var b = new IommufdBench();
        uint ioas = b.Ioas();
        Assert.Equal(Errno.Success, b.Fd.IoasAllowIovas(ioas, [new IovaRange(0x10_0000, 0xFEE0_0000)]));
        uint dev = b.Bind(Dev0);
        int inUse = b.Kernel.Pages.PagesInUse;
        uint pt = ioas;
        Assert.Equal(Errno.EADDRINUSE, b.Fd.DeviceAttach(dev, ref pt));
        Assert.Equal(inUse, b.Kernel.Pages.PagesInUse);
        Assert.Empty(b.IoasOf(ioas).HwptList);
    }

    [Fact]
    public void ANestedHwptOnAParentThatIsNotANestParentIsInvalidWhateverItsDataType()
    {
        // iommufd_hwpt_nested_alloc: a parent without NEST_PARENT is EINVAL before the driver looks at the data type.
        var b = new IommufdBench();
        uint ioas = b.Ioas();
        uint dev = b.Bind(Dev0);
        uint plain = b.Hwpt(dev, ioas);
        byte[] data = VtdUapi.EncodeS1(new VtdS1Config(VtdS1Flags.None, 0x10_0000, 48));
        Assert.Equal(Errno.EINVAL, b.Fd.HwptAlloc(dev, plain, HwptAllocFlags.None, out _, HwptDataType.VtdS1, (uint)data.Length, data));
        Assert.Equal(Errno.EINVAL, b.Fd.HwptAlloc(dev, plain, HwptAllocFlags.None, out _, (HwptDataType)0x7, (uint)data.Length, data));
    }

    [Theory]
    [InlineData(2UL, true)]  // [2^64 − 4K, 2^64 + 4K) wraps: more than asked is flushed, never less (K10): everything
    [InlineData(1UL, false)] // [2^64 − 4K, 2^64 − 1] does not wrap: only that page
    public void AGuestInvalidationFlushesItsRangeOnlyAndTheWholeSpaceWhenItWrapsPast2To64(ulong pages, bool wholeSpace)
    {
        // A page outside the range keeps its cached translation until it is invalidated itself (the hardware may keep
        // it; the model does, so a missing invalidation shows).
        var g = new GuestFirstStage();
        ulong top = 0xFFFF_FFFF_FFFF_F000, low = 0x40_0000;
        g.Point(top, 8);
        g.Point(low, 9);
        g.Attach();
        Assert.Equal(g.StampOf(8), g.Read(top));
        Assert.Equal(g.StampOf(9), g.Read(low));
        g.Point(top, 10);
        g.Point(low, 11);
        g.Invalidate(top, pages);
        Assert.Equal(g.StampOf(10), g.Read(top));
        Assert.Equal(g.StampOf(wholeSpace ? 11UL : 9UL), g.Read(low));
        g.Invalidate(low, 1);
        Assert.Equal(g.StampOf(11), g.Read(low));
    }

    [Fact]
    public void AGuestInvalidationMarkedLeafKeepsTheCachedUpperLevelsAndOneWithoutDropsThem()
    {
        // IOMMU_VTD_INV_FLAGS_LEAF becomes the descriptor's IH: only leaves changed, so the paging-structure caches
        // over the range may stay. A guest that moved a whole last-level table and says "leaf" still gets the old
        // table's page; the same invalidation without the flag reaches the new table.
        var g = new GuestFirstStage();
        ulong gva = 0x40_0000;
        g.Point(gva, 8);
        g.Attach();
        Assert.Equal(g.StampOf(8), g.Read(gva));
        g.MoveLastLevelTable(gva, 9);
        g.Invalidate(gva, 1, VtdS1Invalidation.Leaf);
        Assert.Equal(g.StampOf(8), g.Read(gva));
        g.Invalidate(gva, 1);
        Assert.Equal(g.StampOf(9), g.Read(gva));
    }

    [Fact]
    public void TurningDirtyTrackingOnAgainClearsTheDirtyBitsSetMeanwhile()
    {
        // iopt_set_dirty_tracking clears the dirty data on every enable, also when tracking is on already.
        var (b, hwpt) = DirtyBench(Page * 64);
        Assert.True(b.DmaWrite64(Dev0, 0x100_0000 + 3 * Page, 1));
        Assert.Equal(Errno.Success, b.Fd.HwptSetDirtyTracking(hwpt, DirtyTrackingFlags.Enable));
        var bitmap = new ulong[1];
        Assert.Equal(Errno.Success, b.Fd.HwptGetDirtyBitmap(hwpt, 0x100_0000, 64 * Page, Page, bitmap));
        Assert.Equal(0UL, bitmap[0]);
    }

    [Fact]
    public void TwoDirtyPagesFoldedIntoOneBitSetItAndDoNotToggleIt()
    {
        var (b, hwpt) = DirtyBench(Page * 64);
        Assert.True(b.DmaWrite64(Dev0, 0x100_0000 + 10 * Page, 1));
        Assert.True(b.DmaWrite64(Dev0, 0x100_0000 + 11 * Page, 1));
        var bitmap = new ulong[1];
        Assert.Equal(Errno.Success, b.Fd.HwptGetDirtyBitmap(hwpt, 0x100_0000, 64 * Page, 2 * Page, bitmap));
        Assert.Equal(1UL << 5, bitmap[0]);
    }

    [Fact]
    public void BitsThatDoNotFitTheBitmapAreDroppedAndNoBitmapAtAllReadsAndClears()
    {
        // Linux's iova_bitmap writes what the user's bitmap holds; here bits past its end are dropped, and a call
        // without a bitmap still reads (and clears) the dirty bits, as a NO-bitmap walk would.
        var (b, hwpt) = DirtyBench(Page * 128);
        Assert.True(b.DmaWrite64(Dev0, 0x100_0000 + 64 * Page, 1));
        Assert.True(b.DmaWrite64(Dev0, 0x100_0000 + 65 * Page, 1));
        var small = new ulong[1];
        Assert.Equal(Errno.Success, b.Fd.HwptGetDirtyBitmap(hwpt, 0x100_0000, 128 * Page, Page, small, DirtyBitmapFlags.NoClear));
        Assert.Equal(0UL, small[0]);
        Assert.Equal(Errno.Success, b.Fd.HwptGetDirtyBitmap(hwpt, 0x100_0000, 128 * Page, Page, null));
        var whole = new ulong[2];
        Assert.Equal(Errno.Success, b.Fd.HwptGetDirtyBitmap(hwpt, 0x100_0000, 128 * Page, Page, whole));
        Assert.Equal(new ulong[2], whole);
    }

    [Fact]
    public void ADirtyBitmapOverTwoAdjacentAreasReportsBoth()
    {
        var b = new IommufdBench();
        uint ioas = b.Ioas();
        b.Map(ioas, b.Buffer(2, stamp: 1), 2 * Page, iova: 0x100_0000);
        b.Map(ioas, b.Buffer(2, stamp: 2), 2 * Page, iova: 0x100_2000);
        uint hwpt = EnableTracking(b, ioas);
        Assert.True(b.DmaWrite64(Dev0, 0x100_1000, 1));
        Assert.True(b.DmaWrite64(Dev0, 0x100_3000, 1));
        var bitmap = new ulong[1];
        Assert.Equal(Errno.Success, b.Fd.HwptGetDirtyBitmap(hwpt, 0x100_0000, 4 * Page, Page, bitmap));
        Assert.Equal(0b1010UL, bitmap[0]);
    }

    [Fact]
    public void AWriteIntoAHugePageDirtiesEveryBitItCovers()
    {
        // A 2 MiB leaf has one D bit: a write anywhere in it reports all 512 pages of 4 KiB dirty.
        var b = new IommufdBench(layout: HugePageKernel.Layout(HugePageKernel.GiB));
        Assert.Equal(Errno.Success, b.Process.Mmap(2 * MiB, MemoryProtection.ReadWrite, out Uva va, new Uva(0x4000_0000), MapFlags.Hugetlb | MapFlags.Huge2MB));
        uint ioas = b.Ioas();
        b.Map(ioas, va, 2 * MiB, iova: 0x4000_0000);
        uint hwpt = EnableTracking(b, ioas);
        Assert.True(b.DmaWrite64(Dev0, 0x4000_0000 + 5 * Page, 1));
        var bitmap = new ulong[8];
        Assert.Equal(Errno.Success, b.Fd.HwptGetDirtyBitmap(hwpt, 0x4000_0000, 2 * MiB, Page, bitmap));
        Assert.All(bitmap, word => Assert.Equal(ulong.MaxValue, word));
    }

    [Fact]
    public void APageSizeOfOneByteStillNeedsTheRangeAlignedToTheIoas()
    {
        // iommufd_check_iova_range: iova and iova + length must be aligned to the IOAS's IOVA alignment (4 KiB here),
        // whatever page_size says: an unaligned start is EINVAL even where the end is aligned and page_size 1 would
        // not notice.
        var (b, hwpt) = DirtyBench(Page * 64);
        Assert.Equal(Errno.EINVAL, b.Fd.HwptGetDirtyBitmap(hwpt, 0x100_0001, 2 * Page - 1, 1, new ulong[1]));
        Assert.Equal(Errno.EINVAL, b.Fd.HwptGetDirtyBitmap(hwpt, 0x100_0000, 2 * Page - 1, 1, new ulong[1]));
    }

    private static (IommufdBench B, uint Hwpt) DirtyBench(ulong length)
    {
        var b = new IommufdBench();
        uint ioas = b.Ioas();
        b.Map(ioas, b.Buffer(length / Page), length, iova: 0x100_0000);
        return (b, EnableTracking(b, ioas));
    }

    /// <summary>A dirty-tracking HWPT for Dev0 on the IOAS, tracking on, every mapped page read once (A set).</summary>
    private static uint EnableTracking(IommufdBench b, uint ioas)
    {
        uint dev = b.Bind(Dev0);
        uint hwpt = b.Hwpt(dev, ioas, HwptAllocFlags.DirtyTracking);
        uint pt = hwpt;
        Assert.Equal(Errno.Success, b.Fd.DeviceAttach(dev, ref pt));
        Assert.Equal(Errno.Success, b.Fd.HwptSetDirtyTracking(hwpt, DirtyTrackingFlags.Enable));
        foreach (var area in b.IoasOf(ioas).Areas)
            for (ulong at = area.Iova; at < area.Iova + area.Length; at += Page) Assert.NotNull(b.DmaRead64(Dev0, at));
        return hwpt;
    }

    /// <summary>
    /// A guest's 4-level first stage in guest RAM (64 pages at GPA 0, identity-mapped in a nest parent), nested for Dev0.
    /// Table pages are taken from GPA 0x1000 up; data pages are 0x20000 + n·4K, each stamped with its number.
    /// </summary>
    private sealed class GuestFirstStage
    {
        private readonly IommufdBench _b = new();
        private readonly Uva _ram;
        private readonly uint _dev;
        private uint _nested;
        private ulong _nextTable = 0x2000;
        private const ulong Root = 0x1000, Data = 0x20000;

        public GuestFirstStage()
        {
            uint ioas = _b.Ioas();
            _ram = _b.Buffer(64);
            _b.Map(ioas, _ram, 64 * Page, iova: 0);
            // Buffer stamps the first word of every page: table pages start empty.
            for (ulong gpa = 0; gpa < Data; gpa += Page) Write64(gpa, 0);
            for (ulong n = 0; n < 16; n++) Write64(Data + n * Page, StampOf(n));
            _dev = _b.Bind(Dev0);
            _parent = _b.Hwpt(_dev, ioas, HwptAllocFlags.NestParent);
        }

        private readonly uint _parent;

        public ulong StampOf(ulong n) => 0x5A5A_0000_0000_0000UL | n;

        private ulong Entry(ulong table, ulong gva, int level) => table + ((gva >> (12 + 9 * (level - 1))) & 0x1FF) * 8;

        private ulong Read64(ulong gpa)
        {
            Assert.Equal(Errno.Success, _b.Process.Read64(_ram + gpa, out ulong v));
            return v;
        }

        private void Write64(ulong gpa, ulong v) => Assert.Equal(Errno.Success, _b.Process.Write64(_ram + gpa, v));

        /// <summary>Makes <paramref name="gva"/> map data page <paramref name="n"/>, adding tables as needed.</summary>
        public void Point(ulong gva, ulong n)
        {
            ulong table = Root;
            for (int level = 4; level > 1; level--)
            {
                ulong at = Entry(table, gva, level);
                ulong e = Read64(at);
                if ((e & 1) == 0)
                {
                    e = _nextTable | 0x7;
                    _nextTable += Page;
                    Write64(at, e);
                }
                table = e & 0xF_FFFF_F000;
            }
            Write64(Entry(table, gva, 1), (Data + n * Page) | 0x7);
        }

        /// <summary>Points the PDE of <paramref name="gva"/> at a fresh last-level table whose entry maps page <paramref name="n"/>.</summary>
        public void MoveLastLevelTable(ulong gva, ulong n)
        {
            ulong table = Root;
            for (int level = 4; level > 2; level--) table = Read64(Entry(table, gva, level)) & 0xF_FFFF_F000;
            ulong fresh = _nextTable;
            _nextTable += Page;
            Write64(Entry(fresh, gva, 1), (Data + n * Page) | 0x7);
            Write64(Entry(table, gva, 2), fresh | 0x7);
        }

        public void Attach()
        {
            _nested = _b.Nested(_dev, _parent, new VtdS1Config(VtdS1Flags.None, Root, 48));
            uint pt = _nested;
            Assert.Equal(Errno.Success, _b.Fd.DeviceAttach(_dev, ref pt));
        }

        public ulong? Read(ulong gva) => _b.DmaRead64(Dev0, gva);

        public void Invalidate(ulong addr, ulong pages, uint flags = 0)
        {
            uint num = 1;
            Assert.Equal(Errno.Success, _b.Fd.HwptInvalidate(_nested, HwptInvalidateDataType.VtdS1, 24, ref num,
                VtdUapi.EncodeInvalidations(new VtdS1Invalidation(addr, pages, flags))));
            Assert.Equal(1u, num);
        }
    }
}
