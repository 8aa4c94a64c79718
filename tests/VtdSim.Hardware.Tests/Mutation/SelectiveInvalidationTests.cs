using CsCheck;
using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Building;
using VtdSim.Hardware.Caches;
using VtdSim.Hardware.Faults;
using VtdSim.Hardware.Registers;
using VtdSim.Hardware.Structures;
using VtdSim.Hardware.Tests.Caches;
using VtdSim.Hardware.Tests.Properties;
using VtdSim.Hardware.Translation;

namespace VtdSim.Hardware.Tests.Mutation;

/// <summary>
/// Every invalidation that is not page-selective removes exactly the entries its rule names, from exactly the caches it
/// names, and nothing else (spec 6.5.2.1–6.5.2.6, vtd-facts §6.2, D23–D25): checked against the rules written out here
/// over random contents of all five caches. Mutation testing (docs/testing.md) found that no test noticed when the
/// context-cache, PASID-cache or paging-structure-cache part of these invalidations was left out.
/// </summary>
public class SelectiveInvalidationTests
{
    private static readonly CacheSizes Sizes = new(
        Context: new CacheGeometry(16, 4),
        Pasid: new CacheGeometry(16, 4),
        Iotlb: new CacheGeometry(32, 4),
        FirstStagePagingStructures: new CacheGeometry(16, 4),
        SecondStagePagingStructures: new CacheGeometry(16, 4));

    private sealed record Snapshot(
        List<(ContextCacheKey Key, ContextCacheEntry Value)> Context,
        List<(PasidCacheKey Key, PasidCacheEntry Value)> Pasid,
        List<(IotlbKey Key, IotlbEntry Value)> Iotlb,
        List<(FirstStagePscKey Key, FirstStagePscEntry Value)> FirstStage,
        List<(SecondStagePscKey Key, SecondStagePscEntry Value)> SecondStage);

    private static Snapshot Take(RemappingCaches c) =>
        new(c.Context.Entries().ToList(), c.Pasid.Entries().ToList(), c.Iotlb.Entries().ToList(), c.FirstStage.Entries().ToList(), c.SecondStage.Entries().ToList());

    private static void AssertHolds(Snapshot expected, RemappingCaches caches)
    {
        Assert.Equal(expected.Context, caches.Context.Entries());
        Assert.Equal(expected.Pasid, caches.Pasid.Entries());
        Assert.Equal(expected.Iotlb, caches.Iotlb.Entries());
        Assert.Equal(expected.FirstStage, caches.FirstStage.Entries());
        Assert.Equal(expected.SecondStage, caches.SecondStage.Entries());
    }

    [Fact]
    public void ContextCacheInvalidationsRemoveExactlyTheirEntriesAndTouchNoOtherCache()
    {
        PropertyRunner.Run(Gen.Int, seed =>
        {
            var random = new Random(seed);
            var caches = Fill(random);
            var before = Take(caches);
            ushort did = (ushort)random.Next(1, 4);
            switch (random.Next(3))
            {
                case 0: // global
                    caches.InvalidateContextGlobal();
                    AssertHolds(before with { Context = [] }, caches);
                    break;
                case 1: // domain-selective: legacy entries of the DID; scalable entries carry no DID, so all of them
                    caches.InvalidateContextDomain(did);
                    AssertHolds(before with { Context = before.Context.Where(x => !(x.Value.Scalable || x.Value.DomainId == did)).ToList() }, caches);
                    break;
                default: // device-selective: the source id with the function-mask bits of the function number ignored
                    ushort sid = (ushort)random.Next(0, 32);
                    int fm = random.Next(4);
                    int ignored = fm switch { 1 => 0b100, 2 => 0b110, 3 => 0b111, _ => 0 };
                    caches.InvalidateContextDevice(did, sid, fm);
                    AssertHolds(before with { Context = before.Context.Where(x => (x.Key.SourceId | ignored) != (sid | ignored)).ToList() }, caches);
                    break;
            }
        }, 0x0_C0_47E7, iterations: 200);
    }

    [Fact]
    public void PasidCacheInvalidationsRemoveExactlyTheirEntriesAndTouchNoOtherCache()
    {
        PropertyRunner.Run(Gen.Int, seed =>
        {
            var random = new Random(seed);
            var caches = Fill(random);
            var before = Take(caches);
            ushort did = (ushort)random.Next(1, 4);
            uint pasid = (uint)random.Next(4);
            switch (random.Next(3))
            {
                case 0:
                    caches.InvalidatePasidCacheGlobal();
                    AssertHolds(before with { Pasid = [] }, caches);
                    break;
                case 1:
                    caches.InvalidatePasidCacheDomain(did);
                    AssertHolds(before with { Pasid = before.Pasid.Where(x => x.Value.DomainId != did).ToList() }, caches);
                    break;
                default: // PASID-selective: that PASID within that domain only
                    caches.InvalidatePasidCachePasid(did, pasid);
                    AssertHolds(before with { Pasid = before.Pasid.Where(x => !(x.Value.DomainId == did && x.Key.Pasid == pasid)).ToList() }, caches);
                    break;
            }
        }, 0x0_9A51_DC, iterations: 200);
    }

    [Fact]
    public void IotlbInvalidationsRemoveTheirTranslationsAndPagingStructureEntriesAndLeaveTheContextAndPasidCaches()
    {
        PropertyRunner.Run(Gen.Int, seed =>
        {
            var random = new Random(seed);
            var caches = Fill(random);
            var before = Take(caches);
            ushort did = (ushort)random.Next(1, 4);
            uint pasid = (uint)random.Next(4);
            switch (random.Next(3))
            {
                case 0: // global: every IOTLB and paging-structure-cache entry
                    caches.InvalidateIotlbGlobal();
                    AssertHolds(before with { Iotlb = [], FirstStage = [], SecondStage = [] }, caches);
                    break;
                case 1: // domain-selective: everything tagged with the DID, whatever the PASID or the kind of walk
                    caches.InvalidateIotlbDomain(did);
                    AssertHolds(before with
                    {
                        Iotlb = before.Iotlb.Where(x => x.Key.DomainId != did).ToList(),
                        FirstStage = before.FirstStage.Where(x => x.Key.DomainId != did).ToList(),
                        SecondStage = before.SecondStage.Where(x => x.Key.DomainId != did).ToList(),
                    }, caches);
                    break;
                default: // P_IOTLB all-in-PASID: (DID, PASID) translations and first-stage PSC entries; second-stage ones stay
                    caches.InvalidatePasidIotlb(did, pasid);
                    AssertHolds(before with
                    {
                        Iotlb = before.Iotlb.Where(x => !(x.Key.DomainId == did && x.Key.Pasid == pasid)).ToList(),
                        FirstStage = before.FirstStage.Where(x => !(x.Key.DomainId == did && x.Key.Pasid == pasid)).ToList(),
                    }, caches);
                    break;
            }
        }, 0x0_10_7B, iterations: 200);
    }

    /// <summary>
    /// With ESRTPS, SRTP flushes the context and PASID caches too (spec 10.4.4, GCMD.SRTP): a context entry made not
    /// present, and a PASID entry moved to another domain, are both read afresh at the next request without any
    /// invalidation descriptor.
    /// </summary>
    [Fact]
    public void SrtpWithEsrtpsFlushesTheContextCache()
    {
        var bench = new CacheBench();
        bench.SecondStageDomain(5).Map(new Gpa(0x40_0000), new Hpa(0x1_0000_0000));
        Assert.NotNull(bench.Translate(0x40_0000));
        bench.Tables.SetScalableContext(CacheBench.Device, dir => ScalableContextEntry.Create(dir).WithPresent(false));
        Assert.NotNull(bench.Translate(0x40_0000)); // the cached context entry still answers

        SetRootTablePointer(bench);

        var r = bench.Unit.Translate(new DmaRequest(CacheBench.Device, new Iova(0x40_0000), DmaAccess.Read));
        Assert.Equal(FaultReason.SCT2_ContextNotPresent, r.Fault?.Reason);
    }

    [Fact]
    public void SrtpWithEsrtpsFlushesThePasidCache()
    {
        const ulong iova = 0x40_0000, pageA = 0x1_0000_0000, pageB = 0x2_0000_0000;
        var bench = new CacheBench();
        bench.SecondStageDomain(5).Map(new Gpa(iova), new Hpa(pageA));
        Assert.Equal(new Hpa(pageA), bench.Translate(iova));
        var b = new SecondStageTableBuilder(bench.Frames, 4);
        b.Map(new Gpa(iova), new Hpa(pageB));
        bench.Tables.SetPasidEntry(CacheBench.Device, 0, PasidEntry.SecondStage(b.Root, b.AddressWidth, 6));
        Assert.Equal(new Hpa(pageA), bench.Translate(iova)); // the cached PASID entry still answers

        SetRootTablePointer(bench);

        Assert.Equal(new Hpa(pageB), bench.Translate(iova));
    }

    private static void SetRootTablePointer(CacheBench bench)
    {
        Assert.True(bench.Unit.Profile.Cap.EnhancedSetRootTablePointer);
        bench.Unit.WriteRegister32(RegisterOffset.GCMD,
            (uint)(GlobalCommand.QueuedInvalidationEnable | GlobalCommand.TranslationEnable | GlobalCommand.SetRootTablePointer));
    }

    /// <summary>Random entries in all five caches: three domains, four PASIDs, legacy and scalable context entries, all kinds of translation.</summary>
    private static RemappingCaches Fill(Random random)
    {
        var caches = new RemappingCaches(Sizes);
        for (int i = 0; i < 40; i++)
        {
            ushort sid = (ushort)random.Next(0, 32);
            bool scalable = random.Next(2) == 0;
            ushort did = scalable ? (ushort)0 : (ushort)random.Next(1, 4);
            caches.Context.Add(new ContextCacheKey(sid), sid, new ContextCacheEntry((ulong)i, 0, 0, 0, scalable, did, 0x1000));
            uint pasid = (uint)random.Next(4);
            caches.Pasid.Add(new PasidCacheKey(sid, pasid), CacheTag.Hash(sid, pasid),
                new PasidCacheEntry((ulong)i, 0, 0, false, (ushort)random.Next(1, 4), 0x2000));
        }
        for (int i = 0; i < 100; i++)
        {
            ushort did = (ushort)random.Next(1, 4);
            byte level = (byte)random.Next(1, 4);
            ulong page = (ulong)random.Next(4096);
            TranslationKind kind = random.Next(4) switch
            {
                0 => TranslationKind.Legacy,
                1 => TranslationKind.SecondStage,
                2 => TranslationKind.FirstStage,
                _ => TranslationKind.Nested,
            };
            uint pasid = kind is TranslationKind.FirstStage or TranslationKind.Nested ? (uint)random.Next(4) : CacheTag.NoPasid;
            caches.FillIotlb(new IotlbKey(did, pasid, page, level), new IotlbEntry(0x1000, AccessRights.Read, AccessRights.Read, kind, false));
        }
        for (int i = 0; i < 40; i++)
        {
            ushort did = (ushort)random.Next(1, 4);
            byte level = (byte)random.Next(2, 6);
            ulong tag = (ulong)random.Next(512);
            uint pasid = (uint)random.Next(4);
            caches.SecondStage.Add(new SecondStagePscKey(did, level, tag), CacheTag.PagingStructure(did, 0, level, tag), new SecondStagePscEntry(0x2000, AccessRights.Read));
            caches.FirstStage.Add(new FirstStagePscKey(did, pasid, level, tag), CacheTag.PagingStructure(did, pasid, level, tag),
                new FirstStagePscEntry(0x3000, 0x3000, true, 0, 0, true, true, false));
        }
        return caches;
    }
}
