using VtdSim.Kernel.Intel;
using VtdSim.Kernel.Iommufd;
using VtdSim.Kernel.Process;
using VtdSim.Kernel.Tests.Iommufd;
using static VtdSim.Kernel.Tests.Iommufd.IommufdBench;

namespace VtdSim.Kernel.Tests.Mutation;

/// <summary>
/// The byte-level ioctl entry point (IommufdContext.Ioctl*.cs, IoctlCommand.cs, the Uapi structs) where mutation
/// testing (docs/testing.md) found that no test noticed a change: what the write back gives the caller in every field
/// it did not ask the kernel to fill, IOMMU_GET_HW_INFO's three __reserved bytes, a write back that fails after
/// IOMMU_IOAS_IOVA_RANGES, the dirty bitmap at NULL, at a low address and over bits already set, and the encoder of
/// struct iommu_hwpt_vtd_s1.
/// </summary>
public class IoctlMutationTests
{
    private const ulong Page = 4096;

    /// <summary>
    /// iommufd_ucmd_respond copies the kernel's whole copy of the struct back, so every field the caller wrote and the
    /// kernel does not fill comes back as it was: only the out fields change. Each call is made with input fields
    /// that are not zero where the ioctl allows it (a zero that came back would not tell).
    /// </summary>
    [Theory]
    [InlineData("iommu_ioas_alloc", "out_ioas_id")]
    [InlineData("iommu_ioas_copy", "dst_iova")]
    [InlineData("iommu_ioas_iova_ranges", "num_iovas,out_iova_alignment")]
    [InlineData("iommu_ioas_map", "iova")]
    [InlineData("iommu_ioas_unmap", "length")]
    [InlineData("iommu_hwpt_alloc", "out_hwpt_id")]
    [InlineData("iommu_hw_info", "data_len,data_type,out_max_pasid_log2,out_capabilities")]
    [InlineData("iommu_hwpt_invalidate", "entry_num")]
    public void ASuccessfulIoctlGivesBackEveryFieldItDoesNotFill(string name, string outFields)
    {
        var b = new IommufdBench();
        UapiLayout layout = Uapi.All.Single(l => l.Layout.Name == name).Layout;
        UserStruct s = IoctlScenarios.Make(b, layout);
        switch (name)
        {
            case "iommu_ioas_unmap": // one area, named exactly (the scenario unmaps everything from IOVA 0)
                s["iova"] = 0x10_0000;
                s["length"] = 3 * Page;
                break;
            case "iommu_hwpt_alloc": // fault_id is ignored without IOMMU_HWPT_FAULT_ID_VALID; __reserved2 is not checked (K19)
                s["fault_id"] = 5;
                s["__reserved2"] = 9;
                break;
            case "iommu_hw_info": // ask for the VT-d type by name
                s["flags"] = 1;     // IOMMU_HW_INFO_FLAG_INPUT_TYPE
                s["data_type"] = 1; // IOMMU_HW_INFO_TYPE_INTEL_VTD
                break;
        }
        var before = layout.Fields.ToDictionary(f => f, f => s[f]);

        Assert.Equal(Errno.Success, s.Ioctl(b.Fd));

        string[] written = outFields.Split(',');
        foreach (string field in layout.Fields.Where(f => !written.Contains(f)))
            Assert.True(before[field] == s[field], $"{name}.{field} was 0x{before[field]:x} and came back 0x{s[field]:x}");
        Assert.Contains(layout.Fields, f => !written.Contains(f) && before[f] != 0);
    }

    [Fact]
    public void ANestedHwptAllocGivesBackItsDataFields()
    {
        // The nested allocation carries data_type, data_len and data_uptr, which the parent's did not.
        var b = new IommufdBench();
        uint dev = b.Bind(Dev0);
        uint parent = b.Hwpt(dev, b.Ioas(), HwptAllocFlags.NestParent);
        byte[] s1 = VtdUapi.EncodeS1(new VtdS1Config(VtdS1Flags.None, 0x1000, 48));
        var s = new UserStruct(b.Process, Uapi.HwptAlloc);
        s["dev_id"] = dev;
        s["pt_id"] = parent;
        s["data_type"] = 1; // IOMMU_HWPT_DATA_VTD_S1
        s["data_len"] = (ulong)s1.Length;
        s["data_uptr"] = UserBuffers.ReadWrite(b.Process, s1);
        var before = Uapi.HwptAlloc.Fields.ToDictionary(f => f, f => s[f]);

        Assert.Equal(Errno.Success, s.Ioctl(b.Fd));

        Assert.All(Uapi.HwptAlloc.Fields.Where(f => f != "out_hwpt_id"), f => Assert.Equal(before[f], s[f]));
        Assert.NotNull(b.Fd.Get<HwptNested>((uint)s["out_hwpt_id"]));
    }

    [Fact]
    public void AFailedHwptInvalidateStillGivesBackEveryFieldWithEntryNumZero()
    {
        // IOMMU_HWPT_INVALIDATE writes entry_num back on every path, the struct with it: a call refused for its
        // __reserved or for an unknown data_type leaves the caller's other fields as they were.
        foreach ((string field, ulong value, Errno expected) in new[] { ("__reserved", 1UL, Errno.EOPNOTSUPP), ("data_type", 7UL, Errno.EINVAL) })
        {
            var b = new IommufdBench();
            UserStruct s = IoctlScenarios.Make(b, Uapi.HwptInvalidate);
            s[field] = value;
            var before = Uapi.HwptInvalidate.Fields.ToDictionary(f => f, f => s[f]);

            Assert.Equal(expected, s.Ioctl(b.Fd));

            Assert.Equal(0UL, s["entry_num"]);
            Assert.All(Uapi.HwptInvalidate.Fields.Where(f => f != "entry_num"), f => Assert.Equal(before[f], s[f]));
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    public void EachReservedByteOfGetHwInfoIsRefused(int index)
    {
        // __u8 __reserved[3]: any byte that is not zero is EOPNOTSUPP (iommufd_get_hw_info).
        var b = new IommufdBench();
        UserStruct s = IoctlScenarios.Make(b, Uapi.GetHwInfo);
        s.SetBytes(Uapi.GetHwInfo.Offset("__reserved") + index, [0x01]);

        Assert.Equal(Errno.EOPNOTSUPP, s.Ioctl(b.Fd));
    }

    [Fact]
    public void IovaRangesWhoseWriteBackFailsIsEfault()
    {
        // The ranges fit and are copied out, but the struct lies on a read-only page: the count cannot go back, and
        // the caller is told so (EFAULT), not that the call succeeded.
        var b = new IommufdBench();
        UserStruct s = IoctlScenarios.Make(b, Uapi.IoasIovaRanges);
        UserStruct readOnly = s.ReadOnlyCopy(b.Kernel, Uapi.IoasIovaRanges.Size);

        Assert.Equal(Errno.EFAULT, readOnly.Ioctl(b.Fd));
    }

    /// <summary>Dirty tracking over 256 pages at IOVA 16 MiB for Dev0, pages 3 and 200 written by DMA.</summary>
    private static (IommufdBench B, uint Hwpt) TwoDirtyPages()
    {
        var b = new IommufdBench();
        uint ioas = b.Ioas();
        b.Map(ioas, b.Buffer(256), 256 * Page, iova: 0x100_0000);
        uint dev = b.Bind(Dev0);
        uint hwpt = b.Hwpt(dev, ioas, HwptAllocFlags.DirtyTracking);
        uint pt = hwpt;
        Assert.Equal(Errno.Success, b.Fd.DeviceAttach(dev, ref pt));
        Assert.Equal(Errno.Success, b.Fd.HwptSetDirtyTracking(hwpt, DirtyTrackingFlags.Enable));
        Assert.True(b.DmaWrite64(Dev0, 0x100_0000 + 3 * Page, 1));
        Assert.True(b.DmaWrite64(Dev0, 0x100_0000 + 200 * Page, 1));
        return (b, hwpt);
    }

    private static UserStruct Bitmap(IommufdBench b, uint hwpt, ulong data)
    {
        var s = new UserStruct(b.Process, Uapi.HwptGetDirtyBitmap);
        s["hwpt_id"] = hwpt;
        s["iova"] = 0x100_0000;
        s["length"] = 256 * Page;
        s["page_size"] = Page;
        s["data"] = data;
        return s;
    }

    [Fact]
    public void TheDirtyBitmapIsOredIntoTheCallersBytesEvenAtALowAddressButNeverAtNull()
    {
        // decisions K20: bit n is bit n % 8 of byte n / 8 of data, ORed into what the caller has there; data NULL
        // drops every bit. Page 0 is mapped here (the model allows it), so NULL is told apart from an unmapped page;
        // the bitmap at 0x10 puts page 200's bit at 0x29, above the 16 bytes below the bitmap's start.
        var (b, hwpt) = TwoDirtyPages();
        Assert.Equal(Errno.Success, b.Process.Mmap(Page, MemoryProtection.ReadWrite, out Uva zero, fixedAddress: new Uva(0)));
        Assert.Equal(0UL, zero.Value);
        byte[] preset = new byte[Page];
        preset[0x10] = 0x0F; // bits 0-3 already set by the caller: page 3's bit among them
        preset[0x11] = 0x80;
        Assert.Equal(Errno.Success, b.Process.Write(new Uva(0), preset));

        Assert.Equal(Errno.Success, Bitmap(b, hwpt, 0).Ioctl(b.Fd)); // NULL: nothing written, the dirty bits read and cleared
        Assert.Equal(preset, UserBuffers.Read(b.Process, 0, (int)Page));

        Assert.True(b.DmaWrite64(Dev0, 0x100_0000 + 3 * Page, 2));
        Assert.True(b.DmaWrite64(Dev0, 0x100_0000 + 200 * Page, 2));
        Assert.Equal(Errno.Success, Bitmap(b, hwpt, 0x10).Ioctl(b.Fd));
        byte[] expected = (byte[])preset.Clone();
        expected[0x10 + 200 / 8] |= 1 << (200 % 8);
        Assert.Equal(expected, UserBuffers.Read(b.Process, 0, (int)Page));
    }

    /// <summary>
    /// A bitmap in a PROT_WRITE-only mapping gets its bits, as in Linux (iova_bitmap pins the bitmap for writing; on x86
    /// a write-only page is readable too, decision K32); a bitmap in a read-only mapping gets none.
    /// </summary>
    [Fact]
    public void TheDirtyBitmapLandsInAWriteOnlyMappingButNotInAReadOnlyOne()
    {
        var (b, hwpt) = TwoDirtyPages();
        Assert.Equal(Errno.Success, b.Process.Mmap(Page, MemoryProtection.Write, out Uva wo));
        Assert.Equal(Errno.Success, b.Process.Mmap(Page, MemoryProtection.Read, out Uva ro));

        Assert.True(b.DmaWrite64(Dev0, 0x100_0000 + 3 * Page, 2));
        Assert.Equal(Errno.Success, Bitmap(b, hwpt, wo.Value).Ioctl(b.Fd));
        Assert.Equal(1 << 3, UserBuffers.Read(b.Process, wo.Value, 1)[0]);

        Assert.True(b.DmaWrite64(Dev0, 0x100_0000 + 3 * Page, 2));
        Assert.Equal(Errno.Success, Bitmap(b, hwpt, ro.Value).Ioctl(b.Fd));
        Assert.Equal(0, UserBuffers.Read(b.Process, ro.Value, 1)[0]);
    }

    [Fact]
    public void TheS1EncoderLaysOutEveryFieldOfStructIommuHwptVtdS1()
    {
        // struct iommu_hwpt_vtd_s1 { __aligned_u64 flags; __aligned_u64 pgtbl_addr; __u32 addr_width; __u32 __reserved; }
        byte[] b = VtdUapi.EncodeS1(new VtdS1Config((VtdS1Flags)0x7, 0x1234_5000, 57), reserved: 0xA5A5_0001);
        Assert.Equal(24, b.Length);
        Assert.Equal(0x7UL, BitConverter.ToUInt64(b, 0));
        Assert.Equal(0x1234_5000UL, BitConverter.ToUInt64(b, 8));
        Assert.Equal(57u, BitConverter.ToUInt32(b, 16));
        Assert.Equal(0xA5A5_0001u, BitConverter.ToUInt32(b, 20));
    }
}
