namespace VtdSim.Kernel.Iommufd.Uapi;

/// <summary>
/// struct iommu_ioas_allow_iovas (IOMMU_IOAS_ALLOW_IOVAS): { __u32 size; __u32 ioas_id; __u32 num_iovas; __u32 __reserved; __aligned_u64 allowed_iovas; }, 24 bytes, at least 24 (up to allowed_iovas).
/// allowed_iovas points to num_iovas struct iommu_iova_range; nothing is written back.
/// </summary>
public record struct IommuIoasAllowIovas(uint Size, uint IoasId, uint NumIovas, uint Reserved, ulong AllowedIovas) : IIommufdCommand<IommuIoasAllowIovas>
{
    public static uint Request => IommufdIoctl.IoasAllowIovas;
    public static int StructSize => 24;
    public static int MinSize => 24;

    public static IommuIoasAllowIovas Read(ReadOnlySpan<byte> b) =>
        new(Le.U32(b, 0), Le.U32(b, 4), Le.U32(b, 8), Le.U32(b, 12), Le.U64(b, 16));

    public readonly void Write(Span<byte> b)
    {
        Le.Put(b, 0, Size);
        Le.Put(b, 4, IoasId);
        Le.Put(b, 8, NumIovas);
        Le.Put(b, 12, Reserved);
        Le.Put(b, 16, AllowedIovas);
    }
}
