namespace VtdSim.Hardware.Caches;

/// <summary>The geometry of every translation cache of a unit; part of its profile.</summary>
public sealed record CacheSizes(
    CacheGeometry Context,
    CacheGeometry Pasid,
    CacheGeometry Iotlb,
    CacheGeometry FirstStagePagingStructures,
    CacheGeometry SecondStagePagingStructures)
{
    /// <summary>A unit that caches nothing: every translation walks memory (useful to compare against).</summary>
    public static CacheSizes Uncached { get; } = new(CacheGeometry.None, CacheGeometry.None, CacheGeometry.None, CacheGeometry.None, CacheGeometry.None);

    /// <summary>One line per cache, for listings.</summary>
    public string Describe() =>
        $"context {Context}\nPASID {Pasid}\nIOTLB {Iotlb}\nFS paging structures {FirstStagePagingStructures}\nSS paging structures {SecondStagePagingStructures}";

    public void Validate()
    {
        Context.Validate("context cache");
        Pasid.Validate("PASID cache");
        Iotlb.Validate("IOTLB");
        FirstStagePagingStructures.Validate("first-stage paging-structure cache");
        SecondStagePagingStructures.Validate("second-stage paging-structure cache");
    }
}
