namespace VtdSim.Hardware.Caches;

/// <summary>Counters of one cache since the unit was created (or the counters were reset).</summary>
public sealed class CacheStatistics
{
    public long Hits { get; internal set; }
    public long Misses { get; internal set; }
    public long Fills { get; internal set; }
    public long Evictions { get; internal set; }
    /// <summary>Entries removed by invalidations.</summary>
    public long Invalidated { get; internal set; }
    public int Occupancy { get; internal set; }

    public void Reset()
    {
        Hits = Misses = Fills = Evictions = Invalidated = 0;
    }

    public override string ToString() => $"hits {Hits}, misses {Misses}, fills {Fills}, evictions {Evictions}, invalidated {Invalidated}, holding {Occupancy}";
}
