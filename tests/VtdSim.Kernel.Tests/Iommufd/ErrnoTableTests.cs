using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Profiles;
using VtdSim.Kernel.Intel;
using VtdSim.Kernel.Iommufd;
using VtdSim.Kernel.Process;
using static VtdSim.Kernel.Tests.Iommufd.IommufdBench;

namespace VtdSim.Kernel.Tests.Iommufd;

/// <summary>One test per row of the errno table in docs/kernel-api.md; each name starts with the row id.</summary>
public partial class ErrnoTableTests
{
    private const ulong Page = 4096;
    private readonly IommufdBench _b = new();
    private IommufdContext Fd => _b.Fd;

    private static byte[] S1(uint width = 48) => VtdUapi.EncodeS1(new VtdS1Config(VtdS1Flags.None, 0x10_0000, width));

    private (uint Ioas, uint Dev, uint Parent, uint Nested) NestedSetup()
    {
        uint ioas = _b.Ioas();
        uint dev = _b.Bind(Dev0);
        uint parent = _b.Hwpt(dev, ioas, HwptAllocFlags.NestParent);
        uint nested = _b.Nested(dev, parent);
        return (ioas, dev, parent, nested);
    }

    // ---- IOMMU_DESTROY ----

    [Fact]
    public void D1_DestroyOfAnUnknownIdIsEnoent()
    {
        Assert.Equal(Errno.ENOENT, Fd.Destroy(99));
        Assert.Equal(Errno.ENOENT, Fd.Destroy(0));
    }

    [Fact]
    public void D2_DestroyOfAnIoasWithAHwptIsEbusy()
    {
        uint ioas = _b.Ioas();
        uint hwpt = _b.Hwpt(_b.Bind(Dev0), ioas);
        Assert.Equal(Errno.EBUSY, Fd.Destroy(ioas));
        Assert.Equal(Errno.Success, Fd.Destroy(hwpt));
        Assert.Equal(Errno.Success, Fd.Destroy(ioas));
    }

    [Fact]
    public void D3_DestroyOfAnIoasWithAnAccessIsEbusy()
    {
        uint ioas = _b.Ioas();
        Assert.Equal(Errno.Success, Fd.AccessCreate(ioas, out uint access));
        Assert.Equal(Errno.EBUSY, Fd.Destroy(ioas));
        Assert.Equal(Errno.Success, Fd.AccessDestroy(access));
        Assert.Equal(Errno.Success, Fd.Destroy(ioas));
    }

    [Fact]
    public void D4_DestroyOfAHwptWithAnAttachedDeviceIsEbusy()
    {
        uint ioas = _b.Ioas();
        uint dev = _b.Bind(Dev0);
        uint hwpt = _b.Hwpt(dev, ioas);
        uint pt = hwpt;
        Assert.Equal(Errno.Success, Fd.DeviceAttach(dev, ref pt));
        Assert.Equal(Errno.EBUSY, Fd.Destroy(hwpt));
        Assert.Equal(Errno.Success, Fd.DeviceDetach(dev));
        Assert.Equal(Errno.Success, Fd.Destroy(hwpt));
    }

    [Fact]
    public void D5_DestroyOfAParentWithANestedHwptIsEbusy()
    {
        var (_, _, parent, nested) = NestedSetup();
        Assert.Equal(Errno.EBUSY, Fd.Destroy(parent));
        Assert.Equal(Errno.Success, Fd.Destroy(nested));
        Assert.Equal(Errno.Success, Fd.Destroy(parent));
    }

    [Fact]
    public void D6_DestroyOfANestedHwptWithAnAttachedDeviceIsEbusy()
    {
        var (_, dev, _, nested) = NestedSetup();
        uint pt = nested;
        Assert.Equal(Errno.Success, Fd.DeviceAttach(dev, ref pt));
        Assert.Equal(Errno.EBUSY, Fd.Destroy(nested));
    }

    [Fact]
    public void D7_DestroyOfABoundDeviceIsEbusy()
    {
        uint dev = _b.Bind(Dev0);
        Assert.Equal(Errno.EBUSY, Fd.Destroy(dev));
        Assert.Equal(Errno.Success, Fd.DeviceUnbind(dev));
        Assert.Null(Fd.Find(dev));
    }

    [Fact]
    public void D8_DestroyOfAnAccessIsEbusy()
    {
        Assert.Equal(Errno.Success, Fd.AccessCreate(_b.Ioas(), out uint access));
        Assert.Equal(Errno.EBUSY, Fd.Destroy(access));
    }

    // ---- IOMMU_IOAS_ALLOC ----

    [Fact]
    public void A1_IoasAllocWithFlagsIsEopnotsupp()
    {
        Assert.Equal(Errno.EOPNOTSUPP, Fd.IoasAlloc(1, out _));
        Assert.Empty(Fd.Objects);
    }

    // ---- IOMMU_IOAS_ALLOW_IOVAS ----

    [Fact]
    public void W1_AllowIovasWithReservedIsEopnotsupp() =>
        Assert.Equal(Errno.EOPNOTSUPP, Fd.IoasAllowIovas(_b.Ioas(), [], reserved: 1));

    [Fact]
    public void W2_AllowIovasOnAnUnknownIoasIsEnoent()
    {
        Assert.Equal(Errno.ENOENT, Fd.IoasAllowIovas(99, []));
        Assert.Equal(Errno.ENOENT, Fd.IoasAllowIovas(_b.Bind(Dev0), []));
    }

    [Fact]
    public void W3_AllowIovasWithStartNotBelowLastIsEinval() =>
        Assert.Equal(Errno.EINVAL, Fd.IoasAllowIovas(_b.Ioas(), [new IovaRange(0x2000, 0x2000)]));

    [Fact]
    public void W4_AllowIovasWithOverlappingRangesIsEinval() =>
        Assert.Equal(Errno.EINVAL, Fd.IoasAllowIovas(_b.Ioas(), [new IovaRange(0x1000, 0x2FFF), new IovaRange(0x2000, 0x3FFF)]));

    [Fact]
    public void W5_AllowIovasOverAReservedRangeIsEaddrinuse()
    {
        uint ioas = _b.Ioas();
        _b.BindAttach(Dev0, ioas);
        Assert.Equal(Errno.EADDRINUSE, Fd.IoasAllowIovas(ioas, [new IovaRange(0xFE00_0000, 0xFFFF_FFFF)]));
        Assert.Empty(_b.IoasOf(ioas).AllowedRanges);
        Assert.Equal(Errno.Success, Fd.IoasAllowIovas(ioas, [new IovaRange(0x1000, 0xFEDF_FFFF)]));
    }

    [Fact]
    public void W6_AttachWhenAnAllowedRangeCoversTheInterruptWindowIsEaddrinuse()
    {
        uint ioas = _b.Ioas();
        Assert.Equal(Errno.Success, Fd.IoasAllowIovas(ioas, [new IovaRange(0xFE00_0000, 0xFFFF_FFFF)]));
        uint dev = _b.Bind(Dev0);
        uint pt = ioas;
        Assert.Equal(Errno.EADDRINUSE, Fd.DeviceAttach(dev, ref pt));
        Assert.Empty(_b.IoasOf(ioas).Hwpts); // the automatic domain was not kept
        Assert.Null(Fd.Get<IommufdDevice>(dev)!.Attached);
    }

    // ---- IOMMU_IOAS_IOVA_RANGES ----

    [Fact]
    public void R1_IovaRangesWithReservedIsEopnotsupp()
    {
        uint n = 4;
        Assert.Equal(Errno.EOPNOTSUPP, Fd.IoasIovaRanges(_b.Ioas(), ref n, new IovaRange[4], out _, reserved: 1));
    }

    [Fact]
    public void R2_IovaRangesOfAnUnknownIoasIsEnoent()
    {
        uint n = 4;
        Assert.Equal(Errno.ENOENT, Fd.IoasIovaRanges(99, ref n, new IovaRange[4], out _));
    }

    [Fact]
    public void R3_IovaRangesIntoATooSmallArrayIsEmsgsizeWithTheCount()
    {
        uint ioas = _b.Ioas();
        _b.BindAttach(Dev0, ioas); // reserves the interrupt window and, through its first-stage domain, 2^56 and up
        var ranges = new IovaRange[1];
        uint n = 1;
        Assert.Equal(Errno.EMSGSIZE, Fd.IoasIovaRanges(ioas, ref n, ranges, out ulong align));
        Assert.Equal(2u, n);
        Assert.Equal(new IovaRange(0, 0xFEDF_FFFF), ranges[0]);
        Assert.Equal(4096UL, align);
        ranges = new IovaRange[2];
        Assert.Equal(Errno.Success, Fd.IoasIovaRanges(ioas, ref n, ranges, out _));
        Assert.Equal(new IovaRange(0xFEF0_0000, (1UL << 56) - 1), ranges[1]);
    }

    // ---- IOMMU_IOAS_MAP ----

    [Fact]
    public void M1_MapWithAnUnknownFlagIsEopnotsupp() =>
        Assert.Equal(Errno.EOPNOTSUPP, _b.TryMap(_b.Ioas(), _b.Buffer(1), Page, IoasMapFlags.ReadWrite | (IoasMapFlags)8, 0x1000));

    [Fact]
    public void M2_MapWithReservedIsEopnotsupp()
    {
        ulong iova = 0x1000;
        Assert.Equal(Errno.EOPNOTSUPP, Fd.IoasMap(_b.Ioas(), IoasMapFlags.ReadWrite | IoasMapFlags.FixedIova, _b.Buffer(1), Page, ref iova, reserved: 1));
    }

    [Fact]
    public void M3_MapWithIovaOrLengthAtU64MaxIsEoverflow()
    {
        uint ioas = _b.Ioas();
        Assert.Equal(Errno.EOVERFLOW, _b.TryMap(ioas, _b.Buffer(1), Page, IoasMapFlags.ReadWrite, ulong.MaxValue));
        Assert.Equal(Errno.EOVERFLOW, _b.TryMap(ioas, _b.Buffer(1), ulong.MaxValue, IoasMapFlags.ReadWrite, 0x1000));
    }

    [Fact]
    public void M4_MapWithoutReadableOrWriteableIsEinval() =>
        Assert.Equal(Errno.EINVAL, _b.TryMap(_b.Ioas(), _b.Buffer(1), Page, IoasMapFlags.None, 0x1000));

    [Fact]
    public void M5_MapIntoAnUnknownIoasIsEnoent()
    {
        Uva va = _b.Buffer(1);
        Assert.Equal(Errno.ENOENT, _b.TryMap(99, va, Page, IoasMapFlags.ReadWrite, 0x1000));
        uint hwpt = _b.Hwpt(_b.Bind(Dev0), _b.Ioas());
        Assert.Equal(Errno.ENOENT, _b.TryMap(hwpt, va, Page, IoasMapFlags.ReadWrite, 0x1000));
    }

    [Fact]
    public void M6_MapWhereUserVaPlusLengthWrapsIsEoverflow() =>
        Assert.Equal(Errno.EOVERFLOW, _b.TryMap(_b.Ioas(), new Uva(ulong.MaxValue - 0xFFF), 0x2000, IoasMapFlags.ReadWrite, 0x1000));

    [Fact]
    public void M7_MapOfLengthZeroIsEinval() =>
        Assert.Equal(Errno.EINVAL, _b.TryMap(_b.Ioas(), _b.Buffer(1), 0, IoasMapFlags.ReadWrite, 0x1000));

    [Fact]
    public void M8_MapOfAPartialPageIsEinval() =>
        Assert.Equal(Errno.EINVAL, _b.TryMap(_b.Ioas(), _b.Buffer(1), 0x800, IoasMapFlags.ReadWrite, 0x1000));

    [Fact]
    public void M9_MapAtAnUnalignedFixedIovaIsEinval() =>
        Assert.Equal(Errno.EINVAL, _b.TryMap(_b.Ioas(), _b.Buffer(1), Page, IoasMapFlags.ReadWrite, 0x1800));

    [Fact]
    public void M10_MapWhereIovaPlusLengthWrapsIsEoverflow() =>
        Assert.Equal(Errno.EOVERFLOW, _b.TryMap(_b.Ioas(), _b.Buffer(2), 2 * Page, IoasMapFlags.ReadWrite, 0xFFFF_FFFF_FFFF_F000));

    [Fact]
    public void M11_MapOverTheInterruptWindowIsEinval()
    {
        uint ioas = _b.Ioas();
        _b.BindAttach(Dev0, ioas);
        Assert.Equal(Errno.EINVAL, _b.TryMap(ioas, _b.Buffer(2), 2 * Page, IoasMapFlags.ReadWrite, 0xFEDF_F000));
    }

    [Fact]
    public void M12_MapOverAnExistingAreaIsEexist()
    {
        uint ioas = _b.Ioas();
        _b.Map(ioas, _b.Buffer(2), 2 * Page, iova: 0x10_0000);
        Assert.Equal(Errno.EEXIST, _b.TryMap(ioas, _b.Buffer(2), 2 * Page, IoasMapFlags.ReadWrite, 0x10_1000));
        Assert.Single(_b.IoasOf(ioas).Areas);
    }

    [Fact]
    public void M13_MapWithNoRoomForAnAutomaticIovaIsEnospc()
    {
        uint ioas = _b.Ioas();
        Assert.Equal(Errno.Success, Fd.IoasAllowIovas(ioas, [new IovaRange(0x1_0000, 0x1_FFFF)]));
        ulong iova = 0;
        Assert.Equal(Errno.ENOSPC, Fd.IoasMap(ioas, IoasMapFlags.ReadWrite, _b.Buffer(32), 32 * Page, ref iova));
        Assert.Equal(Errno.Success, Fd.IoasMap(ioas, IoasMapFlags.ReadWrite, _b.Buffer(16), 16 * Page, ref iova));
        Assert.Equal(0x1_0000UL, iova);
    }

    [Fact]
    public void M14_MapOfAnUnalignedUserAddressIsEinval()
    {
        uint ioas = _b.Ioas();
        Uva va = _b.Buffer(2);
        Assert.Equal(Errno.EINVAL, _b.TryMap(ioas, va + 0x10, Page, IoasMapFlags.ReadWrite, 0x1000));
        ulong iova = 0;
        Assert.Equal(Errno.EINVAL, Fd.IoasMap(ioas, IoasMapFlags.ReadWrite, va + 0x10, Page, ref iova));
    }

    [Fact]
    public void M15_WriteableMapOfReadOnlyMemoryIsEfault()
    {
        uint ioas = _b.Ioas();
        Uva ro = _b.Buffer(2, MemoryProtection.Read);
        long pins = _b.Kernel.UserMemory.TotalPins;
        Assert.Equal(Errno.EFAULT, _b.TryMap(ioas, ro, 2 * Page, IoasMapFlags.ReadWrite, 0x1000));
        Assert.Equal(Errno.EFAULT, _b.TryMap(ioas, ro, 2 * Page, IoasMapFlags.Writeable, 0x1000));
        Assert.Equal(pins, _b.Kernel.UserMemory.TotalPins);
        Assert.Empty(_b.IoasOf(ioas).Areas);
        Assert.Equal(Errno.Success, _b.TryMap(ioas, ro, 2 * Page, IoasMapFlags.Readable, 0x1000));
    }

    [Fact]
    public void M16_MapOfUnmappedUserMemoryIsEfault()
    {
        uint ioas = _b.Ioas();
        Assert.Equal(Errno.EFAULT, _b.TryMap(ioas, new Uva(0x2000_0000), Page, IoasMapFlags.ReadWrite, 0x1000));
        Uva va = _b.Buffer(1);
        Assert.Equal(Errno.EFAULT, _b.TryMap(ioas, va, 2 * Page, IoasMapFlags.Readable, 0x1000)); // runs off the end
        Assert.Equal(0, _b.Kernel.UserMemory.TotalPins);
    }

    [Fact]
    public void M17_ReadOnlyMapIntoAnIoasWithANestParentIsEinval()
    {
        uint ioas = _b.Ioas();
        _b.Hwpt(_b.Bind(Dev0), ioas, HwptAllocFlags.NestParent);
        Assert.Equal(Errno.EINVAL, _b.TryMap(ioas, _b.Buffer(1), Page, IoasMapFlags.Readable, 0x1000));
        Assert.Empty(_b.IoasOf(ioas).Areas);
        Assert.Equal(0, _b.Kernel.UserMemory.TotalPins);
        Assert.True(_b.Kernel.Log.Contains("ERRATA_772415_SPR17"));
    }

    [Fact]
    public void M18_MapAboveADomainsApertureIsEinval()
    {
        uint ioas = _b.Ioas();
        _b.Hwpt(_b.Bind(Dev0), ioas); // first stage, 5-level: the lower half of 2^57
        Assert.Equal(Errno.EINVAL, _b.TryMap(ioas, _b.Buffer(1), Page, IoasMapFlags.ReadWrite, 1UL << 56));
        Assert.Equal(Errno.Success, _b.TryMap(ioas, _b.Buffer(1), Page, IoasMapFlags.ReadWrite, (1UL << 56) - Page));
    }

    // ---- IOMMU_IOAS_COPY ----

    private (uint Ioas, ulong Iova) Source(IoasMapFlags flags = IoasMapFlags.ReadWrite, ulong pages = 2)
    {
        uint ioas = _b.Ioas();
        return (ioas, _b.Map(ioas, _b.Buffer(pages), pages * Page, flags, iova: 0x10_0000));
    }

    [Fact]
    public void C1_CopyWithAnUnknownFlagIsEopnotsupp()
    {
        var (src, iova) = Source();
        ulong dst = 0x20_0000;
        Assert.Equal(Errno.EOPNOTSUPP, Fd.IoasCopy(src, src, IoasMapFlags.ReadWrite | IoasMapFlags.FixedIova | (IoasMapFlags)8, Page, ref dst, iova));
    }

    [Fact]
    public void C2_CopyWithLengthOrIovaAtU64MaxIsEoverflow()
    {
        var (src, iova) = Source();
        ulong dst = 0x20_0000;
        Assert.Equal(Errno.EOVERFLOW, Fd.IoasCopy(src, src, IoasMapFlags.ReadWrite, ulong.MaxValue, ref dst, iova));
        Assert.Equal(Errno.EOVERFLOW, Fd.IoasCopy(src, src, IoasMapFlags.ReadWrite, Page, ref dst, ulong.MaxValue));
        dst = ulong.MaxValue;
        Assert.Equal(Errno.EOVERFLOW, Fd.IoasCopy(src, src, IoasMapFlags.ReadWrite, Page, ref dst, iova));
    }

    [Fact]
    public void C3_CopyWithoutReadableOrWriteableIsEinval()
    {
        var (src, iova) = Source();
        ulong dst = 0x20_0000;
        Assert.Equal(Errno.EINVAL, Fd.IoasCopy(src, src, IoasMapFlags.FixedIova, Page, ref dst, iova));
    }

    [Fact]
    public void C4_CopyFromAnUnknownIoasIsEnoent()
    {
        ulong dst = 0x20_0000;
        Assert.Equal(Errno.ENOENT, Fd.IoasCopy(_b.Ioas(), 99, IoasMapFlags.ReadWrite, Page, ref dst, 0x10_0000));
    }

    [Fact]
    public void C5_CopyOfLengthZeroIsEinval()
    {
        var (src, iova) = Source();
        ulong dst = 0x20_0000;
        Assert.Equal(Errno.EINVAL, Fd.IoasCopy(src, src, IoasMapFlags.ReadWrite | IoasMapFlags.FixedIova, 0, ref dst, iova));
    }

    [Fact]
    public void C6_CopyOfARangeNotCoveredByAreasIsEnoent()
    {
        var (src, iova) = Source();
        uint dstIoas = _b.Ioas();
        ulong dst = 0x20_0000;
        var flags = IoasMapFlags.ReadWrite | IoasMapFlags.FixedIova;
        Assert.Equal(Errno.ENOENT, Fd.IoasCopy(dstIoas, src, flags, Page, ref dst, 0x40_0000));     // nothing there
        Assert.Equal(Errno.ENOENT, Fd.IoasCopy(dstIoas, src, flags, 3 * Page, ref dst, iova));      // runs past the area
        Assert.Equal(Errno.ENOENT, Fd.IoasCopy(dstIoas, src, flags, 2 * Page, ref dst, iova - Page)); // starts before it
        Assert.Empty(_b.IoasOf(dstIoas).Areas);
    }

    [Fact]
    public void C7_CopyIntoAnUnknownIoasIsEnoent()
    {
        var (src, iova) = Source();
        ulong dst = 0x20_0000;
        Assert.Equal(Errno.ENOENT, Fd.IoasCopy(99, src, IoasMapFlags.ReadWrite | IoasMapFlags.FixedIova, Page, ref dst, iova));
    }

    [Fact]
    public void C8_CopyOverAnExistingAreaIsEexist()
    {
        var (src, iova) = Source();
        ulong dst = iova + Page;
        Assert.Equal(Errno.EEXIST, Fd.IoasCopy(src, src, IoasMapFlags.ReadWrite | IoasMapFlags.FixedIova, Page, ref dst, iova));
    }

    [Fact]
    public void C9_WriteableCopyOfPagesPinnedReadOnlyIsEperm()
    {
        var (src, iova) = Source(IoasMapFlags.Readable);
        uint dstIoas = _b.Ioas();
        ulong dst = 0x20_0000;
        Assert.Equal(Errno.EPERM, Fd.IoasCopy(dstIoas, src, IoasMapFlags.ReadWrite | IoasMapFlags.FixedIova, Page, ref dst, iova));
        Assert.Equal(Errno.Success, Fd.IoasCopy(dstIoas, src, IoasMapFlags.Readable | IoasMapFlags.FixedIova, Page, ref dst, iova));
    }

    [Fact]
    public void C11_CopyFromASourceIovaInsideAPageIsEinvalAndMapsNothing()
    {
        // Area [0x10000, +8 KiB) behind a device; a copy of 4 KiB from 0x10800 would start mid-page. Linux keeps the
        // byte offset (start_byte) and refuses an area whose page offset does not fit the IOVA alignment (4 KiB).
        uint ioas = _b.Ioas();
        _b.BindAttach(Dev0, ioas);
        _b.Map(ioas, _b.Buffer(2), 2 * Page, iova: 0x1_0000);
        long pins = _b.Kernel.UserMemory.TotalPins;
        var areas = _b.IoasOf(ioas).Areas.Select(a => (a.Iova, a.Length)).ToList();
        var fixedIova = IoasMapFlags.ReadWrite | IoasMapFlags.FixedIova;
        foreach (ulong at in new ulong[] { 0x4_0000, 0x4_0800 })
        {
            ulong dst = at;
            Assert.Equal(Errno.EINVAL, Fd.IoasCopy(ioas, ioas, fixedIova, Page, ref dst, 0x1_0800));
            Assert.Equal(at, dst);
        }
        ulong auto = 0;
        Assert.Equal(Errno.EINVAL, Fd.IoasCopy(ioas, ioas, IoasMapFlags.ReadWrite, Page, ref auto, 0x1_0800));
        Assert.Equal(0UL, auto);
        Assert.Equal(areas, _b.IoasOf(ioas).Areas.Select(a => (a.Iova, a.Length)).ToList());
        Assert.Equal(pins, _b.Kernel.UserMemory.TotalPins);
        Assert.Null(_b.DmaRead64(Dev0, 0x4_0000));
        // Into another IOAS with a device of its own, too.
        uint other = _b.Ioas();
        _b.BindAttach(Dev1, other);
        ulong there = 0x4_0000;
        Assert.Equal(Errno.EINVAL, Fd.IoasCopy(other, ioas, fixedIova, Page, ref there, 0x1_0800));
        Assert.Empty(_b.IoasOf(other).Areas);
        Assert.Null(_b.DmaRead64(Dev1, 0x4_0000));
    }

    [Fact]
    public void C10_ReadOnlyCopyIntoAnIoasWithANestParentIsEinval()
    {
        var (src, iova) = Source();
        uint dstIoas = _b.Ioas();
        _b.Hwpt(_b.Bind(Dev0), dstIoas, HwptAllocFlags.NestParent);
        ulong dst = 0x20_0000;
        long pins = _b.Kernel.UserMemory.TotalPins;
        Assert.Equal(Errno.EINVAL, Fd.IoasCopy(dstIoas, src, IoasMapFlags.Readable | IoasMapFlags.FixedIova, Page, ref dst, iova));
        Assert.Empty(_b.IoasOf(dstIoas).Areas);
        Assert.Equal(pins, _b.Kernel.UserMemory.TotalPins);
        Assert.Equal(Errno.Success, Fd.IoasCopy(dstIoas, src, IoasMapFlags.ReadWrite | IoasMapFlags.FixedIova, Page, ref dst, iova));
    }

    // ---- IOMMU_IOAS_UNMAP ----

    [Fact]
    public void U1_UnmapOfAnUnknownIoasIsEnoent()
    {
        ulong len = Page;
        Assert.Equal(Errno.ENOENT, Fd.IoasUnmap(99, 0x1000, ref len));
    }

    [Fact]
    public void U2_UnmapAllOfAnEmptyIoasSucceeds()
    {
        ulong len = ulong.MaxValue;
        Assert.Equal(Errno.Success, Fd.IoasUnmap(_b.Ioas(), 0, ref len));
        Assert.Equal(0UL, len);
    }

    [Fact]
    public void U3_UnmapWithIovaOrLengthAtU64MaxIsEoverflow()
    {
        uint ioas = _b.Ioas();
        ulong len = Page;
        Assert.Equal(Errno.EOVERFLOW, Fd.IoasUnmap(ioas, ulong.MaxValue, ref len));
        len = ulong.MaxValue;
        Assert.Equal(Errno.EOVERFLOW, Fd.IoasUnmap(ioas, 0x1000, ref len));
    }

    [Fact]
    public void U4_UnmapOfLengthZeroIsEinval()
    {
        ulong len = 0;
        Assert.Equal(Errno.EINVAL, Fd.IoasUnmap(_b.Ioas(), 0x1000, ref len));
    }

    [Fact]
    public void U5_UnmapWhereIovaPlusLengthWrapsIsEoverflow()
    {
        ulong len = 0x2000;
        Assert.Equal(Errno.EOVERFLOW, Fd.IoasUnmap(_b.Ioas(), 0xFFFF_FFFF_FFFF_F000, ref len));
    }

    [Fact]
    public void U6_UnmapWhereNothingIsMappedIsEnoent()
    {
        uint ioas = _b.Ioas();
        _b.Map(ioas, _b.Buffer(1), Page, iova: 0x10_0000);
        ulong len = Page;
        Assert.Equal(Errno.ENOENT, Fd.IoasUnmap(ioas, 0x20_0000, ref len));
    }

    [Fact]
    public void U7_UnmapThatCutsAnAreaIsEnoentAndKeepsLinuxsPartialProgress()
    {
        uint ioas = _b.Ioas();
        _b.Map(ioas, _b.Buffer(2), 2 * Page, iova: 0x10_0000);
        _b.Map(ioas, _b.Buffer(2), 2 * Page, iova: 0x20_0000);
        ulong len = 2 * Page;
        Assert.Equal(Errno.ENOENT, Fd.IoasUnmap(ioas, 0x10_1000, ref len)); // cuts the first area: nothing unmapped
        Assert.Equal(2, _b.IoasOf(ioas).Areas.Count);
        len = 0x10_1000;
        Assert.Equal(Errno.ENOENT, Fd.IoasUnmap(ioas, 0x10_0000, ref len)); // takes the first whole, cuts the second
        Assert.Equal([0x20_0000UL], _b.IoasOf(ioas).Areas.Select(a => a.Iova));
    }

    // ---- IOMMU_HWPT_ALLOC ----

    [Fact]
    public void H1_HwptAllocWithReservedIsEopnotsupp() =>
        Assert.Equal(Errno.EOPNOTSUPP, Fd.HwptAlloc(_b.Bind(Dev0), _b.Ioas(), HwptAllocFlags.None, out _, reserved: 1));

    [Fact]
    public void H2_HwptAllocWithDataLenButNoTypeIsEinval() =>
        Assert.Equal(Errno.EINVAL, Fd.HwptAlloc(_b.Bind(Dev0), _b.Ioas(), HwptAllocFlags.None, out _, HwptDataType.None, 24, S1()));

    [Fact]
    public void H3_HwptAllocWithATypeButNoDataLenIsEinval() =>
        Assert.Equal(Errno.EINVAL, Fd.HwptAlloc(_b.Bind(Dev0), _b.Ioas(), HwptAllocFlags.None, out _, HwptDataType.VtdS1, 0, S1()));

    [Fact]
    public void H4_HwptAllocForAnUnknownDeviceIsEnoent()
    {
        uint ioas = _b.Ioas();
        Assert.Equal(Errno.ENOENT, Fd.HwptAlloc(99, ioas, HwptAllocFlags.None, out _));
        Assert.Equal(Errno.ENOENT, Fd.HwptAlloc(ioas, ioas, HwptAllocFlags.None, out _)); // an IOAS id as dev_id
    }

    [Fact]
    public void H5_HwptAllocOnAnUnknownPtIdIsEinval() =>
        Assert.Equal(Errno.EINVAL, Fd.HwptAlloc(_b.Bind(Dev0), 99, HwptAllocFlags.None, out _));

    [Fact]
    public void H6_HwptAllocOnADeviceIsEinval()
    {
        uint dev = _b.Bind(Dev0);
        Assert.Equal(Errno.EINVAL, Fd.HwptAlloc(dev, dev, HwptAllocFlags.None, out _));
    }

    [Fact]
    public void H7_HwptAllocWithAnUnknownFlagIsEopnotsupp() =>
        Assert.Equal(Errno.EOPNOTSUPP, Fd.HwptAlloc(_b.Bind(Dev0), _b.Ioas(), (HwptAllocFlags)(1 << 4), out _));

    [Fact]
    public void H8_DirtyTrackingWithoutSecondStageAdIsEopnotsupp()
    {
        var b = new IommufdBench(BuiltInProfiles.Qemu72Scalable);
        Assert.Equal(Errno.EOPNOTSUPP, b.Fd.HwptAlloc(b.Bind(Dev0), b.Ioas(), HwptAllocFlags.DirtyTracking, out _));
    }

    [Fact]
    public void H9_FaultIdValidWithNestParentIsEopnotsupp() =>
        Assert.Equal(Errno.EOPNOTSUPP, Fd.HwptAlloc(_b.Bind(Dev0), _b.Ioas(), HwptAllocFlags.NestParent | HwptAllocFlags.FaultIdValid, out _));

    [Fact]
    public void H10_NestParentWithoutNestingIsEopnotsupp()
    {
        var b = new IommufdBench(BuiltInProfiles.Qemu72Scalable);
        Assert.Equal(Errno.EOPNOTSUPP, b.Fd.HwptAlloc(b.Bind(Dev0), b.Ioas(), HwptAllocFlags.NestParent, out _));
    }

    [Fact]
    public void H11_DriverDataOnAPagingAllocIsEopnotsupp() =>
        Assert.Equal(Errno.EOPNOTSUPP, Fd.HwptAlloc(_b.Bind(Dev0), _b.Ioas(), HwptAllocFlags.None, out _, HwptDataType.VtdS1, 24, S1()));

    [Fact]
    public void H12_AnAreaAboveTheNewDomainsApertureIsEaddrinuse()
    {
        uint ioas = _b.Ioas();
        _b.Map(ioas, _b.Buffer(1), Page, iova: 1UL << 56); // fine while the IOAS has no domain
        int pages = _b.Kernel.Pages.PagesInUse;
        Assert.Equal(Errno.EADDRINUSE, Fd.HwptAlloc(_b.Bind(Dev0), ioas, HwptAllocFlags.None, out _));
        Assert.Equal(pages, _b.Kernel.Pages.PagesInUse);
        Assert.Empty(_b.IoasOf(ioas).ReservedRanges);
        // A second-stage nest parent (5-level, 2^57) takes it.
        Assert.Equal(Errno.Success, Fd.HwptAlloc(_b.Bind(Dev1), ioas, HwptAllocFlags.NestParent, out _));
    }

    [Fact]
    public void H13_NestParentOnAnIoasWithAReadOnlyAreaIsEinval()
    {
        uint ioas = _b.Ioas();
        _b.Map(ioas, _b.Buffer(1), Page, IoasMapFlags.Readable, iova: 0x10_0000);
        uint dev = _b.Bind(Dev0);
        Assert.Equal(Errno.EINVAL, Fd.HwptAlloc(dev, ioas, HwptAllocFlags.NestParent, out _));
        Assert.Empty(_b.IoasOf(ioas).Hwpts);
        Assert.Equal(Errno.Success, Fd.HwptAlloc(dev, ioas, HwptAllocFlags.None, out _));
    }

    [Fact]
    public void H14_FaultIdValidNamingNoFaultObjectIsEnoent()
    {
        uint ioas = _b.Ioas();
        uint dev = _b.Bind(Dev0);
        Assert.Equal(Errno.ENOENT, Fd.HwptAlloc(dev, ioas, HwptAllocFlags.FaultIdValid, out _, faultId: ioas));
        Assert.Equal(2, Fd.Objects.Count);
        Assert.Empty(_b.IoasOf(ioas).Hwpts);
    }

    [Fact]
    public void H15_NestedAllocWithNestParentFlagIsEopnotsupp()
    {
        var (_, dev, parent, _) = NestedSetup();
        Assert.Equal(Errno.EOPNOTSUPP, Fd.HwptAlloc(dev, parent, HwptAllocFlags.NestParent, out _, HwptDataType.VtdS1, 24, S1()));
    }

    [Fact]
    public void H16_NestedAllocWithoutDataIsEopnotsupp()
    {
        var (_, dev, parent, _) = NestedSetup();
        Assert.Equal(Errno.EOPNOTSUPP, Fd.HwptAlloc(dev, parent, HwptAllocFlags.None, out _));
    }

    [Fact]
    public void H17_NestedAllocOnANonParentIsEinval()
    {
        uint dev = _b.Bind(Dev0);
        uint plain = _b.Hwpt(dev, _b.Ioas());
        Assert.Equal(Errno.EINVAL, Fd.HwptAlloc(dev, plain, HwptAllocFlags.None, out _, HwptDataType.VtdS1, 24, S1()));
    }

    [Fact]
    public void H18_NestedAllocOnAnAutomaticDomainIsEinval()
    {
        var (dev, auto) = _b.BindAttach(Dev0, _b.Ioas());
        Assert.True(_b.PagingOf(auto).AutoDomain);
        Assert.Equal(Errno.EINVAL, Fd.HwptAlloc(dev, auto, HwptAllocFlags.None, out _, HwptDataType.VtdS1, 24, S1()));
    }

    [Fact]
    public void H19_NestedAllocWithAnotherDataTypeIsEopnotsupp()
    {
        var (_, dev, parent, _) = NestedSetup();
        Assert.Equal(Errno.EOPNOTSUPP, Fd.HwptAlloc(dev, parent, HwptAllocFlags.None, out _, HwptDataType.ArmSmmuV3, 24, S1()));
        Assert.Equal(Errno.EOPNOTSUPP, Fd.HwptAlloc(dev, parent, HwptAllocFlags.None, out _, HwptDataType.Selftest, 24, S1()));
    }

    [Fact]
    public void H20_NestedAllocWithShortDataIsEinval()
    {
        var (_, dev, parent, _) = NestedSetup();
        Assert.Equal(Errno.EINVAL, Fd.HwptAlloc(dev, parent, HwptAllocFlags.None, out _, HwptDataType.VtdS1, 23, S1()));
    }

    [Fact]
    public void H21_NestedAllocWithLongDataIsEinval()
    {
        var (_, dev, parent, _) = NestedSetup();
        Assert.Equal(Errno.EINVAL, Fd.HwptAlloc(dev, parent, HwptAllocFlags.None, out _, HwptDataType.VtdS1, 25, [.. S1(), 0]));
    }

    [Fact]
    public void H22_NestedAllocWithANullDataPointerIsEfault()
    {
        var (_, dev, parent, _) = NestedSetup();
        Assert.Equal(Errno.EFAULT, Fd.HwptAlloc(dev, parent, HwptAllocFlags.None, out _, HwptDataType.VtdS1, 24, null));
    }

    [Fact]
    public void H23_NestedAllocOnANestedHwptIsEinval()
    {
        var (_, dev, _, nested) = NestedSetup();
        Assert.Equal(Errno.EINVAL, Fd.HwptAlloc(dev, nested, HwptAllocFlags.None, out _, HwptDataType.VtdS1, 24, S1()));
    }

    // ---- devices ----

    [Fact]
    public void T1_BindOfAnAbsentFunctionIsEnoent() =>
        Assert.Equal(Errno.ENOENT, Fd.DeviceBind(new SourceId(0, 9, 0), out _));

    [Fact]
    public void T2_BindOfABoundFunctionIsEbusy()
    {
        _b.Bind(Dev0);
        Assert.Equal(Errno.EBUSY, Fd.DeviceBind(Dev0, out _));
        var other = _b.Kernel.OpenIommufd(_b.Kernel.CreateProcess("other"));
        Assert.Equal(Errno.EBUSY, other.DeviceBind(Dev0, out _));
        Assert.Equal(Errno.Success, other.DeviceBind(Dev1, out _));
    }

    [Fact]
    public void T3_AttachOfAnUnknownDeviceIsEnoent()
    {
        uint pt = _b.Ioas();
        Assert.Equal(Errno.ENOENT, Fd.DeviceAttach(99, ref pt));
        Assert.Equal(Errno.ENOENT, Fd.DeviceAttach(pt, ref pt));
    }

    [Fact]
    public void T4_AttachToAnUnknownPtIdIsEnoent()
    {
        uint pt = 99;
        Assert.Equal(Errno.ENOENT, Fd.DeviceAttach(_b.Bind(Dev0), ref pt));
    }

    [Fact]
    public void T5_AttachToADeviceIsEinval()
    {
        uint dev = _b.Bind(Dev0);
        uint pt = _b.Bind(Dev1);
        Assert.Equal(Errno.EINVAL, Fd.DeviceAttach(dev, ref pt));
    }

    [Fact]
    public void T6_AttachOfAnAttachedDeviceIsEbusy()
    {
        uint ioas = _b.Ioas();
        var (dev, hwpt) = _b.BindAttach(Dev0, ioas);
        uint pt = ioas;
        Assert.Equal(Errno.EBUSY, Fd.DeviceAttach(dev, ref pt));
        pt = hwpt;
        Assert.Equal(Errno.EBUSY, Fd.DeviceAttach(dev, ref pt));
    }

    [Fact]
    public void T7_AttachWhenAnAreaCoversTheInterruptWindowIsEaddrinuse()
    {
        uint ioas = _b.Ioas();
        _b.Map(ioas, _b.Buffer(1), Page, iova: 0xFEE0_0000);
        uint dev = _b.Bind(Dev0);
        uint pt = ioas;
        Assert.Equal(Errno.EADDRINUSE, Fd.DeviceAttach(dev, ref pt));
        Assert.Empty(_b.IoasOf(ioas).Hwpts);
        Assert.Empty(_b.IoasOf(ioas).ReservedRanges);
    }

    [Fact]
    public void T8_AttachOfANestedHwptWithABadAddressWidthIsEinval()
    {
        uint ioas = _b.Ioas();
        uint dev = _b.Bind(Dev0);
        uint parent = _b.Hwpt(dev, ioas, HwptAllocFlags.NestParent);
        uint nested = _b.Nested(dev, parent, new VtdS1Config(VtdS1Flags.None, 0x10_0000, 39)); // only checked at attach
        uint pt = nested;
        Assert.Equal(Errno.EINVAL, Fd.DeviceAttach(dev, ref pt));
        Assert.True(_b.Kernel.Log.Contains("Invalid stage-1 address width 39"));
        Assert.DoesNotContain(_b.IoasOf(ioas).ReservedRanges, r => r.Start == IommufdContext.MsiWindow.Start);
    }

    [Fact]
    public void T9_ReplaceOfADetachedDeviceIsEinval()
    {
        uint pt = _b.Ioas();
        Assert.Equal(Errno.EINVAL, Fd.DeviceReplace(_b.Bind(Dev0), ref pt));
    }

    [Fact]
    public void T10_ReplaceIntoAnIoasWithAnAreaOverTheInterruptWindowIsEaddrinuse()
    {
        uint a = _b.Ioas(), bIoas = _b.Ioas();
        Uva va = _b.Buffer(1);
        _b.Map(a, va, Page, iova: 0x10_0000);
        _b.Map(bIoas, _b.Buffer(1), Page, iova: 0xFEE0_0000);
        var (dev, hwpt) = _b.BindAttach(Dev0, a);
        uint pt = bIoas;
        Assert.Equal(Errno.EADDRINUSE, Fd.DeviceReplace(dev, ref pt));
        Assert.Equal(hwpt, Fd.Get<IommufdDevice>(dev)!.Attached!.Id);
        Assert.Equal(Stamp(0xA0, 0), _b.DmaRead64(Dev0, 0x10_0000));
    }

    [Fact]
    public void T11_DetachOfADetachedDeviceDoesNothing() =>
        Assert.Equal(Errno.Success, Fd.DeviceDetach(_b.Bind(Dev0)));

    // ---- IOMMU_GET_HW_INFO ----

    private Errno HwInfo(uint dev, uint len, byte[]? data, HwInfoType type = HwInfoType.Default, HwInfoFlags flags = 0, uint reserved = 0) =>
        Fd.GetHwInfo(dev, ref len, data, ref type, out _, out _, flags, reserved);

    [Fact]
    public void I1_HwInfoWithAnUnknownFlagIsEopnotsupp() =>
        Assert.Equal(Errno.EOPNOTSUPP, HwInfo(_b.Bind(Dev0), 24, new byte[24], flags: (HwInfoFlags)2));

    [Fact]
    public void I2_HwInfoWithReservedIsEopnotsupp() =>
        Assert.Equal(Errno.EOPNOTSUPP, HwInfo(_b.Bind(Dev0), 24, new byte[24], reserved: 0x10000));

    [Fact]
    public void I3_HwInfoOfAnUnknownDeviceIsEnoent() =>
        Assert.Equal(Errno.ENOENT, HwInfo(_b.Ioas(), 24, new byte[24]));

    [Fact]
    public void I4_HwInfoAskingForAnotherTypeIsEopnotsupp()
    {
        uint dev = _b.Bind(Dev0);
        Assert.Equal(Errno.EOPNOTSUPP, HwInfo(dev, 24, new byte[24], HwInfoType.ArmSmmuV3, HwInfoFlags.InputType));
        Assert.Equal(Errno.Success, HwInfo(dev, 24, new byte[24], HwInfoType.IntelVtd, HwInfoFlags.InputType));
    }

    [Fact]
    public void I5_HwInfoIntoANullBufferIsEfault() =>
        Assert.Equal(Errno.EFAULT, HwInfo(_b.Bind(Dev0), 24, null));

    [Fact]
    public void I6_HwInfoIgnoresTheInputTypeWithoutTheFlag() =>
        Assert.Equal(Errno.Success, HwInfo(_b.Bind(Dev0), 24, new byte[24], HwInfoType.ArmSmmuV3));

    // ---- IOMMU_HWPT_INVALIDATE ----

    private Errno Invalidate(uint hwpt, byte[]? data, uint entryLen, ref uint num, HwptInvalidateDataType type = HwptInvalidateDataType.VtdS1, uint reserved = 0) =>
        Fd.HwptInvalidate(hwpt, type, entryLen, ref num, data, reserved);

    private static byte[] Entries(params VtdS1Invalidation[] e) => VtdUapi.EncodeInvalidations(e);

    [Fact]
    public void V1_InvalidateWithReservedIsEopnotsupp()
    {
        var (_, _, _, nested) = NestedSetup();
        uint num = 1;
        Assert.Equal(Errno.EOPNOTSUPP, Invalidate(nested, Entries(new VtdS1Invalidation(0, 1)), 24, ref num, reserved: 1));
        Assert.Equal(0u, num);
    }

    [Fact]
    public void V2_InvalidateWithEntriesButNoDataIsEinval()
    {
        var (_, _, _, nested) = NestedSetup();
        uint num = 1;
        Assert.Equal(Errno.EINVAL, Invalidate(nested, null, 24, ref num));
        Assert.Equal(0u, num);
    }

    [Fact]
    public void V3_InvalidateWithEntriesButEntryLenZeroIsEinval()
    {
        var (_, _, _, nested) = NestedSetup();
        uint num = 1;
        Assert.Equal(Errno.EINVAL, Invalidate(nested, Entries(new VtdS1Invalidation(0, 1)), 0, ref num));
    }

    [Fact]
    public void V4_InvalidateOfAnUnknownIdIsEnoent()
    {
        uint num = 1;
        Assert.Equal(Errno.ENOENT, Invalidate(99, Entries(new VtdS1Invalidation(0, 1)), 24, ref num));
    }

    [Fact]
    public void V5_InvalidateOfAParentIsEinval()
    {
        var (_, _, parent, _) = NestedSetup();
        uint num = 1;
        Assert.Equal(Errno.EINVAL, Invalidate(parent, Entries(new VtdS1Invalidation(0, 1)), 24, ref num));
        Assert.Equal(0u, num);
    }

    [Fact]
    public void V6_InvalidateWithAnotherDataTypeIsEinval()
    {
        var (_, _, _, nested) = NestedSetup();
        uint num = 0;
        Assert.Equal(Errno.EINVAL, Invalidate(nested, null, 24, ref num, HwptInvalidateDataType.Selftest));
        num = 1;
        Assert.Equal(Errno.EINVAL, Invalidate(nested, Entries(new VtdS1Invalidation(0, 1)), 24, ref num, HwptInvalidateDataType.ViommuArmSmmuV3));
        Assert.Equal(0u, num);
    }

    [Fact]
    public void V7_InvalidateWithShortEntriesIsEinval()
    {
        var (_, _, _, nested) = NestedSetup();
        uint num = 1;
        Assert.Equal(Errno.EINVAL, Invalidate(nested, new byte[24], 1, ref num));
        Assert.Equal(0u, num);
    }

    [Fact]
    public void V8_InvalidateWithLongEntriesIsEinval()
    {
        var (_, _, _, nested) = NestedSetup();
        uint num = 1;
        Assert.Equal(Errno.EINVAL, Invalidate(nested, VtdUapi.EncodeInvalidations(25, new VtdS1Invalidation(0, 1)), 25, ref num));
        Assert.Equal(0u, num);
    }

    [Fact]
    public void V9_InvalidateWithAnUnknownEntryFlagIsEopnotsupp()
    {
        var (_, _, _, nested) = NestedSetup();
        uint num = 1;
        Assert.Equal(Errno.EOPNOTSUPP, Invalidate(nested, Entries(new VtdS1Invalidation(0, 1, Flags: 2)), 24, ref num));
        Assert.Equal(0u, num);
    }

    [Fact]
    public void V10_InvalidateWithAnEntrysReservedSetIsEopnotsupp()
    {
        var (_, _, _, nested) = NestedSetup();
        uint num = 1;
        Assert.Equal(Errno.EOPNOTSUPP, Invalidate(nested, Entries(new VtdS1Invalidation(0, 1, Reserved: 1)), 24, ref num));
    }

    [Fact]
    public void V11_InvalidateOfAnUnalignedAddressIsEinval()
    {
        var (_, _, _, nested) = NestedSetup();
        uint num = 1;
        Assert.Equal(Errno.EINVAL, Invalidate(nested, Entries(new VtdS1Invalidation(0x1234, 1)), 24, ref num));
    }

    [Fact]
    public void V12_InvalidateOfEverythingFromANonZeroAddressIsEinval()
    {
        var (_, _, _, nested) = NestedSetup();
        uint num = 1;
        Assert.Equal(Errno.EINVAL, Invalidate(nested, Entries(new VtdS1Invalidation(0x1000, ulong.MaxValue)), 24, ref num));
        num = 1;
        Assert.Equal(Errno.Success, Invalidate(nested, Entries(VtdS1Invalidation.All()), 24, ref num));
        Assert.Equal(1u, num);
    }

    [Fact]
    public void V13_InvalidateStopsAtTheFirstBadEntryAndReportsHowManyWereDone()
    {
        var (_, _, _, nested) = NestedSetup();
        uint num = 2;
        var data = Entries(new VtdS1Invalidation(0x1000, 1, VtdS1Invalidation.Leaf), new VtdS1Invalidation(0x2000, 1, Flags: 4));
        Assert.Equal(Errno.EOPNOTSUPP, Invalidate(nested, data, 24, ref num));
        Assert.Equal(1u, num);
    }

    [Fact]
    public void V14_InvalidateOfNoEntriesIsASuccessfulProbe()
    {
        var (_, _, _, nested) = NestedSetup();
        uint num = 0;
        Assert.Equal(Errno.Success, Invalidate(nested, null, 0, ref num));
        Assert.Equal(0u, num);
    }

    [Fact]
    public void V15_InvalidateReadingPastTheBufferIsEfault()
    {
        var (_, _, _, nested) = NestedSetup();
        uint num = 2;
        Assert.Equal(Errno.EFAULT, Invalidate(nested, Entries(new VtdS1Invalidation(0, 1)), 24, ref num));
        Assert.Equal(1u, num);
    }

    [Fact]
    public void V16_InvalidateOfZeroPagesFlushesNothingAndCountsTheEntry()
    {
        // qi_flush_piotlb refuses npages 0 (a warning, no descriptor); the entry still counts as handled (K29).
        var (_, dev, _, nested) = NestedSetup();
        uint pt = nested;
        Assert.Equal(Errno.Success, Fd.DeviceAttach(dev, ref pt));
        long before = _b.Kernel.Iommu.InvalidationsSubmitted;
        uint num = 2;
        Assert.Equal(Errno.Success, Invalidate(nested, Entries(new VtdS1Invalidation(0x1000, 0), new VtdS1Invalidation(0, 0)), 24, ref num));
        Assert.Equal(2u, num);
        Assert.Equal(0, _b.Kernel.Iommu.InvalidationsSubmitted - before);
    }

    // ---- dirty tracking ----

    [Fact]
    public void S1_SetDirtyTrackingWithAnUnknownFlagIsEopnotsupp()
    {
        uint hwpt = _b.Hwpt(_b.Bind(Dev0), _b.Ioas(), HwptAllocFlags.DirtyTracking);
        Assert.Equal(Errno.EOPNOTSUPP, Fd.HwptSetDirtyTracking(hwpt, (DirtyTrackingFlags)2));
    }

    [Fact]
    public void S2_SetDirtyTrackingOfANestedHwptIsEnoent()
    {
        var (_, _, _, nested) = NestedSetup();
        Assert.Equal(Errno.ENOENT, Fd.HwptSetDirtyTracking(nested, DirtyTrackingFlags.Enable));
        Assert.Equal(Errno.ENOENT, Fd.HwptSetDirtyTracking(99, DirtyTrackingFlags.Enable));
    }

    [Fact]
    public void S3_SetDirtyTrackingWithoutDirtyTrackingAllocIsEopnotsupp()
    {
        uint hwpt = _b.Hwpt(_b.Bind(Dev0), _b.Ioas(), HwptAllocFlags.NestParent);
        Assert.Equal(Errno.EOPNOTSUPP, Fd.HwptSetDirtyTracking(hwpt, DirtyTrackingFlags.Enable));
    }

    private uint DirtyHwpt() => _b.Hwpt(_b.Bind(Dev0), _b.Ioas(), HwptAllocFlags.DirtyTracking);

    [Fact]
    public void G1_GetDirtyBitmapWithAnUnknownFlagIsEopnotsupp() =>
        Assert.Equal(Errno.EOPNOTSUPP, Fd.HwptGetDirtyBitmap(DirtyHwpt(), 0, Page, Page, new ulong[1], (DirtyBitmapFlags)2));

    [Fact]
    public void G2_GetDirtyBitmapWithReservedIsEopnotsupp() =>
        Assert.Equal(Errno.EOPNOTSUPP, Fd.HwptGetDirtyBitmap(DirtyHwpt(), 0, Page, Page, new ulong[1], reserved: 1));

    [Fact]
    public void G3_GetDirtyBitmapOfANestedHwptIsEnoent()
    {
        var (_, _, _, nested) = NestedSetup();
        Assert.Equal(Errno.ENOENT, Fd.HwptGetDirtyBitmap(nested, 0, Page, Page, new ulong[1]));
    }

    [Fact]
    public void G4_GetDirtyBitmapWhereTheRangeWrapsIsEoverflow() =>
        Assert.Equal(Errno.EOVERFLOW, Fd.HwptGetDirtyBitmap(DirtyHwpt(), 0xFFFF_FFFF_FFFF_F000, 0x2000, Page, new ulong[1]));

    [Fact]
    public void G9_GetDirtyBitmapOfLengthZeroIsEoverflow()
    {
        // Linux computes iova + length − 1 with check_add_overflow: length 0 wraps for every iova but 0 (G10).
        uint hwpt = DirtyHwpt();
        Assert.Equal(Errno.EOVERFLOW, Fd.HwptGetDirtyBitmap(hwpt, Page, 0, Page, new ulong[1]));
        Assert.Equal(Errno.EOVERFLOW, Fd.HwptGetDirtyBitmap(hwpt, 0x100_0000, 0, Page, new ulong[1]));
    }

    /// <summary>A dirty-tracking HWPT with a device, tracking on, 4 pages mapped at IOVA 0, and pages 1 and 3 written by DMA.</summary>
    private uint DirtyAtZero()
    {
        uint ioas = _b.Ioas();
        _b.Map(ioas, _b.Buffer(4), 4 * Page, iova: 0);
        uint dev = _b.Bind(Dev0);
        uint hwpt = _b.Hwpt(dev, ioas, HwptAllocFlags.DirtyTracking);
        uint pt = hwpt;
        Assert.Equal(Errno.Success, Fd.DeviceAttach(dev, ref pt));
        Assert.Equal(Errno.Success, Fd.HwptSetDirtyTracking(hwpt, DirtyTrackingFlags.Enable));
        Assert.True(_b.DmaWrite64(Dev0, 1 * Page, 1));
        Assert.True(_b.DmaWrite64(Dev0, 3 * Page + 8, 1));
        return hwpt;
    }

    [Fact]
    public void G10_GetDirtyBitmapOfLengthZeroAtIovaZeroReadsTheWholeSpace()
    {
        // iova 0, length 0: iova + length − 1 is 2^64 − 1 without overflowing, so Linux reads [0, 2^64 − 1].
        uint hwpt = DirtyAtZero();
        var bitmap = new ulong[1];
        Assert.Equal(Errno.Success, Fd.HwptGetDirtyBitmap(hwpt, 0, 0, Page, bitmap));
        Assert.Equal(0b1010UL, bitmap[0]);
        bitmap[0] = 0;
        Assert.Equal(Errno.Success, Fd.HwptGetDirtyBitmap(hwpt, 0, 4 * Page, Page, bitmap));
        Assert.Equal(0UL, bitmap[0]); // read and cleared
    }

    [Fact]
    public void G5_GetDirtyBitmapOfAnUnalignedRangeIsEinval()
    {
        uint hwpt = DirtyHwpt();
        Assert.Equal(Errno.EINVAL, Fd.HwptGetDirtyBitmap(hwpt, 0x800, Page, Page, new ulong[1]));
        Assert.Equal(Errno.EINVAL, Fd.HwptGetDirtyBitmap(hwpt, 0, 0x1800, Page, new ulong[1]));
    }

    [Fact]
    public void G6_GetDirtyBitmapWithPageSizeZeroIsEinval() =>
        Assert.Equal(Errno.EINVAL, Fd.HwptGetDirtyBitmap(DirtyHwpt(), 0, Page, 0, new ulong[1]));

    [Fact]
    public void G7_GetDirtyBitmapNotAlignedToItsPageSizeIsEinval() =>
        Assert.Equal(Errno.EINVAL, Fd.HwptGetDirtyBitmap(DirtyHwpt(), 0x1000, 0x20_0000, 0x20_0000, new ulong[1]));

    [Fact]
    public void G11_GetDirtyBitmapWithAPageSizeThatIsNotAPowerOfTwoIsAccepted()
    {
        // Linux checks iova and iova + length against page_size − 1 as a mask, and counts bits in pages of
        // 2^(page_size's lowest set bit): 0x3000 masks with 0x2FFF and counts 4 KiB pages.
        uint hwpt = DirtyAtZero();
        var bitmap = new ulong[1];
        Assert.Equal(Errno.Success, Fd.HwptGetDirtyBitmap(hwpt, 0, 4 * Page, 0x3000, bitmap, DirtyBitmapFlags.NoClear));
        Assert.Equal(0b1010UL, bitmap[0]);
        Assert.Equal(Errno.EINVAL, Fd.HwptGetDirtyBitmap(hwpt, 0, 6 * Page, 0x3000, bitmap)); // 0x6000 & 0x2FFF ≠ 0
        bitmap[0] = 0;
        Assert.Equal(Errno.Success, Fd.HwptGetDirtyBitmap(hwpt, 0, 8 * Page, 0x6000, bitmap)); // mask 0x5FFF, blocks of 0x2000
        Assert.Equal(0b11UL, bitmap[0]);
    }

    [Fact]
    public void G8_GetDirtyBitmapWithoutDirtyTrackingAllocIsEopnotsupp()
    {
        uint hwpt = _b.Hwpt(_b.Bind(Dev0), _b.Ioas());
        Assert.Equal(Errno.EOPNOTSUPP, Fd.HwptGetDirtyBitmap(hwpt, 0, Page, Page, new ulong[1]));
    }

    // ---- accesses ----

    [Fact]
    public void X1_AccessOnAnUnknownIoasIsEnoent() =>
        Assert.Equal(Errno.ENOENT, Fd.AccessCreate(99, out _));

    private (uint Access, ulong Iova) AccessOver(IoasMapFlags flags)
    {
        uint ioas = _b.Ioas();
        ulong iova = _b.Map(ioas, _b.Buffer(2), 2 * Page, flags, iova: 0x10_0000);
        Assert.Equal(Errno.Success, Fd.AccessCreate(ioas, out uint access));
        return (access, iova);
    }

    [Fact]
    public void X2_AccessOfLengthZeroIsEinval()
    {
        var (access, iova) = AccessOver(IoasMapFlags.ReadWrite);
        Assert.Equal(Errno.EINVAL, Fd.AccessRead(access, iova, []));
        Assert.Equal(Errno.EINVAL, Fd.AccessWrite(access, iova, []));
    }

    [Fact]
    public void X3_AccessWhereTheRangeWrapsIsEoverflow()
    {
        var (access, _) = AccessOver(IoasMapFlags.ReadWrite);
        Assert.Equal(Errno.EOVERFLOW, Fd.AccessRead(access, ulong.MaxValue - 3, new byte[8]));
    }

    [Fact]
    public void X4_AccessWriteToAReadOnlyAreaIsEperm()
    {
        var (access, iova) = AccessOver(IoasMapFlags.Readable);
        Assert.Equal(Errno.EPERM, Fd.AccessWrite(access, iova, new byte[8]));
        Assert.Equal(Errno.Success, Fd.AccessRead(access, iova, new byte[8]));
    }

    [Fact]
    public void X5_AccessWhereNothingIsMappedIsEnoent()
    {
        var (access, iova) = AccessOver(IoasMapFlags.ReadWrite);
        Assert.Equal(Errno.ENOENT, Fd.AccessRead(access, iova + 2 * Page, new byte[8]));
        Assert.Equal(Errno.ENOENT, Fd.AccessRead(access, iova + Page, new byte[2 * Page])); // runs off the end
    }
}
