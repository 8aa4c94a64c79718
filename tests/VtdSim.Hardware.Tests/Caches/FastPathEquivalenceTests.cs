using CsCheck;
using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Caches;
using VtdSim.Hardware.Invalidation;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Registers;
using VtdSim.Hardware.Tests.Properties;
using VtdSim.Hardware.Tracing;
using VtdSim.Hardware.Translation;

namespace VtdSim.Hardware.Tests.Caches;

/// <summary>
/// The memos in front of the caches (the translation fast path and the context-resolution memo) must change no
/// outcome: the same random mix of translations and invalidations, run once normally and once with a trace on every
/// translation (which bypasses both memos and looks every cache up), gives the same results, the same counters and the
/// same cache contents — with caches small enough that LRU replacement decides what survives.
/// </summary>
public class FastPathEquivalenceTests
{
    private const int Devices = 4, Pages = 24;
    private const ulong IovaBase = 0x40_0000, HpaBase = 0x1_0000_0000;

    private static readonly VtdProfile Small = BuiltInProfiles.Architectural with
    {
        Caches = new CacheSizes(
            Context: new CacheGeometry(1, 3),
            Pasid: new CacheGeometry(2, 2),
            Iotlb: new CacheGeometry(4, 2),
            FirstStagePagingStructures: new CacheGeometry(2, 2),
            SecondStagePagingStructures: new CacheGeometry(2, 2)),
    };

    [Fact]
    public void MemoisedAndLookedUpTranslationsAgreeOnResultsCountersAndLruOrder()
    {
        PropertyRunner.Run(Gen.Int, seed =>
        {
            var memoised = Build();
            var lookedUp = Build();
            var random = new Random(seed);
            for (int step = 0; step < 400; step++)
            {
                int choice = random.Next(100);
                if (choice < 80)
                {
                    var request = RandomRequest(random);
                    var a = memoised.Unit.Translate(in request);
                    var b = lookedUp.Unit.Translate(in request, new WalkTrace());
                    Assert.Equal(Describe(b), Describe(a));
                }
                else
                {
                    var descriptor = RandomInvalidation(random);
                    memoised.Submit(descriptor);
                    lookedUp.Submit(descriptor);
                }
                if (step % 97 == 96) AssertSameCaches(lookedUp, memoised);
            }
            AssertSameCaches(lookedUp, memoised);
        }, seed: 0xFA57, iterations: 60);
    }

    [Fact]
    public void ThousandsOfRepeatedHitsAreAllCounted()
    {
        var bench = Build();
        var request = new DmaRequest(CacheBench.Device, new Iova(IovaBase), DmaAccess.Read);
        Assert.True(bench.Unit.Translate(in request).Success); // walks and fills
        Assert.True(bench.Unit.Translate(in request).Success); // answered by the caches: remembered
        long iotlbHits = bench.Unit.Caches.Iotlb.Statistics.Hits, contextHits = bench.Unit.Caches.Context.Statistics.Hits;
        for (int i = 0; i < 5000; i++) Assert.True(bench.Unit.Translate(in request).Success); // more than the deferred log holds
        Assert.Equal(iotlbHits + 5000, bench.Unit.Caches.Iotlb.Statistics.Hits);
        Assert.Equal(contextHits + 5000, bench.Unit.Caches.Context.Statistics.Hits);
    }

    [Fact]
    public void TurningTranslationOffIsSeenByTheVeryNextTranslation()
    {
        var bench = Build();
        var request = new DmaRequest(CacheBench.Device, new Iova(IovaBase), DmaAccess.Read);
        for (int i = 0; i < 3; i++) Assert.Equal(TranslationKind.SecondStage, bench.Unit.Translate(in request).Kind); // remembered
        bench.Unit.WriteRegister32(RegisterOffset.GCMD, (uint)GlobalCommand.QueuedInvalidationEnable); // TE=0, QIE stays
        var off = bench.Unit.Translate(in request);
        Assert.Equal(TranslationKind.Disabled, off.Kind);
        Assert.Equal(new Hpa(IovaBase), off.Address);
        bench.Unit.WriteRegister32(RegisterOffset.GCMD, (uint)(GlobalCommand.QueuedInvalidationEnable | GlobalCommand.TranslationEnable));
        Assert.Equal(new Hpa(HpaBase), bench.Unit.Translate(in request).Address);
    }

    private static CacheBench Build()
    {
        var bench = new CacheBench(Small);
        for (int d = 0; d < Devices; d++)
        {
            var device = DeviceAt(d);
            var ss = bench.SecondStageDomain((ushort)(1 + d), device: device);
            for (int p = 0; p < Pages; p++) ss.Map(new Gpa(IovaBase + (ulong)p * 4096), new Hpa(HpaBase + (ulong)(d * Pages + p) * 4096));
        }
        // First-stage translations on PASID 1 of the first device.
        var fs = bench.FirstStageDomain(11, pasid: 1);
        for (int p = 0; p < Pages; p++) fs.Map(new Iova(IovaBase + (ulong)p * 4096), HpaBase + 0x100_0000 + (ulong)p * 4096);
        return bench;
    }

    private static SourceId DeviceAt(int d) => new(0, (byte)(1 + d), 0);

    /// <summary>Mostly a few hot pages (so translations repeat with others in between, as the memos see in practice), sometimes any.</summary>
    private static DmaRequest RandomRequest(Random random)
    {
        if (random.Next(3) != 0)
        {
            int hot = random.Next(6);
            return new DmaRequest(DeviceAt(hot % 3), new Iova(IovaBase + (ulong)hot * 4096 + (ulong)random.Next(4096)), DmaAccess.Read,
                hot == 3 ? 1u : null);
        }
        int device = random.Next(Devices);
        uint? pasid = device == 0 && random.Next(3) == 0 ? 1u : null;
        ulong address = IovaBase + (ulong)random.Next(Pages + 2) * 4096 + (ulong)random.Next(4096); // two pages unmapped
        var access = random.Next(4) == 0 ? DmaAccess.Write : DmaAccess.Read;
        return new DmaRequest(DeviceAt(device), new Iova(address), access, pasid);
    }

    private static InvalidationDescriptor RandomInvalidation(Random random)
    {
        ushort did = (ushort)(1 + random.Next(Devices));
        ulong page = IovaBase + (ulong)random.Next(Pages) * 4096;
        return random.Next(8) switch
        {
            0 => InvalidationDescriptor.IotlbGlobal(),
            1 => InvalidationDescriptor.IotlbDomain(did),
            2 => InvalidationDescriptor.IotlbPage(did, page),
            3 => InvalidationDescriptor.PasidIotlbPage(11, 1, page),
            4 => InvalidationDescriptor.PasidCacheDomain(did),
            5 => InvalidationDescriptor.ContextGlobal(),
            6 => InvalidationDescriptor.ContextDevice(0, DeviceAt(random.Next(Devices)).Value),
            _ => InvalidationDescriptor.PasidCacheGlobal(),
        };
    }

    private static string Describe(TranslationResult r) =>
        r.Success ? $"{r.Address} {r.PageSize} {r.Rights} {r.Kind}" : $"fault {r.Fault!.Reason} {r.Kind}";

    private static void AssertSameCaches(CacheBench expected, CacheBench actual)
    {
        var e = expected.Unit.Caches;
        var a = actual.Unit.Caches;
        Assert.Equal(e.Context.Statistics.ToString(), a.Context.Statistics.ToString());
        Assert.Equal(e.Pasid.Statistics.ToString(), a.Pasid.Statistics.ToString());
        Assert.Equal(e.Iotlb.Statistics.ToString(), a.Iotlb.Statistics.ToString());
        Assert.Equal(e.Context.Entries(), a.Context.Entries());
        Assert.Equal(e.Pasid.Entries(), a.Pasid.Entries());
        Assert.Equal(e.Iotlb.Entries(), a.Iotlb.Entries());
    }
}
