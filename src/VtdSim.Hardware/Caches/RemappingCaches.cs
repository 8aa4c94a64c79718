using VtdSim.Hardware.Invalidation;
using VtdSim.Hardware.Translation;

namespace VtdSim.Hardware.Caches;

/// <summary>
/// The translation caches of one remapping unit (spec 6.2): context cache, PASID cache, IOTLB, and the first- and
/// second-stage paging-structure caches, with what each invalidation removes (vtd-facts §6.2, decisions in
/// docs/decisions.md). Caches never see memory: stale entries keep answering until invalidated or evicted.
/// </summary>
internal sealed class RemappingCaches : IInvalidationTarget
{
    public RemappingCaches(CacheSizes sizes)
    {
        Context = new SetAssociativeCache<ContextCacheKey, ContextCacheEntry>(sizes.Context);
        Pasid = new SetAssociativeCache<PasidCacheKey, PasidCacheEntry>(sizes.Pasid);
        Iotlb = new SetAssociativeCache<IotlbKey, IotlbEntry>(sizes.Iotlb);
        FirstStage = new SetAssociativeCache<FirstStagePscKey, FirstStagePscEntry>(sizes.FirstStagePagingStructures);
        SecondStage = new SetAssociativeCache<SecondStagePscKey, SecondStagePscEntry>(sizes.SecondStagePagingStructures);
        Context.ReportChangesTo(Changes);
        Pasid.ReportChangesTo(Changes);
        Iotlb.ReportChangesTo(Changes);
    }

    /// <summary>
    /// Counts every change to what the context cache, PASID cache and IOTLB hold, and to the root-table state they are
    /// consulted under: a translation those three answered in full stays valid while this is unchanged.
    /// </summary>
    public CacheChangeCounter Changes { get; } = new();

    /// <summary>SRTP latched a root table or TE changed: answers derived under the old state no longer apply.</summary>
    public void NoteRootTableStateChanged() => Changes.Value++;

    public SetAssociativeCache<ContextCacheKey, ContextCacheEntry> Context { get; }
    public SetAssociativeCache<PasidCacheKey, PasidCacheEntry> Pasid { get; }
    public SetAssociativeCache<IotlbKey, IotlbEntry> Iotlb { get; }
    public SetAssociativeCache<FirstStagePscKey, FirstStagePscEntry> FirstStage { get; }
    public SetAssociativeCache<SecondStagePscKey, SecondStagePscEntry> SecondStage { get; }

    /// <summary>
    /// Changes whenever the context or PASID cache changes (a fill, which may evict, or an invalidation), so lookups
    /// derived from their contents can tell they are still what those caches would answer. Both versions only grow.
    /// </summary>
    public long ContextGeneration => Context.Version + Pasid.Version;

    public void InvalidateAll()
    {
        InvalidateContextGlobal();
        InvalidatePasidCacheGlobal();
        InvalidateIotlbGlobal();
    }

    // ---- context cache ----

    public void InvalidateContextGlobal()
    {
        Context.Clear();
    }

    /// <summary>Legacy entries carry their DID; scalable-mode context entries have none, so a domain-selective request drops them all.</summary>
    public void InvalidateContextDomain(ushort domainId)
    {
        Context.RemoveWhere(domainId, static (did, _, e) => e.Scalable || e.DomainId == did);
    }

    public void InvalidateContextDevice(ushort domainId, ushort sourceId, int functionMask)
    {
        int ignore = functionMask switch { 1 => 0b100, 2 => 0b110, 3 => 0b111, _ => 0 };
        Context.RemoveWhere((sourceId, ignore), static (s, k, _) => (k.SourceId & ~s.ignore) == (s.sourceId & ~s.ignore));
    }

    // ---- PASID cache ----

    public void InvalidatePasidCacheDomain(ushort domainId)
    {
        Pasid.RemoveWhere(domainId, static (did, _, e) => e.DomainId == did);
    }

    public void InvalidatePasidCachePasid(ushort domainId, uint pasid)
    {
        Pasid.RemoveWhere((domainId, pasid), static (s, k, e) => e.DomainId == s.domainId && k.Pasid == s.pasid);
    }

    public void InvalidatePasidCacheGlobal()
    {
        Pasid.Clear();
    }

    // ---- IOTLB and paging-structure caches ----

    public void InvalidateIotlbGlobal()
    {
        Iotlb.Clear();
        FirstStage.Clear();
        SecondStage.Clear();
    }

    /// <summary>DSI: everything tagged with the domain, whatever the PASID or the kind of walk.</summary>
    public void InvalidateIotlbDomain(ushort domainId)
    {
        Iotlb.RemoveWhere(domainId, static (did, k, _) => k.DomainId == did);
        FirstStage.RemoveWhere(domainId, static (did, k, _) => k.DomainId == did);
        SecondStage.RemoveWhere(domainId, static (did, k, _) => k.DomainId == did);
    }

    /// <summary>
    /// PSI: second-stage input range [address, address + 2^AM pages) of the domain. Legacy and SS-only translations
    /// in the range go; nested translations of the domain all go (which GPAs a combined entry depended on is not
    /// kept); so do the domain's first-stage paging-structure entries, whose next-table pointers came through the
    /// second stage. Second-stage paging-structure entries over the range go unless IH says only leaves changed.
    /// </summary>
    public void InvalidateIotlbPages(ushort domainId, ulong address, int addressMask, bool leafOnly)
    {
        var range = (domainId, start: address, end: address + (4096UL << addressMask));
        Iotlb.RemoveWhere(range, static (r, k, e) => k.DomainId == r.domainId
            && (e.Kind == TranslationKind.Nested || (e.Kind is TranslationKind.Legacy or TranslationKind.SecondStage && Overlaps(k.PageNumber, k.Level, r.start, r.end))));
        FirstStage.RemoveWhere(domainId, static (did, k, _) => k.DomainId == did);
        if (!leafOnly)
            SecondStage.RemoveWhere(range, static (r, k, _) => k.DomainId == r.domainId && Overlaps(k.InputTag, k.Level, r.start, r.end));
    }

    /// <summary>P_IOTLB all-in-PASID: first-stage and nested translations and first-stage PSC entries of (DID, PASID); SS-only entries stay.</summary>
    public void InvalidatePasidIotlb(ushort domainId, uint pasid)
    {
        Iotlb.RemoveWhere((domainId, pasid), static (s, k, _) => k.DomainId == s.domainId && k.Pasid == s.pasid);
        FirstStage.RemoveWhere((domainId, pasid), static (s, k, _) => k.DomainId == s.domainId && k.Pasid == s.pasid);
    }

    /// <summary>P_IOTLB page-selective: translations of (DID, PASID) over the input range; their PSC entries too unless IH.</summary>
    public void InvalidatePasidIotlbPages(ushort domainId, uint pasid, ulong address, int addressMask, bool leafOnly)
    {
        var range = (domainId, pasid, start: address, end: address + (4096UL << addressMask));
        Iotlb.RemoveWhere(range, static (r, k, _) => k.DomainId == r.domainId && k.Pasid == r.pasid && Overlaps(k.PageNumber, k.Level, r.start, r.end));
        if (!leafOnly)
            FirstStage.RemoveWhere(range, static (r, k, _) => k.DomainId == r.domainId && k.Pasid == r.pasid && Overlaps(k.InputTag, k.Level, r.start, r.end));
    }

    /// <summary>Whether the region a tag names (page number at <paramref name="level"/>: 4 KiB at 1, 2 MiB at 2, …) overlaps [start, end).</summary>
    internal static bool Overlaps(ulong tag, int level, ulong start, ulong end)
    {
        int shift = 12 + 9 * (level - 1);
        if (shift >= 64) return true;
        ulong regionStart = tag << shift;
        ulong regionEnd = regionStart + (1UL << shift);
        return regionStart < end && start < regionEnd;
    }
}
