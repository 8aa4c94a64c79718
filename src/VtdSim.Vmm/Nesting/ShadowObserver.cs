using VtdSim.Hardware;
using VtdSim.Hardware.Invalidation;

namespace VtdSim.Vmm.Nesting;

/// <summary>
/// The VMM's ear on its vIOMMU for caching-mode shadowing (decisions N30–N34), in front of the nesting observer when
/// there is one (x-flts: a guest in legacy mode is shadowed, one in scalable mode nested). Context-cache invalidations
/// (device-selective: the devices it names; domain-selective: all, as QEMU), PASID-cache invalidations of PASID 0 (a
/// scalable-mode guest changes its PASID entry so), SRTP and a TE change switch and replay;
/// IOTLB invalidations — global, domain-selective, page-selective with AM, and PASID-based ones of PASID 0 — sync the
/// shadowed devices of that domain over that range.
/// </summary>
internal sealed class ShadowObserver(Vmm vmm, VtdUnit viommu, IReadOnlyList<ShadowBinding> bindings, IVtdUnitObserver? next) : IVtdUnitObserver
{
    public IReadOnlyList<ShadowBinding> Bindings => bindings;

    public void Notice(in UnitNotice notice)
    {
        switch (notice.Kind)
        {
            case UnitNoticeKind.ContextCacheGlobal:
            case UnitNoticeKind.ContextCacheDomain:
            case UnitNoticeKind.ContextCacheDevice:
            case UnitNoticeKind.RootTablePointerSet:
            case UnitNoticeKind.TranslationEnableChanged:
            case UnitNoticeKind.PasidCacheGlobal:
            case UnitNoticeKind.PasidCacheDomain:
            case UnitNoticeKind.PasidCachePasid when notice.Pasid == 0:
            {
                // A device that stops being shadowed goes back to the default HWPT before the nesting sync may bind it
                // elsewhere; one that starts being shadowed is switched after it.
                bool nested = vmm.PassthroughNested;
                foreach (ShadowBinding b in bindings)
                    if (b.Active && Names(b, in notice)) b.Switch(viommu, nested);
                next?.Notice(in notice);
                foreach (ShadowBinding b in bindings)
                    if (!b.Active && Names(b, in notice)) b.Switch(viommu, nested);
                return;
            }
            case UnitNoticeKind.IotlbGlobal:
                foreach (ShadowBinding b in bindings) b.Sync(viommu, 0, ulong.MaxValue);
                break;
            case UnitNoticeKind.IotlbDomain:
            case UnitNoticeKind.PasidIotlbAll when notice.Pasid == 0:
                foreach (ShadowBinding b in bindings)
                    if (b.DomainId == notice.DomainId) b.Sync(viommu, 0, ulong.MaxValue);
                break;
            case UnitNoticeKind.IotlbPages:
            case UnitNoticeKind.PasidIotlbPages when notice.Pasid == 0:
            {
                // ADDR aligned down to 2^AM pages (the descriptor's ADDR need not be), 2^AM pages from there.
                ulong size = 4096UL << notice.AddressMask;
                ulong first = notice.Address & ~(size - 1);
                foreach (ShadowBinding b in bindings)
                    if (b.DomainId == notice.DomainId) b.Sync(viommu, first, first + (size - 1));
                break;
            }
        }
        next?.Notice(in notice);
    }

    private static bool Names(ShadowBinding b, in UnitNotice notice)
    {
        if (notice.Kind != UnitNoticeKind.ContextCacheDevice || b.Device.Guest is not { } id) return true;
        // FM 0/1/2/3: no bit, bit 2, bits 2:1, bits 2:0 of the function number are not compared.
        int ignored = ((1 << notice.FunctionMask) - 1) << (3 - notice.FunctionMask);
        int mask = 0xFFFF & ~ignored;
        return (id.Value & mask) == (notice.SourceId & mask);
    }
}
