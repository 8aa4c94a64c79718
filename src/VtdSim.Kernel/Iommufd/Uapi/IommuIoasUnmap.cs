namespace VtdSim.Kernel.Iommufd.Uapi;

/// <summary>
/// struct iommu_ioas_unmap (IOMMU_IOAS_UNMAP): { __u32 size; __u32 ioas_id; __aligned_u64 iova; __aligned_u64 length; }, 24 bytes, at least 24 (up to length).
/// The kernel writes back length (the bytes unmapped).
/// </summary>
public record struct IommuIoasUnmap(uint Size, uint IoasId, ulong Iova, ulong Length) : IIommufdCommand<IommuIoasUnmap>
{
    public static uint Request => IommufdIoctl.IoasUnmap;
    public static int StructSize => 24;
    public static int MinSize => 24;

    public static IommuIoasUnmap Read(ReadOnlySpan<byte> b) =>
        new(Le.U32(b, 0), Le.U32(b, 4), Le.U64(b, 8), Le.U64(b, 16));

    public readonly void Write(Span<byte> b)
    {
        Le.Put(b, 0, Size);
        Le.Put(b, 4, IoasId);
        Le.Put(b, 8, Iova);
        Le.Put(b, 16, Length);
    }
}
