using BenchmarkDotNet.Attributes;
using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Caches;
using VtdSim.Hardware.Translation;

namespace VtdSim.Benchmarks;

/// <summary>Issue 3's hot-cache measure: a whole VtdUnit.Translate answered by the IOTLB (context and PASID caches hot too).</summary>
[MemoryDiagnoser]
public class CacheBenchmarks
{
    private TranslationSetup _legacy = null!, _firstStage = null!, _nested = null!, _nestedPsc = null!;
    private DmaRequest _legacyRead, _firstStageRead, _nestedRead;
    private TranslationSetup _legacyPages = null!, _firstStagePages = null!, _nestedPages = null!;
    private DmaRequest[] _legacyReads = null!, _firstStageReads = null!, _nestedReads = null!;
    private int _next;

    /// <summary>Pages the rotating benchmarks cycle through: all stay in the IOTLB, but no two calls in a row repeat one.</summary>
    public const int RotatingPages = 64;

    [GlobalSetup]
    public void Setup()
    {
        _nestedPsc = new TranslationSetup(WalkShape.Nested4x4, cached: true, iotlb: false);
        _legacy = new TranslationSetup(WalkShape.Legacy4, cached: true);
        _firstStage = new TranslationSetup(WalkShape.FirstStage4, cached: true);
        _nested = new TranslationSetup(WalkShape.Nested4x4, cached: true);
        _legacyRead = _legacy.ReadRequest;
        _firstStageRead = _firstStage.ReadRequest;
        _nestedRead = _nested.ReadRequest;
        _legacyPages = new TranslationSetup(WalkShape.Legacy4, cached: true, pages: RotatingPages);
        _firstStagePages = new TranslationSetup(WalkShape.FirstStage4, cached: true, pages: RotatingPages);
        _nestedPages = new TranslationSetup(WalkShape.Nested4x4, cached: true, pages: RotatingPages);
        _legacyReads = _legacyPages.ReadRequests;
        _firstStageReads = _firstStagePages.ReadRequests;
        _nestedReads = _nestedPages.ReadRequests;
    }

    [Benchmark(Description = "Translate, hot IOTLB, legacy")]
    public ulong HotLegacy() => _legacy.Unit.Translate(in _legacyRead).Address.Value;

    [Benchmark(Description = "Translate, hot IOTLB, first stage")]
    public ulong HotFirstStage() => _firstStage.Unit.Translate(in _firstStageRead).Address.Value;

    [Benchmark(Description = "Translate, hot IOTLB, nested")]
    public ulong HotNested() => _nested.Unit.Translate(in _nestedRead).Address.Value;

    // The same three, cycling through 64 pages that are all in the IOTLB: each call is a real IOTLB lookup, where the
    // benchmarks above repeat one page (which the unit's repeat memo answers).

    [Benchmark(Description = "Translate, hot IOTLB, legacy, 64 pages")]
    public ulong HotLegacyPages() => _legacyPages.Unit.Translate(in _legacyReads[_next++ & (RotatingPages - 1)]).Address.Value;

    [Benchmark(Description = "Translate, hot IOTLB, first stage, 64 pages")]
    public ulong HotFirstStagePages() => _firstStagePages.Unit.Translate(in _firstStageReads[_next++ & (RotatingPages - 1)]).Address.Value;

    [Benchmark(Description = "Translate, hot IOTLB, nested, 64 pages")]
    public ulong HotNestedPages() => _nestedPages.Unit.Translate(in _nestedReads[_next++ & (RotatingPages - 1)]).Address.Value;

    /// <summary>No IOTLB: every translation walks, but the paging-structure caches leave 2 of the 24 reads.</summary>
    [Benchmark(Description = "Translate, IOTLB miss, warm PSC, nested")]
    public ulong WarmPscNested() => _nestedPsc.Unit.Translate(in _nestedRead).Address.Value;

}

/// <summary>
/// The cost of IOTLB invalidations against how many entries the IOTLB holds (a 1024-entry, 4-way IOTLB): a
/// domain-selective one visits every tag, as a hardware tag walk would; a page-selective one of a few pages looks up
/// only the tags its range covers.
/// </summary>
[MemoryDiagnoser]
public class InvalidationBenchmarks
{
    private RemappingCaches _invalidationCaches = null!;

    [Params(64, 1024)]
    public int CachedEntries { get; set; }

    [GlobalSetup]
    public void Setup() =>
        _invalidationCaches = new RemappingCaches(Hardware.Profiles.VtdProfile.DefaultCaches with { Iotlb = new CacheGeometry(256, 4) });

    /// <summary>Fills the IOTLB with <see cref="CachedEntries"/> entries of one domain, then flushes that domain.</summary>
    [Benchmark(Description = "Fill N IOTLB entries + DSI")]
    public long FillThenInvalidate()
    {
        Fill();
        _invalidationCaches.InvalidateIotlbDomain(1);
        return _invalidationCaches.Iotlb.Statistics.Invalidated;
    }

    /// <summary>Fills as above, then invalidates one page of the domain (and clears the rest, as the baseline does).</summary>
    [Benchmark(Description = "Fill N IOTLB entries + PSI of one page")]
    public long FillThenInvalidatePage()
    {
        Fill();
        _invalidationCaches.InvalidateIotlbPages(1, 5UL << 12, 0, leafOnly: false);
        _invalidationCaches.Iotlb.Clear();
        return _invalidationCaches.Iotlb.Statistics.Invalidated;
    }

    /// <summary>The fill alone, to subtract from the lines above.</summary>
    [Benchmark(Description = "Fill N IOTLB entries (baseline)")]
    public long FillOnly()
    {
        Fill();
        _invalidationCaches.Iotlb.Clear();
        return _invalidationCaches.Iotlb.Statistics.Fills;
    }

    private void Fill()
    {
        for (int i = 0; i < CachedEntries; i++)
        {
            var key = new IotlbKey(1, CacheTag.NoPasid, (ulong)i, 1);
            _invalidationCaches.FillIotlb(in key, new IotlbEntry((ulong)i << 12, AccessRights.Read, AccessRights.Read, TranslationKind.Legacy, true));
        }
    }
}
