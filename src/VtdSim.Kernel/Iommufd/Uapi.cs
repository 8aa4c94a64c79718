using System.Buffers.Binary;
using VtdSim.Kernel.Intel;

namespace VtdSim.Kernel.Iommufd;

/// <summary>The iommufd ioctl numbers (include/uapi/linux/iommufd.h): request = 0x3B00 | nr, no size encoded.</summary>
public static class IommufdIoctl
{
    public const uint Type = 0x3B;
    public const uint Destroy = 0x3B80;
    public const uint IoasAlloc = 0x3B81;
    public const uint IoasAllowIovas = 0x3B82;
    public const uint IoasCopy = 0x3B83;
    public const uint IoasIovaRanges = 0x3B84;
    public const uint IoasMap = 0x3B85;
    public const uint IoasUnmap = 0x3B86;
    public const uint HwptAlloc = 0x3B89;
    public const uint GetHwInfo = 0x3B8A;
    public const uint HwptSetDirtyTracking = 0x3B8B;
    public const uint HwptGetDirtyBitmap = 0x3B8C;
    public const uint HwptInvalidate = 0x3B8D;
    // Numbers Linux has and the model does not implement (Ioctl answers them EOPNOTSUPP, K18).
    public const uint Option = 0x3B87;
    public const uint VfioIoas = 0x3B88;
    public const uint FaultQueueAlloc = 0x3B8E;
    public const uint IoasMapFile = 0x3B8F;
    public const uint ViommuAlloc = 0x3B90;
    public const uint VdeviceAlloc = 0x3B91;
    public const uint IoasChangeProcess = 0x3B92;
    public const uint VeventqAlloc = 0x3B93;
    public const uint HwQueueAlloc = 0x3B94;

    /// <summary>IOMMUFD_CMD_BASE: the first iommufd nr (IOMMU_DESTROY).</summary>
    public const uint CmdBase = 0x80;
    /// <summary>The last nr of the ioctl table (IOMMU_HW_QUEUE_ALLOC); IOMMU_TEST_CMD (0xA0) exists only in selftest kernels.</summary>
    public const uint CmdLast = 0x94;

    /// <summary>_IO(IOMMUFD_TYPE, nr).</summary>
    public static uint Request(uint nr) => (Type << 8) | nr;
}

/// <summary>enum iommufd_ioas_map_flags (IOAS_MAP and IOAS_COPY).</summary>
[Flags]
public enum IoasMapFlags : uint
{
    None = 0,
    FixedIova = 1 << 0,
    Writeable = 1 << 1,
    Readable = 1 << 2,
    ReadWrite = Readable | Writeable,
}

/// <summary>enum iommufd_hwpt_alloc_flags.</summary>
[Flags]
public enum HwptAllocFlags : uint
{
    None = 0,
    NestParent = 1 << 0,
    DirtyTracking = 1 << 1,
    FaultIdValid = 1 << 2,
    Pasid = 1 << 3,
}

/// <summary>enum iommu_hwpt_data_type: the driver data of IOMMU_HWPT_ALLOC.</summary>
public enum HwptDataType : uint
{
    None = 0,
    VtdS1 = 1,
    ArmSmmuV3 = 2,
    Selftest = 0xdead,
}

/// <summary>enum iommu_hw_info_type (Default is NONE).</summary>
public enum HwInfoType : uint
{
    Default = 0,
    IntelVtd = 1,
    ArmSmmuV3 = 2,
    Tegra241Cmdqv = 3,
    Selftest = 0xfeedbeef,
}

/// <summary>IOMMU_GET_HW_INFO flags.</summary>
[Flags]
public enum HwInfoFlags : uint
{
    None = 0,
    InputType = 1 << 0,
}

/// <summary>enum iommufd_hw_capabilities (out_capabilities).</summary>
[Flags]
public enum HwCapabilities : ulong
{
    None = 0,
    DirtyTracking = 1 << 0,
    PciPasidExec = 1 << 1,
    PciPasidPriv = 1 << 2,
}

/// <summary>enum iommu_hwpt_invalidate_data_type.</summary>
public enum HwptInvalidateDataType : uint
{
    VtdS1 = 0,
    ViommuArmSmmuV3 = 1,
    Selftest = 0xdeadbeef,
}

/// <summary>IOMMU_HWPT_SET_DIRTY_TRACKING flags.</summary>
[Flags]
public enum DirtyTrackingFlags : uint
{
    None = 0,
    Enable = 1 << 0,
}

/// <summary>IOMMU_HWPT_GET_DIRTY_BITMAP flags.</summary>
[Flags]
public enum DirtyBitmapFlags : uint
{
    None = 0,
    NoClear = 1 << 0,
}

/// <summary>struct iommu_iova_range { __aligned_u64 start; __aligned_u64 last; }: an inclusive [Start, Last] range.</summary>
public readonly record struct IovaRange(ulong Start, ulong Last)
{
    /// <summary>sizeof(struct iommu_iova_range).</summary>
    public const int SizeOf = 16;

    public static IovaRange Read(ReadOnlySpan<byte> b) =>
        new(BinaryPrimitives.ReadUInt64LittleEndian(b), BinaryPrimitives.ReadUInt64LittleEndian(b[8..]));

    public void Write(Span<byte> b)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(b, Start);
        BinaryPrimitives.WriteUInt64LittleEndian(b[8..], Last);
    }

    public override string ToString() => $"[0x{Start:x}, 0x{Last:x}]";
}

/// <summary>The kinds of object an iommufd context holds.</summary>
public enum IommufdObjectType
{
    Ioas,
    HwptPaging,
    HwptNested,
    Device,
    Access,
    /// <summary>A fault event queue of a nested HWPT: a model-only object, not Linux's uAPI (decisions N40–N44).</summary>
    VtdFaultQueue,
}

/// <summary>One entry of struct iommu_hwpt_vtd_s1_invalidate.</summary>
public readonly record struct VtdS1Invalidation(ulong Address, ulong Pages, uint Flags = 0, uint Reserved = 0)
{
    /// <summary>IOMMU_VTD_INV_FLAGS_LEAF: only leaf entries changed (the invalidation hint).</summary>
    public const uint Leaf = 1 << 0;
    /// <summary>addr = 0, npages = U64_MAX: the whole stage-1 table.</summary>
    public static VtdS1Invalidation All(uint flags = 0) => new(0, ulong.MaxValue, flags);
}

/// <summary>
/// The VT-d uapi structures as the bytes user space passes (little endian, no hidden padding): struct
/// iommu_hw_info_vtd, struct iommu_hwpt_vtd_s1 and struct iommu_hwpt_vtd_s1_invalidate, all 24 bytes.
/// </summary>
public static class VtdUapi
{
    public const int HwInfoSize = 24;
    public const int S1Size = 24;
    public const int S1InvalidateSize = 24;

    /// <summary>struct iommu_hw_info_vtd { u32 flags; u32 __reserved; u64 cap_reg; u64 ecap_reg; }.</summary>
    public static byte[] EncodeHwInfo(VtdHwInfo info)
    {
        var b = new byte[HwInfoSize];
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(0), info.Flags);
        BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(8), info.CapReg);
        BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(16), info.EcapReg);
        return b;
    }

    public static VtdHwInfo DecodeHwInfo(ReadOnlySpan<byte> b) =>
        new(BinaryPrimitives.ReadUInt32LittleEndian(b), BinaryPrimitives.ReadUInt64LittleEndian(b[8..]), BinaryPrimitives.ReadUInt64LittleEndian(b[16..]));

    /// <summary>struct iommu_hwpt_vtd_s1 { u64 flags; u64 pgtbl_addr; u32 addr_width; u32 __reserved; }.</summary>
    public static byte[] EncodeS1(VtdS1Config s1, uint reserved = 0)
    {
        var b = new byte[S1Size];
        BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(0), (ulong)s1.Flags);
        BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(8), s1.PageTableAddress);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(16), s1.AddressWidth);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(20), reserved);
        return b;
    }

    public static VtdS1Config DecodeS1(ReadOnlySpan<byte> b) =>
        new((VtdS1Flags)BinaryPrimitives.ReadUInt64LittleEndian(b), BinaryPrimitives.ReadUInt64LittleEndian(b[8..]), BinaryPrimitives.ReadUInt32LittleEndian(b[16..]));

    /// <summary>An array of struct iommu_hwpt_vtd_s1_invalidate { u64 addr; u64 npages; u32 flags; u32 __reserved; }.</summary>
    public static byte[] EncodeInvalidations(params VtdS1Invalidation[] entries) => EncodeInvalidations(S1InvalidateSize, entries);

    /// <summary>The same array with a chosen entry_len (bigger entries are zero-padded, smaller ones truncated).</summary>
    public static byte[] EncodeInvalidations(int entryLength, params VtdS1Invalidation[] entries)
    {
        var b = new byte[entryLength * entries.Length];
        var one = new byte[Math.Max(entryLength, S1InvalidateSize)];
        for (int i = 0; i < entries.Length; i++)
        {
            Array.Clear(one);
            WriteInvalidation(one, in entries[i]);
            one.AsSpan(0, entryLength).CopyTo(b.AsSpan(i * entryLength));
        }
        return b;
    }

    /// <summary>One struct iommu_hwpt_vtd_s1_invalidate into the first 24 bytes of <paramref name="into"/> (no allocation).</summary>
    public static void WriteInvalidation(Span<byte> into, in VtdS1Invalidation entry)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(into, entry.Address);
        BinaryPrimitives.WriteUInt64LittleEndian(into[8..], entry.Pages);
        BinaryPrimitives.WriteUInt32LittleEndian(into[16..], entry.Flags);
        BinaryPrimitives.WriteUInt32LittleEndian(into[20..], entry.Reserved);
    }

    internal static VtdS1Invalidation DecodeInvalidation(ReadOnlySpan<byte> b) =>
        new(BinaryPrimitives.ReadUInt64LittleEndian(b), BinaryPrimitives.ReadUInt64LittleEndian(b[8..]),
            BinaryPrimitives.ReadUInt32LittleEndian(b[16..]), BinaryPrimitives.ReadUInt32LittleEndian(b[20..]));
}
