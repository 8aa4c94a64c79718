using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Profiles;

namespace VtdSim.Hardware.Tests.Caches;

/// <summary>
/// The QEMU profiles cache as QEMU 7.2 does (qemu-facts §3.1): a 1024-entry IOTLB emptied when full, no PASID cache.
/// (QEMU 7.2's default aw-bits=39 allows only 3-level second-stage tables.)
/// </summary>
public class QemuCacheTests
{
    private const ulong Iova = 0x100_0000, Old = 0x1_0000_0000, New = 0x2_0000_0000;

    [Fact]
    public void TheIotlbKeepsAStaleEntryUntilTheInsertThatFindsItFullEmptiesIt()
    {
        var bench = new CacheBench(BuiltInProfiles.Qemu72Scalable);
        var ss = bench.SecondStageDomain(1, levels: 3);
        ss.MapRange(new Gpa(Iova), new Hpa(Old), 1025 * 4096UL);
        for (ulong page = 0; page < 1024; page++) Assert.Equal(new Hpa(Old + page * 4096), bench.Translate(Iova + page * 4096));
        Assert.Equal(1024, bench.Unit.Caches.Iotlb.Statistics.Occupancy);

        ss.Map(new Gpa(Iova), new Hpa(New)); // changed without invalidation
        Assert.Equal(new Hpa(Old), bench.Translate(Iova)); // stale, from the full IOTLB

        Assert.Equal(new Hpa(Old + 1024 * 4096), bench.Translate(Iova + 1024 * 4096)); // the 1025th page: all 1024 go
        Assert.Equal(1024, bench.Unit.Caches.Iotlb.Statistics.Evictions);
        Assert.Equal(1, bench.Unit.Caches.Iotlb.Statistics.Occupancy);
        Assert.Equal(new Hpa(New), bench.Translate(Iova)); // walked afresh
    }

    [Fact]
    public void PasidEntriesAreReadOnEveryTranslation()
    {
        var bench = new CacheBench(BuiltInProfiles.Qemu72Scalable);
        bench.SecondStageDomain(1, levels: 3).Map(new Gpa(Iova), new Hpa(Old));
        Assert.Equal(new Hpa(Old), bench.Translate(Iova));
        bench.SecondStageDomain(2, levels: 3).Map(new Gpa(Iova), new Hpa(New)); // a new PASID entry (DID 2), no invalidation
        Assert.Equal(new Hpa(New), bench.Translate(Iova)); // no PASID cache, and DID 2 has nothing in the IOTLB
        Assert.Equal(0, bench.Unit.Caches.Pasid.Capacity);
    }
}
