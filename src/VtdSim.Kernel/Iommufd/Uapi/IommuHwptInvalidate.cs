namespace VtdSim.Kernel.Iommufd.Uapi;

/// <summary>
/// struct iommu_hwpt_invalidate (IOMMU_HWPT_INVALIDATE): { __u32 size; __u32 hwpt_id; __aligned_u64 data_uptr; __u32 data_type; __u32 entry_len; __u32 entry_num; __u32 __reserved; }, 32 bytes, at least 32 (up to __reserved).
/// data_uptr points to entry_num entries of entry_len bytes; the kernel writes back entry_num (the entries handled), even on error.
/// </summary>
public record struct IommuHwptInvalidate(uint Size, uint HwptId, ulong DataUptr, uint DataType, uint EntryLen, uint EntryNum, uint Reserved) : IIommufdCommand<IommuHwptInvalidate>
{
    public static uint Request => IommufdIoctl.HwptInvalidate;
    public static int StructSize => 32;
    public static int MinSize => 32;

    public static IommuHwptInvalidate Read(ReadOnlySpan<byte> b) =>
        new(Le.U32(b, 0), Le.U32(b, 4), Le.U64(b, 8), Le.U32(b, 16), Le.U32(b, 20), Le.U32(b, 24), Le.U32(b, 28));

    public readonly void Write(Span<byte> b)
    {
        Le.Put(b, 0, Size);
        Le.Put(b, 4, HwptId);
        Le.Put(b, 8, DataUptr);
        Le.Put(b, 16, DataType);
        Le.Put(b, 20, EntryLen);
        Le.Put(b, 24, EntryNum);
        Le.Put(b, 28, Reserved);
    }
}
