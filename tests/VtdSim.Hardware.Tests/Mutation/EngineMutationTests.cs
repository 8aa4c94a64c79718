using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Caches;
using VtdSim.Hardware.Events;
using VtdSim.Hardware.Faults;
using VtdSim.Hardware.Invalidation;
using VtdSim.Hardware.Memory;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Structures;
using VtdSim.Hardware.Building;
using VtdSim.Hardware.Tests.Caches;
using VtdSim.Hardware.Tests.Memory;
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
    [InlineData(Kind.FirstStage, 4096UL, 0xFFFF_8000_4000_0000UL)]       // upper half of the 4-level canonical space
    [InlineData(Kind.FirstStage, 4096UL, 0x0004_0000_4000_0000UL, 5)]    // bit 50: canonical for 5-level paging only
    [InlineData(Kind.Legacy, 4096UL, 0xFFFF_FFFF_F000UL, 4, 0xFFF)]        // the last byte of a 48-bit space
    public void ARepeatedRequestIsAnIotlbHitThatReadsNoMemory(Kind kind, ulong pageSize, ulong iova = 0x4000_0000, int fsLevels = 4, ulong offset = 0x123)
    {
        // The architectural unit caches every page size it walks (CAP.SSLPS, FS1GP). The first request misses and
        // fills the IOTLB; every later one (answered by the memo or, with a trace, by the IOTLB) is a hit, and the
        // traced one reads no paging memory (spec 6.2.3: a translation the IOTLB holds is used without a walk).
        const ulong output = 0x1_8000_0000;
        VtdUnit unit;
        DmaRequest request;
        if (kind == Kind.Legacy)
        {
            var bench = new LegacyBench(BuiltInProfiles.Architectural, levels: 4, cached: true);
            bench.SetContext(bench.DefaultContext());
            bench.SecondLevel.Map(new Gpa(iova), new Hpa(output), pageSize);
            (unit, request) = (bench.Unit, LegacyBench.Read(iova + offset));
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
                var fs = FirstStageTableBuilder.InHostMemory(bench.HostFrames, fsLevels);
                fs.Map(new Iova(iova), output, pageSize);
                entry = PasidEntry.FirstStage(fs.Root, 1, fiveLevel: fsLevels == 5);
            }
            else
            {
                var fs = bench.NewGuestFirstStage();
                fs.Map(new Iova(iova), 0x80_0000);
                bench.SecondStage.Map(new Gpa(0x80_0000), new Hpa(output));
                entry = PasidEntry.NestedEntry(fs.Root, bench.SecondStage.Root, bench.SecondStage.AddressWidth, 1);
            }
            bench.Tables.SetPasidEntry(NestedBench.Device, 0, entry);
            (unit, request) = (bench.Unit, bench.Read(iova + offset));
        }

        for (int i = 0; i < 3; i++) Assert.Equal(new Hpa(output + offset), unit.Translate(request).Address);
        var trace = new WalkTrace();
        TranslationResult traced = unit.Translate(request, trace);
        Assert.Equal(new Hpa(output + offset), traced.Address);
        Assert.Equal(pageSize, traced.PageSize);
        Assert.Equal(0, trace.PagingReads);
        var iotlb = unit.CacheReports().Single(r => r.Name == "iotlb").Statistics;
        Assert.Equal((3L, 1L, 1L), (iotlb.Hits, iotlb.Misses, iotlb.Fills));
    }

    private const AccessRights AllRights = AccessRights.Read | AccessRights.Write | AccessRights.Execute | AccessRights.User;

    [Fact]
    public void LegacyPassThroughReachesTheLastByteOfTheContextsWidthWithEveryRight()
    {
        // qemu-7.2 legacy: AGAW 39 = HAW 39. TT=10 passes every address up to 2^39 - 1 unchanged (spec 3.9).
        var bench = new LegacyBench();
        bench.SetContext(LegacyContextEntry.Create(bench.SecondLevel.Root, bench.SecondLevel.AddressWidth, 1, TranslationType.PassThrough));
        foreach (ulong address in new[] { 0x1234UL, (1UL << 39) - 1 })
        {
            TranslationResult result = bench.Unit.Translate(LegacyBench.Read(address));
            Assert.Null(result.Fault);
            Assert.Equal(new Hpa(address), result.Address);
            Assert.Equal(AllRights, result.Rights);
        }
    }

    [Theory]
    [InlineData(1UL << 46, FaultReason.LGN1_AddressBeyondWidth, "0x400000000000 is beyond the host address width (46 bits)")]
    [InlineData(1UL << 48, FaultReason.LGN1_AddressBeyondWidth, "0x1000000000000 is above the context's AGAW limit 0xffffffffffff")]
    [InlineData(0xFEE0_1000UL, FaultReason.LGN4_InterruptAddress, "0xfee01000 lies in the interrupt range")]
    public void LegacyPassThroughBlocksAddressesBeyondEitherWidthAndTheInterruptRange(ulong address, FaultReason reason, string explained)
    {
        // Sapphire Rapids: HAW 46 below the context's AGAW 48. An address at or above 2^46 is beyond the host width
        // (LGN.1 in legacy mode, spec 7.1.3), one above 2^48 - 1 beyond the context's, and 0xFEEx_xxxx is the
        // interrupt range (LGN.4); the explanation a user reads names the address and the limit.
        var bench = new LegacyBench(BuiltInProfiles.SapphireRapids, levels: 4);
        bench.SetContext(LegacyContextEntry.Create(bench.SecondLevel.Root, bench.SecondLevel.AddressWidth, 1, TranslationType.PassThrough));
        DmaFault? fault = bench.Unit.Translate(LegacyBench.Read(address)).Fault;
        Assert.Equal(reason, fault?.Reason);
        Assert.Contains(explained, fault!.Explanation);
    }

    [Fact]
    public void ScalablePassThroughBeyondTheHostWidthFaultsSgn4()
    {
        var bench = new NestedBench(BuiltInProfiles.SapphireRapids);
        bench.Tables.SetPasidEntry(NestedBench.Device, 0, PasidEntry.PassThroughEntry(1));
        TranslationResult inside = bench.Unit.Translate(bench.Read(0x1234));
        Assert.Equal((new Hpa(0x1234), AllRights), (inside.Address, inside.Rights));
        DmaFault? fault = bench.Unit.Translate(bench.Read(1UL << 46)).Fault;
        Assert.Equal(FaultReason.SGN4_AddressBeyondHostWidth, fault?.Reason);
        Assert.Contains("0x400000000000 is beyond the host address width (46 bits)", fault!.Explanation);
    }

    [Fact]
    public void AnIotlbEntryMadeByAnotherKindOfWalkDoesNotAnswer()
    {
        // PASID 1 of DID 3 is first-stage only: the IOVA translates to X, and the IOTLB holds that (a first-stage entry).
        // Software makes the PASID entry nested over the same tables (second stage: the table pages identity-mapped, X
        // to Y), and flushes the PASID cache but not the IOTLB. The first-stage entry is tagged exactly as a nested one
        // would be (DID, PASID, page), yet it was made by another kind of walk: it does not answer, the nested walk runs
        // and gives Y (decision D35).
        const ulong x = 0x8000_0000, y = 0x9000_0000;
        var bench = new CacheBench();
        var fs = bench.FirstStageDomain(did: 3, pasid: 1);
        fs.Map(new Iova(Iova), x);
        Assert.Equal(new Hpa(x), bench.Translate(Iova, pasid: 1));
        Assert.Equal(new Hpa(x), bench.Translate(Iova, pasid: 1)); // from the IOTLB

        var ss = new SecondStageTableBuilder(bench.Frames, 4);
        ss.Map(new Gpa(0), new Hpa(0), 1UL << 30);
        ss.Map(new Gpa(x), new Hpa(y));
        bench.Tables.SetPasidEntry(CacheBench.Device, 1, PasidEntry.NestedEntry(fs.Root, ss.Root, ss.AddressWidth, 3));
        bench.Submit(InvalidationDescriptor.PasidCachePasid(3, 1));

        Assert.Equal(new Hpa(y), bench.Translate(Iova, pasid: 1));
        Assert.Equal(new Hpa(y), bench.Translate(Iova, pasid: 1)); // and the nested entry now answers
    }

    [Fact]
    public void ASecondStageTablePageMovedUnderAViewIsReadFromItsNewFrameWhenTheContextComesFromTheMemo()
    {
        // A unit over a guest memory (a vIOMMU), caches on, a second-stage-only domain. Two translations make the
        // context come from the context memo; then the VMM moves the guest page of the leaf table to another host frame
        // in which a third page maps elsewhere, and invalidates the view. That third page's walk (an IOTLB miss; the
        // context answered by the memo, so context resolution reads no table) must read the leaf from the new frame,
        // not from the frame the unit remembered for that table page.
        const ulong page = 4096, a = 0x40_0000, b = a + page, c = a + 2 * page;
        var host = new PhysicalMemory(1UL << 40);
        var view = PageMap.Window(host, 1UL << 39, 0, out var map);
        var unit = new VtdUnit(view, BuiltInProfiles.Architectural);
        var frames = new FrameAllocator(view, new Hpa(0x10_0000), new Hpa(0x0F00_0000));
        var tables = new RemappingTables(frames, scalable: true);
        var ss = new SecondStageTableBuilder(frames, 4);
        foreach (ulong iova in new[] { a, b, c }) ss.Map(new Gpa(iova), new Hpa(0x2000_0000 + iova));
        tables.SetPasidEntry(NestedBench.Device, 0, PasidEntry.SecondStage(ss.Root, ss.AddressWidth, 1));
        RegisterProgramming.EnableTranslation(unit, tables.Root, TranslationTableMode.Scalable);
        DmaRequest Read(ulong iova) => new(NestedBench.Device, new Iova(iova), DmaAccess.Read);

        var trace = new WalkTrace();
        Assert.Equal(new Hpa(0x2000_0000 + a), unit.Translate(Read(a), trace).Address);
        MemoryReference leaf = trace.References.Last(r => r.Stage == TraceStage.SecondStage && r.Level == 1);
        Assert.Equal(new Hpa(0x2000_0000 + b), unit.Translate(Read(b)).Address);

        ulong tablePage = leaf.Address.Value / page, newFrame = (1UL << 39) / page + 5;
        host.Write(new Hpa(newFrame * page), host.ReadPage(tablePage));
        ulong cEntry = newFrame * page + leaf.Address.Value % page + 16; // c's entry: two after a's
        host.Write64(new Hpa(cEntry), host.Read64(new Hpa(cEntry)) + 0x10_0000);
        map[tablePage] = GuestPage.Ram(host, newFrame);
        view.Invalidate(tablePage, 1);

        Assert.Equal(new Hpa(0x2010_0000 + c), unit.Translate(Read(c)).Address);
    }
}
