using VtdSim.Hardware.Addressing;

namespace VtdSim.Kernel.Intel;

/// <summary>What a domain is, in the iommu core's terms.</summary>
public enum DomainType
{
    Blocked,
    Identity,
    Paging,
    Nested,
}

/// <summary>
/// A domain's presence on one unit: its domain id there and the (device, PASID) pairs attached through that unit, in
/// attach order. A list, not a set: the flush after every map and unmap walks it by index, allocating nothing.
/// </summary>
internal sealed class DomainUnit(IntelIommu iommu, ushort domainId)
{
    public IntelIommu Iommu { get; } = iommu;
    public ushort DomainId { get; } = domainId;
    public List<(SourceId Device, uint Pasid)> Users { get; } = new();

    /// <summary>True if no user before <paramref name="index"/> has the same PASID: one PASID-based flush per (DID, PASID).</summary>
    public bool FirstWithItsPasid(int index)
    {
        uint pasid = Users[index].Pasid;
        for (int i = 0; i < index; i++)
            if (Users[i].Pasid == pasid) return false;
        return true;
    }

    public void Deconstruct(out IntelIommu iommu, out ushort domainId)
    {
        iommu = Iommu;
        domainId = DomainId;
    }
}

/// <summary>
/// An IOMMU domain of the Intel driver: a translation that devices attach to, for their requests without PASID (the
/// RID, through RID_PASID) or for one PASID each. A domain gets one domain id on each unit it is attached through,
/// shared by all its (device, PASID) pairs there, and released when the last of them leaves that unit.
/// </summary>
public abstract class IntelDomain
{
    private readonly List<DomainUnit> _units = new(); // in attach order

    internal IntelDomain(DomainType type) => Type = type;

    public DomainType Type { get; }
    /// <summary>The devices attached, once each, whether by RID or by PASID.</summary>
    public IReadOnlyCollection<SourceId> Devices => _units.SelectMany(u => u.Users.Select(x => x.Device)).Distinct().ToList();
    /// <summary>Every (device, PASID) pair attached; the RID's is (device, RID_PASID = 0).</summary>
    public IReadOnlyCollection<(SourceId Device, uint Pasid)> PasidAttachments => _units.SelectMany(u => u.Users).ToList();
    /// <summary>The units the domain is attached through, with its id and users on each. Typed as the list (callers
    /// must not change it) so the flush after every map and unmap walks it with List's struct enumerator.</summary>
    internal List<DomainUnit> Attachments => _units;

    internal ushort? DomainIdOn(IntelIommu iommu) => Find(iommu)?.DomainId;

    private DomainUnit? Find(IntelIommu iommu)
    {
        foreach (var u in _units)
            if (ReferenceEquals(u.Iommu, iommu)) return u;
        return null;
    }

    /// <summary>Records a (device, PASID) on a unit, allocating the domain's id there on first use.</summary>
    internal Errno AddDevice(IntelIommu iommu, SourceId device, uint pasid, out ushort domainId)
    {
        var unit = Find(iommu);
        if (unit is null)
        {
            if (iommu.AllocateDomainId() is not ushort did)
            {
                domainId = 0;
                return Errno.ENOSPC;
            }
            unit = new DomainUnit(iommu, did);
            _units.Add(unit);
        }
        unit.Users.Add((device, pasid));
        domainId = unit.DomainId;
        return Errno.Success;
    }

    internal void RemoveDevice(IntelIommu iommu, SourceId device, uint pasid)
    {
        if (Find(iommu) is not DomainUnit unit) return;
        unit.Users.Remove((device, pasid));
        if (unit.Users.Count != 0) return;
        _units.Remove(unit);
        iommu.FreeDomainId(unit.DomainId);
    }
}

/// <summary>DMA is blocked: the device has no context/PASID entry.</summary>
public sealed class BlockedDomain : IntelDomain
{
    internal BlockedDomain() : base(DomainType.Blocked) { }
}

/// <summary>Pass-through: DMA addresses are host physical addresses.</summary>
public sealed class IdentityDomain : IntelDomain
{
    internal IdentityDomain() : base(DomainType.Identity) { }
}
