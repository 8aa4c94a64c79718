using VtdSim.Kernel.Iommufd;
using static VtdSim.Kernel.Tests.Iommufd.IommufdBench;

namespace VtdSim.Kernel.Tests.Iommufd;

// The L rows of the errno table: the byte-level Ioctl, its size rule and its user pointers.
public partial class ErrnoTableTests
{
    private static readonly uint[] Unimplemented = [0x3B87, 0x3B88, 0x3B8E, 0x3B8F, 0x3B90, 0x3B91, 0x3B92, 0x3B93, 0x3B94];

    private UserStruct Struct(UapiLayout layout) => new(_b.Process, layout);

    [Fact]
    public void L1_AnNrOutsideTheIommufdTableIsEnottyWhateverArgpIs()
    {
        var s = Struct(Uapi.Destroy);
        // IOMMUFD_CMD_BASE - 1, VFIO_GET_API_VERSION (type-1 compatibility, not modelled), past HW_QUEUE_ALLOC,
        // IOMMU_TEST_CMD (a selftest kernel's), and a number of another driver.
        foreach (uint request in new uint[] { 0x3B7F, 0x3B64, 0x3B95, 0x3BA0, 0x5401 })
        {
            Assert.Equal(Errno.ENOTTY, Fd.Ioctl(request, s.Address));
            Assert.Equal(Errno.ENOTTY, Fd.Ioctl(request, 0));
        }
    }

    [Fact]
    public void L2_AnUnreadableArgpIsEfault()
    {
        Assert.Equal(Errno.EFAULT, Fd.Ioctl(Uapi.Destroy.Request, 0));
        Assert.Equal(Errno.EFAULT, Fd.Ioctl(Uapi.IoasAlloc.Request, UserBuffers.Unmapped(_b.Process)));
        // size itself half mapped
        ulong edge = UserBuffers.EndOfMapping(_b.Process, 2);
        Assert.Equal(Errno.EFAULT, Fd.Ioctl(Uapi.Destroy.Request, edge));
        // the struct past size not mapped
        var s = UserStruct.AtEndOfMapping(_b.Process, Uapi.IoasMap, 8);
        Assert.Equal(Errno.EFAULT, s.Ioctl(Fd));
    }

    [Fact]
    public void L3_AnNrInTheTableWithOtherBitsIsEnottyAfterSizeIsRead()
    {
        var s = Struct(Uapi.Destroy);
        s["id"] = _b.Ioas();
        uint iowr = 0xC000_0000 | (8u << 16) | Uapi.Destroy.Request; // _IOWR(';', 0x80, 8 bytes)
        uint otherType = ('X' << 8) | 0x80;
        Assert.Equal(Errno.ENOTTY, Fd.Ioctl(iowr, s.Address));
        Assert.Equal(Errno.ENOTTY, Fd.Ioctl(otherType, s.Address));
        Assert.Equal(Errno.EFAULT, Fd.Ioctl(iowr, 0)); // size is read before the number is matched
        Assert.NotNull(Fd.Find((uint)s["id"]));
    }

    [Fact]
    public void L4_ASizeBelowTheMinimumIsEinvalBeforeAnyHandlerCheck()
    {
        foreach (var (layout, _) in Uapi.All)
        {
            foreach (ulong size in new[] { 0UL, (ulong)layout.MinSize - 1 })
            {
                var s = Struct(layout); // all fields zero: every handler would answer something else (ENOENT, EINVAL…)
                s["size"] = size;
                Assert.True(s.Ioctl(Fd) == Errno.EINVAL, $"{layout.Name} size {size}");
            }
        }
        Assert.Empty(Fd.Objects); // not even IOAS_ALLOC ran
    }

    [Fact]
    public void L5_ANonZeroBytePastTheStructIsE2big()
    {
        foreach (var (layout, _) in Uapi.All)
        {
            var s = Struct(layout);
            s["size"] = (ulong)layout.Size + 64;
            s.SetBytes(layout.Size + 40, [0x01]);
            Assert.True(s.Ioctl(Fd) == Errno.E2BIG, layout.Name);
        }
        Assert.Empty(Fd.Objects);

        // Address order: a non-zero byte before an unmapped page wins over the fault.
        var edge = UserStruct.AtEndOfMapping(_b.Process, Uapi.Destroy, 16);
        edge["size"] = 4096;
        edge.SetBytes(12, [0x80]);
        Assert.Equal(Errno.E2BIG, edge.Ioctl(Fd));
    }

    [Fact]
    public void L6_AnUnreadableTailPastTheStructIsEfault()
    {
        var s = UserStruct.AtEndOfMapping(_b.Process, Uapi.IoasAlloc, Uapi.IoasAlloc.Size + 4);
        s["size"] = (ulong)Uapi.IoasAlloc.Size + 8; // four zero bytes mapped, four not
        Assert.Equal(Errno.EFAULT, s.Ioctl(Fd));
        var big = Struct(Uapi.IoasAlloc);
        big["size"] = uint.MaxValue;
        Assert.Equal(Errno.EFAULT, big.Ioctl(Fd));
        Assert.Empty(Fd.Objects);
    }

    [Fact]
    public void L7_AZeroTailPastTheStructActsAsTheExactSize()
    {
        var s = IoctlScenarios.Make(_b, Uapi.IoasMap);
        s["size"] = 4096; // the rest of the page, all zero
        Assert.Equal(Errno.Success, s.Ioctl(Fd));
        ulong iova = s["iova"];
        Assert.Equal(iova, Assert.Single(_b.IoasOf((uint)s["ioas_id"]).Areas).Iova);
        Assert.Equal(4096UL, s["size"]);
        Assert.All(s.Bytes(4096)[Uapi.IoasMap.Size..], x => Assert.Equal(0, x));
    }

    [Fact]
    public void L8_ASizeBetweenTheMinimumAndSizeofReadsMissingFieldsAsZeroAndWritesBackOnlySizeBytes()
    {
        // HWPT_ALLOC of 24 bytes: data_type, data_len, data_uptr, fault_id hold garbage the kernel must not see.
        var alloc = IoctlScenarios.Make(_b, Uapi.HwptAlloc);
        alloc["size"] = 24;
        byte[] garbage = Enumerable.Repeat((byte)0xEE, Uapi.HwptAlloc.Size - 24).ToArray();
        alloc.SetBytes(24, garbage);
        Assert.Equal(Errno.Success, alloc.Ioctl(Fd));
        Assert.IsType<HwptPaging>(Fd.Find((uint)alloc["out_hwpt_id"]));
        Assert.Equal(garbage, alloc.Bytes(Uapi.HwptAlloc.Size)[24..]);

        // GET_HW_INFO of 32 bytes: out_capabilities is not part of the caller's struct.
        var info = IoctlScenarios.Make(_b, Uapi.GetHwInfo);
        info["size"] = 32;
        info["out_capabilities"] = 0xEEEE_EEEE_EEEE_EEEE;
        Assert.Equal(Errno.Success, info.Ioctl(Fd));
        Assert.Equal((ulong)Uapi.HwInfoVtd.Size, info["data_len"]);
        Assert.Equal(1UL, info["data_type"]);
        Assert.Equal(0xEEEE_EEEE_EEEE_EEEEUL, info["out_capabilities"]);
    }

    [Fact]
    public void L9_AnIoctlTheModelDoesNotImplementIsEopnotsupp()
    {
        foreach (uint request in Unimplemented)
        {
            var s = Struct(Uapi.Destroy); // any struct: the model reads only size
            Assert.Equal(Errno.EOPNOTSUPP, Fd.Ioctl(request, s.Address));
            Assert.Equal(Errno.EFAULT, Fd.Ioctl(request, 0)); // size is still read first
        }
        Assert.Empty(Fd.Objects);
    }

    [Fact]
    public void L10_AnAllocWhoseStructCannotBeWrittenBackIsEfaultAndLeavesNoObject()
    {
        uint dev = _b.Bind(Dev0);
        var ioasAlloc = Struct(Uapi.IoasAlloc).ReadOnlyCopy(_b.Kernel, Uapi.IoasAlloc.Size);
        Assert.Equal(Errno.EFAULT, ioasAlloc.Ioctl(Fd));
        Assert.Equal(dev, Assert.Single(Fd.Objects).Id);

        uint ioas = _b.Ioas();
        Assert.Equal(dev + 1, ioas); // the aborted IOAS's id is free again
        var hwpt = Struct(Uapi.HwptAlloc);
        hwpt["flags"] = 1; // NEST_PARENT
        hwpt["dev_id"] = dev;
        hwpt["pt_id"] = ioas;
        Assert.Equal(Errno.EFAULT, hwpt.ReadOnlyCopy(_b.Kernel, Uapi.HwptAlloc.Size).Ioctl(Fd));
        Assert.Empty(_b.IoasOf(ioas).Hwpts);
        Assert.Equal(2, Fd.Objects.Count);
        Assert.Equal(Errno.Success, Fd.Destroy(ioas)); // nothing refers to it
    }

    [Fact]
    public void L11_AMapCopyOrUnmapWhoseStructCannotBeWrittenBackIsEfaultAndStaysDone()
    {
        var map = IoctlScenarios.Make(_b, Uapi.IoasMap);
        uint ioas = (uint)map["ioas_id"];
        Assert.Equal(Errno.EFAULT, map.ReadOnlyCopy(_b.Kernel, Uapi.IoasMap.Size).Ioctl(Fd));
        var area = Assert.Single(_b.IoasOf(ioas).Areas);
        Assert.Equal(4L, _b.Kernel.UserMemory.TotalPins);

        uint dst = _b.Ioas();
        var copy = Struct(Uapi.IoasCopy);
        copy["flags"] = IoctlScenarios.MapReadWrite;
        copy["dst_ioas_id"] = dst;
        copy["src_ioas_id"] = ioas;
        copy["length"] = area.Length;
        copy["src_iova"] = area.Iova;
        Assert.Equal(Errno.EFAULT, copy.ReadOnlyCopy(_b.Kernel, Uapi.IoasCopy.Size).Ioctl(Fd));
        Assert.Single(_b.IoasOf(dst).Areas);

        var unmap = Struct(Uapi.IoasUnmap);
        unmap["ioas_id"] = ioas;
        unmap["length"] = ulong.MaxValue;
        Assert.Equal(Errno.EFAULT, unmap.ReadOnlyCopy(_b.Kernel, Uapi.IoasUnmap.Size).Ioctl(Fd));
        Assert.Empty(_b.IoasOf(ioas).Areas);
    }

    [Fact]
    public void L12_AllowIovasReadsRangeByRangeAndAnUnreadableOneIsEfault()
    {
        uint ioas = _b.Ioas();
        byte[] good = UserBuffers.Encode(Uapi.IovaRange, ("start", 0x10_0000), ("last", 0x1F_FFFF));
        byte[] bad = UserBuffers.Encode(Uapi.IovaRange, ("start", 0x20_0000), ("last", 0x20_0000)); // start >= last
        var s = Struct(Uapi.IoasAllowIovas);
        s["ioas_id"] = ioas;
        s["num_iovas"] = 2;

        s["allowed_iovas"] = UserBuffers.EndOfMapping(_b.Process, 16, good); // the second range is not mapped
        Assert.Equal(Errno.EFAULT, s.Ioctl(Fd));
        Assert.Empty(_b.IoasOf(ioas).AllowedRanges);

        s["allowed_iovas"] = UserBuffers.EndOfMapping(_b.Process, 16, bad);
        Assert.Equal(Errno.EINVAL, s.Ioctl(Fd)); // the bad first range is found before the second is read

        s["ioas_id"] = 99;
        s["allowed_iovas"] = 0;
        Assert.Equal(Errno.ENOENT, s.Ioctl(Fd)); // the IOAS is looked up before any range is read

        s["ioas_id"] = ioas;
        s["num_iovas"] = 1;
        s["allowed_iovas"] = UserBuffers.EndOfMapping(_b.Process, 16, good);
        Assert.Equal(Errno.Success, s.Ioctl(Fd));
        Assert.Equal(new IovaRange(0x10_0000, 0x1F_FFFF), Assert.Single(_b.IoasOf(ioas).AllowedRanges));
    }

    [Fact]
    public void L13_IovaRangesIntoAnUnwritableArrayIsEfaultWithNothingWrittenBack()
    {
        var s = IoctlScenarios.Make(_b, Uapi.IoasIovaRanges);
        s["allowed_iovas"] = UserBuffers.ReadOnly(_b.Kernel, _b.Process, []);
        Assert.Equal(Errno.EFAULT, s.Ioctl(Fd));
        Assert.Equal((4UL, 0UL), (s["num_iovas"], s["out_iova_alignment"]));

        // Room for one range only: the first is written, then the fault.
        ulong edge = UserBuffers.EndOfMapping(_b.Process, Uapi.IovaRange.Size);
        s["allowed_iovas"] = edge;
        Assert.Equal(Errno.EFAULT, s.Ioctl(Fd));
        Assert.Equal(0xFEDF_FFFFUL, UserBuffers.Field(Uapi.IovaRange, UserBuffers.Read(_b.Process, edge, 16), "last"));
        Assert.Equal(4UL, s["num_iovas"]);
    }

    [Fact]
    public void L14_IovaRangesWithTooFewSlotsIsEmsgsizeAndWritesBackTheCount()
    {
        var s = IoctlScenarios.Make(_b, Uapi.IoasIovaRanges); // a device attached: two usable ranges
        ulong array = s["allowed_iovas"];
        s["num_iovas"] = 1;
        Assert.Equal(Errno.EMSGSIZE, s.Ioctl(Fd));
        Assert.Equal((2UL, 4096UL), (s["num_iovas"], s["out_iova_alignment"]));
        byte[] ranges = UserBuffers.Read(_b.Process, array, 32);
        Assert.Equal((0UL, 0xFEDF_FFFFUL), (UserBuffers.Field(Uapi.IovaRange, ranges, "start"), UserBuffers.Field(Uapi.IovaRange, ranges, "last")));
        Assert.All(ranges[16..], x => Assert.Equal(0, x)); // only num_iovas slots are written
    }

    [Fact]
    public void L15_HwptAllocWithUnreadableVtdS1DataIsEfaultAndLeavesNoObject()
    {
        uint dev = _b.Bind(Dev0);
        uint parent = _b.Hwpt(dev, _b.Ioas(), HwptAllocFlags.NestParent);
        int before = Fd.Objects.Count, parentUsers = _b.PagingOf(parent).Users;
        byte[] s1 = UserBuffers.Encode(Uapi.HwptVtdS1, ("pgtbl_addr", 0x10_0000), ("addr_width", 48));
        var s = Struct(Uapi.HwptAlloc);
        s["dev_id"] = dev;
        s["pt_id"] = parent;
        s["data_type"] = 1; // VTD_S1
        s["data_len"] = 24;
        foreach (ulong data in new[] { UserBuffers.Unmapped(_b.Process), UserBuffers.EndOfMapping(_b.Process, 16, s1[..16]) })
        {
            s["data_uptr"] = data;
            Assert.Equal(Errno.EFAULT, s.Ioctl(Fd));
            Assert.Equal(0UL, s["out_hwpt_id"]);
            Assert.Equal(before, Fd.Objects.Count);
            Assert.Equal(parentUsers, _b.PagingOf(parent).Users); // no nested HWPT holds the parent
        }
        // The data_len check comes first: 23 bytes is EINVAL even through a bad pointer.
        s["data_len"] = 23;
        Assert.Equal(Errno.EINVAL, s.Ioctl(Fd));
    }

    [Fact]
    public void L16_HwInfoIntoAnUnwritableBufferIsEfaultAfterWritingWhatFits()
    {
        var s = IoctlScenarios.Make(_b, Uapi.GetHwInfo);
        s["data_uptr"] = UserBuffers.ReadOnly(_b.Kernel, _b.Process, []);
        Assert.Equal(Errno.EFAULT, s.Ioctl(Fd));
        Assert.Equal((24UL, 0UL), (s["data_len"], s["data_type"])); // not written back

        // 32 bytes asked, 24 mapped: the VT-d struct is copied, clearing the rest faults.
        ulong edge = UserBuffers.EndOfMapping(_b.Process, 24);
        s["data_len"] = 32;
        s["data_uptr"] = edge;
        Assert.Equal(Errno.EFAULT, s.Ioctl(Fd));
        Assert.Equal(1UL, UserBuffers.Field(Uapi.HwInfoVtd, UserBuffers.Read(_b.Process, edge, 24), "flags"));
        Assert.Equal(32UL, s["data_len"]);
    }

    [Fact]
    public void L17_InvalidateWithAnUnreadableEntryIsEfaultAfterTheEntriesBeforeIt()
    {
        var s = IoctlScenarios.Make(_b, Uapi.HwptInvalidate);
        byte[] entry = UserBuffers.Encode(Uapi.VtdS1Invalidate, ("addr", 0), ("npages", ulong.MaxValue));
        s["data_uptr"] = UserBuffers.EndOfMapping(_b.Process, 24, entry); // entry 1 is not mapped
        s["entry_num"] = 2;
        Assert.Equal(Errno.EFAULT, s.Ioctl(Fd));
        Assert.Equal(1UL, s["entry_num"]);

        s["data_uptr"] = UserBuffers.Unmapped(_b.Process);
        s["entry_num"] = 1;
        Assert.Equal(Errno.EFAULT, s.Ioctl(Fd));
        Assert.Equal(0UL, s["entry_num"]);

        s["data_uptr"] = 0; // NULL with entries is EINVAL, not a fault
        s["entry_num"] = 1;
        Assert.Equal(Errno.EINVAL, s.Ioctl(Fd));
        Assert.Equal(0UL, s["entry_num"]);
    }

    [Fact]
    public void L18_InvalidateWhoseStructCannotBeWrittenBackIsEfaultOverTheHandlersErrno()
    {
        var s = IoctlScenarios.Make(_b, Uapi.HwptInvalidate);
        Assert.Equal(Errno.EFAULT, s.ReadOnlyCopy(_b.Kernel, Uapi.HwptInvalidate.Size).Ioctl(Fd));
        s["__reserved"] = 1;
        Assert.Equal(Errno.EOPNOTSUPP, s.Ioctl(Fd));
        Assert.Equal(Errno.EFAULT, s.ReadOnlyCopy(_b.Kernel, Uapi.HwptInvalidate.Size).Ioctl(Fd));
    }

    [Fact]
    public void L19_DirtyBitsForAnUnwritableBitmapAreDroppedAndTheCallSucceeds()
    {
        var s = IoctlScenarios.Make(_b, Uapi.HwptGetDirtyBitmap); // tracking on, 4 pages at 0x100000
        uint hwpt = (uint)s["hwpt_id"];
        uint pt = hwpt;
        Assert.Equal(Errno.Success, Fd.DeviceAttach(Fd.Objects.OfType<IommufdDevice>().Single().Id, ref pt));
        Assert.NotNull(_b.DmaRead64(Dev0, 0x10_0000 + 2 * Page));
        Assert.True(_b.DmaWrite64(Dev0, 0x10_0000 + 2 * Page, 7));

        s["flags"] = 1; // NO_CLEAR: look without clearing
        foreach (ulong data in new[] { UserBuffers.ReadOnly(_b.Kernel, _b.Process, [0x00]), UserBuffers.Unmapped(_b.Process), 0UL })
        {
            s["data"] = data;
            Assert.Equal(Errno.Success, s.Ioctl(Fd));
        }
        ulong seen = UserBuffers.ReadWrite(_b.Process, [0x00]);
        s["data"] = seen;
        Assert.Equal(Errno.Success, s.Ioctl(Fd));
        Assert.Equal(1 << 2, UserBuffers.Read(_b.Process, seen, 1)[0]); // still dirty

        ulong readOnly = UserBuffers.ReadOnly(_b.Kernel, _b.Process, [0x00]);
        s["flags"] = 0;
        s["data"] = readOnly;
        Assert.Equal(Errno.Success, s.Ioctl(Fd)); // bits dropped, dirty bits cleared
        Assert.Equal(0, UserBuffers.Read(_b.Process, readOnly, 1)[0]);

        ulong writable = UserBuffers.ReadWrite(_b.Process, [0x00]);
        s["data"] = writable;
        Assert.Equal(Errno.Success, s.Ioctl(Fd));
        Assert.Equal(0, UserBuffers.Read(_b.Process, writable, 1)[0]); // already cleared by the call before
    }

    [Fact]
    public void L20_EveryIoctlOnAClosedIommufdIsEbadf()
    {
        var s = Struct(Uapi.IoasAlloc);
        Assert.Equal(Errno.Success, s.Ioctl(Fd));
        Fd.Close();
        Assert.Equal(Errno.EBADF, s.Ioctl(Fd));
        Assert.Equal(Errno.EBADF, Fd.Ioctl(0x3B7F, 0)); // before the nr is even looked at
    }
}
