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

    // An upper bound on the nested translations in the IOTLB. A page-selective invalidation removes every nested entry of
    // its domain (which GPAs a combined entry depended on is not kept), which needs a walk of all tags; while there are
    // none, it only looks up the tags its range covers. Fills raise the bound; walks of the tags make it exact again.
    private int _nestedIotlbBound;

    /// <summary>Caches a translation in the IOTLB.</summary>
    public void FillIotlb(in IotlbKey key, in IotlbEntry entry)
    {
        if (entry.Kind == TranslationKind.Nested) _nestedIotlbBound++;
        Iotlb.Add(in key, CacheTag.Iotlb(in key), in entry);
    }

    public void InvalidateIotlbGlobal()
    {
        Iotlb.Clear();
        FirstStage.Clear();
        SecondStage.Clear();
        _nestedIotlbBound = 0;
    }

    /// <summary>DSI: everything tagged with the domain, whatever the PASID or the kind of walk.</summary>
    public void InvalidateIotlbDomain(ushort domainId)
    {
        Iotlb.RemoveWhere(domainId, static (did, k, _) => k.DomainId == did);
        FirstStage.RemoveWhere(domainId, static (did, k, _) => k.DomainId == did);
        SecondStage.RemoveWhere(domainId, static (did, k, _) => k.DomainId == did);
        RecountNested();
    }

    /// <summary>
    /// PSI: second-stage input range [address, address + 2^AM pages) of the domain (as an inclusive last address, since
    /// the range may end at 2^64). Legacy and SS-only translations
    /// in the range go; nested translations of the domain all go (which GPAs a combined entry depended on is not
    /// kept); so do the domain's first-stage paging-structure entries, whose next-table pointers came through the
    /// second stage. Second-stage paging-structure entries over the range go unless IH says only leaves changed.
    /// </summary>
    public void InvalidateIotlbPages(ushort domainId, ulong address, int addressMask, bool leafOnly)
    {
        var range = (domainId, start: address, last: RangeLast(address, addressMask));
        if (_nestedIotlbBound != 0 || !RemoveIotlbRange(domainId, CacheTag.NoPasid, address, addressMask))
        {
            Iotlb.RemoveWhere(range, static (r, k, e) => k.DomainId == r.domainId
                && (e.Kind == TranslationKind.Nested || (e.Kind is TranslationKind.Legacy or TranslationKind.SecondStage && Overlaps(k.PageNumber, k.Level, r.start, r.last))));
            RecountNested();
        }
        if (FirstStage.Statistics.Occupancy != 0)
            FirstStage.RemoveWhere(domainId, static (did, k, _) => k.DomainId == did);
        if (!leafOnly && !RemoveSecondStagePscRange(domainId, address, addressMask))
            SecondStage.RemoveWhere(range, static (r, k, _) => k.DomainId == r.domainId && Overlaps(k.InputTag, k.Level, r.start, r.last));
    }

    /// <summary>P_IOTLB all-in-PASID: first-stage and nested translations and first-stage PSC entries of (DID, PASID); SS-only entries stay.</summary>
    public void InvalidatePasidIotlb(ushort domainId, uint pasid)
    {
        Iotlb.RemoveWhere((domainId, pasid), static (s, k, _) => k.DomainId == s.domainId && k.Pasid == s.pasid);
        FirstStage.RemoveWhere((domainId, pasid), static (s, k, _) => k.DomainId == s.domainId && k.Pasid == s.pasid);
        RecountNested();
    }

    /// <summary>P_IOTLB page-selective: translations of (DID, PASID) over the input range; their PSC entries too unless IH.</summary>
    public void InvalidatePasidIotlbPages(ushort domainId, uint pasid, ulong address, int addressMask, bool leafOnly)
    {
        var range = (domainId, pasid, start: address, last: RangeLast(address, addressMask));
        if (!RemoveIotlbRange(domainId, pasid, address, addressMask))
        {
            Iotlb.RemoveWhere(range, static (r, k, _) => k.DomainId == r.domainId && k.Pasid == r.pasid && Overlaps(k.PageNumber, k.Level, r.start, r.last));
            RecountNested();
        }
        if (!leafOnly && !RemoveFirstStagePscRange(domainId, pasid, address, addressMask))
            FirstStage.RemoveWhere(range, static (r, k, _) => k.DomainId == r.domainId && k.Pasid == r.pasid && Overlaps(k.InputTag, k.Level, r.start, r.last));
    }

    private bool RemoveIotlbRange(ushort domainId, uint pasid, ulong address, int addressMask) =>
        RemoveTagRange(Iotlb, address, addressMask, 1, 3, (domainId, pasid), static (s, level, tag) =>
        {
            var key = new IotlbKey(s.domainId, s.pasid, tag, level);
            return (key, CacheTag.Iotlb(in key));
        });

    private bool RemoveSecondStagePscRange(ushort domainId, ulong address, int addressMask) =>
        RemoveTagRange(SecondStage, address, addressMask, 2, 5, domainId, static (did, level, tag) =>
            (new SecondStagePscKey(did, level, tag), CacheTag.PagingStructure(did, 0, level, tag)));

    private bool RemoveFirstStagePscRange(ushort domainId, uint pasid, ulong address, int addressMask) =>
        RemoveTagRange(FirstStage, address, addressMask, 2, 5, (domainId, pasid), static (s, level, tag) =>
            (new FirstStagePscKey(s.domainId, s.pasid, level, tag), CacheTag.PagingStructure(s.domainId, s.pasid, level, tag)));

    /// <summary>
    /// A range removal by looking up each tag that overlaps [address, address + 2^AM pages) at every level in
    /// [lowest, highest] an entry can have (<paramref name="tagKey"/> makes the key and its hash): the same entries a walk
    /// of all tags with <see cref="Overlaps"/> would remove. It declines (false, nothing removed) when the range needs
    /// more lookups than the cache has sets, where the walk is cheaper.
    /// </summary>
    private static bool RemoveTagRange<TKey, TValue, TState>(SetAssociativeCache<TKey, TValue> cache, ulong address, int addressMask,
        int lowest, int highest, TState state, Func<TState, byte, ulong, (TKey Key, int Hash)> tagKey)
        where TKey : struct, IEquatable<TKey>
    {
        if (cache.Statistics.Occupancy == 0) return true;
        if (addressMask > 40) return false;
        ulong last = RangeLast(address, addressMask);
        ulong lookups = 0;
        for (int level = lowest; level <= highest; level++)
            lookups += (last >> TagShift(level)) - (address >> TagShift(level)) + 1;
        if (lookups > (ulong)cache.Sets) return false;
        for (int level = lowest; level <= highest; level++)
        {
            // Counted, not compared against the last tag: at the top of the space the last tag + 1 wraps to 0.
            ulong first = address >> TagShift(level), count = (last >> TagShift(level)) - first + 1;
            for (ulong i = 0; i < count; i++)
            {
                var (key, hash) = tagKey(state, (byte)level, first + i);
                cache.Remove(in key, hash);
            }
        }
        return true;
    }

    /// <summary>How far an input address is shifted to give its tag at a level (1: 4 KiB pages, 2: 2 MiB, …).</summary>
    private static int TagShift(int level) => 12 + 9 * (level - 1);

    /// <summary>
    /// The last address of the 2^AM pages from <paramref name="address"/>, inclusive: the range may end at 2^64, which an
    /// exclusive end cannot hold. The address is aligned to the range (the queue and the registers check that), so the
    /// last address is the address with the range's low bits set; AM ≥ 52 covers the whole space.
    /// </summary>
    internal static ulong RangeLast(ulong address, int addressMask) =>
        addressMask >= 52 ? ulong.MaxValue : address | ((4096UL << addressMask) - 1);

    private void RecountNested()
    {
        if (_nestedIotlbBound != 0)
            _nestedIotlbBound = Iotlb.CountWhere(0, static (_, _, e) => e.Kind == TranslationKind.Nested);
    }

    /// <summary>
    /// Whether the region a tag names (page number at <paramref name="level"/>: 4 KiB at 1, 2 MiB at 2, …) overlaps
    /// [start, last]. Both ends are inclusive, so a region or a range that ends at 2^64 − 1 compares without wrapping.
    /// </summary>
    internal static bool Overlaps(ulong tag, int level, ulong start, ulong last)
    {
        int shift = TagShift(level);
        if (shift >= 64) return true;
        ulong regionStart = tag << shift;
        ulong regionLast = regionStart | ((1UL << shift) - 1);
        return regionStart <= last && start <= regionLast;
    }
}
