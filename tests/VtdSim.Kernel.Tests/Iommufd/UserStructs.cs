using System.Buffers.Binary;
using VtdSim.Kernel.Iommufd;
using VtdSim.Kernel.Process;

namespace VtdSim.Kernel.Tests.Iommufd;

/// <summary>
/// A uapi struct layout written down from shared/reference/linux-iommufd-facts.md §1.2–§1.7: the request code
/// (0x3B00 | nr), the fields in declaration order with their widths, and the field whose end is the minimum size.
/// Offsets follow from the widths (a field is aligned to its own width, __u8 arrays to 1), as the facts say there is
/// no hidden padding; the tests check that the sizes add up to the facts' table.
/// </summary>
public sealed class UapiLayout
{
    private readonly Dictionary<string, (int Offset, int Width)> _fields = new();

    public UapiLayout(string name, uint request, string minField, params (string Field, int Width)[] fields)
    {
        Name = name;
        Request = request;
        int offset = 0, maxAlign = 1;
        foreach (var (field, width) in fields)
        {
            int align = width is 8 or 4 or 2 ? width : 1;
            maxAlign = Math.Max(maxAlign, align);
            int aligned = (offset + align - 1) / align * align;
            Padding |= aligned != offset;
            _fields.Add(field, (aligned, width));
            offset = aligned + width;
        }
        Size = (offset + maxAlign - 1) / maxAlign * maxAlign;
        Padding |= Size != offset;
        MinSize = End(minField);
    }

    public string Name { get; }
    public uint Request { get; }
    /// <summary>sizeof(struct).</summary>
    public int Size { get; }
    /// <summary>offsetofend(struct, the minimum field).</summary>
    public int MinSize { get; }
    /// <summary>Whether the natural alignment put a hole anywhere (it must not).</summary>
    public bool Padding { get; }

    public int Offset(string field) => _fields[field].Offset;
    public int Width(string field) => _fields[field].Width;
    public int End(string field) => _fields[field].Offset + _fields[field].Width;
    public IEnumerable<string> Fields => _fields.Keys;

    public override string ToString() => Name;
}

/// <summary>The iommufd structs (facts §1.2–§1.7) and the data structs their pointers lead to.</summary>
public static class Uapi
{
    public static readonly UapiLayout Destroy = new("iommu_destroy", 0x3B80, "id", ("size", 4), ("id", 4));

    public static readonly UapiLayout IoasAlloc = new("iommu_ioas_alloc", 0x3B81, "out_ioas_id",
        ("size", 4), ("flags", 4), ("out_ioas_id", 4));

    public static readonly UapiLayout IoasAllowIovas = new("iommu_ioas_allow_iovas", 0x3B82, "allowed_iovas",
        ("size", 4), ("ioas_id", 4), ("num_iovas", 4), ("__reserved", 4), ("allowed_iovas", 8));

    public static readonly UapiLayout IoasCopy = new("iommu_ioas_copy", 0x3B83, "src_iova",
        ("size", 4), ("flags", 4), ("dst_ioas_id", 4), ("src_ioas_id", 4), ("length", 8), ("dst_iova", 8), ("src_iova", 8));

    public static readonly UapiLayout IoasIovaRanges = new("iommu_ioas_iova_ranges", 0x3B84, "out_iova_alignment",
        ("size", 4), ("ioas_id", 4), ("num_iovas", 4), ("__reserved", 4), ("allowed_iovas", 8), ("out_iova_alignment", 8));

    public static readonly UapiLayout IoasMap = new("iommu_ioas_map", 0x3B85, "iova",
        ("size", 4), ("flags", 4), ("ioas_id", 4), ("__reserved", 4), ("user_va", 8), ("length", 8), ("iova", 8));

    public static readonly UapiLayout IoasUnmap = new("iommu_ioas_unmap", 0x3B86, "length",
        ("size", 4), ("ioas_id", 4), ("iova", 8), ("length", 8));

    public static readonly UapiLayout HwptAlloc = new("iommu_hwpt_alloc", 0x3B89, "__reserved",
        ("size", 4), ("flags", 4), ("dev_id", 4), ("pt_id", 4), ("out_hwpt_id", 4), ("__reserved", 4), ("data_type", 4),
        ("data_len", 4), ("data_uptr", 8), ("fault_id", 4), ("__reserved2", 4));

    public static readonly UapiLayout GetHwInfo = new("iommu_hw_info", 0x3B8A, "__reserved",
        ("size", 4), ("flags", 4), ("dev_id", 4), ("data_len", 4), ("data_uptr", 8), ("data_type", 4), ("out_max_pasid_log2", 1),
        ("__reserved", 3), ("out_capabilities", 8));

    public static readonly UapiLayout HwptSetDirtyTracking = new("iommu_hwpt_set_dirty_tracking", 0x3B8B, "__reserved",
        ("size", 4), ("flags", 4), ("hwpt_id", 4), ("__reserved", 4));

    public static readonly UapiLayout HwptGetDirtyBitmap = new("iommu_hwpt_get_dirty_bitmap", 0x3B8C, "data",
        ("size", 4), ("hwpt_id", 4), ("flags", 4), ("__reserved", 4), ("iova", 8), ("length", 8), ("page_size", 8), ("data", 8));

    public static readonly UapiLayout HwptInvalidate = new("iommu_hwpt_invalidate", 0x3B8D, "__reserved",
        ("size", 4), ("hwpt_id", 4), ("data_uptr", 8), ("data_type", 4), ("entry_len", 4), ("entry_num", 4), ("__reserved", 4));

    /// <summary>Every ioctl the model implements, with the struct size the facts' table gives.</summary>
    public static readonly (UapiLayout Layout, int FactsSize)[] All =
    [
        (Destroy, 8), (IoasAlloc, 12), (IoasAllowIovas, 24), (IoasCopy, 40), (IoasIovaRanges, 32), (IoasMap, 40), (IoasUnmap, 24),
        (HwptAlloc, 48), (GetHwInfo, 40), (HwptSetDirtyTracking, 16), (HwptGetDirtyBitmap, 48), (HwptInvalidate, 32),
    ];

    // Data structs (no size field, no request).
    public static readonly UapiLayout IovaRange = new("iommu_iova_range", 0, "last", ("start", 8), ("last", 8));
    public static readonly UapiLayout HwInfoVtd = new("iommu_hw_info_vtd", 0, "ecap_reg", ("flags", 4), ("__reserved", 4), ("cap_reg", 8), ("ecap_reg", 8));
    public static readonly UapiLayout HwptVtdS1 = new("iommu_hwpt_vtd_s1", 0, "__reserved", ("flags", 8), ("pgtbl_addr", 8), ("addr_width", 4), ("__reserved", 4));
    public static readonly UapiLayout VtdS1Invalidate = new("iommu_hwpt_vtd_s1_invalidate", 0, "__reserved", ("addr", 8), ("npages", 8), ("flags", 4), ("__reserved", 4));
}

/// <summary>
/// A struct in a process's memory, laid out by a <see cref="UapiLayout"/>: its own zeroed page (read-write), with
/// <c>size</c> set to sizeof unless told otherwise and the struct placed <paramref name="offset"/> bytes into the page.
/// Fields are read and written little endian through the process, as user space would.
/// </summary>
public sealed class UserStruct
{
    public UserStruct(ProcessAddressSpace process, UapiLayout layout, int offset = 0)
    {
        Process = process;
        Layout = layout;
        Assert.Equal(Errno.Success, process.Mmap(4096, MemoryProtection.ReadWrite, out Uva page));
        Address = (page + (ulong)offset).Value;
        if (layout.Request != 0) this["size"] = (ulong)layout.Size;
    }

    /// <summary>
    /// The struct at the end of a one-page mapping with nothing after it, so that only its first
    /// <paramref name="mappedBytes"/> bytes are mapped (size is set if they hold it).
    /// </summary>
    public static UserStruct AtEndOfMapping(ProcessAddressSpace process, UapiLayout layout, int mappedBytes)
    {
        var s = new UserStruct(process, layout, UserBuffers.EndOfMapping(process, mappedBytes));
        if (mappedBytes >= 4) s["size"] = (ulong)layout.Size;
        return s;
    }

    private UserStruct(ProcessAddressSpace process, UapiLayout layout, ulong address)
    {
        Process = process;
        Layout = layout;
        Address = address;
    }

    public ProcessAddressSpace Process { get; }
    public UapiLayout Layout { get; }
    public ulong Address { get; }

    /// <summary>A field, zero-extended (the 3-byte __reserved array is little endian).</summary>
    public ulong this[string field]
    {
        get
        {
            var b = new byte[8];
            Assert.Equal(Errno.Success, Process.Read(new Uva(Address + (ulong)Layout.Offset(field)), b.AsSpan(0, Layout.Width(field))));
            return BinaryPrimitives.ReadUInt64LittleEndian(b);
        }
        set
        {
            var b = new byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(b, value);
            Assert.Equal(Errno.Success, Process.Write(new Uva(Address + (ulong)Layout.Offset(field)), b.AsSpan(0, Layout.Width(field))));
        }
    }

    /// <summary>The raw bytes from the struct's start (past its end too).</summary>
    public byte[] Bytes(int length)
    {
        var b = new byte[length];
        Assert.Equal(Errno.Success, Process.Read(new Uva(Address), b));
        return b;
    }

    public void SetBytes(int offset, ReadOnlySpan<byte> bytes) => Assert.Equal(Errno.Success, Process.Write(new Uva(Address + (ulong)offset), bytes));

    /// <summary>The same bytes (its first <paramref name="length"/>) on a fresh read-only page: the kernel can read it but not write it back.</summary>
    public UserStruct ReadOnlyCopy(LinuxKernel kernel, int length)
    {
        var file = kernel.CreateFile($"ro-{Layout.Name}", 4096);
        Assert.Equal(Errno.Success, file.Write(0, Bytes(length)));
        Assert.Equal(Errno.Success, Process.MmapShared(file, 0, 4096, MemoryProtection.Read, out Uva va));
        return new UserStruct(Process, Layout, va.Value);
    }

    /// <summary>ioctl(fd, request, &amp;struct).</summary>
    public Errno Ioctl(IommufdContext fd) => fd.Ioctl(Layout.Request, Address);
}

/// <summary>Plain user buffers for data pointers: read-write, read-only (contents fixed at creation) and unmapped.</summary>
public static class UserBuffers
{
    public static ulong ReadWrite(ProcessAddressSpace process, ReadOnlySpan<byte> contents, ulong length = 4096)
    {
        Assert.Equal(Errno.Success, process.Mmap(length, MemoryProtection.ReadWrite, out Uva va));
        Assert.Equal(Errno.Success, process.Write(va, contents));
        return va.Value;
    }

    public static ulong ReadOnly(LinuxKernel kernel, ProcessAddressSpace process, ReadOnlySpan<byte> contents)
    {
        var file = kernel.CreateFile("ro-buffer", 4096);
        Assert.Equal(Errno.Success, file.Write(0, contents));
        Assert.Equal(Errno.Success, process.MmapShared(file, 0, 4096, MemoryProtection.Read, out Uva va));
        return va.Value;
    }

    // Fixed addresses far above where mmap puts things (lowest fit from 4 GiB), so nothing is ever mapped after them.
    private const ulong Isolated = 0x5000_0000_0000;
    private static long _isolatedNext;

    /// <summary>An address with nothing mapped at it (nor near it).</summary>
    public static ulong Unmapped(ProcessAddressSpace process) => NextIsolated() + 0x8_0000;

    /// <summary>
    /// An address <paramref name="mappedBytes"/> before the end of a one-page read-write mapping with nothing mapped
    /// after it, holding <paramref name="contents"/>.
    /// </summary>
    public static ulong EndOfMapping(ProcessAddressSpace process, int mappedBytes, ReadOnlySpan<byte> contents = default)
    {
        ulong page = NextIsolated();
        Assert.Equal(Errno.Success, process.Mmap(4096, MemoryProtection.ReadWrite, out _, fixedAddress: new Uva(page)));
        ulong at = page + 4096 - (ulong)mappedBytes;
        Assert.Equal(Errno.Success, process.Write(new Uva(at), contents));
        return at;
    }

    private static ulong NextIsolated() => Isolated + (ulong)Interlocked.Increment(ref _isolatedNext) * 0x10_0000;

    public static byte[] Read(ProcessAddressSpace process, ulong va, int length)
    {
        var b = new byte[length];
        Assert.Equal(Errno.Success, process.Read(new Uva(va), b));
        return b;
    }

    /// <summary>Struct fields in a byte array (for data structs), by a layout.</summary>
    public static byte[] Encode(UapiLayout layout, params (string Field, ulong Value)[] values)
    {
        var b = new byte[layout.Size];
        foreach (var (field, value) in values)
        {
            var v = new byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(v, value);
            v.AsSpan(0, layout.Width(field)).CopyTo(b.AsSpan(layout.Offset(field)));
        }
        return b;
    }

    public static ulong Field(UapiLayout layout, ReadOnlySpan<byte> bytes, string field)
    {
        var v = new byte[8];
        bytes.Slice(layout.Offset(field), layout.Width(field)).CopyTo(v);
        return BinaryPrimitives.ReadUInt64LittleEndian(v);
    }
}
