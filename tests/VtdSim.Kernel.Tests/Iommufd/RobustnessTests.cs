using VtdSim.Kernel.Intel;
using VtdSim.Kernel.Iommufd;
using VtdSim.Kernel.Tests.Support;
using static VtdSim.Kernel.Tests.Iommufd.IommufdBench;
using VtdSim.Kernel.Process;

namespace VtdSim.Kernel.Tests.Iommufd;

/// <summary>
/// Regression tests for defects found by outside checks and by the random-ioctl run (<see cref="IoctlFuzzTests"/>):
/// each is a call that threw or left state behind, and now answers as Linux does and leaves nothing half done.
/// </summary>
public class RobustnessTests
{
    private const ulong Page = 4096;

    /// <summary>
    /// Linux checks a nested HWPT's addr_width, SRE and EAFE at attach, never its pgtbl_addr (facts §2.4: FSPTPTR is
    /// "not range-checked"): the attach succeeds and the hardware faults at DMA time. The driver writes the pointer's
    /// bits into FSPTPTR (bits 63:12 of the entry) as they are.
    /// </summary>
    [Theory]
    [InlineData(1UL << 57)]
    [InlineData(1UL << 52)]
    [InlineData(0xFFFF_FFFF_FFFF_F000)]
    [InlineData((1UL << 57) | 0xABC)]
    public void ANestedHwptWhoseFirstStageTableIsBeyondTheAddressWidthAttachesAndItsDmaFaults(ulong pgtblAddr)
    {
        var b = new IommufdBench();
        uint ioas = b.Ioas();
        b.Map(ioas, b.Buffer(16), 16 * Page, iova: 0);
        uint dev = b.Bind(Dev0);
        var before = KernelCounts.Of(b.Kernel, b.Fd);

        uint parent = b.Hwpt(dev, ioas, HwptAllocFlags.NestParent | HwptAllocFlags.Pasid);
        byte[] s1 = VtdUapi.EncodeS1(new VtdS1Config(VtdS1Flags.None, pgtblAddr, 48));
        Assert.Equal(Errno.Success, b.Fd.HwptAlloc(dev, parent, HwptAllocFlags.Pasid, out uint nested, HwptDataType.VtdS1, 24, s1));
        uint pt = nested;
        Assert.Equal(Errno.Success, b.Fd.DeviceAttach(dev, ref pt));
        Assert.Equal(Errno.Success, b.Fd.DeviceAttach(dev, ref pt, pasid: 5));
        foreach (uint pasid in new[] { 0u, 5u })
            Assert.Equal(pgtblAddr & ~0xFFFUL, b.Kernel.Iommu.Unit.ReadPasidEntry(Dev0, pasid).FirstStagePageTablePointer);
        Assert.NotNull(b.DmaRead(Dev0, 0x1000, new byte[8]).Fault);
        Assert.Null(b.DmaRead64(Dev0, 5, 0x1000));

        // Everything it took goes back: the domain id, the interrupt-window reservation, the objects.
        Assert.Equal(Errno.Success, b.Fd.DeviceDetach(dev, 5));
        Assert.Equal(Errno.Success, b.Fd.DeviceDetach(dev));
        Assert.Equal(Errno.Success, b.Fd.Destroy(nested));
        Assert.Equal(Errno.Success, b.Fd.Destroy(parent));
        Assert.True(before.SameAs(KernelCounts.Of(b.Kernel, b.Fd)), $"{before} → {KernelCounts.Of(b.Kernel, b.Fd)}");
    }

    /// <summary>
    /// Found by the random-ioctl run under memory pressure: a map that ran out of page-table pages part way down a new
    /// branch kept the tables it had just allocated (empty, hanging off the table above), so the failed IOAS_MAP or
    /// IOAS_COPY cost kernel pages until the domain went.
    /// </summary>
    [Theory]
    [InlineData(HwptAllocFlags.None, 1)]            // first stage, 5-level: a fresh 256 TiB region needs 4 tables
    [InlineData(HwptAllocFlags.None, 3)]
    [InlineData(HwptAllocFlags.DirtyTracking, 2)]   // second stage
    public void AMapThatRunsOutOfPageTablePagesKeepsNoneOfThem(HwptAllocFlags flags, int freePages)
    {
        var b = new IommufdBench();
        uint ioas = b.Ioas();
        uint dev = b.Bind(Dev0);
        uint pt = b.Hwpt(dev, ioas, flags);
        Assert.Equal(Errno.Success, b.Fd.DeviceAttach(dev, ref pt));
        Uva va = b.Buffer(1);
        var held = new List<Hardware.Addressing.Hpa>();
        while (b.Kernel.Pages.TryAllocate() is { } page) held.Add(page);
        for (int i = 0; i < freePages; i++) b.Kernel.Pages.Free(held[^(i + 1)]);
        var before = KernelCounts.Of(b.Kernel, b.Fd);

        ulong iova = 1UL << 48;
        Assert.Equal(Errno.ENOMEM, b.Fd.IoasMap(ioas, IoasMapFlags.ReadWrite | IoasMapFlags.FixedIova, va, Page, ref iova));
        Assert.True(before.SameAs(KernelCounts.Of(b.Kernel, b.Fd)), $"{before} → {KernelCounts.Of(b.Kernel, b.Fd)}");
        Assert.Equal(freePages, Enumerable.Range(0, freePages + 1).Count(_ => b.Kernel.Pages.TryAllocate() is not null));
    }

    /// <summary>
    /// Ranges that end exactly at 2^64 − 1 do not overflow (Linux computes last = iova + length − 1 with
    /// check_add_overflow); one page more does (EOVERFLOW). An IOAS without domains can hold the last page of the space.
    /// </summary>
    [Fact]
    public void RangesEndingAtTheTopOfTheSpaceWorkAndOnePageMoreIsEoverflow()
    {
        const ulong top = 0xFFFF_FFFF_FFFF_F000;
        var b = new IommufdBench();
        uint ioas = b.Ioas(), other = b.Ioas();
        Uva va = b.Buffer(2);
        var fixedRw = IoasMapFlags.ReadWrite | IoasMapFlags.FixedIova;

        Assert.Equal(Errno.EOVERFLOW, b.TryMap(ioas, va, 2 * Page, IoasMapFlags.ReadWrite, top));
        Assert.Equal(Errno.Success, b.TryMap(ioas, va, Page, IoasMapFlags.ReadWrite, top));
        Assert.Equal([(top, Page)], b.IoasOf(ioas).Areas.Select(a => (a.Iova, a.Length)));

        // An access reads the last byte of the space, and not one past it.
        Assert.Equal(Errno.Success, b.Fd.AccessCreate(ioas, out uint access));
        var buffer = new byte[8];
        Assert.Equal(Errno.Success, b.Fd.AccessRead(access, ulong.MaxValue - 7, buffer));
        Assert.Equal(Errno.EOVERFLOW, b.Fd.AccessRead(access, ulong.MaxValue - 6, buffer));
        Assert.Equal(Errno.Success, b.Fd.AccessDestroy(access));

        // Copies from and to the last page.
        ulong dst = top;
        Assert.Equal(Errno.EOVERFLOW, b.Fd.IoasCopy(other, ioas, fixedRw, 2 * Page, ref dst, top));
        Assert.Equal(Errno.Success, b.Fd.IoasCopy(other, ioas, fixedRw, Page, ref dst, top));
        dst = 0x10_0000;
        Assert.Equal(Errno.Success, b.Fd.IoasCopy(other, ioas, fixedRw, Page, ref dst, top));
        Assert.Equal(2, b.IoasOf(other).Areas.Count);

        // A device cannot use an IOAS with an area above its domain's aperture.
        uint dev = b.Bind(Dev0);
        uint pt = other;
        Assert.Equal(Errno.EADDRINUSE, b.Fd.DeviceAttach(dev, ref pt));

        // Unmaps: one page more overflows; the last page goes.
        ulong length = 2 * Page;
        Assert.Equal(Errno.EOVERFLOW, b.Fd.IoasUnmap(ioas, top, ref length));
        length = Page;
        Assert.Equal(Errno.Success, b.Fd.IoasUnmap(ioas, top, ref length));
        Assert.Equal(Page, length);
        length = Page;
        Assert.Equal(Errno.Success, b.Fd.IoasUnmap(other, top, ref length));
        Assert.Equal(Errno.Success, b.Fd.DeviceAttach(dev, ref pt));
        Assert.Equal(Stamp(0xA0, 0), b.DmaRead64(Dev0, 0x10_0000));

        // An allowed range may end at 2^64 − 1; automatic IOVAs never take the last page (iopt_alloc_iova's window).
        uint third = b.Ioas();
        Assert.Equal(Errno.Success, b.Fd.IoasAllowIovas(third, [new IovaRange(top - 0x3000, ulong.MaxValue)]));
        ulong auto = 0;
        Assert.Equal(Errno.Success, b.Fd.IoasMap(third, IoasMapFlags.ReadWrite, va, Page, ref auto));
        Assert.Equal(top - 0x3000, auto);
        Assert.Equal(Errno.ENOSPC, b.Fd.IoasMap(third, IoasMapFlags.ReadWrite, va, 2 * Page, ref auto)); // 8 KiB-aligned: none left
        Assert.Equal(Errno.Success, b.Fd.IoasMap(third, IoasMapFlags.ReadWrite, va, Page, ref auto));
        Assert.Equal(top - 0x2000, auto);
        Assert.Equal(Errno.Success, b.Fd.IoasMap(third, IoasMapFlags.ReadWrite, va, Page, ref auto));
        Assert.Equal(top - 0x1000, auto);
        Assert.Equal(Errno.ENOSPC, b.Fd.IoasMap(third, IoasMapFlags.ReadWrite, va, Page, ref auto));
    }
}
