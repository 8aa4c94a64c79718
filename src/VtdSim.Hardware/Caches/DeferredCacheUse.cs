namespace VtdSim.Hardware.Caches;

/// <summary>
/// Cache hits answered on the caches' behalf (by a memo of what they would answer) whose bookkeeping — the hit
/// counters and the LRU recency of the entries used — has not been applied yet. A cache with pending uses settles them
/// before anything else reads or changes it, so its counters and replacement choices are exactly what they would be had
/// every hit been applied at once.
/// </summary>
internal abstract class DeferredCacheUse
{
    /// <summary>How many hits are waiting to be applied.</summary>
    public int Pending;

    /// <summary>Applies every pending hit, in the order the hits happened, and leaves <see cref="Pending"/> at zero.</summary>
    public abstract void Settle();
}

/// <summary>
/// Counts changes to the contents of a group of caches (fills, evictions, invalidations; not hits) and of what they
/// are looked up under (the root-table state), so a memo of their answers can tell with one compare that it is current.
/// </summary>
internal sealed class CacheChangeCounter
{
    public long Value;
}
