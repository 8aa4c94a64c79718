using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Caches;
using VtdSim.Hardware.Events;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Structures;
using VtdSim.Hardware.Building;
using VtdSim.Hardware.Tests.Support;
using VtdSim.Hardware.Tracing;
using VtdSim.Hardware.Translation;

namespace VtdSim.Hardware.Tests.Mutation;

/// <summary>
/// The translation engine (TranslationEngine.cs) where a change to the code went unnoticed by the other tests (docs/testing.md):
/// a unit whose profile has no IOTLB, the erratum-772415 writes reported per translation, and an IOTLB hit for each
/// kind of translation and page size.
/// </summary>
public class EngineMutationTests
{
    private const ulong Iova = 0x40_0000;

    [Fact]
    public void AUnitWithoutAnIotlbWalksEveryRequestAndCountsNoIotlbUse()
    {
        // The profile keeps the context cache but has no IOTLB (capacity 0): no translation is cached, so a leaf that
        // changes in memory takes effect at the next request, and the IOTLB reports neither hits nor misses.
        var profile = BuiltInProfiles.Architectural with
        {
            Caches = BuiltInProfiles.Architectural.Caches with { Iotlb = CacheGeometry.None },
        };
        var bench = new LegacyBench(profile, levels: 4, cached: true).WithMapping(Iova, LegacyBench.DataBase);
        for (int i = 0; i < 3; i++) Assert.Equal(new Hpa(LegacyBench.DataBase + 8), bench.Unit.Translate(LegacyBench.Read(Iova + 8)).Address);
        bench.SecondLevel.Map(new Gpa(Iova), new Hpa(LegacyBench.DataBase + 0x1000));
        Assert.Equal(new Hpa(LegacyBench.DataBase + 0x1008), bench.Unit.Translate(LegacyBench.Read(Iova + 8)).Address);

        var iotlb = bench.Unit.CacheReports().Single(r => r.Name == "iotlb").Statistics;
        Assert.Equal((0L, 0L, 0L), (iotlb.Hits, iotlb.Misses, iotlb.Fills));
        Assert.True(bench.Unit.CacheReports().Single(r => r.Name == "context").Statistics.Hits >= 3);
    }

    [Fact]
    public void AnErratumWriteIsReportedByTheTranslationThatMadeItOnly()
    {
        // Sapphire Rapids (erratum 772415): a first-stage table in a page the second stage maps read-only still gets
        // its A bit. The first translation sets it (one event); the next ones find it set and write nothing.
        var bench = new NestedBench(BuiltInProfiles.SapphireRapids);
        var fs = bench.NewGuestFirstStage();
        const ulong dataGpa = 0x800_0000;
        bench.SecondStage.Map(new Gpa(dataGpa), NestedBench.GuestToHost(dataGpa));
        fs.Map(new Iova(0x7000_1000), dataGpa);
        bench.SecondStage.Map(new Gpa(fs.Root), NestedBench.GuestToHost(fs.Root), 4096, read: true, write: false);
        bench.Tables.SetPasidEntry(NestedBench.Device, 0, PasidEntry.NestedEntry(fs.Root, bench.SecondStage.Root, 2, 1));

        for (int i = 0; i < 3; i++) Assert.True(bench.Unit.Translate(bench.Read(0x7000_1000)).Success);
        ErratumWriteEvent write = Assert.Single(bench.Unit.Events.OfType<ErratumWriteEvent>());
        Assert.Equal(4, write.Level);
        Assert.Equal(FirstStageEntry.AccessedBit, write.NewValue & ~write.OldValue);
    }

    public enum Kind { Legacy, SecondStage, FirstStage, Nested }

    [Theory]
    [InlineData(Kind.Legacy, 4096UL)]
    [InlineData(Kind.Legacy, 1UL << 21)]
    [InlineData(Kind.Legacy, 1UL << 30)]
    [InlineData(Kind.SecondStage, 4096UL)]
    [InlineData(Kind.SecondStage, 1UL << 21)]
    [InlineData(Kind.SecondStage, 1UL << 30)]
    [InlineData(Kind.FirstStage, 4096UL)]
    [InlineData(Kind.FirstStage, 1UL << 21)]
    [InlineData(Kind.FirstStage, 1UL << 30)]
    [InlineData(Kind.Nested, 4096UL)]
    public void ARepeatedRequestIsAnIotlbHitThatReadsNoMemory(Kind kind, ulong pageSize)
    {
        // The architectural unit caches every page size it walks (CAP.SSLPS, FS1GP). The first request misses and
        // fills the IOTLB; every later one (answered by the memo or, with a trace, by the IOTLB) is a hit, and the
        // traced one reads no paging memory (spec 6.2.3: a translation the IOTLB holds is used without a walk).
        const ulong iova = 0x4000_0000, output = 0x1_8000_0000;
        VtdUnit unit;
        DmaRequest request;
        if (kind == Kind.Legacy)
        {
            var bench = new LegacyBench(BuiltInProfiles.Architectural, levels: 4, cached: true);
            bench.SetContext(bench.DefaultContext());
            bench.SecondLevel.Map(new Gpa(iova), new Hpa(output), pageSize);
            (unit, request) = (bench.Unit, LegacyBench.Read(iova + 0x123));
        }
        else
        {
            var bench = new NestedBench(cached: true);
            PasidEntry entry;
            if (kind == Kind.SecondStage)
            {
                bench.SecondStage.Map(new Gpa(iova), new Hpa(output), pageSize);
                entry = PasidEntry.SecondStage(bench.SecondStage.Root, bench.SecondStage.AddressWidth, 1);
            }
            else if (kind == Kind.FirstStage)
            {
                var fs = FirstStageTableBuilder.InHostMemory(bench.HostFrames);
                fs.Map(new Iova(iova), output, pageSize);
                entry = PasidEntry.FirstStage(fs.Root, 1);
            }
            else
            {
                var fs = bench.NewGuestFirstStage();
                fs.Map(new Iova(iova), 0x80_0000);
                bench.SecondStage.Map(new Gpa(0x80_0000), new Hpa(output));
                entry = PasidEntry.NestedEntry(fs.Root, bench.SecondStage.Root, bench.SecondStage.AddressWidth, 1);
            }
            bench.Tables.SetPasidEntry(NestedBench.Device, 0, entry);
            (unit, request) = (bench.Unit, bench.Read(iova + 0x123));
        }

        for (int i = 0; i < 3; i++) Assert.Equal(new Hpa(output + 0x123), unit.Translate(request).Address);
        var trace = new WalkTrace();
        TranslationResult traced = unit.Translate(request, trace);
        Assert.Equal(new Hpa(output + 0x123), traced.Address);
        Assert.Equal(pageSize, traced.PageSize);
        Assert.Equal(0, trace.PagingReads);
        var iotlb = unit.CacheReports().Single(r => r.Name == "iotlb").Statistics;
        Assert.Equal((3L, 1L, 1L), (iotlb.Hits, iotlb.Misses, iotlb.Fills));
    }
}
