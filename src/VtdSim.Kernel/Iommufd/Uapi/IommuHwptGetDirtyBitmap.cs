namespace VtdSim.Kernel.Iommufd.Uapi;

/// <summary>
/// struct iommu_hwpt_get_dirty_bitmap (IOMMU_HWPT_GET_DIRTY_BITMAP): { __u32 size; __u32 hwpt_id; __u32 flags; __u32 __reserved; __aligned_u64 iova; __aligned_u64 length; __aligned_u64 page_size; __aligned_u64 data; }, 48 bytes, at least 48 (up to data).
/// data points to the bitmap (bit n = page n of the range) the kernel sets bits in; nothing else is written back.
/// </summary>
public record struct IommuHwptGetDirtyBitmap(uint Size, uint HwptId, uint Flags, uint Reserved, ulong Iova, ulong Length, ulong PageSize, ulong Data) : IIommufdCommand<IommuHwptGetDirtyBitmap>
{
    public static uint Request => IommufdIoctl.HwptGetDirtyBitmap;
    public static int StructSize => 48;
    public static int MinSize => 48;

    public static IommuHwptGetDirtyBitmap Read(ReadOnlySpan<byte> b) =>
        new(Le.U32(b, 0), Le.U32(b, 4), Le.U32(b, 8), Le.U32(b, 12), Le.U64(b, 16), Le.U64(b, 24), Le.U64(b, 32), Le.U64(b, 40));

    public readonly void Write(Span<byte> b)
    {
        Le.Put(b, 0, Size);
        Le.Put(b, 4, HwptId);
        Le.Put(b, 8, Flags);
        Le.Put(b, 12, Reserved);
        Le.Put(b, 16, Iova);
        Le.Put(b, 24, Length);
        Le.Put(b, 32, PageSize);
        Le.Put(b, 40, Data);
    }
}
