using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Building;
using VtdSim.Hardware.Caches;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Structures;

namespace VtdSim.Hardware.Tests.Caches;

/// <summary>
/// An evicted entry is read afresh from memory on its next use — so a change software made without invalidating can
/// show up through eviction, as on hardware. The memos that speed up repeated translations must not hide that.
/// </summary>
public class EvictionTests
{
    private const ulong Iova = 0x40_0000, PageA = 0x1_0000_0000, PageB = 0x2_0000_0000;

    [Fact]
    public void AnEvictedPasidEntryIsReadAfreshEvenAfterRepeatedTranslations()
    {
        // One-entry context and PASID caches: a second device's translation evicts the first device's entries.
        var tiny = BuiltInProfiles.Architectural with
        {
            Caches = VtdProfile.DefaultCaches with { Context = new CacheGeometry(1, 1), Pasid = new CacheGeometry(1, 1) },
        };
        var bench = new CacheBench(tiny);
        var other = new SourceId(0, 2, 0);
        var a = bench.SecondStageDomain(5);
        a.Map(new Gpa(Iova), new Hpa(PageA));
        var b = bench.SecondStageDomain(6, device: other);
        b.Map(new Gpa(Iova), new Hpa(PageA));
        for (int i = 0; i < 3; i++) Assert.Equal(new Hpa(PageA), bench.Translate(Iova)); // cached, memoised

        // The device's PASID entry is switched to a new domain without invalidation: still the cached entry...
        var fresh = new SecondStageTableBuilder(bench.Frames, 4);
        fresh.Map(new Gpa(Iova), new Hpa(PageB));
        bench.Tables.SetPasidEntry(CacheBench.Device, 0, PasidEntry.SecondStage(fresh.Root, fresh.AddressWidth, 7));
        Assert.Equal(new Hpa(PageA), bench.Translate(Iova));

        // ...until the other device's translation evicts it: then the new entry (DID 7, page B) is read from memory.
        Assert.Equal(new Hpa(PageA), bench.Translate(Iova, device: other));
        Assert.Equal(new Hpa(PageB), bench.Translate(Iova));
    }
}
