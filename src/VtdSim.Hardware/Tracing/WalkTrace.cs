namespace VtdSim.Hardware.Tracing;

/// <summary>Records every memory reference of the translations it is passed to, in order.</summary>
public sealed class WalkTrace
{
    private readonly List<MemoryReference> _references = new();
    private readonly List<string> _cacheHits = new();

    public IReadOnlyList<MemoryReference> References => _references;

    /// <summary>Reads of first- and second-stage paging entries: what the (n+1)(m+1)-1 formula counts.</summary>
    public int PagingReads => _references.Count(r => r.IsPagingRead);

    /// <summary>Translation caches that answered instead of memory (e.g. "IOTLB", "context cache"), in order.</summary>
    public IReadOnlyList<string> CacheHits => _cacheHits;

    internal void Add(in MemoryReference reference) => _references.Add(reference);

    internal void NoteCacheHit(string cache) => _cacheHits.Add(cache);

    public void Clear()
    {
        _references.Clear();
        _cacheHits.Clear();
    }
}
