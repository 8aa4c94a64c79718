namespace VtdSim.Kernel.Iommufd.Uapi;

/// <summary>
/// struct iommu_hwpt_set_dirty_tracking (IOMMU_HWPT_SET_DIRTY_TRACKING): { __u32 size; __u32 flags; __u32 hwpt_id; __u32 __reserved; }, 16 bytes, at least 16 (up to __reserved).
/// Nothing is written back.
/// </summary>
public record struct IommuHwptSetDirtyTracking(uint Size, uint Flags, uint HwptId, uint Reserved) : IIommufdCommand<IommuHwptSetDirtyTracking>
{
    public static uint Request => IommufdIoctl.HwptSetDirtyTracking;
    public static int StructSize => 16;
    public static int MinSize => 16;

    public static IommuHwptSetDirtyTracking Read(ReadOnlySpan<byte> b) =>
        new(Le.U32(b, 0), Le.U32(b, 4), Le.U32(b, 8), Le.U32(b, 12));

    public readonly void Write(Span<byte> b)
    {
        Le.Put(b, 0, Size);
        Le.Put(b, 4, Flags);
        Le.Put(b, 8, HwptId);
        Le.Put(b, 12, Reserved);
    }
}
