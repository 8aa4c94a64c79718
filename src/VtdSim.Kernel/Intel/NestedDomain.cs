namespace VtdSim.Kernel.Intel;

/// <summary>IOMMU_HWPT_VTD_S1 flags: what the guest asks of its first stage.</summary>
[Flags]
public enum VtdS1Flags : ulong
{
    None = 0,
    SupervisorRequestEnable = 1 << 0,
    ExtendedAccessedFlagEnable = 1 << 1,
    WriteProtectEnable = 1 << 2,
}

/// <summary>struct iommu_hwpt_vtd_s1: the guest's first-stage table (a GPA), its width (48 or 57) and flags.</summary>
public readonly record struct VtdS1Config(VtdS1Flags Flags, ulong PageTableAddress, uint AddressWidth);

/// <summary>
/// A nested domain: a user-owned first stage (the guest's tables, at a GPA) over a kernel-owned nest-parent second
/// stage. The kernel never reads or writes the guest's tables; it only points the PASID entry at them and forwards the
/// guest's invalidations.
/// </summary>
public sealed class NestedDomain : IntelDomain
{
    internal NestedDomain(PagingDomain parent, VtdS1Config s1) : base(DomainType.Nested)
    {
        Parent = parent;
        S1 = s1;
    }

    public PagingDomain Parent { get; }
    public VtdS1Config S1 { get; }

    /// <summary>
    /// One VT-d stage-1 invalidation entry (IOMMU_HWPT_INVALIDATE): flush [start, last] (inclusive: it may end at
    /// 2^64 − 1) of the first stage with the PASID-based IOTLB descriptor, once for each PASID the domain is attached at
    /// (RID_PASID for RIDs); [0, 2^64 − 1] is everything; LEAF is the hint.
    /// </summary>
    internal Errno Invalidate(ulong start, ulong last, bool leafOnly)
    {
        foreach (var unit in Attachments)
        {
            var (iommu, did) = unit;
            for (int i = 0; i < unit.Users.Count; i++)
            {
                if (!unit.FirstWithItsPasid(i)) continue;
                Errno e = iommu.FlushPasidIotlbRange(did, unit.Users[i].Pasid, start, last, leafOnly);
                if (e != Errno.Success) return e;
            }
        }
        return Errno.Success;
    }
}
