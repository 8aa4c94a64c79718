using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Building;
using VtdSim.Hardware.Caches;
using VtdSim.Hardware.Invalidation;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Structures;
using VtdSim.Hardware.Tracing;
using VtdSim.Hardware.Translation;

namespace VtdSim.Hardware.Tests.Caches;

/// <summary>
/// The IOTLB keeps translating the old way after a table change until the right invalidation removes the entry —
/// exactly the entries the specification says, no more and no fewer (vtd-facts §6.2, docs/decisions.md D23–D26).
/// </summary>
public class IotlbTests
{
    private const ulong Iova = 0x40_0000, OldPage = 0x1_0000_0000, NewPage = 0x2_0000_0000;

    private static (CacheBench Bench, SecondStageTableBuilder Ss) SecondStageMapped(ushort did = 5)
    {
        var bench = new CacheBench();
        var ss = bench.SecondStageDomain(did);
        ss.Map(new Gpa(Iova), new Hpa(OldPage));
        ss.Map(new Gpa(Iova + 0x10_0000), new Hpa(OldPage + 0x10_0000));
        Assert.Equal(new Hpa(OldPage), bench.Translate(Iova)); // fills the IOTLB
        Assert.Equal(new Hpa(OldPage + 0x10_0000), bench.Translate(Iova + 0x10_0000));
        return (bench, ss);
    }

    [Fact]
    public void AChangedEntryKeepsTranslatingTheOldWayUntilInvalidated()
    {
        var (bench, ss) = SecondStageMapped();
        ss.Map(new Gpa(Iova), new Hpa(NewPage)); // the driver rewrites the PTE without flushing

        Assert.Equal(new Hpa(OldPage), bench.Translate(Iova)); // stale, as hardware would be

        bench.Submit(InvalidationDescriptor.IotlbPage(5, Iova));
        Assert.Equal(new Hpa(NewPage), bench.Translate(Iova));
    }

    [Fact]
    public void AHitReadsNoMemory()
    {
        var (bench, _) = SecondStageMapped();
        var trace = new WalkTrace();
        bench.Unit.Translate(new DmaRequest(CacheBench.Device, new Iova(Iova), DmaAccess.Read), trace);

        Assert.Empty(trace.References);
        Assert.Contains("IOTLB", trace.CacheHits);
    }

    [Fact]
    public void PageSelectiveInvalidationRemovesOnlyItsRange()
    {
        var (bench, ss) = SecondStageMapped();
        ss.Map(new Gpa(Iova), new Hpa(NewPage));
        ss.Map(new Gpa(Iova + 0x10_0000), new Hpa(NewPage + 0x10_0000));

        bench.Submit(InvalidationDescriptor.IotlbPage(5, Iova + 0x10_0000));

        Assert.Equal(new Hpa(OldPage), bench.Translate(Iova)); // outside the range: still cached
        Assert.Equal(new Hpa(NewPage + 0x10_0000), bench.Translate(Iova + 0x10_0000));
    }

    [Fact]
    public void AnAddressMaskCoversTwoToTheAmPages()
    {
        var (bench, ss) = SecondStageMapped();
        ss.Map(new Gpa(Iova), new Hpa(NewPage));
        ss.Map(new Gpa(Iova + 0x10_0000), new Hpa(NewPage + 0x10_0000));

        bench.Submit(InvalidationDescriptor.IotlbPage(5, Iova, addressMask: 9)); // 512 pages = 2 MiB from 4 MiB

        Assert.Equal(new Hpa(NewPage), bench.Translate(Iova));
        Assert.Equal(new Hpa(NewPage + 0x10_0000), bench.Translate(Iova + 0x10_0000));
    }

    [Fact]
    public void DomainSelectiveInvalidationLeavesOtherDomains()
    {
        var bench = new CacheBench();
        var other = new SourceId(0, 2, 0);
        var a = bench.SecondStageDomain(5);
        var b = bench.SecondStageDomain(6, device: other);
        a.Map(new Gpa(Iova), new Hpa(OldPage));
        b.Map(new Gpa(Iova), new Hpa(OldPage));
        bench.Translate(Iova);
        bench.Translate(Iova, device: other);
        a.Map(new Gpa(Iova), new Hpa(NewPage));
        b.Map(new Gpa(Iova), new Hpa(NewPage));

        bench.Submit(InvalidationDescriptor.IotlbDomain(5));

        Assert.Equal(new Hpa(NewPage), bench.Translate(Iova));
        Assert.Equal(new Hpa(OldPage), bench.Translate(Iova, device: other));
    }

    [Fact]
    public void GlobalInvalidationRemovesEverything()
    {
        var (bench, ss) = SecondStageMapped();
        ss.Map(new Gpa(Iova), new Hpa(NewPage));
        bench.Submit(InvalidationDescriptor.IotlbGlobal());
        Assert.Equal(new Hpa(NewPage), bench.Translate(Iova));
    }

    [Fact]
    public void PasidBasedInvalidationLeavesSecondStageOnlyEntries()
    {
        var (bench, ss) = SecondStageMapped();
        ss.Map(new Gpa(Iova), new Hpa(NewPage));

        bench.Submit(InvalidationDescriptor.PasidIotlbAll(5, 0));

        Assert.Equal(new Hpa(OldPage), bench.Translate(Iova)); // D24: SS-only entries are not PASID-tagged
    }

    [Fact]
    public void PasidBasedInvalidationRemovesFirstStageEntriesOfThatPasid()
    {
        var bench = new CacheBench();
        var fs = bench.FirstStageDomain(7);
        fs.Map(new Iova(Iova), OldPage);
        Assert.Equal(new Hpa(OldPage), bench.Translate(Iova));
        fs.Map(new Iova(Iova), NewPage);

        bench.Submit(InvalidationDescriptor.IotlbPage(7, Iova)); // second-stage PSI: not for first-stage entries
        Assert.Equal(new Hpa(OldPage), bench.Translate(Iova));

        bench.Submit(InvalidationDescriptor.PasidIotlbPage(7, 0, Iova));
        Assert.Equal(new Hpa(NewPage), bench.Translate(Iova));
    }

    [Fact]
    public void AWriteThroughAnEntryFilledByAReadWalksAgainToSetD()
    {
        var bench = new CacheBench();
        var fs = bench.FirstStageDomain(7);
        fs.Map(new Iova(Iova), OldPage);
        bench.Translate(Iova);
        Hpa pte = fs.EntryHpa(new Iova(Iova), 1);
        Assert.False(new FirstStageEntry(bench.Memory.Read64(pte)).Dirty);

        bench.Translate(Iova, DmaAccess.Write);

        Assert.True(new FirstStageEntry(bench.Memory.Read64(pte)).Dirty);
    }

    [Fact]
    public void LeastRecentlyUsedEntriesAreEvictedFirst()
    {
        var tiny = BuiltInProfiles.Architectural with
        {
            Caches = BuiltInProfiles.Architectural.Caches with { Iotlb = new CacheGeometry(1, 2) },
        };
        var bench = new CacheBench(tiny);
        var ss = bench.SecondStageDomain(5);
        for (ulong i = 0; i < 3; i++) ss.Map(new Gpa(Iova + i * 0x1000), new Hpa(OldPage + i * 0x1000));
        bench.Translate(Iova);          // A
        bench.Translate(Iova + 0x1000); // B
        bench.Translate(Iova);          // A again: B is now least recently used
        bench.Translate(Iova + 0x2000); // C evicts B
        for (ulong i = 0; i < 3; i++) ss.Map(new Gpa(Iova + i * 0x1000), new Hpa(NewPage + i * 0x1000));

        Assert.Equal(new Hpa(OldPage), bench.Translate(Iova));                     // A: still cached
        Assert.Equal(new Hpa(NewPage + 0x1000), bench.Translate(Iova + 0x1000));   // B: evicted, walked afresh
        Assert.True(bench.Unit.Caches.Iotlb.Statistics.Evictions >= 1);
    }

    [Fact]
    public void HitsAndMissesAreCountedPerTranslation()
    {
        var (bench, _) = SecondStageMapped();
        var stats = bench.Unit.Caches.Iotlb.Statistics;
        long hits = stats.Hits, misses = stats.Misses;

        bench.Translate(Iova);
        bench.Translate(Iova + 0x20_0000); // unmapped: a miss, then a fault

        Assert.Equal(hits + 1, stats.Hits);
        Assert.Equal(misses + 1, stats.Misses);
    }
}
