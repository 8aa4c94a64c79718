namespace VtdSim.Kernel.Iommufd.Uapi;

/// <summary>
/// struct iommu_destroy (IOMMU_DESTROY): { __u32 size; __u32 id; }, 8 bytes, at least 8 (up to id).
/// Nothing is written back.
/// </summary>
public record struct IommuDestroy(uint Size, uint Id) : IIommufdCommand<IommuDestroy>
{
    public static uint Request => IommufdIoctl.Destroy;
    public static int StructSize => 8;
    public static int MinSize => 8;

    public static IommuDestroy Read(ReadOnlySpan<byte> b) =>
        new(Le.U32(b, 0), Le.U32(b, 4));

    public readonly void Write(Span<byte> b)
    {
        Le.Put(b, 0, Size);
        Le.Put(b, 4, Id);
    }
}
