namespace VtdSim.Kernel.Iommufd.Uapi;

/// <summary>
/// struct iommu_ioas_iova_ranges (IOMMU_IOAS_IOVA_RANGES): { __u32 size; __u32 ioas_id; __u32 num_iovas; __u32 __reserved; __aligned_u64 allowed_iovas; __aligned_u64 out_iova_alignment; }, 32 bytes, at least 32 (up to out_iova_alignment).
/// allowed_iovas points to num_iovas struct iommu_iova_range the kernel fills; it writes back num_iovas and out_iova_alignment.
/// </summary>
public record struct IommuIoasIovaRanges(uint Size, uint IoasId, uint NumIovas, uint Reserved, ulong AllowedIovas, ulong OutIovaAlignment) : IIommufdCommand<IommuIoasIovaRanges>
{
    public static uint Request => IommufdIoctl.IoasIovaRanges;
    public static int StructSize => 32;
    public static int MinSize => 32;

    public static IommuIoasIovaRanges Read(ReadOnlySpan<byte> b) =>
        new(Le.U32(b, 0), Le.U32(b, 4), Le.U32(b, 8), Le.U32(b, 12), Le.U64(b, 16), Le.U64(b, 24));

    public readonly void Write(Span<byte> b)
    {
        Le.Put(b, 0, Size);
        Le.Put(b, 4, IoasId);
        Le.Put(b, 8, NumIovas);
        Le.Put(b, 12, Reserved);
        Le.Put(b, 16, AllowedIovas);
        Le.Put(b, 24, OutIovaAlignment);
    }
}
