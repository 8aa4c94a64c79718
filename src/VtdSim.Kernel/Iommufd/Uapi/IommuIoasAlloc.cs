namespace VtdSim.Kernel.Iommufd.Uapi;

/// <summary>
/// struct iommu_ioas_alloc (IOMMU_IOAS_ALLOC): { __u32 size; __u32 flags; __u32 out_ioas_id; }, 12 bytes, at least 12 (up to out_ioas_id).
/// The kernel writes back out_ioas_id.
/// </summary>
public record struct IommuIoasAlloc(uint Size, uint Flags, uint OutIoasId) : IIommufdCommand<IommuIoasAlloc>
{
    public static uint Request => IommufdIoctl.IoasAlloc;
    public static int StructSize => 12;
    public static int MinSize => 12;

    public static IommuIoasAlloc Read(ReadOnlySpan<byte> b) =>
        new(Le.U32(b, 0), Le.U32(b, 4), Le.U32(b, 8));

    public readonly void Write(Span<byte> b)
    {
        Le.Put(b, 0, Size);
        Le.Put(b, 4, Flags);
        Le.Put(b, 8, OutIoasId);
    }
}
