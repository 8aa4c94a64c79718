using VtdSim.Hardware.Addressing;

namespace VtdSim.Hardware.Translation;

/// <summary>
/// What the root, context, PASID-directory and PASID-table lookups decided for one request: which walk to run, over
/// which tables, with which controls. Built once per translation; the paging walkers read only this.
/// </summary>
internal struct ResolvedContext
{
    public TranslationKind Kind;
    public bool FaultProcessingDisabled;
    public uint? Pasid;
    public ushort DomainId;
    public bool Privileged;

    // Second stage (legacy second level, SS-only, nested)
    public Hpa SsRoot;
    public int SsLevels;
    /// <summary>The highest GPA the second stage accepts: 2^min(AGAW, MGAW) - 1.</summary>
    public ulong SsMaxInput;
    public bool SsExecuteEnable;
    public bool SsAccessedDirty;

    // First stage (FS-only, nested)
    /// <summary>FSPTPTR: an HPA for FS-only, a GPA for nested.</summary>
    public ulong FsRoot;
    public int FsLevels;
    public bool WriteProtectEnable;
    public bool ExtendedAccessedEnable;

    /// <summary>PWSNP: the walk is snooped, so A/EA/D can be updated with locked RMWs.</summary>
    public bool PageWalkSnoop;
}
