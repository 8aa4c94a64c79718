namespace VtdSim.Hardware.Invalidation;

/// <summary>What a <see cref="UnitNotice"/> reports.</summary>
public enum UnitNoticeKind
{
    /// <summary>Context-cache invalidation, global (queued descriptor type 1 G=1, or CCMD CIRG=1).</summary>
    ContextCacheGlobal,
    /// <summary>Context-cache invalidation, domain-selective (<see cref="UnitNotice.DomainId"/>).</summary>
    ContextCacheDomain,
    /// <summary>Context-cache invalidation, device-selective (<see cref="UnitNotice.SourceId"/>, <see cref="UnitNotice.FunctionMask"/>).</summary>
    ContextCacheDevice,
    /// <summary>IOTLB invalidation (type 2 or the IOTLB register), global.</summary>
    IotlbGlobal,
    /// <summary>IOTLB invalidation, domain-selective.</summary>
    IotlbDomain,
    /// <summary>IOTLB invalidation, page-selective within a domain (<see cref="UnitNotice.Address"/>, AM, IH).</summary>
    IotlbPages,
    /// <summary>PASID-based IOTLB invalidation (type 6), all of one PASID in a domain (G=2).</summary>
    PasidIotlbAll,
    /// <summary>PASID-based IOTLB invalidation, page-selective within a PASID (G=3: address, AM, IH).</summary>
    PasidIotlbPages,
    /// <summary>PASID-cache invalidation (type 7), domain-selective (G=0).</summary>
    PasidCacheDomain,
    /// <summary>PASID-cache invalidation, PASID-selective within a domain (G=1).</summary>
    PasidCachePasid,
    /// <summary>PASID-cache invalidation, global (G=3).</summary>
    PasidCacheGlobal,
    /// <summary>An invalidation wait descriptor is about to be carried out: everything before it must be complete.</summary>
    WaitDescriptor,
    /// <summary>The queue has fetched up to the tail (or stopped on an error) after carrying out at least one descriptor.</summary>
    QueueRunEnded,
    /// <summary>GCMD.SRTP latched a root table pointer (<see cref="VtdUnit.RootTable"/>, <see cref="VtdUnit.TableMode"/>).</summary>
    RootTablePointerSet,
    /// <summary>GCMD.TE changed (<see cref="UnitNotice.On"/>: translation is now enabled).</summary>
    TranslationEnableChanged,
}

/// <summary>
/// One thing the unit has just done that a vIOMMU's owner must mirror on the host (decisions N1–N3): an invalidation
/// it carried out (with the descriptor's fields), a wait about to complete, the end of a queue run, SRTP or a TE
/// change. A value, passed by reference: observing allocates nothing.
/// </summary>
public readonly record struct UnitNotice(
    UnitNoticeKind Kind,
    ushort DomainId = 0,
    ushort SourceId = 0,
    int FunctionMask = 0,
    uint Pasid = 0,
    ulong Address = 0,
    int AddressMask = 0,
    bool LeafOnly = false,
    bool On = false);

/// <summary>
/// A seam for a VMM whose vIOMMU is a <see cref="VtdUnit"/> (QEMU's vtd_pasid_cache_sync and IOTLB forwarding see the
/// same things): the unit calls <see cref="Notice"/> after it has carried out each invalidation (queued or
/// register-based), before a wait descriptor, at the end of each queue run, and after SRTP and a TE change, in the
/// order it does them. A real IOMMU has no observer; with none set the unit pays one null check.
/// An observer may write the unit's registers: a queue tail written while the queue is being processed is fetched
/// after the current descriptors, in the same run, never by a nested run (decision N2).
/// </summary>
public interface IVtdUnitObserver
{
    void Notice(in UnitNotice notice);
}
