namespace VtdSim.Hardware.Caches;

/// <summary>How a cache replaces entries when the set an entry maps to is full.</summary>
public enum CacheReplacement
{
    /// <summary>Evict the least recently used way of the set (what set-associative hardware caches approximate).</summary>
    LeastRecentlyUsed,
    /// <summary>Flush the whole cache when the set an entry maps to is full, then insert (with one set: when the cache is full, which is what QEMU's IOTLB does).</summary>
    FlushWhenFull,
}

/// <summary>The shape of one cache: sets × ways (sets a power of two), and its replacement policy.</summary>
public sealed record CacheGeometry(int Sets, int Ways, CacheReplacement Replacement = CacheReplacement.LeastRecentlyUsed)
{
    public int Capacity => Sets * Ways;

    /// <summary>A cache that holds nothing: every lookup misses (a unit without that cache).</summary>
    public static CacheGeometry None { get; } = new(1, 0);

    /// <summary>For listings: "none", or the capacity with its shape and policy, e.g. "1024 (128×8 LRU)" or "1024 (fully assoc. flush-when-full)".</summary>
    public override string ToString() =>
        Capacity == 0 ? "none"
        : $"{Capacity} ({(Sets == 1 ? "fully assoc." : $"{Sets}×{Ways}")} {(Replacement == CacheReplacement.LeastRecentlyUsed ? "LRU" : "flush-when-full")})";

    public void Validate(string name)
    {
        if (Sets < 1 || (Sets & (Sets - 1)) != 0) throw new ArgumentException($"{name}: sets must be a power of two, got {Sets}");
        // Many ways are scanned on every lookup; only a single set (fully associative) is indexed instead.
        int maxWays = Sets == 1 ? 65536 : 64;
        if (Ways < 0 || Ways > maxWays)
            throw new ArgumentException($"{name}: ways must be 0..{maxWays} with {Sets} set(s), got {Ways}");
    }
}
