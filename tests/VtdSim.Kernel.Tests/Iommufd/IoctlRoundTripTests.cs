using VtdSim.Hardware.Registers;
using VtdSim.Kernel.Iommufd;
using VtdSim.Kernel.Process;
using static VtdSim.Kernel.Tests.Iommufd.IommufdBench;

namespace VtdSim.Kernel.Tests.Iommufd;

/// <summary>
/// Realistic sequences through the byte-level Ioctl only (device binding aside, which is VFIO's): structs and their
/// data laid out in process memory from the facts' layouts, and every byte the kernel writes back checked.
/// </summary>
public class IoctlRoundTripTests
{
    private const ulong Page = 4096;

    [Fact]
    public void TheLayoutsAddUpToTheFactsSizesWithoutPadding()
    {
        foreach (var (layout, size) in Uapi.All)
        {
            Assert.False(layout.Padding, layout.Name);
            Assert.True(size == layout.Size, $"{layout.Name}: {layout.Size} bytes, the facts say {size}");
            Assert.Equal((uint)0x3B00, layout.Request & 0xFF00);
        }
        // Minimum sizes: the end of __reserved for HWPT_ALLOC and GET_HW_INFO, the whole struct for the rest.
        Assert.Equal(24, Uapi.HwptAlloc.MinSize);
        Assert.Equal(32, Uapi.GetHwInfo.MinSize);
        Assert.All(Uapi.All.Where(l => l.Layout != Uapi.HwptAlloc && l.Layout != Uapi.GetHwInfo), l => Assert.Equal(l.Layout.Size, l.Layout.MinSize));
        foreach (var (data, size) in new[] { (Uapi.IovaRange, 16), (Uapi.HwInfoVtd, 24), (Uapi.HwptVtdS1, 24), (Uapi.VtdS1Invalidate, 24) })
        {
            Assert.False(data.Padding);
            Assert.Equal(size, data.Size);
        }
    }

    [Fact]
    public void AllocMapRangesNestParentHwInfoUnmapDestroy()
    {
        var b = new IommufdBench();
        var p = b.Process;
        uint dev = b.Bind(Dev0);

        // IOMMU_IOAS_ALLOC
        var alloc = new UserStruct(p, Uapi.IoasAlloc);
        Assert.Equal(Errno.Success, alloc.Ioctl(b.Fd));
        uint ioas = (uint)alloc["out_ioas_id"];
        Assert.NotNull(b.Fd.Get<Ioas>(ioas));
        Assert.Equal((ulong)Uapi.IoasAlloc.Size, alloc["size"]);
        Assert.Equal(0UL, alloc["flags"]);

        // IOMMU_IOAS_MAP of 16 mmap'd pages, the kernel picking the IOVA.
        Assert.Equal(Errno.Success, p.Mmap(16 * Page, MemoryProtection.ReadWrite, out Uva va, fixedAddress: new Uva(0x40_0000_0000UL)));
        var map = new UserStruct(p, Uapi.IoasMap);
        map["flags"] = 2 | 4; // WRITEABLE | READABLE
        map["ioas_id"] = ioas;
        map["user_va"] = va.Value;
        map["length"] = 16 * Page;
        Assert.Equal(Errno.Success, map.Ioctl(b.Fd));
        ulong iova = map["iova"];
        // The lowest fit, never page 0, aligned to min(the length's power of two, user_va's alignment, 2 MiB).
        Assert.Equal(16 * Page, iova);
        Assert.Equal((6UL, (ulong)ioas, va.Value, 16 * Page), (map["flags"], map["ioas_id"], map["user_va"], map["length"]));
        var area = Assert.Single(b.IoasOf(ioas).Areas);
        Assert.Equal((iova, 16 * Page), (area.Iova, area.Length));

        // IOMMU_IOAS_IOVA_RANGES: ask for the count first (EMSGSIZE writes it back), then for the ranges.
        var ranges = new UserStruct(p, Uapi.IoasIovaRanges);
        ranges["ioas_id"] = ioas;
        Assert.Equal(Errno.EMSGSIZE, ranges.Ioctl(b.Fd));
        ulong count = ranges["num_iovas"];
        Assert.Equal(1UL, count);
        Assert.Equal(Page, ranges["out_iova_alignment"]);
        ulong array = UserBuffers.ReadWrite(p, []);
        ranges["allowed_iovas"] = array;
        Assert.Equal(Errno.Success, ranges.Ioctl(b.Fd));
        Assert.Equal(count, ranges["num_iovas"]);
        byte[] first = UserBuffers.Read(p, array, Uapi.IovaRange.Size);
        Assert.Equal((0UL, ulong.MaxValue), (UserBuffers.Field(Uapi.IovaRange, first, "start"), UserBuffers.Field(Uapi.IovaRange, first, "last")));

        // IOMMU_HWPT_ALLOC of a nest parent on the IOAS (the area is writable, so the erratum rule lets it be).
        var hwptAlloc = new UserStruct(p, Uapi.HwptAlloc);
        hwptAlloc["flags"] = 1; // NEST_PARENT
        hwptAlloc["dev_id"] = dev;
        hwptAlloc["pt_id"] = ioas;
        Assert.Equal(Errno.Success, hwptAlloc.Ioctl(b.Fd));
        uint hwpt = (uint)hwptAlloc["out_hwpt_id"];
        Assert.True(b.PagingOf(hwpt).NestParent);

        // The nest parent's second-stage aperture now bounds the usable IOVAs.
        ranges["num_iovas"] = 4;
        Assert.Equal(Errno.Success, ranges.Ioctl(b.Fd));
        Assert.Equal(1UL, ranges["num_iovas"]);
        first = UserBuffers.Read(p, array, Uapi.IovaRange.Size);
        Assert.Equal(0UL, UserBuffers.Field(Uapi.IovaRange, first, "start"));
        ulong last = UserBuffers.Field(Uapi.IovaRange, first, "last");
        Assert.True(last < ulong.MaxValue && last >= iova + 16 * Page - 1, $"last 0x{last:x}");

        // IOMMU_GET_HW_INFO into a 32-byte buffer of 0xFF, asking for 24 bytes.
        ulong info = UserBuffers.ReadWrite(p, Enumerable.Repeat((byte)0xFF, 32).ToArray());
        var hwInfo = new UserStruct(p, Uapi.GetHwInfo);
        hwInfo["dev_id"] = dev;
        hwInfo["data_len"] = 24;
        hwInfo["data_uptr"] = info;
        Assert.Equal(Errno.Success, hwInfo.Ioctl(b.Fd));
        Assert.Equal((ulong)Uapi.HwInfoVtd.Size, hwInfo["data_len"]);
        Assert.Equal(1UL, hwInfo["data_type"]); // IOMMU_HW_INFO_TYPE_INTEL_VTD
        Assert.Equal(20UL, hwInfo["out_max_pasid_log2"]);
        Assert.Equal(0UL, hwInfo["__reserved"]);
        Assert.Equal(1UL, hwInfo["out_capabilities"] & 1); // IOMMU_HW_CAP_DIRTY_TRACKING
        byte[] vtd = UserBuffers.Read(p, info, 32);
        Assert.Equal(1UL, UserBuffers.Field(Uapi.HwInfoVtd, vtd, "flags")); // IOMMU_HW_INFO_VTD_ERRATA_772415_SPR17
        Assert.Equal(0UL, UserBuffers.Field(Uapi.HwInfoVtd, vtd, "__reserved"));
        Assert.Equal(b.Machine.Read(b.Machine.IommuBase + RegisterOffset.CAP, 8), UserBuffers.Field(Uapi.HwInfoVtd, vtd, "cap_reg"));
        Assert.Equal(b.Machine.Read(b.Machine.IommuBase + RegisterOffset.ECAP, 8), UserBuffers.Field(Uapi.HwInfoVtd, vtd, "ecap_reg"));
        Assert.All(vtd[24..], x => Assert.Equal(0xFF, x)); // nothing past data_len

        // IOMMU_IOAS_UNMAP of the area.
        var unmap = new UserStruct(p, Uapi.IoasUnmap);
        unmap["ioas_id"] = ioas;
        unmap["iova"] = iova;
        unmap["length"] = 16 * Page;
        Assert.Equal(Errno.Success, unmap.Ioctl(b.Fd));
        Assert.Equal(16 * Page, unmap["length"]);
        Assert.Empty(b.IoasOf(ioas).Areas);
        Assert.Equal(0L, b.Kernel.UserMemory.TotalPins);

        // IOMMU_DESTROY: the IOAS is busy until its HWPT is gone.
        var destroy = new UserStruct(p, Uapi.Destroy);
        destroy["id"] = ioas;
        Assert.Equal(Errno.EBUSY, destroy.Ioctl(b.Fd));
        destroy["id"] = hwpt;
        Assert.Equal(Errno.Success, destroy.Ioctl(b.Fd));
        destroy["id"] = ioas;
        Assert.Equal(Errno.Success, destroy.Ioctl(b.Fd));
        Assert.Equal(dev, Assert.Single(b.Fd.Objects).Id);
    }

    [Fact]
    public void NestedHwptAndInvalidationFromUserMemory()
    {
        var b = new IommufdBench();
        var p = b.Process;
        uint dev = b.Bind(Dev0);
        uint parent = b.Hwpt(dev, b.Ioas(), HwptAllocFlags.NestParent);

        // HWPT_ALLOC on the parent with struct iommu_hwpt_vtd_s1 in user memory (data_type VTD_S1 = 1).
        byte[] s1 = UserBuffers.Encode(Uapi.HwptVtdS1, ("flags", 0), ("pgtbl_addr", 0x20_0000), ("addr_width", 48));
        var alloc = new UserStruct(p, Uapi.HwptAlloc);
        alloc["dev_id"] = dev;
        alloc["pt_id"] = parent;
        alloc["data_type"] = 1;
        alloc["data_len"] = (ulong)s1.Length;
        alloc["data_uptr"] = UserBuffers.ReadWrite(p, s1);
        Assert.Equal(Errno.Success, alloc.Ioctl(b.Fd));
        uint nested = (uint)alloc["out_hwpt_id"];
        var hwpt = Assert.IsType<HwptNested>(b.Fd.Find(nested));
        Assert.Equal(0x20_0000UL, hwpt.NestedDomain.S1.PageTableAddress);

        // HWPT_INVALIDATE with three entries, the third bad (an unknown flag): two are done, entry_num says so.
        byte[] entries =
        [
            .. UserBuffers.Encode(Uapi.VtdS1Invalidate, ("addr", 0x1000), ("npages", 1), ("flags", 1)),
            .. UserBuffers.Encode(Uapi.VtdS1Invalidate, ("addr", 0), ("npages", ulong.MaxValue)),
            .. UserBuffers.Encode(Uapi.VtdS1Invalidate, ("addr", 0), ("npages", 1), ("flags", 2)),
        ];
        var inv = new UserStruct(p, Uapi.HwptInvalidate);
        inv["hwpt_id"] = nested;
        inv["data_uptr"] = UserBuffers.ReadWrite(p, entries);
        inv["data_type"] = 0; // VTD_S1
        inv["entry_len"] = 24;
        inv["entry_num"] = 3;
        Assert.Equal(Errno.EOPNOTSUPP, inv.Ioctl(b.Fd));
        Assert.Equal(2UL, inv["entry_num"]);
        Assert.Equal(((ulong)nested, 24UL), (inv["hwpt_id"], inv["entry_len"]));

        // entry_num 0 probes the data type.
        inv["entry_num"] = 0;
        Assert.Equal(Errno.Success, inv.Ioctl(b.Fd));
        inv["data_type"] = 1;
        Assert.Equal(Errno.EINVAL, inv.Ioctl(b.Fd));
        Assert.Equal(0UL, inv["entry_num"]);
    }

    [Fact]
    public void DirtyTrackingAndTheBitmapInUserMemory()
    {
        var b = new IommufdBench();
        var p = b.Process;
        uint ioas = b.Ioas();
        b.Map(ioas, b.Buffer(16), 16 * Page, iova: 0x100_0000);
        uint dev = b.Bind(Dev0);
        uint hwpt = b.Hwpt(dev, ioas, HwptAllocFlags.DirtyTracking);
        uint pt = hwpt;
        Assert.Equal(Errno.Success, b.Fd.DeviceAttach(dev, ref pt));

        var set = new UserStruct(p, Uapi.HwptSetDirtyTracking);
        set["flags"] = 1; // ENABLE
        set["hwpt_id"] = hwpt;
        Assert.Equal(Errno.Success, set.Ioctl(b.Fd));
        // A set before the first write (the hardware model's A-then-D finding, HardwareFindingsTests); reads do not dirty.
        for (ulong i = 0; i < 16; i++) Assert.NotNull(b.DmaRead64(Dev0, 0x100_0000 + i * Page));
        Assert.True(b.DmaWrite64(Dev0, 0x100_0000 + 1 * Page, 1));
        Assert.True(b.DmaWrite64(Dev0, 0x100_0000 + 9 * Page, 2));

        // The kernel ORs bits into the caller's bitmap: bit n is bit n % 8 of byte n / 8.
        ulong bitmap = UserBuffers.ReadWrite(p, [0x80, 0x00]);
        var get = new UserStruct(p, Uapi.HwptGetDirtyBitmap);
        get["hwpt_id"] = hwpt;
        get["iova"] = 0x100_0000;
        get["length"] = 16 * Page;
        get["page_size"] = Page;
        get["data"] = bitmap;
        byte[] before = get.Bytes(Uapi.HwptGetDirtyBitmap.Size);
        Assert.Equal(Errno.Success, get.Ioctl(b.Fd));
        Assert.Equal(new byte[] { 0x82, 0x02 }, UserBuffers.Read(p, bitmap, 2));
        Assert.Equal(before, get.Bytes(Uapi.HwptGetDirtyBitmap.Size)); // nothing written back into the struct

        // Read and cleared: a second call adds nothing.
        Assert.Equal(Errno.Success, p.Write(new Uva(bitmap), new byte[2]));
        Assert.Equal(Errno.Success, get.Ioctl(b.Fd));
        Assert.Equal(new byte[2], UserBuffers.Read(p, bitmap, 2));

        set["flags"] = 0;
        Assert.Equal(Errno.Success, set.Ioctl(b.Fd));
    }
}
