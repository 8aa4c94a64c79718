using CsCheck;
using VtdSim.Hardware.Caches;
using VtdSim.Hardware.Tests.Properties;
using VtdSim.Hardware.Translation;

namespace VtdSim.Hardware.Tests.Caches;

/// <summary>
/// Page-selective invalidations look up only the tags their range covers when that is cheaper than walking every tag.
/// Either way they must remove exactly what the rule says (vtd-facts §6.2, D23–D26): checked here against the rule
/// written out over the cache contents, for random contents, ranges (AM 0–12, so both ways are taken, and now and then
/// up to the whole space) and hints. Entries and ranges cluster at two places: a low base, and the top of the 64-bit
/// space, where a range's exclusive end, 2^64, does not fit in 64 bits (issue 8, item 2). The rule's overlap test is
/// written here in 128-bit arithmetic, independently of the model's.
/// </summary>
public class RangeInvalidationTests
{
    private const ulong Base = 0x4000_0000; // ranges and entries cluster here and at the top, so they overlap often
    private const ulong TopPage = ulong.MaxValue & ~0xFFFUL; // the last 4 KiB page of the space

    private static readonly CacheSizes Sizes = new(
        Context: new CacheGeometry(4, 1),
        Pasid: new CacheGeometry(4, 1),
        Iotlb: new CacheGeometry(64, 4),
        FirstStagePagingStructures: new CacheGeometry(16, 4),
        SecondStagePagingStructures: new CacheGeometry(16, 4));

    [Fact]
    public void PageSelectiveIotlbInvalidationRemovesExactlyTheRulesEntries()
    {
        PropertyRunner.Run(Gen.Int, seed =>
        {
            var random = new Random(seed);
            var caches = Fill(random, nested: random.Next(3) == 0);
            ushort did = (ushort)random.Next(1, 3);
            var (address, am) = Range(random);
            bool leafOnly = random.Next(2) == 0;
            var iotlb = caches.Iotlb.Entries().Where(x => !(x.Key.DomainId == did && (x.Value.Kind == TranslationKind.Nested
                || (x.Value.Kind is TranslationKind.Legacy or TranslationKind.SecondStage && Covers(address, am, x.Key.PageNumber, x.Key.Level))))).ToList();
            var fs = caches.FirstStage.Entries().Where(x => x.Key.DomainId != did).ToList();
            var ss = caches.SecondStage.Entries().Where(x => leafOnly || !(x.Key.DomainId == did && Covers(address, am, x.Key.InputTag, x.Key.Level))).ToList();

            caches.InvalidateIotlbPages(did, address, am, leafOnly);

            Assert.Equal(iotlb, caches.Iotlb.Entries());
            Assert.Equal(fs, caches.FirstStage.Entries());
            Assert.Equal(ss, caches.SecondStage.Entries());
        }, 0x0_5E1EC7, iterations: 400);
    }

    [Fact]
    public void PasidSelectivePageInvalidationRemovesExactlyTheRulesEntries()
    {
        PropertyRunner.Run(Gen.Int, seed =>
        {
            var random = new Random(seed);
            var caches = Fill(random, nested: random.Next(2) == 0);
            ushort did = (ushort)random.Next(1, 3);
            uint pasid = (uint)random.Next(2);
            var (address, am) = Range(random);
            bool leafOnly = random.Next(2) == 0;
            var iotlb = caches.Iotlb.Entries().Where(x => !(x.Key.DomainId == did && x.Key.Pasid == pasid
                && Covers(address, am, x.Key.PageNumber, x.Key.Level))).ToList();
            var fs = caches.FirstStage.Entries().Where(x => leafOnly || !(x.Key.DomainId == did && x.Key.Pasid == pasid
                && Covers(address, am, x.Key.InputTag, x.Key.Level))).ToList();
            var ss = caches.SecondStage.Entries().ToList();

            caches.InvalidatePasidIotlbPages(did, pasid, address, am, leafOnly);

            Assert.Equal(iotlb, caches.Iotlb.Entries());
            Assert.Equal(fs, caches.FirstStage.Entries());
            Assert.Equal(ss, caches.SecondStage.Entries());
        }, 0x0_9A5_1D, iterations: 400);
    }

    [Fact]
    public void ANestedEntryIsRemovedByAnyPageSelectiveInvalidationOfItsDomainEvenFarFromIt()
    {
        var caches = new RemappingCaches(Sizes);
        var key = new IotlbKey(1, 0, Base >> 12, 1);
        caches.FillIotlb(in key, new IotlbEntry(0x1000, AccessRights.Read, AccessRights.Read, TranslationKind.Nested, false));
        caches.InvalidateIotlbPages(2, Base, 0, false); // another domain: stays
        Assert.Single(caches.Iotlb.Entries());
        caches.InvalidateIotlbPages(1, 0x7000_0000_0000, 0, false);
        Assert.Empty(caches.Iotlb.Entries());
    }

    /// <summary>A page near the low base or near the top of the space.</summary>
    private static ulong Address(Random random) =>
        random.Next(2) == 0 ? Base + ((ulong)random.Next(-2048, 2048) << 12) : TopPage - ((ulong)random.Next(4096) << 12);

    /// <summary>A range as a descriptor gives it: AM mostly 0–12, sometimes up to 30 or the whole space; the address aligned to it.</summary>
    private static (ulong Address, int Am) Range(Random random)
    {
        int am = random.Next(20) switch { 0 => random.Next(13, 31), 1 => random.Next(52, 64), _ => random.Next(13) };
        ulong size = am >= 52 ? 0 : 4096UL << am; // 0: 2^64 and more
        return (size == 0 ? 0 : Address(random) & ~(size - 1), am);
    }

    /// <summary>The rule's overlap, in 128-bit arithmetic: does [address, address + 2^(12+AM)) meet the region a tag names at a level?</summary>
    private static bool Covers(ulong address, int am, ulong tag, byte level)
    {
        int shift = 12 + 9 * (level - 1);
        UInt128 start = address, end = start + (UInt128.One << (12 + am));
        UInt128 regionStart = (UInt128)tag << shift, regionEnd = regionStart + (UInt128.One << shift);
        return regionStart < end && start < regionEnd;
    }

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
            caches.FillIotlb(new IotlbKey(did, pasid, page, level), new IotlbEntry(0x1000, AccessRights.Read, AccessRights.Read, kind, false));
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
