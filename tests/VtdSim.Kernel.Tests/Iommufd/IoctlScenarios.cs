using VtdSim.Kernel.Iommufd;
using static VtdSim.Kernel.Tests.Iommufd.IommufdBench;
using VtdSim.Kernel.Process;

namespace VtdSim.Kernel.Tests.Iommufd;

/// <summary>
/// For every ioctl the model implements, a realistic call laid out in process memory on a fresh bench: the state it
/// needs is made through the typed API, the struct and its data through raw bytes. Flag values are the facts' (§1.3:
/// FIXED_IOVA 1, WRITEABLE 2, READABLE 4; §1.5: NEST_PARENT 1, DIRTY_TRACKING 2; §1.7: VTD_S1 0).
/// </summary>
public static class IoctlScenarios
{
    public const ulong Page = 4096;
    public const ulong MapReadWrite = 2 | 4;

    public static readonly (UapiLayout Layout, Func<IommufdBench, int, UserStruct> Make)[] All =
    [
        (Uapi.Destroy, Destroy), (Uapi.IoasAlloc, IoasAlloc), (Uapi.IoasAllowIovas, IoasAllowIovas), (Uapi.IoasCopy, IoasCopy),
        (Uapi.IoasIovaRanges, IoasIovaRanges), (Uapi.IoasMap, IoasMap), (Uapi.IoasUnmap, IoasUnmap), (Uapi.HwptAlloc, HwptAlloc),
        (Uapi.GetHwInfo, GetHwInfo), (Uapi.HwptSetDirtyTracking, HwptSetDirtyTracking), (Uapi.HwptGetDirtyBitmap, HwptGetDirtyBitmap),
        (Uapi.HwptInvalidate, HwptInvalidate),
    ];

    /// <summary>The struct for <paramref name="layout"/>, <paramref name="offset"/> bytes into its page.</summary>
    public static UserStruct Make(IommufdBench b, UapiLayout layout, int offset = 0) => All.Single(s => s.Layout == layout).Make(b, offset);

    public static UserStruct Destroy(IommufdBench b, int offset)
    {
        var s = new UserStruct(b.Process, Uapi.Destroy, offset);
        s["id"] = b.Ioas();
        return s;
    }

    public static UserStruct IoasAlloc(IommufdBench b, int offset) => new(b.Process, Uapi.IoasAlloc, offset);

    public static UserStruct IoasAllowIovas(IommufdBench b, int offset)
    {
        uint ioas = b.Ioas();
        byte[] range = UserBuffers.Encode(Uapi.IovaRange, ("start", 0x10_0000), ("last", 0xFFFF_FFFF));
        var s = new UserStruct(b.Process, Uapi.IoasAllowIovas, offset);
        s["ioas_id"] = ioas;
        s["num_iovas"] = 1;
        s["allowed_iovas"] = UserBuffers.ReadWrite(b.Process, range);
        return s;
    }

    public static UserStruct IoasCopy(IommufdBench b, int offset)
    {
        uint src = b.Ioas(), dst = b.Ioas();
        b.Map(src, b.Buffer(2), 2 * Page, iova: 0x40_0000);
        var s = new UserStruct(b.Process, Uapi.IoasCopy, offset);
        s["flags"] = MapReadWrite;
        s["dst_ioas_id"] = dst;
        s["src_ioas_id"] = src;
        s["length"] = 2 * Page;
        s["src_iova"] = 0x40_0000;
        return s;
    }

    public static UserStruct IoasIovaRanges(IommufdBench b, int offset)
    {
        uint ioas = b.Ioas();
        uint pt = ioas;
        Assert.Equal(Errno.Success, b.Fd.DeviceAttach(NextDevice(b), ref pt)); // two usable ranges around the interrupt window
        var s = new UserStruct(b.Process, Uapi.IoasIovaRanges, offset);
        s["ioas_id"] = ioas;
        s["num_iovas"] = 4;
        s["allowed_iovas"] = UserBuffers.ReadWrite(b.Process, []);
        return s;
    }

    public static UserStruct IoasMap(IommufdBench b, int offset)
    {
        uint ioas = b.Ioas();
        var s = new UserStruct(b.Process, Uapi.IoasMap, offset);
        s["flags"] = MapReadWrite; // the kernel picks the IOVA
        s["ioas_id"] = ioas;
        s["user_va"] = b.Buffer(4).Value;
        s["length"] = 4 * Page;
        return s;
    }

    public static UserStruct IoasUnmap(IommufdBench b, int offset)
    {
        uint ioas = b.Ioas();
        b.Map(ioas, b.Buffer(3), 3 * Page, iova: 0x10_0000);
        var s = new UserStruct(b.Process, Uapi.IoasUnmap, offset);
        s["ioas_id"] = ioas;
        s["iova"] = 0;
        s["length"] = ulong.MaxValue; // everything
        return s;
    }

    public static UserStruct HwptAlloc(IommufdBench b, int offset)
    {
        uint dev = NextDevice(b);
        uint ioas = b.Ioas();
        var s = new UserStruct(b.Process, Uapi.HwptAlloc, offset);
        s["flags"] = 1; // NEST_PARENT
        s["dev_id"] = dev;
        s["pt_id"] = ioas;
        return s;
    }

    public static UserStruct GetHwInfo(IommufdBench b, int offset)
    {
        uint dev = NextDevice(b);
        var s = new UserStruct(b.Process, Uapi.GetHwInfo, offset);
        s["dev_id"] = dev;
        s["data_len"] = (ulong)Uapi.HwInfoVtd.Size;
        s["data_uptr"] = UserBuffers.ReadWrite(b.Process, []);
        return s;
    }

    public static UserStruct HwptSetDirtyTracking(IommufdBench b, int offset)
    {
        uint dev = NextDevice(b);
        uint hwpt = b.Hwpt(dev, b.Ioas(), HwptAllocFlags.DirtyTracking);
        var s = new UserStruct(b.Process, Uapi.HwptSetDirtyTracking, offset);
        s["flags"] = 1; // ENABLE
        s["hwpt_id"] = hwpt;
        return s;
    }

    public static UserStruct HwptGetDirtyBitmap(IommufdBench b, int offset)
    {
        uint dev = NextDevice(b);
        uint ioas = b.Ioas();
        uint hwpt = b.Hwpt(dev, ioas, HwptAllocFlags.DirtyTracking);
        b.Map(ioas, b.Buffer(4), 4 * Page, iova: 0x10_0000);
        Assert.Equal(Errno.Success, b.Fd.HwptSetDirtyTracking(hwpt, DirtyTrackingFlags.Enable));
        var s = new UserStruct(b.Process, Uapi.HwptGetDirtyBitmap, offset);
        s["hwpt_id"] = hwpt;
        s["iova"] = 0x10_0000;
        s["length"] = 4 * Page;
        s["page_size"] = Page;
        s["data"] = UserBuffers.ReadWrite(b.Process, []);
        return s;
    }

    public static UserStruct HwptInvalidate(IommufdBench b, int offset)
    {
        uint dev = NextDevice(b);
        uint parent = b.Hwpt(dev, b.Ioas(), HwptAllocFlags.NestParent);
        uint nested = b.Nested(dev, parent);
        byte[] all = UserBuffers.Encode(Uapi.VtdS1Invalidate, ("addr", 0), ("npages", ulong.MaxValue));
        var s = new UserStruct(b.Process, Uapi.HwptInvalidate, offset);
        s["hwpt_id"] = nested;
        s["data_uptr"] = UserBuffers.ReadWrite(b.Process, all);
        s["data_type"] = 0; // VTD_S1
        s["entry_len"] = (ulong)Uapi.VtdS1Invalidate.Size;
        s["entry_num"] = 1;
        return s;
    }

    /// <summary>Binds the first of the bench's functions that no test step has bound yet (Dev0 on a fresh bench).</summary>
    private static uint NextDevice(IommufdBench b)
    {
        var bound = b.Fd.Objects.OfType<IommufdDevice>().Select(d => d.SourceId).ToHashSet();
        return b.Bind(new[] { Dev0, Dev1, Dev2 }.First(sid => !bound.Contains(sid)));
    }

    /// <summary>What a call left behind that user space can see: the objects and each IOAS's areas.</summary>
    public static string State(IommufdBench b) =>
        string.Join("; ", b.Fd.Objects.Select(o => o is Ioas ioas ? $"{o} [{string.Join(",", ioas.Areas.Select(a => $"{a.Iova:x}+{a.Length:x}"))}]" : o.ToString()));
}
