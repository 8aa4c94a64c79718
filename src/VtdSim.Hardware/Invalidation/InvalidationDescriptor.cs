using VtdSim.Hardware.Structures;

namespace VtdSim.Hardware.Invalidation;

/// <summary>
/// One invalidation descriptor, 128 bits (Q0, Q1) or 256 bits (Q2 and Q3 must then be 0), decoded field by field as
/// the spec lays them out for each type (vtd-facts §6.1). Fields that a type does not have read whatever its bits hold.
/// </summary>
public readonly record struct InvalidationDescriptor(ulong Q0, ulong Q1, ulong Q2 = 0, ulong Q3 = 0)
{
    public int TypeCode => (int)(Bits.Get(Q0, 3, 0) | (Bits.Get(Q0, 11, 9) << 4));
    public InvalidationDescriptorType Type => (InvalidationDescriptorType)TypeCode;

    /// <summary>Granularity, bits 5:4 (context-cache, IOTLB, PASID-IOTLB, PASID-cache).</summary>
    public int Granularity => (int)Bits.Get(Q0, 5, 4);
    public ushort DomainId => (ushort)Bits.Get(Q0, 31, 16);
    /// <summary>Context-cache and device-TLB descriptors: the source id in bits 47:32.</summary>
    public ushort SourceId => (ushort)Bits.Get(Q0, 47, 32);
    /// <summary>Context-cache function mask, bits 49:48.</summary>
    public int FunctionMask => (int)Bits.Get(Q0, 49, 48);
    /// <summary>PASID-IOTLB and PASID-cache descriptors: bits 51:32.</summary>
    public uint Pasid => (uint)Bits.Get(Q0, 51, 32);
    public bool DrainWrites => Bits.Test(Q0, 6);
    public bool DrainReads => Bits.Test(Q0, 7);

    // IOTLB / PASID-IOTLB second quadword
    public int AddressMask => (int)Bits.Get(Q1, 5, 0);
    public bool InvalidationHint => Bits.Test(Q1, 6);
    public ulong Address => Q1 & Bits.Mask(63, 12);

    // Invalidation wait
    public bool InterruptFlag => Bits.Test(Q0, 4);
    public bool StatusWrite => Bits.Test(Q0, 5);
    public bool FenceFlag => Bits.Test(Q0, 6);
    public bool PageRequestDrain => Bits.Test(Q0, 7);
    public uint StatusData => (uint)(Q0 >> 32);
    public ulong StatusAddress => Q1 & Bits.Mask(63, 2);

    // Device-TLB (type 3) and PASID device-TLB (type 8)
    public ushort DeviceTlbSourceId => Type == InvalidationDescriptorType.PasidDeviceTlb ? (ushort)Bits.Get(Q0, 31, 16) : SourceId;
    public bool DeviceTlbSizeBit => Type == InvalidationDescriptorType.PasidDeviceTlb ? Bits.Test(Q1, 11) : Bits.Test(Q1, 0);

    /// <summary>
    /// The byte range a device-TLB descriptor covers: S=0 one 4 KiB page; S=1 the size given by the lowest 0 bit of
    /// ADDR above bit 12 (ADDR[12]=0: 8 KiB, ADDR[13:12]=01: 16 KiB, …); ADDR[62:12] all ones: everything.
    /// </summary>
    public (ulong Start, ulong Length) DeviceTlbRange()
    {
        ulong addr = Address;
        if (!DeviceTlbSizeBit) return (addr, 4096);
        ulong pageBits = (addr >> 12) & Bits.Mask(50, 0);
        if (pageBits == Bits.Mask(50, 0)) return (0, ulong.MaxValue);
        int ones = System.Numerics.BitOperations.TrailingZeroCount(~pageBits);
        ulong length = 8192UL << ones;
        return (addr & ~(length - 1), length);
    }

    public static InvalidationDescriptor ContextGlobal() => new(0x1 | (1UL << 4), 0);
    public static InvalidationDescriptor ContextDomain(ushort did) => new(0x1 | (2UL << 4) | ((ulong)did << 16), 0);
    public static InvalidationDescriptor ContextDevice(ushort did, ushort sid, int functionMask = 0) =>
        new(0x1 | (3UL << 4) | ((ulong)did << 16) | ((ulong)sid << 32) | ((ulong)functionMask << 48), 0);
    public static InvalidationDescriptor IotlbGlobal() => new(0x2 | (1UL << 4), 0);
    public static InvalidationDescriptor IotlbDomain(ushort did) => new(0x2 | (2UL << 4) | ((ulong)did << 16), 0);
    public static InvalidationDescriptor IotlbPage(ushort did, ulong address, int addressMask = 0, bool hint = false) =>
        new(0x2 | (3UL << 4) | ((ulong)did << 16), Bits.PageAlignedInput(address, "IOTLB invalidation address") | (uint)addressMask | (hint ? 1UL << 6 : 0));
    public static InvalidationDescriptor PasidIotlbAll(ushort did, uint pasid) => new(0x6 | (2UL << 4) | ((ulong)did << 16) | ((ulong)pasid << 32), 0);
    public static InvalidationDescriptor PasidIotlbPage(ushort did, uint pasid, ulong address, int addressMask = 0, bool hint = false) =>
        new(0x6 | (3UL << 4) | ((ulong)did << 16) | ((ulong)pasid << 32), Bits.PageAlignedInput(address, "P_IOTLB invalidation address") | (uint)addressMask | (hint ? 1UL << 6 : 0));
    public static InvalidationDescriptor PasidCacheDomain(ushort did) => new(0x7 | ((ulong)did << 16), 0);
    public static InvalidationDescriptor PasidCachePasid(ushort did, uint pasid) => new(0x7 | (1UL << 4) | ((ulong)did << 16) | ((ulong)pasid << 32), 0);
    public static InvalidationDescriptor PasidCacheGlobal() => new(0x7 | (3UL << 4), 0);
    public static InvalidationDescriptor Wait(ulong statusAddress, uint statusData, bool interrupt = false, bool fence = false) =>
        new(0x5 | (1UL << 5) | (interrupt ? 1UL << 4 : 0) | (fence ? 1UL << 6 : 0) | ((ulong)statusData << 32), statusAddress & Bits.Mask(63, 2));
    public static InvalidationDescriptor WaitInterruptOnly() => new(0x5 | (1UL << 4), 0);
}
