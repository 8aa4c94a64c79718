namespace VtdSim.Hardware.Faults;

/// <summary>
/// FRCD.FR fault reason codes (spec 7.1.3), named after the spec's fault conditions. <see cref="FaultReasonInfo"/> gives
/// each one's condition name, meaning and whether it is qualified (suppressible by FPD).
/// </summary>
public enum FaultReason : byte
{
    None = 0x00,
    // Legacy mode
    LRT2_RootNotPresent = 0x01,
    LCT2_ContextNotPresent = 0x02,
    LCT4_ContextInvalid = 0x03,
    LGN1_AddressBeyondWidth = 0x04,
    LGN2_WriteDenied = 0x05,
    LGN3_ReadDenied = 0x06,
    LSL1_PagingEntryAccessError = 0x07,
    LRT1_RootAccessError = 0x08,
    LCT1_ContextAccessError = 0x09,
    LRT3_RootReserved = 0x0A,
    LCT3_ContextReserved = 0x0B,
    LSL2_PagingEntryReserved = 0x0C,
    LCT5_TranslationTypeBlocked = 0x0D,
    LGN4_InterruptAddress = 0x0E,
    // Root-table address
    RTA1_InvalidTtm = 0x30,
    RTA2_PasidInLegacyMode = 0x31,
    RTA3_PageRequestInLegacyMode = 0x32,
    RTA4_AbortDmaMode = 0x33,
    // Scalable-mode root, context, PASID directory and PASID table
    SRT1_RootAccessError = 0x38,
    SRT2_RootNotPresent = 0x39,
    SRT3_RootReserved = 0x3A,
    SCT1_ContextAccessError = 0x40,
    SCT2_ContextNotPresent = 0x41,
    SCT3_ContextReserved = 0x42,
    SCT4_ContextInvalid = 0x43,
    SCT5_DeviceTlbDisabled = 0x44,
    SCT6_PasidDisabled = 0x45,
    SCT7_PasidBeyondDirectory = 0x46,
    SCT8_PageRequestDisabled = 0x47,
    SCT9_RidPasidInvalid = 0x48,
    SPD1_DirectoryAccessError = 0x50,
    SPD2_DirectoryNotPresent = 0x51,
    SPD3_DirectoryReserved = 0x52,
    SPT1_PasidEntryAccessError = 0x58,
    SPT2_PasidEntryNotPresent = 0x59,
    SPT3_PasidEntryReserved = 0x5A,
    SPT4_PasidEntryInvalid = 0x5B,
    SPT5_ExecuteRequestDisabled = 0x5C,
    SPT6_SupervisorRequestDisabled = 0x5D,
    // First stage
    SFS1_EntryAccessError = 0x70,
    SFS2_EntryNotPresent = 0x71,
    SFS3_EntryReserved = 0x72,
    SFS4_TopLevelAccessError = 0x73,
    SFS5_TableGpaBeyondWidth = 0x74,
    SFS6_TopLevelNotReadable = 0x75,
    SFS7_EntryNotReadable = 0x76,
    SFS8_EntryNotWritable = 0x77,
    SFS9_FlagUpdateNotSnooped = 0x90,
    SFS10_FlagUpdateFailed = 0x91,
    // Second stage
    SSS1_EntryAccessError = 0x78,
    SSS2_EntryNotPresent = 0x79,
    SSS3_EntryReserved = 0x7A,
    SSS4_RootAccessError = 0x7B,
    SSS5_FlagUpdateNotSnooped = 0x7C,
    SSS6_FlagUpdateFailed = 0x7D,
    // General
    SGN1_NonCanonical = 0x80,
    SGN2_UserAccessToSupervisorPage = 0x81,
    SGN3_ExecuteDenied = 0x82,
    SGN4_AddressBeyondHostWidth = 0x83,
    SGN5_AddressBeyondGuestWidth = 0x84,
    SGN6_WriteDenied = 0x85,
    SGN7_ReadDenied = 0x86,
    SGN8_InterruptAddress = 0x87,
}
