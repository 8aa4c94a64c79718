using VtdSim.Hardware.Addressing;
using VtdSim.Kernel.Intel;
using VtdSim.Kernel.Iommufd;
using VtdSim.Kernel.Tests.Iommufd;
using static VtdSim.Kernel.Tests.Iommufd.IommufdBench;
using VtdSim.Kernel.Process;

namespace VtdSim.Kernel.Tests;

/// <summary>
/// The driver's page-selective invalidations (IOTLB PSI and P_IOTLB): the range is computed with inclusive last
/// addresses, so a range ending at 2^64 − 1 is one aligned block and not a wrap to 0, and ADDR (bits 63:12 of the
/// descriptor) carries any 4 KiB-aligned address, not only those below 2^52 (issue 8, item 2).
/// </summary>
public class FlushRangeTests
{
    private const ulong Page = 4096;

    [Theory]
    [InlineData(0x1000UL, 0x1FFFUL, 0x1000UL, 0)]
    [InlineData(0x1000UL, 0x2FFFUL, 0x0UL, 2)]                                       // pages 1–2 need the aligned block 0–3
    [InlineData(0xFFFF_FFFF_FFFF_F000UL, ulong.MaxValue, 0xFFFF_FFFF_FFFF_F000UL, 0)] // the last page
    [InlineData(0xFFFF_FFFF_FFE0_0000UL, ulong.MaxValue, 0xFFFF_FFFF_FFE0_0000UL, 9)] // the last 2 MiB
    [InlineData(0xFFFF_FFFF_C000_0000UL, ulong.MaxValue, 0xFFFF_FFFF_C000_0000UL, 18)] // the last 1 GiB
    [InlineData(0xFFFF_FFFF_FFFF_E000UL, 0xFFFF_FFFF_FFFF_EFFFUL, 0xFFFF_FFFF_FFFF_E000UL, 0)]
    [InlineData(0UL, ulong.MaxValue, 0UL, 52)]                                       // everything
    public void APageSelectiveRangeIsTheSmallestAlignedBlockCoveringStartToLast(ulong start, ulong last, ulong block, int am)
    {
        var mask = IntelIommu.RangeMask(start, last);
        Assert.Equal((block, am), mask);
        // The block covers the range and is naturally aligned (AM 52 is the whole space).
        if (am == 52) return;
        ulong blockLast = block + ((Page << am) - 1);
        Assert.True(block <= start && last <= blockLast && block % (Page << am) == 0);
    }

    /// <summary>Random ranges, many of them touching 2^64 − 1: the block always covers the range, is aligned, and is the smallest that does.</summary>
    [Fact]
    public void RandomRangesIncludingTheTopOfTheSpaceAreCoveredByTheSmallestAlignedBlock()
    {
        var rng = new Random(2);
        for (int i = 0; i < 100_000; i++)
        {
            ulong start = rng.Next(3) == 0 ? 0UL - ((ulong)rng.NextInt64(1, 1L << 40) << 12) : (ulong)rng.NextInt64() << rng.Next(2);
            ulong last = rng.Next(3) == 0 ? ulong.MaxValue : start + Math.Min((ulong)rng.NextInt64(0, 1L << rng.Next(1, 62)), ulong.MaxValue - start);
            var (block, am) = IntelIommu.RangeMask(start, last);
            ulong blockLast = am == 52 ? ulong.MaxValue : block + ((Page << am) - 1);
            Assert.True(block <= start && last <= blockLast, $"[0x{start:x}, 0x{last:x}] is not inside [0x{block:x}, 0x{blockLast:x}]");
            Assert.True(am == 52 || block % (Page << am) == 0, $"0x{block:x} is not aligned to AM {am}");
            if (am > 0)
            {
                // Half the block would not do: start and last lie in different halves.
                ulong half = Page << (am - 1);
                Assert.True((start & ~(half - 1)) != (last & ~(half - 1)), $"[0x{start:x}, 0x{last:x}] fits in a block of AM {am - 1}");
            }
        }
    }

    /// <summary>
    /// A guest's first stage maps the last page of the 64-bit space (canonical for a 4-level table); the guest moves it
    /// and invalidates that one page: the device must see the new page. The end of the range, addr + npages·4K, is 2^64.
    /// </summary>
    [Theory]
    [InlineData(1UL)]
    [InlineData(2UL)]
    public void AGuestInvalidationOfTheLastPagesOfTheSpaceReachesTheHardware(ulong pages)
    {
        const ulong gva = 0xFFFF_FFFF_FFFF_F000;
        var b = new IommufdBench();
        uint ioas = b.Ioas();
        Uva guestRam = b.Buffer(16);
        b.Map(ioas, guestRam, 16 * Page, iova: 0);
        void WriteEntry(ulong table, int level, ulong value) =>
            Assert.Equal(Errno.Success, b.Process.Write64(guestRam + table + ((gva >> (12 + 9 * (level - 1))) & 0x1FF) * 8, value));
        WriteEntry(0x1000, 4, 0x2000 | 0x7);
        WriteEntry(0x2000, 3, 0x3000 | 0x7);
        WriteEntry(0x3000, 2, 0x4000 | 0x7);
        WriteEntry(0x4000, 1, 0x8000 | 0x7);
        uint dev = b.Bind(Dev0);
        uint parent = b.Hwpt(dev, ioas, HwptAllocFlags.NestParent);
        uint nested = b.Nested(dev, parent, new VtdS1Config(VtdS1Flags.None, 0x1000, 48));
        uint pt = nested;
        Assert.Equal(Errno.Success, b.Fd.DeviceAttach(dev, ref pt));

        Assert.Equal(Stamp(0xA0, 8), b.DmaRead64(Dev0, gva));
        WriteEntry(0x4000, 1, 0x9000 | 0x7);
        Assert.Equal(Stamp(0xA0, 8), b.DmaRead64(Dev0, gva)); // cached until the guest invalidates
        uint num = 1;
        ulong addr = 0UL - pages * Page;
        Assert.Equal(Errno.Success, b.Fd.HwptInvalidate(nested, HwptInvalidateDataType.VtdS1, 24, ref num,
            VtdUapi.EncodeInvalidations(new VtdS1Invalidation(addr, pages, VtdS1Invalidation.Leaf))));
        Assert.Equal(1u, num);
        Assert.Equal(Stamp(0xA0, 9), b.DmaRead64(Dev0, gva));
    }

    /// <summary>
    /// Mappings above 2^52 (a 5-level table reaches 2^57; a first-stage one its lower half, 2^56): unmapping them flushes
    /// a page-selective range there, and the device faults afterwards.
    /// </summary>
    [Theory]
    [InlineData(HwptAllocFlags.None, 1UL << 52)]                 // first stage (5-level on Sapphire Rapids)
    [InlineData(HwptAllocFlags.None, (1UL << 56) - 0x1000)]
    [InlineData(HwptAllocFlags.DirtyTracking, 1UL << 52)]        // second stage, 5-level
    [InlineData(HwptAllocFlags.DirtyTracking, (1UL << 57) - 0x1000)]
    public void UnmappingAnIovaAboveTwoToThe52IsFlushedThere(HwptAllocFlags flags, ulong iova)
    {
        var b = new IommufdBench();
        uint ioas = b.Ioas();
        uint dev = b.Bind(Dev0);
        uint pt = b.Hwpt(dev, ioas, flags);
        Assert.Equal(Errno.Success, b.Fd.DeviceAttach(dev, ref pt));
        b.Map(ioas, b.Buffer(1), Page, iova: iova);
        Assert.Equal(Stamp(0xA0, 0), b.DmaRead64(Dev0, iova));
        ulong length = Page;
        Assert.Equal(Errno.Success, b.Fd.IoasUnmap(ioas, iova, ref length));
        Assert.Null(b.DmaRead64(Dev0, iova));
    }

    /// <summary>Found by the random-ioctl run: a guest invalidation of an address at or above 2^52 threw from the descriptor encoder.</summary>
    [Theory]
    [InlineData(1UL << 52, 1UL)]
    [InlineData(1UL << 56, 3UL)]
    [InlineData(0x8000_0000_0000_0000UL, 512UL)]
    [InlineData(0xFFFF_FFFF_FFE0_0000UL, 512UL)]
    public void AGuestInvalidationAboveTwoToThe52IsSentNotThrown(ulong addr, ulong pages)
    {
        var b = new IommufdBench();
        uint ioas = b.Ioas();
        uint dev = b.Bind(Dev0);
        uint parent = b.Hwpt(dev, ioas, HwptAllocFlags.NestParent);
        uint nested = b.Nested(dev, parent);
        uint pt = nested;
        Assert.Equal(Errno.Success, b.Fd.DeviceAttach(dev, ref pt));
        long before = b.Kernel.Iommu.InvalidationsSubmitted;
        uint num = 1;
        Assert.Equal(Errno.Success, b.Fd.HwptInvalidate(nested, HwptInvalidateDataType.VtdS1, 24, ref num,
            VtdUapi.EncodeInvalidations(new VtdS1Invalidation(addr, pages))));
        Assert.Equal(1u, num);
        Assert.Equal(1, b.Kernel.Iommu.InvalidationsSubmitted - before);
    }
}
