namespace VtdSim.Hardware.Tracing;

/// <summary>Records every memory reference of the translations it is passed to, in order.</summary>
public sealed class WalkTrace
{
    private readonly List<MemoryReference> _references = new();

    public IReadOnlyList<MemoryReference> References => _references;

    /// <summary>Reads of first- and second-stage paging entries: what the (n+1)(m+1)-1 formula counts.</summary>
    public int PagingReads => _references.Count(r => r.IsPagingRead);

    internal void Add(in MemoryReference reference) => _references.Add(reference);

    public void Clear() => _references.Clear();
}
