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
/// An IOMMU domain of the Intel driver: a translation that devices attach to. A domain gets a domain id on each unit
/// it is attached through (released when its last device leaves that unit).
/// </summary>
public abstract class IntelDomain
{
    private readonly Dictionary<IntelIommu, (ushort DomainId, List<SourceId> Devices)> _attachments = new();
    private readonly List<(IntelIommu Iommu, ushort DomainId)> _units = new(); // _attachments' keys and ids, in attach order

    internal IntelDomain(DomainType type) => Type = type;

    public DomainType Type { get; }
    public IReadOnlyCollection<SourceId> Devices => _attachments.Values.SelectMany(a => a.Devices).ToList();
    /// <summary>The units the domain is attached through, with its id on each. Typed as the list (callers must not
    /// change it) so the flush after every map and unmap walks it with List's struct enumerator, allocating nothing.</summary>
    internal List<(IntelIommu Iommu, ushort DomainId)> Attachments => _units;

    internal ushort? DomainIdOn(IntelIommu iommu) => _attachments.TryGetValue(iommu, out var a) ? a.DomainId : null;

    /// <summary>Records a device on a unit, allocating the domain's id there on first use.</summary>
    internal Errno AddDevice(IntelIommu iommu, SourceId device, out ushort domainId)
    {
        if (_attachments.TryGetValue(iommu, out var a))
        {
            a.Devices.Add(device);
            domainId = a.DomainId;
            return Errno.Success;
        }
        if (iommu.AllocateDomainId() is not ushort did)
        {
            domainId = 0;
            return Errno.ENOSPC;
        }
        _attachments[iommu] = (did, [device]);
        _units.Add((iommu, did));
        domainId = did;
        return Errno.Success;
    }

    internal void RemoveDevice(IntelIommu iommu, SourceId device)
    {
        if (!_attachments.TryGetValue(iommu, out var a)) return;
        a.Devices.Remove(device);
        if (a.Devices.Count != 0) return;
        _attachments.Remove(iommu);
        _units.Remove((iommu, a.DomainId));
        iommu.FreeDomainId(a.DomainId);
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
