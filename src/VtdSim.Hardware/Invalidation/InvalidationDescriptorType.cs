namespace VtdSim.Hardware.Invalidation;

/// <summary>Queued-invalidation descriptor types: Type[3:0] in bits 3:0 plus Type[6:4] in bits 11:9 (spec 6.5.2).</summary>
public enum InvalidationDescriptorType : byte
{
    ContextCache = 0x1,
    Iotlb = 0x2,
    DeviceTlb = 0x3,
    InterruptEntryCache = 0x4,
    InvalidationWait = 0x5,
    PasidIotlb = 0x6,
    PasidCache = 0x7,
    PasidDeviceTlb = 0x8,
    PageGroupResponse = 0x9,
}
