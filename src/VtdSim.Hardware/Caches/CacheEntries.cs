using VtdSim.Hardware.Translation;

namespace VtdSim.Hardware.Caches;

/// <summary>PASID value used in IOTLB tags for translations that are not PASID-tagged (legacy, second-stage only).</summary>
internal static class CacheTag
{
    public const uint NoPasid = uint.MaxValue;

    /// <summary>A cheap, deterministic mix of tag fields into a set index.</summary>
    public static int Hash(ulong a, ulong b)
    {
        ulong h = (a * 0x9E37_79B9_7F4A_7C15UL) ^ (b + 0x632B_E59B_D9B4_E019UL + (a << 6) + (a >> 2));
        h ^= h >> 29;
        return (int)(h ^ (h >> 32));
    }

    /// <summary>The set-index hash of an IOTLB tag (shared by lookups, fills and invalidations).</summary>
    public static int Iotlb(in IotlbKey key) => Hash(((ulong)key.DomainId << 32) ^ key.Pasid, (key.PageNumber << 2) | key.Level);

    /// <summary>The set-index hash of a paging-structure-cache tag (second stage: PASID 0).</summary>
    public static int PagingStructure(ushort domainId, uint pasid, byte level, ulong tag) =>
        Hash(((ulong)domainId << 40) ^ ((ulong)pasid << 8) ^ level, tag);
}

/// <summary>Context-cache tag: the requester id.</summary>
internal readonly record struct ContextCacheKey(ushort SourceId);

/// <summary>
/// A cached context entry, raw as it was read (legacy: Q0/Q1; scalable: Q0..Q3), so a hit is decoded exactly as a
/// fresh read would be. Legacy entries are tagged with their DID (0 for a not-present entry cached under CM=1).
/// </summary>
internal readonly record struct ContextCacheEntry(ulong Q0, ulong Q1, ulong Q2, ulong Q3, bool Scalable, ushort DomainId, ulong Address);

/// <summary>PASID-cache tag: requester id and PASID.</summary>
internal readonly record struct PasidCacheKey(ushort SourceId, uint Pasid);

/// <summary>A cached PASID-table entry (Q0..Q2; Q3..Q7 are reserved and were zero) with the directory entry's FPD, tagged by its DID.</summary>
internal readonly record struct PasidCacheEntry(ulong Q0, ulong Q1, ulong Q2, bool DirectoryFpd, ushort DomainId, ulong Address);

/// <summary>IOTLB tag: domain, PASID (or <see cref="CacheTag.NoPasid"/>), the input page number at the entry's page size, and that size's level.</summary>
internal readonly record struct IotlbKey(ushort DomainId, uint Pasid, ulong PageNumber, byte Level);

/// <summary>
/// A cached translation: output page base, the page's rights as the walk found them (combined over both stages; what
/// any request may do), the rights of a privileged request under WPE=0 (which may write through a first-stage R/W=0;
/// the same as <see cref="Rights"/> for second-stage-only and legacy translations), which walk made it, and whether D
/// is known to be set (a write through an entry without it re-walks to set D). Nothing in it depends on the request
/// that filled it: each hit checks its own request against it (D26).
/// </summary>
internal readonly record struct IotlbEntry(ulong OutputBase, AccessRights Rights, AccessRights SupervisorRights, TranslationKind Kind, bool DirtySet);

/// <summary>First-stage paging-structure-cache tag: domain, PASID, the level of the cached entry, and the input bits above it.</summary>
internal readonly record struct FirstStagePscKey(ushort DomainId, uint Pasid, byte Level, ulong InputTag);

/// <summary>
/// A cached first-stage non-leaf entry: the next table's host address (already translated through the second stage
/// in nested mode, with that page's second-stage writability and leaf entry for A/D updates) and the rights
/// accumulated down to this level.
/// </summary>
internal readonly record struct FirstStagePscEntry(ulong NextTable, ulong NextTableGpa, bool NextTableWritable, ulong NextTableSsLeaf,
    byte NextTableSsLeafLevel, bool Writable, bool User, bool ExecuteDisable);

/// <summary>Second-stage paging-structure-cache tag: domain, level of the cached entry, GPA bits above it.</summary>
internal readonly record struct SecondStagePscKey(ushort DomainId, byte Level, ulong InputTag);

/// <summary>A cached second-stage non-leaf entry: next table and the rights accumulated down to this level.</summary>
internal readonly record struct SecondStagePscEntry(ulong NextTable, AccessRights Rights);
