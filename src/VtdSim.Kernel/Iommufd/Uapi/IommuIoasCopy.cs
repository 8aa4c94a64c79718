namespace VtdSim.Kernel.Iommufd.Uapi;

/// <summary>
/// struct iommu_ioas_copy (IOMMU_IOAS_COPY): { __u32 size; __u32 flags; __u32 dst_ioas_id; __u32 src_ioas_id; __aligned_u64 length; __aligned_u64 dst_iova; __aligned_u64 src_iova; }, 40 bytes, at least 40 (up to src_iova).
/// The kernel writes back dst_iova.
/// </summary>
public record struct IommuIoasCopy(uint Size, uint Flags, uint DstIoasId, uint SrcIoasId, ulong Length, ulong DstIova, ulong SrcIova) : IIommufdCommand<IommuIoasCopy>
{
    public static uint Request => IommufdIoctl.IoasCopy;
    public static int StructSize => 40;
    public static int MinSize => 40;

    public static IommuIoasCopy Read(ReadOnlySpan<byte> b) =>
        new(Le.U32(b, 0), Le.U32(b, 4), Le.U32(b, 8), Le.U32(b, 12), Le.U64(b, 16), Le.U64(b, 24), Le.U64(b, 32));

    public readonly void Write(Span<byte> b)
    {
        Le.Put(b, 0, Size);
        Le.Put(b, 4, Flags);
        Le.Put(b, 8, DstIoasId);
        Le.Put(b, 12, SrcIoasId);
        Le.Put(b, 16, Length);
        Le.Put(b, 24, DstIova);
        Le.Put(b, 32, SrcIova);
    }
}
