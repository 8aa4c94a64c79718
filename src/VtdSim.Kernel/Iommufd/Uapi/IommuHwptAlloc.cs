namespace VtdSim.Kernel.Iommufd.Uapi;

/// <summary>
/// struct iommu_hwpt_alloc (IOMMU_HWPT_ALLOC): { __u32 size; __u32 flags; __u32 dev_id; __u32 pt_id; __u32 out_hwpt_id; __u32 __reserved; __u32 data_type; __u32 data_len; __aligned_u64 data_uptr; __u32 fault_id; __u32 __reserved2; }, 48 bytes, at least 24 (up to __reserved).
/// data_uptr points to data_len bytes of driver data (struct iommu_hwpt_vtd_s1); the kernel writes back out_hwpt_id.
/// </summary>
public record struct IommuHwptAlloc(uint Size, uint Flags, uint DevId, uint PtId, uint OutHwptId, uint Reserved, uint DataType, uint DataLen, ulong DataUptr, uint FaultId, uint Reserved2) : IIommufdCommand<IommuHwptAlloc>
{
    public static uint Request => IommufdIoctl.HwptAlloc;
    public static int StructSize => 48;
    public static int MinSize => 24;

    public static IommuHwptAlloc Read(ReadOnlySpan<byte> b) =>
        new(Le.U32(b, 0), Le.U32(b, 4), Le.U32(b, 8), Le.U32(b, 12), Le.U32(b, 16), Le.U32(b, 20), Le.U32(b, 24), Le.U32(b, 28), Le.U64(b, 32), Le.U32(b, 40), Le.U32(b, 44));

    public readonly void Write(Span<byte> b)
    {
        Le.Put(b, 0, Size);
        Le.Put(b, 4, Flags);
        Le.Put(b, 8, DevId);
        Le.Put(b, 12, PtId);
        Le.Put(b, 16, OutHwptId);
        Le.Put(b, 20, Reserved);
        Le.Put(b, 24, DataType);
        Le.Put(b, 28, DataLen);
        Le.Put(b, 32, DataUptr);
        Le.Put(b, 40, FaultId);
        Le.Put(b, 44, Reserved2);
    }
}
