namespace VtdSim.Kernel.Iommufd.Uapi;

/// <summary>
/// struct iommu_ioas_map (IOMMU_IOAS_MAP): { __u32 size; __u32 flags; __u32 ioas_id; __u32 __reserved; __aligned_u64 user_va; __aligned_u64 length; __aligned_u64 iova; }, 40 bytes, at least 40 (up to iova).
/// The kernel writes back iova.
/// </summary>
public record struct IommuIoasMap(uint Size, uint Flags, uint IoasId, uint Reserved, ulong UserVa, ulong Length, ulong Iova) : IIommufdCommand<IommuIoasMap>
{
    public static uint Request => IommufdIoctl.IoasMap;
    public static int StructSize => 40;
    public static int MinSize => 40;

    public static IommuIoasMap Read(ReadOnlySpan<byte> b) =>
        new(Le.U32(b, 0), Le.U32(b, 4), Le.U32(b, 8), Le.U32(b, 12), Le.U64(b, 16), Le.U64(b, 24), Le.U64(b, 32));

    public readonly void Write(Span<byte> b)
    {
        Le.Put(b, 0, Size);
        Le.Put(b, 4, Flags);
        Le.Put(b, 8, IoasId);
        Le.Put(b, 12, Reserved);
        Le.Put(b, 16, UserVa);
        Le.Put(b, 24, Length);
        Le.Put(b, 32, Iova);
    }
}
