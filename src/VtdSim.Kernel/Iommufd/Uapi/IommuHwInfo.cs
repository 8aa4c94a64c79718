namespace VtdSim.Kernel.Iommufd.Uapi;

/// <summary>
/// struct iommu_hw_info (IOMMU_GET_HW_INFO): { __u32 size; __u32 flags; __u32 dev_id; __u32 data_len; __aligned_u64
/// data_uptr; union { __u32 in_data_type; __u32 out_data_type; }; __u8 out_max_pasid_log2; __u8 __reserved[3];
/// __aligned_u64 out_capabilities; }, 40 bytes, at least 32 (up to __reserved). data_uptr points to data_len bytes the
/// kernel fills with struct iommu_hw_info_vtd; it writes back data_len, out_data_type, out_max_pasid_log2 and
/// out_capabilities. <see cref="Reserved"/> holds the three __reserved bytes, the first in its low byte.
/// </summary>
public record struct IommuHwInfo(uint Size, uint Flags, uint DevId, uint DataLen, ulong DataUptr, uint DataType, byte OutMaxPasidLog2,
    uint Reserved, ulong OutCapabilities) : IIommufdCommand<IommuHwInfo>
{
    public static uint Request => IommufdIoctl.GetHwInfo;
    public static int StructSize => 40;
    public static int MinSize => 32;

    public static IommuHwInfo Read(ReadOnlySpan<byte> b) =>
        new(Le.U32(b, 0), Le.U32(b, 4), Le.U32(b, 8), Le.U32(b, 12), Le.U64(b, 16), Le.U32(b, 24), b[28],
            b[29] | ((uint)b[30] << 8) | ((uint)b[31] << 16), Le.U64(b, 32));

    public readonly void Write(Span<byte> b)
    {
        Le.Put(b, 0, Size);
        Le.Put(b, 4, Flags);
        Le.Put(b, 8, DevId);
        Le.Put(b, 12, DataLen);
        Le.Put(b, 16, DataUptr);
        Le.Put(b, 24, DataType);
        b[28] = OutMaxPasidLog2;
        b[29] = (byte)Reserved;
        b[30] = (byte)(Reserved >> 8);
        b[31] = (byte)(Reserved >> 16);
        Le.Put(b, 32, OutCapabilities);
    }
}
