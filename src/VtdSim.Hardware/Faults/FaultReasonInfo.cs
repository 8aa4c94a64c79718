namespace VtdSim.Hardware.Faults;

/// <summary>The spec's name for a fault condition, what it means, and whether FPD can suppress it.</summary>
public sealed record FaultReasonInfo(FaultReason Reason, string Condition, string Meaning, bool Qualified)
{
    private static readonly Dictionary<FaultReason, FaultReasonInfo> Table = Build();

    public byte Code => (byte)Reason;

    public static FaultReasonInfo Of(FaultReason reason) =>
        Table.TryGetValue(reason, out var info) ? info : new FaultReasonInfo(reason, $"0x{(byte)reason:x2}", "unknown fault reason", false);

    public static IReadOnlyCollection<FaultReasonInfo> All => Table.Values;

    private static Dictionary<FaultReason, FaultReasonInfo> Build()
    {
        // Non-qualified (always reported): table access errors, root-entry problems and invalid TTM; everything else
        // is qualified. See docs/decisions.md.
        var list = new (FaultReason, string, string, bool)[]
        {
            (FaultReason.LRT2_RootNotPresent, "LRT.2", "root entry not present", false),
            (FaultReason.LCT2_ContextNotPresent, "LCT.2", "context entry not present", true),
            (FaultReason.LCT4_ContextInvalid, "LCT.4", "context entry programmed invalidly (TT, AW or pointer)", true),
            (FaultReason.LGN1_AddressBeyondWidth, "LGN.1", "input address beyond the domain's address width", true),
            (FaultReason.LGN2_WriteDenied, "LGN.2", "write request without write permission", true),
            (FaultReason.LGN3_ReadDenied, "LGN.3", "read request without read permission", true),
            (FaultReason.LSL1_PagingEntryAccessError, "LSL.1", "error reading a second-level paging entry", true),
            (FaultReason.LRT1_RootAccessError, "LRT.1", "error reading the root entry", false),
            (FaultReason.LCT1_ContextAccessError, "LCT.1", "error reading the context entry", false),
            (FaultReason.LRT3_RootReserved, "LRT.3", "reserved bit set in a present root entry", false),
            (FaultReason.LCT3_ContextReserved, "LCT.3", "reserved bit set in a present context entry", false),
            (FaultReason.LSL2_PagingEntryReserved, "LSL.2", "reserved bit set in a second-level paging entry", true),
            (FaultReason.LCT5_TranslationTypeBlocked, "LCT.5", "translation or translated request blocked by the context TT", true),
            (FaultReason.LGN4_InterruptAddress, "LGN.4", "output address in the interrupt range 0xFEEx_xxxx", true),
            (FaultReason.RTA1_InvalidTtm, "RTA.1", "RTADDR.TTM is reserved or not supported", false),
            (FaultReason.RTA2_PasidInLegacyMode, "RTA.2", "request with PASID while the root table is in legacy mode", false),
            (FaultReason.RTA3_PageRequestInLegacyMode, "RTA.3", "page request while the root table is in legacy mode", false),
            (FaultReason.RTA4_AbortDmaMode, "RTA.4", "abort-DMA mode blocks every request", false),
            (FaultReason.SRT1_RootAccessError, "SRT.1", "error reading the scalable-mode root entry", false),
            (FaultReason.SRT2_RootNotPresent, "SRT.2", "scalable-mode root entry half (LP/UP) not present", false),
            (FaultReason.SRT3_RootReserved, "SRT.3", "reserved bit set in a scalable-mode root entry", false),
            (FaultReason.SCT1_ContextAccessError, "SCT.1", "error reading the scalable-mode context entry", false),
            (FaultReason.SCT2_ContextNotPresent, "SCT.2", "scalable-mode context entry not present", true),
            (FaultReason.SCT3_ContextReserved, "SCT.3", "reserved bit set in a scalable-mode context entry, or a field for a feature the unit lacks", false),
            (FaultReason.SCT4_ContextInvalid, "SCT.4", "scalable-mode context entry programmed invalidly", true),
            (FaultReason.SCT5_DeviceTlbDisabled, "SCT.5", "translation or translated request while DTE=0", true),
            (FaultReason.SCT6_PasidDisabled, "SCT.6", "request with PASID while PASIDE=0", true),
            (FaultReason.SCT7_PasidBeyondDirectory, "SCT.7", "PASID beyond what the PASID directory (PDTS) covers", true),
            (FaultReason.SCT8_PageRequestDisabled, "SCT.8", "page request while PRE=0", true),
            (FaultReason.SCT9_RidPasidInvalid, "SCT.9", "RID_PASID beyond what the PASID directory covers", true),
            (FaultReason.SPD1_DirectoryAccessError, "SPD.1", "error reading the PASID directory entry", false),
            (FaultReason.SPD2_DirectoryNotPresent, "SPD.2", "PASID directory entry not present", true),
            (FaultReason.SPD3_DirectoryReserved, "SPD.3", "reserved bit set in a PASID directory entry", true),
            (FaultReason.SPT1_PasidEntryAccessError, "SPT.1", "error reading the PASID table entry", false),
            (FaultReason.SPT2_PasidEntryNotPresent, "SPT.2", "PASID table entry not present", true),
            (FaultReason.SPT3_PasidEntryReserved, "SPT.3", "reserved bit set in a PASID table entry, or a field for a feature the unit lacks", true),
            (FaultReason.SPT4_PasidEntryInvalid, "SPT.4", "PASID entry programmed invalidly (a PGTT, AW or FSPM the unit does not offer)", true),
            (FaultReason.SPT5_ExecuteRequestDisabled, "SPT.5", "execute request while ERE=0", true),
            (FaultReason.SPT6_SupervisorRequestDisabled, "SPT.6", "supervisor request while SRE=0", true),
            (FaultReason.SFS1_EntryAccessError, "SFS.1", "error reading a first-stage paging entry", true),
            (FaultReason.SFS2_EntryNotPresent, "SFS.2", "first-stage paging entry not present", true),
            (FaultReason.SFS3_EntryReserved, "SFS.3", "reserved bit set in a present first-stage paging entry", true),
            (FaultReason.SFS4_TopLevelAccessError, "SFS.4", "error reading the first-stage top-level entry through FSPTPTR", true),
            (FaultReason.SFS5_TableGpaBeyondWidth, "SFS.5", "nested: a first-stage table GPA is beyond the second stage's width", true),
            (FaultReason.SFS6_TopLevelNotReadable, "SFS.6", "nested: the second stage denies read of the first-stage top-level table", true),
            (FaultReason.SFS7_EntryNotReadable, "SFS.7", "nested: the second stage denies read of a first-stage table", true),
            (FaultReason.SFS8_EntryNotWritable, "SFS.8", "nested: the second stage denies the write needed to set A/EA/D in a first-stage entry", true),
            (FaultReason.SFS9_FlagUpdateNotSnooped, "SFS.9", "first-stage A/EA/D update needed on a non-snooped walk (PWSNP=0)", true),
            (FaultReason.SFS10_FlagUpdateFailed, "SFS.10", "the atomic first-stage A/EA/D update failed", true),
            (FaultReason.SSS1_EntryAccessError, "SSS.1", "error reading a second-stage paging entry", true),
            (FaultReason.SSS2_EntryNotPresent, "SSS.2", "second-stage paging entry not present (R=W=0)", true),
            (FaultReason.SSS3_EntryReserved, "SSS.3", "reserved bit set in a second-stage paging entry", true),
            (FaultReason.SSS4_RootAccessError, "SSS.4", "error reading the second-stage top-level entry through SSPTPTR", true),
            (FaultReason.SSS5_FlagUpdateNotSnooped, "SSS.5", "second-stage A/D update needed on a non-snooped walk (PWSNP=0)", true),
            (FaultReason.SSS6_FlagUpdateFailed, "SSS.6", "the atomic second-stage A/D update failed", true),
            (FaultReason.SGN1_NonCanonical, "SGN.1", "first-stage input address is not canonical", true),
            (FaultReason.SGN2_UserAccessToSupervisorPage, "SGN.2", "user request to a page with U/S=0 on its first-stage path", true),
            (FaultReason.SGN3_ExecuteDenied, "SGN.3", "execute request to a page marked no-execute", true),
            (FaultReason.SGN4_AddressBeyondHostWidth, "SGN.4", "address beyond the host address width", true),
            (FaultReason.SGN5_AddressBeyondGuestWidth, "SGN.5", "second-stage input address beyond the domain's address width", true),
            (FaultReason.SGN6_WriteDenied, "SGN.6", "write request without write permission", true),
            (FaultReason.SGN7_ReadDenied, "SGN.7", "read request without read permission", true),
            (FaultReason.SGN8_InterruptAddress, "SGN.8", "output address in the interrupt range 0xFEEx_xxxx", true),
        };
        return list.ToDictionary(t => t.Item1, t => new FaultReasonInfo(t.Item1, t.Item2, t.Item3, t.Item4));
    }
}
