using CsCheck;
using VtdSim.Hardware.Caches;
using VtdSim.Hardware.Translation;

namespace VtdSim.Hardware.Tests.Caches;

/// <summary>
/// Page-selective invalidations look up only the tags their range covers when that is cheaper than walking every tag.
/// Either way they must remove exactly what the rule says (vtd-facts §6.2, D23–D26): checked here against the rule
/// written out over the cache contents, for random contents, ranges (AM 0–12, so both ways are taken) and hints.
/// </summary>
public class RangeInvalidationTests
{
    private const ulong Base = 0x4000_0000; // ranges and entries cluster here, so they overlap often

    private static readonly CacheSizes Sizes = new(
        Context: new CacheGeometry(4, 1),
        Pasid: new CacheGeometry(4, 1),
        Iotlb: new CacheGeometry(64, 4),
        FirstStagePagingStructures: new CacheGeometry(16, 4),
        SecondStagePagingStructures: new CacheGeometry(16, 4));

    [Fact]
    public void PageSelectiveIotlbInvalidationRemovesExactlyTheRulesEntries()
    {
        Gen.Int.Sample(seed =>
        {
            var random = new Random(seed);
            var caches = Fill(random, nested: random.Next(3) == 0);
            ushort did = (ushort)random.Next(1, 3);
            ulong address = Address(random);
            int am = random.Next(13);
            bool leafOnly = random.Next(2) == 0;
            ulong end = address + (4096UL << am);
            var iotlb = caches.Iotlb.Entries().Where(x => !(x.Key.DomainId == did && (x.Value.Kind == TranslationKind.Nested
                || (x.Value.Kind is TranslationKind.Legacy or TranslationKind.SecondStage && RemappingCaches.Overlaps(x.Key.PageNumber, x.Key.Level, address, end))))).ToList();
            var fs = caches.FirstStage.Entries().Where(x => x.Key.DomainId != did).ToList();
            var ss = caches.SecondStage.Entries().Where(x => leafOnly || !(x.Key.DomainId == did && RemappingCaches.Overlaps(x.Key.InputTag, x.Key.Level, address, end))).ToList();

            caches.InvalidateIotlbPages(did, address, am, leafOnly);

            Assert.Equal(iotlb, caches.Iotlb.Entries());
            Assert.Equal(fs, caches.FirstStage.Entries());
            Assert.Equal(ss, caches.SecondStage.Entries());
        }, iter: 400, seed: "0PcXs1EoqRb3");
    }

    [Fact]
    public void PasidSelectivePageInvalidationRemovesExactlyTheRulesEntries()
    {
        Gen.Int.Sample(seed =>
        {
            var random = new Random(seed);
            var caches = Fill(random, nested: random.Next(2) == 0);
            ushort did = (ushort)random.Next(1, 3);
            uint pasid = (uint)random.Next(2);
            ulong address = Address(random);
            int am = random.Next(13);
            bool leafOnly = random.Next(2) == 0;
            ulong end = address + (4096UL << am);
            var iotlb = caches.Iotlb.Entries().Where(x => !(x.Key.DomainId == did && x.Key.Pasid == pasid
                && RemappingCaches.Overlaps(x.Key.PageNumber, x.Key.Level, address, end))).ToList();
            var fs = caches.FirstStage.Entries().Where(x => leafOnly || !(x.Key.DomainId == did && x.Key.Pasid == pasid
                && RemappingCaches.Overlaps(x.Key.InputTag, x.Key.Level, address, end))).ToList();
            var ss = caches.SecondStage.Entries().ToList();

            caches.InvalidatePasidIotlbPages(did, pasid, address, am, leafOnly);

            Assert.Equal(iotlb, caches.Iotlb.Entries());
            Assert.Equal(fs, caches.FirstStage.Entries());
            Assert.Equal(ss, caches.SecondStage.Entries());
        }, iter: 400, seed: "0Ug2kmqa2Rb9");
    }

    [Fact]
    public void ANestedEntryIsRemovedByAnyPageSelectiveInvalidationOfItsDomainEvenFarFromIt()
    {
        var caches = new RemappingCaches(Sizes);
        var key = new IotlbKey(1, 0, Base >> 12, 1);
        caches.FillIotlb(in key, new IotlbEntry(0x1000, AccessRights.Read, TranslationKind.Nested, false));
        caches.InvalidateIotlbPages(2, Base, 0, false); // another domain: stays
        Assert.Single(caches.Iotlb.Entries());
        caches.InvalidateIotlbPages(1, 0x7000_0000_0000, 0, false);
        Assert.Empty(caches.Iotlb.Entries());
    }

    private static ulong Address(Random random) => Base + ((ulong)random.Next(-2048, 2048) << 12);

    /// <summary>Random entries around <see cref="Base"/> for two domains, as walks would leave them.</summary>
    private static RemappingCaches Fill(Random random, bool nested)
    {
        var caches = new RemappingCaches(Sizes);
        for (int i = 0; i < 300; i++)
        {
            ushort did = (ushort)random.Next(1, 3);
            byte level = (byte)random.Next(1, 4);
            ulong page = Address(random) >> (12 + 9 * (level - 1));
            TranslationKind kind = random.Next(4) switch
            {
                0 => TranslationKind.Legacy,
                1 => TranslationKind.SecondStage,
                2 => TranslationKind.FirstStage,
                _ => nested ? TranslationKind.Nested : TranslationKind.FirstStage,
            };
            uint pasid = kind is TranslationKind.FirstStage or TranslationKind.Nested ? (uint)random.Next(2) : CacheTag.NoPasid;
            caches.FillIotlb(new IotlbKey(did, pasid, page, level), new IotlbEntry(0x1000, AccessRights.Read, kind, false));
        }
        for (int i = 0; i < 80; i++)
        {
            ushort did = (ushort)random.Next(1, 3);
            byte level = (byte)random.Next(2, 6);
            ulong tag = Address(random) >> (12 + 9 * (level - 1));
            caches.SecondStage.Add(new SecondStagePscKey(did, level, tag), CacheTag.PagingStructure(did, 0, level, tag), new SecondStagePscEntry(0x2000, AccessRights.Read));
            uint pasid = (uint)random.Next(2);
            caches.FirstStage.Add(new FirstStagePscKey(did, pasid, level, tag), CacheTag.PagingStructure(did, pasid, level, tag),
                new FirstStagePscEntry(0x3000, 0x3000, true, 0, 0, true, true, false));
        }
        return caches;
    }
}
