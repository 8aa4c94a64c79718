using VtdSim.Hardware.Addressing;
using VtdSim.Kernel.Intel;
using VtdSim.Kernel.Iommufd;
using VtdSim.Kernel.Process;
using static VtdSim.Kernel.Tests.Iommufd.IommufdBench;

namespace VtdSim.Kernel.Tests.Iommufd;

/// <summary>What IOAS operations do when they succeed: IOVA choice, pins and their lifetime, copies, accesses, close.</summary>
public class IoasTests
{
    private const ulong Page = 4096;

    [Fact]
    public void IdsStartAtOneAndTheLowestFreeIdIsReused()
    {
        var b = new IommufdBench();
        Assert.Equal(1u, b.Ioas());
        Assert.Equal(2u, b.Ioas());
        Assert.Equal(3u, b.Ioas());
        Assert.Equal(Errno.Success, b.Fd.Destroy(2));
        Assert.Equal(2u, b.Ioas());
    }

    [Fact]
    public void AutomaticIovasAreNeverZeroAndAlignedAsLinuxAlignsThem()
    {
        var b = new IommufdBench();
        uint ioas = b.Ioas();
        // 3 pages: roundup_pow_of_two → 16 KiB alignment (the user address, at 4 GiB, is aligned further).
        Assert.Equal(0x4000UL, b.Map(ioas, b.Buffer(3), 3 * Page));
        // 4 MiB: capped at 2 MiB alignment.
        Assert.Equal(0x20_0000UL, b.Map(ioas, b.Buffer(1024, at: new Uva(0x3_0000_0000UL)), 1024 * Page));
        // A user address aligned only to 8 KiB limits the alignment to 8 KiB.
        Uva va = b.Buffer(4, at: new Uva(0x2_0000_2000UL));
        Assert.Equal(0x8000UL, b.Map(ioas, va, 4 * Page));
        Assert.Equal(0x1000UL, b.Map(ioas, b.Buffer(1), Page));
    }

    [Fact]
    public void AutomaticIovasStayInTheAllowedRangesAndOutOfReservedOnes()
    {
        var b = new IommufdBench();
        uint ioas = b.Ioas();
        b.BindAttach(Dev0, ioas);
        Assert.Equal(Errno.Success, b.Fd.IoasAllowIovas(ioas, [new IovaRange(0xFED0_0000, 0xFEDF_FFFF), new IovaRange(0xFF00_0000, 0xFFFF_FFFF)]));
        Assert.Equal(0xFED0_0000UL, b.Map(ioas, b.Buffer(256), 256 * Page));
        Assert.Equal(0xFF00_0000UL, b.Map(ioas, b.Buffer(1), Page)); // the first range is full
        // A fixed IOVA outside the allowed ranges is fine: only automatic allocation honours them (as in Linux).
        b.Map(ioas, b.Buffer(1), Page, iova: 0x1000);
    }

    [Fact]
    public void IovaRangesAreTheHolesOfTheReservedTree()
    {
        var b = new IommufdBench();
        uint ioas = b.Ioas();
        var ranges = new IovaRange[4];
        uint n = 4;
        Assert.Equal(Errno.Success, b.Fd.IoasIovaRanges(ioas, ref n, ranges, out _));
        Assert.Equal(1u, n);
        Assert.Equal(new IovaRange(0, ulong.MaxValue), ranges[0]);

        uint dev = b.Bind(Dev0);
        b.Hwpt(dev, ioas, HwptAllocFlags.NestParent); // second stage, 5-level: up to 2^57
        b.BindAttach(Dev1, ioas);                     // first stage, 5-level: up to 2^56; reserves the interrupt window
        n = 4;
        Assert.Equal(Errno.Success, b.Fd.IoasIovaRanges(ioas, ref n, ranges, out _));
        Assert.Equal([new IovaRange(0, 0xFEDF_FFFF), new IovaRange(0xFEF0_0000, (1UL << 56) - 1)], ranges[..(int)n]);
    }

    [Fact]
    public void AMapIsPinnedOnceAndSharedByItsCopies()
    {
        var b = new IommufdBench();
        uint a = b.Ioas(), c = b.Ioas();
        Uva va = b.Buffer(4);
        ulong iova = b.Map(a, va, 4 * Page, iova: 0x10_0000);
        Assert.Equal(4, b.Kernel.UserMemory.TotalPins);

        // A sub-range copy into another IOAS and a whole copy into the same one: no new pins, same pages.
        ulong dst = 0x80_0000;
        Assert.Equal(Errno.Success, b.Fd.IoasCopy(c, a, IoasMapFlags.Readable | IoasMapFlags.FixedIova, 2 * Page, ref dst, iova + Page));
        ulong dst2 = 0;
        Assert.Equal(Errno.Success, b.Fd.IoasCopy(a, a, IoasMapFlags.ReadWrite, 4 * Page, ref dst2, iova));
        Assert.Equal(4, b.Kernel.UserMemory.TotalPins);
        var source = b.IoasOf(a).Areas.Single(x => x.Iova == iova);
        var copy = b.IoasOf(c).Areas.Single();
        Assert.Equal(source.Pages.Skip(1).Take(2), copy.Pages);
        Assert.Equal(IommuProt.Read, copy.Prot);

        // Unmapping the original keeps the pages pinned for the copies; DMA through a copy still reaches them.
        b.BindAttach(Dev0, c);
        ulong len = 4 * Page;
        Assert.Equal(Errno.Success, b.Fd.IoasUnmap(a, iova, ref len));
        Assert.Equal(4, b.Kernel.UserMemory.TotalPins);
        Assert.Equal(Stamp(0xA0, 2), b.DmaRead64(Dev0, 0x80_1000));
        len = ulong.MaxValue;
        Assert.Equal(Errno.Success, b.Fd.IoasUnmap(a, 0, ref len));
        Assert.Equal(4 * Page, len);
        Assert.Equal(4, b.Kernel.UserMemory.TotalPins);
        len = ulong.MaxValue;
        Assert.Equal(Errno.Success, b.Fd.IoasUnmap(c, 0, ref len));
        Assert.Equal(0, b.Kernel.UserMemory.TotalPins);
    }

    [Fact]
    public void ACopyMaySpanContiguousAreas()
    {
        var b = new IommufdBench();
        uint a = b.Ioas();
        b.Map(a, b.Buffer(2, stamp: 0xB1), 2 * Page, iova: 0x10_0000);
        b.Map(a, b.Buffer(2, stamp: 0xB2), 2 * Page, iova: 0x10_2000);
        ulong dst = 0x40_0000;
        Assert.Equal(Errno.Success, b.Fd.IoasCopy(a, a, IoasMapFlags.ReadWrite | IoasMapFlags.FixedIova, 2 * Page, ref dst, 0x10_1000));
        b.BindAttach(Dev0, a);
        Assert.Equal(Stamp(0xB1, 1), b.DmaRead64(Dev0, 0x40_0000));
        Assert.Equal(Stamp(0xB2, 0), b.DmaRead64(Dev0, 0x40_1000));
        Assert.Equal(2, b.IoasOf(a).Areas.Count(x => x.Iova >= 0x40_0000)); // one area per source piece, as Linux
    }

    [Fact]
    public void APinnedPageOutlivesMunmapAndIsFreedWithItsLastArea()
    {
        var b = new IommufdBench();
        uint ioas = b.Ioas();
        Uva va = b.Buffer(1, stamp: 0xD0);
        b.Map(ioas, va, Page, iova: 0x10_0000);
        b.BindAttach(Dev0, ioas);
        Hpa page = b.Process.Translate(va)!.Value;
        var freed = new List<Hpa>();
        b.Kernel.UserMemory.PageFreed += f => freed.Add(f.Address);

        Assert.Equal(Errno.Success, b.Process.Munmap(va, Page));
        Assert.Empty(freed);
        Assert.True(b.DmaWrite64(Dev0, 0x10_0010, 77));
        Assert.Equal(77UL, b.Machine.Memory.Read64(page + 0x10));

        ulong len = Page;
        Assert.Equal(Errno.Success, b.Fd.IoasUnmap(ioas, 0x10_0000, ref len));
        Assert.Equal([page], freed);
        Assert.Null(b.DmaRead64(Dev0, 0x10_0000));
    }

    [Fact]
    public void AReadOnlyFilePageSharedByTwoProcessesIsOnePhysicalPageInBothIoases()
    {
        var b = new IommufdBench();
        var file = b.Kernel.CreateFile("vga-bios", 2 * Page);
        Assert.Equal(Errno.Success, file.Write(0, "BIOS"u8));
        var other = b.Kernel.CreateProcess("second-vmm");
        var otherFd = b.Kernel.OpenIommufd(other);
        Assert.Equal(Errno.Success, b.Process.MmapShared(file, 0, 2 * Page, MemoryProtection.Read, out Uva va1));
        Assert.Equal(Errno.Success, other.MmapShared(file, 0, 2 * Page, MemoryProtection.Read, out Uva va2));

        uint ioas1 = b.Ioas();
        b.Map(ioas1, va1, 2 * Page, IoasMapFlags.Readable, iova: 0xC_0000);
        uint ioas2 = otherFd.IoasAlloc();
        ulong iova2 = 0xC_0000;
        Assert.Equal(Errno.Success, otherFd.IoasMap(ioas2, IoasMapFlags.Readable | IoasMapFlags.FixedIova, va2, 2 * Page, ref iova2));
        // WRITEABLE is refused (the mappings are read-only) — after the IOVA checks, which come first (EEXIST).
        Assert.Equal(Errno.EEXIST, otherFd.IoasMap(ioas2, IoasMapFlags.ReadWrite | IoasMapFlags.FixedIova, va2, 2 * Page, ref iova2));
        ulong elsewhere = 0x20_0000;
        Assert.Equal(Errno.EFAULT, otherFd.IoasMap(ioas2, IoasMapFlags.ReadWrite | IoasMapFlags.FixedIova, va2, 2 * Page, ref elsewhere));

        var p1 = b.IoasOf(ioas1).Areas.Single().Pages;
        var p2 = otherFd.Get<Ioas>(ioas2)!.Areas.Single().Pages;
        Assert.Equal(p1, p2);
        Assert.Equal(2, b.Kernel.UserMemory.FrameAt(p1[0])!.PinCount);

        b.BindAttach(Dev0, ioas1);
        Assert.Equal(Errno.Success, otherFd.DeviceBind(Dev1, out uint d1));
        uint pt = ioas2;
        Assert.Equal(Errno.Success, otherFd.DeviceAttach(d1, ref pt));
        var bios = new byte[4];
        Assert.True(b.DmaRead(Dev1, 0xC_0000, bios).Completed);
        Assert.Equal("BIOS"u8.ToArray(), bios);
        Assert.False(b.DmaWrite64(Dev0, 0xC_0000, 0)); // read-only in the IOMMU too
    }

    [Fact]
    public void LargeAlignedRangesUseLargePagesInTheDomain()
    {
        var b = new IommufdBench();
        uint ioas = b.Ioas();
        uint dev = b.Bind(Dev0);
        uint parent = b.Hwpt(dev, ioas, HwptAllocFlags.NestParent);
        // A fresh kernel hands out user pages in order from 64 MiB, so 2 MiB of touched memory is physically contiguous
        // and 2 MiB aligned.
        Uva va = b.Buffer(512, at: new Uva(0x2_0000_0000UL));
        b.Map(ioas, va, 512 * Page, iova: 0x4000_0000);
        Assert.Equal(2UL << 20, b.PagingOf(parent).PagingDomain.Table.Lookup(0x4000_1000)!.Value.PageSize);
    }

    [Fact]
    public void AnAccessReadsAndWritesThroughThePinnedPages()
    {
        var b = new IommufdBench();
        uint ioas = b.Ioas();
        Uva va = b.Buffer(2, stamp: 0xE0);
        b.Map(ioas, va, 2 * Page, iova: 0x10_0000);
        Assert.Equal(Errno.Success, b.Fd.AccessCreate(ioas, out uint access));

        var buffer = new byte[16];
        Assert.Equal(Errno.Success, b.Fd.AccessRead(access, 0x10_0FF8, buffer)); // crosses into the second page
        Assert.Equal(Stamp(0xE0, 1), BitConverter.ToUInt64(buffer, 8));
        Assert.Equal(Errno.Success, b.Fd.AccessWrite(access, 0x10_1008, BitConverter.GetBytes(0x1122UL)));
        Assert.Equal(Errno.Success, b.Process.Read64(va + Page + 8, out ulong v));
        Assert.Equal(0x1122UL, v);
        // After unmap the access sees nothing.
        ulong len = 2 * Page;
        Assert.Equal(Errno.Success, b.Fd.IoasUnmap(ioas, 0x10_0000, ref len));
        Assert.Equal(Errno.ENOENT, b.Fd.AccessRead(access, 0x10_0000, buffer));
    }

    [Fact]
    public void CloseReleasesEveryPinAndEveryDomain()
    {
        var b = new IommufdBench();
        int kernelPages = b.Kernel.Pages.PagesInUse;
        uint a = b.Ioas(), c = b.Ioas();
        b.Map(a, b.Buffer(8), 8 * Page, iova: 0x10_0000);
        b.Map(c, b.Buffer(8), 8 * Page, IoasMapFlags.Readable, iova: 0x10_0000);
        var (dev0, _) = b.BindAttach(Dev0, a);
        uint parent = b.Hwpt(dev0, a, HwptAllocFlags.NestParent);
        var (dev1, _) = b.BindAttach(Dev1, parent);
        uint nested = b.Nested(dev1, parent);
        uint pt = nested;
        Assert.Equal(Errno.Success, b.Fd.DeviceReplace(dev1, ref pt));
        b.BindAttach(Dev2, c);
        Assert.Equal(Errno.Success, b.Fd.AccessCreate(c, out _));

        b.Fd.Close();
        Assert.True(b.Fd.Closed);
        Assert.Equal(0, b.Kernel.UserMemory.TotalPins);
        Assert.Null(b.DmaRead64(Dev0, 0x10_0000));
        Assert.Null(b.DmaRead64(Dev2, 0x10_0000));
        Assert.Throws<ObjectDisposedException>(() => b.Fd.IoasAlloc(0, out _));
        // The devices are free for another iommufd; only PASID/context tables the driver keeps stay allocated: per device
        // a context table, a PASID directory (32 pages for 20-bit PASIDs) and a PASID table.
        var again = b.Kernel.OpenIommufd(b.Process);
        Assert.Equal(Errno.Success, again.DeviceBind(Dev0, out _));
        int directoryPages = (1 << (b.Kernel.Iommu.Unit.PasidDirectorySize + 7)) * 8 / 4096;
        Assert.True(b.Kernel.Pages.PagesInUse - kernelPages <= 3 * (directoryPages + 2), "page tables of destroyed domains were not freed");
    }

    [Fact]
    public void LegacyModeUnitsWorkWithoutNesting()
    {
        var b = new IommufdBench(Hardware.Profiles.BuiltInProfiles.Qemu72Legacy);
        uint ioas = b.Ioas();
        b.Map(ioas, b.Buffer(2), 2 * Page, iova: 0x10_0000);
        var (dev, hwpt) = b.BindAttach(Dev0, ioas);
        Assert.Equal(PagingFormat.SecondStage, b.PagingOf(hwpt).PagingDomain.Format);
        Assert.Equal(Stamp(0xA0, 1), b.DmaRead64(Dev0, 0x10_1000));
        Assert.Equal(Errno.EOPNOTSUPP, b.Fd.HwptAlloc(dev, ioas, HwptAllocFlags.NestParent, out _));
        // qemu-7.2's 39-bit second stage: the aperture is 2^39.
        Assert.Equal(Errno.EINVAL, b.TryMap(ioas, b.Buffer(1), Page, IoasMapFlags.ReadWrite, 1UL << 39));
    }
    [Fact]
    public void TheDirtyBitmapWalkStopsAtTheFirstHoleAndStillSucceedsAsInLinux()
    {
        var b = new IommufdBench();
        uint ioas = b.Ioas();
        b.Map(ioas, b.Buffer(2), 2 * Page, iova: 0x10_0000);
        b.Map(ioas, b.Buffer(2), 2 * Page, iova: 0x10_3000); // a one-page hole at 0x10_2000
        uint dev = b.Bind(Dev0);
        uint hwpt = b.Hwpt(dev, ioas, HwptAllocFlags.DirtyTracking);
        uint pt = hwpt;
        Assert.Equal(Errno.Success, b.Fd.DeviceAttach(dev, ref pt));
        var bitmap = new ulong[1];
        // Tracking off: nothing is read, and the call succeeds.
        Assert.Equal(Errno.Success, b.Fd.HwptGetDirtyBitmap(hwpt, 0x10_0000, 5 * Page, Page, bitmap));
        Assert.Equal(Errno.Success, b.Fd.HwptSetDirtyTracking(hwpt, DirtyTrackingFlags.Enable));
        foreach (ulong p in new ulong[] { 0, 1, 3, 4 })
        {
            Assert.NotNull(b.DmaRead64(Dev0, 0x10_0000 + p * Page)); // sets A first (see HardwareFindingsTests)
            Assert.True(b.DmaWrite64(Dev0, 0x10_0000 + p * Page, p));
        }
        Assert.Equal(Errno.Success, b.Fd.HwptGetDirtyBitmap(hwpt, 0x10_0000, 5 * Page, Page, bitmap, DirtyBitmapFlags.NoClear));
        Assert.Equal(0b11UL, bitmap[0]); // pages 3 and 4 lie beyond the hole
        bitmap[0] = 0;
        Assert.Equal(Errno.Success, b.Fd.HwptGetDirtyBitmap(hwpt, 0x10_3000, 2 * Page, Page, bitmap));
        Assert.Equal(0b11UL, bitmap[0]);
        // A bitmap too small for the range keeps the bits that fit.
        var tiny = new ulong[1];
        Assert.Equal(Errno.Success, b.Fd.HwptGetDirtyBitmap(hwpt, 0x10_0000 - 64 * Page, 66 * Page, Page, tiny));
        Assert.Equal(0UL, tiny[0]); // no area at the start: the walk reads nothing at all
    }
}
