namespace VtdSim.Hardware.Invalidation;

/// <summary>IQERCD.IQEI: why queued invalidation stopped (spec 11.4.9.4).</summary>
public enum QueueErrorCode : byte
{
    InfoNotAvailable = 0,
    InvalidTailPointer = 1,
    DescriptorFetchError = 2,
    InvalidDescriptorType = 3,
    ReservedFieldSet = 4,
    InvalidDescriptorWidth = 5,
    TailMisaligned = 6,
    InvalidForTranslationTableMode = 7,
}
