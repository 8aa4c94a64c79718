using VtdSim.Kernel.Intel;
using VtdSim.Kernel.Iommufd;
using static VtdSim.Kernel.Tests.Iommufd.IommufdBench;
using VtdSim.Kernel.Process;

namespace VtdSim.Kernel.Tests.Iommufd;

/// <summary>
/// PASID attach seen from the device: PASID-tagged requests go through the hardware model to the HWPT attached at
/// that PASID, requests without PASID to the RID's, and what is detached, unmapped or replaced stops being reachable
/// (a missing invalidation would leave a stale translation in the unit's IOTLB and show here).
/// </summary>
public class PasidDmaTests
{
    private const ulong Page = 4096;
    private const ulong Iova = 0x10_0000;

    private readonly IommufdBench _b = new();
    private IommufdContext Fd => _b.Fd;

    /// <summary>Two IOASes mapping different pages (stamps A0 and B0) at the same IOVAs.</summary>
    private (uint A, uint B, Uva VaA, Uva VaB) TwoSpaces()
    {
        uint a = _b.Ioas(), b = _b.Ioas();
        Uva vaA = _b.Buffer(4, stamp: 0xA0), vaB = _b.Buffer(4, stamp: 0xB0);
        _b.Map(a, vaA, 4 * Page, iova: Iova);
        _b.Map(b, vaB, 4 * Page, iova: Iova);
        return (a, b, vaA, vaB);
    }

    private uint AttachPasid(uint dev, uint pt, uint pasid)
    {
        Assert.Equal(Errno.Success, Fd.DeviceAttach(dev, ref pt, pasid));
        return pt;
    }

    [Fact]
    public void APasidReachesExactlyItsHwptsPagesWhileTheRidUsesTheRids()
    {
        var (a, b, vaA, vaB) = TwoSpaces();
        var (dev, _) = _b.BindAttach(Dev0, a);
        AttachPasid(dev, b, 5);

        Assert.Equal(Stamp(0xA0, 1), _b.DmaRead64(Dev0, Iova + Page));
        Assert.Equal(Stamp(0xB0, 1), _b.DmaRead64(Dev0, 5, Iova + Page));
        Assert.Null(_b.DmaRead64(Dev0, 6, Iova + Page)); // a PASID nobody attached
        Assert.Null(_b.DmaRead64(Dev1, 5, Iova + Page)); // another function's PASID 5

        Assert.True(_b.DmaWrite64(Dev0, 5, Iova + 2 * Page, 0x1234));
        Assert.Equal(Errno.Success, _b.Process.Read64(vaB + 2 * Page, out ulong inB));
        Assert.Equal(Errno.Success, _b.Process.Read64(vaA + 2 * Page, out ulong inA));
        Assert.Equal(0x1234UL, inB);
        Assert.Equal(Stamp(0xA0, 2), inA);
    }

    [Fact]
    public void DetachingAPasidMakesItsDmaFaultAndLeavesTheRidAlone()
    {
        var (a, b, _, _) = TwoSpaces();
        var (dev, _) = _b.BindAttach(Dev0, a);
        uint hwpt = AttachPasid(dev, b, 5);
        Assert.Equal(Stamp(0xB0, 0), _b.DmaRead64(Dev0, 5, Iova)); // cached now

        Assert.Equal(Errno.Success, Fd.DeviceDetach(dev, 5));
        Assert.Null(_b.DmaRead64(Dev0, 5, Iova));
        Assert.Equal(Stamp(0xA0, 0), _b.DmaRead64(Dev0, Iova));
        Assert.Null(Fd.Find(hwpt)); // B's automatic HWPT went with its last user
        Assert.Empty(Fd.Get<IommufdDevice>(dev)!.PasidAttached);
    }

    [Fact]
    public void ReplacingAPasidSwitchesItsTranslationAtOnce()
    {
        var (a, b, _, _) = TwoSpaces();
        uint dev = _b.Bind(Dev0);
        uint hwptA = _b.Hwpt(dev, a, HwptAllocFlags.Pasid), hwptB = _b.Hwpt(dev, b, HwptAllocFlags.Pasid);
        AttachPasid(dev, hwptA, 9);
        Assert.Equal(Stamp(0xA0, 3), _b.DmaRead64(Dev0, 9, Iova + 3 * Page));

        uint pt = hwptB;
        Assert.Equal(Errno.Success, Fd.DeviceReplace(dev, ref pt, 9));
        Assert.Equal(Stamp(0xB0, 3), _b.DmaRead64(Dev0, 9, Iova + 3 * Page)); // the old DID's entries were flushed
        Assert.Null(_b.DmaRead64(Dev0, Iova)); // the RID was never attached
        Assert.Equal(Errno.Success, Fd.Destroy(hwptA));
        Assert.Equal(Errno.EBUSY, Fd.Destroy(hwptB));
    }

    /// <summary>
    /// A first-stage IOTLB entry is tagged (DID, PASID): the unmap must send a PASID-based invalidation for the PASID
    /// too, not only for RID_PASID, whether or not the RID shares the domain.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void UnmapOfAFirstStageDomainAttachedAtAPasidIsFlushed(bool ridSharesTheDomain)
    {
        var (a, b, _, _) = TwoSpaces();
        var (dev, ridHwpt) = _b.BindAttach(Dev0, ridSharesTheDomain ? a : b);
        uint hwpt = AttachPasid(dev, a, 5);
        Assert.Equal(ridSharesTheDomain, hwpt == ridHwpt);
        Assert.Equal(PagingFormat.FirstStage, _b.PagingOf(hwpt).PagingDomain.Format);
        Assert.Equal(Stamp(0xA0, 1), _b.DmaRead64(Dev0, 5, Iova + Page));
        if (ridSharesTheDomain) Assert.Equal(Stamp(0xA0, 1), _b.DmaRead64(Dev0, Iova + Page));

        ulong length = 4 * Page;
        Assert.Equal(Errno.Success, Fd.IoasUnmap(a, Iova, ref length));
        Assert.Null(_b.DmaRead64(Dev0, 5, Iova + Page));
        if (ridSharesTheDomain) Assert.Null(_b.DmaRead64(Dev0, Iova + Page));
        else Assert.Equal(Stamp(0xB0, 1), _b.DmaRead64(Dev0, Iova + Page));
    }

    [Fact]
    public void ASecondStageHwptAtAPasidTranslatesAndItsUnmapIsFlushed()
    {
        var (a, _, _, _) = TwoSpaces();
        uint dev = _b.Bind(Dev0);
        uint parent = _b.Hwpt(dev, a, HwptAllocFlags.NestParent | HwptAllocFlags.Pasid);
        Assert.Equal(PagingFormat.SecondStage, _b.PagingOf(parent).PagingDomain.Format);
        AttachPasid(dev, parent, 7);
        Assert.Equal(Stamp(0xA0, 2), _b.DmaRead64(Dev0, 7, Iova + 2 * Page));

        ulong length = 4 * Page;
        Assert.Equal(Errno.Success, Fd.IoasUnmap(a, Iova, ref length));
        Assert.Null(_b.DmaRead64(Dev0, 7, Iova + 2 * Page));
    }

    /// <summary>
    /// A nested HWPT at a PASID: the guest's first stage (in IOAS memory, at GPAs) over the parent's second stage;
    /// the guest's invalidation must name that PASID to reach the cached translation.
    /// </summary>
    [Fact]
    public void ANestedHwptAtAPasidWalksTheGuestTablesAndTheGuestsInvalidationReachesIt()
    {
        const ulong gva = 0x7000_0000;
        uint ioas = _b.Ioas();
        Uva guestRam = _b.Buffer(16);
        _b.Map(ioas, guestRam, 16 * Page, iova: 0);
        void WriteEntry(ulong table, int level, ulong value) =>
            Assert.Equal(Errno.Success, _b.Process.Write64(guestRam + table + ((gva >> (12 + 9 * (level - 1))) & 0x1FF) * 8, value));
        WriteEntry(0x1000, 4, 0x2000 | 0x7);
        WriteEntry(0x2000, 3, 0x3000 | 0x7);
        WriteEntry(0x3000, 2, 0x4000 | 0x7);
        WriteEntry(0x4000, 1, 0x8000 | 0x7);

        var (dev, _) = _b.BindAttach(Dev0, ioas); // the RID: GPA = IOVA, through the automatic domain
        uint parent = _b.Hwpt(dev, ioas, HwptAllocFlags.NestParent | HwptAllocFlags.Pasid);
        byte[] s1 = VtdUapi.EncodeS1(new VtdS1Config(VtdS1Flags.None, 0x1000, 48));
        Assert.Equal(Errno.Success, Fd.HwptAlloc(dev, parent, HwptAllocFlags.Pasid, out uint nested, HwptDataType.VtdS1, 24, s1));
        AttachPasid(dev, nested, 3);

        Assert.Equal(Stamp(0xA0, 8), _b.DmaRead64(Dev0, 3, gva));
        Assert.Null(_b.DmaRead64(Dev0, gva)); // the RID has no such IOVA

        // The guest moves its page; the unit keeps the cached translation until the guest invalidates it.
        WriteEntry(0x4000, 1, 0x9000 | 0x7);
        Assert.Equal(Stamp(0xA0, 8), _b.DmaRead64(Dev0, 3, gva));
        uint num = 1;
        Assert.Equal(Errno.Success, Fd.HwptInvalidate(nested, HwptInvalidateDataType.VtdS1, 24, ref num,
            VtdUapi.EncodeInvalidations(new VtdS1Invalidation(gva, 1, VtdS1Invalidation.Leaf))));
        Assert.Equal(Stamp(0xA0, 9), _b.DmaRead64(Dev0, 3, gva));

        // The parent's unmap reaches the nested translation at the PASID (a DID-based flush with the nested DID).
        ulong length = 16 * Page;
        Assert.Equal(Errno.Success, Fd.IoasUnmap(ioas, 0, ref length));
        Assert.Null(_b.DmaRead64(Dev0, 3, gva));
    }
}
