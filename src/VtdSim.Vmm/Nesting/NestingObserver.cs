using VtdSim.Hardware;
using VtdSim.Hardware.Invalidation;
using VtdSim.Kernel.Iommufd;

namespace VtdSim.Vmm.Nesting;

/// <summary>
/// The VMM's ear on its vIOMMU with x-flts=on (QEMU 11's intel_iommu_accel, decisions N4–N9): PASID-cache
/// invalidations sync the devices they name; context-cache invalidations, SRTP and a TE change replay the sync for
/// every device; PASID-based IOTLB invalidations are queued per device and forwarded to the host in one
/// IOMMU_HWPT_INVALIDATE per nested HWPT — before a wait completes, before any sync, and at the end of a queue run.
/// </summary>
internal sealed class NestingObserver(VtdUnit viommu, IReadOnlyList<NestingBinding> bindings) : IVtdUnitObserver
{
    public IReadOnlyList<NestingBinding> Bindings => bindings;

    public void Notice(in UnitNotice notice)
    {
        switch (notice.Kind)
        {
            case UnitNoticeKind.PasidIotlbAll:
                Queue(notice.DomainId, notice.Pasid, VtdS1Invalidation.All());
                break;
            case UnitNoticeKind.PasidIotlbPages:
                // npages = 2^AM; the invalidation hint (IH) is "only leaf entries changed" (IOMMU_VTD_INV_FLAGS_LEAF).
                Queue(notice.DomainId, notice.Pasid, new VtdS1Invalidation(notice.Address, 1UL << notice.AddressMask, notice.LeafOnly ? VtdS1Invalidation.Leaf : 0));
                break;
            case UnitNoticeKind.PasidCachePasid when notice.Pasid != 0:
                break; // only PASID 0 (requests without PASID) is bound (N4)
            case UnitNoticeKind.PasidCachePasid:
            case UnitNoticeKind.PasidCacheDomain:
                FlushAll();
                foreach (NestingBinding b in bindings)
                    if (Concerns(b, notice.DomainId)) b.Sync(viommu);
                break;
            case UnitNoticeKind.PasidCacheGlobal:
            case UnitNoticeKind.ContextCacheGlobal:
            case UnitNoticeKind.ContextCacheDomain:
            case UnitNoticeKind.ContextCacheDevice:
            case UnitNoticeKind.RootTablePointerSet:
            case UnitNoticeKind.TranslationEnableChanged:
                // QEMU replays the PASID-cache sync for every device (a global sync) on these.
                FlushAll();
                foreach (NestingBinding b in bindings) b.Sync(viommu);
                break;
            case UnitNoticeKind.WaitDescriptor:
            case UnitNoticeKind.QueueRunEnded:
                FlushAll();
                break;
        }
    }

    /// <summary>A domain- or PASID-selective PASID-cache invalidation names the device if its cached or its current entry has that DID.</summary>
    private bool Concerns(NestingBinding b, ushort did) =>
        b.CachedEntry?.DomainId == did
        || (b.Device.Guest is { } id && GuestPasidEntries.TryRead(viommu, id, 0, out var entry) && entry.DomainId == did);

    private void Queue(ushort did, uint pasid, in VtdS1Invalidation invalidation)
    {
        foreach (NestingBinding b in bindings) b.Queue(did, pasid, in invalidation);
    }

    public void FlushAll()
    {
        foreach (NestingBinding b in bindings) b.Flush();
    }
}
