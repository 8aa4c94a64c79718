using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Building;
using VtdSim.Hardware.Caches;
using VtdSim.Hardware.Faults;
using VtdSim.Hardware.Memory;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Registers;
using VtdSim.Hardware.Structures;
using VtdSim.Hardware.Tests.Support;
using VtdSim.Hardware.Translation;

namespace VtdSim.Hardware.Tests.Mutation;

/// <summary>
/// The translation memo in front of the caches (TranslationFastPath) where mutation testing (docs/testing.md) found
/// that no test noticed a change: a request may only be answered from the memo by a translation of the same page made
/// for a request with every attribute equal (source, access, address type, privilege, execute, PASID or none). Each test
/// sends a request until the caches answer it in full (so the memo holds it), then a request that differs in one thing,
/// and expects what the tables say for that request.
/// </summary>
public class FastPathMutationTests
{
    private const ulong Iova = 0x40_0000;

    [Fact]
    public void WithTranslationOffEveryRequestPassesThroughBeforeAndAfterRootTablePointerWrites()
    {
        // The memo starts empty: no request, not even the one whose page and attributes are all zero (00:00.0 reading
        // page 0), may be answered before anything was translated (spec 3.1: TES=0, the address goes to memory as is).
        var unit = new VtdUnit(new PhysicalMemory(1UL << 32), FaultProfiles.Qemu72Legacy);
        for (int srtp = 0; srtp < 3; srtp++)
        {
            TranslationResult result = unit.Translate(new DmaRequest(new SourceId(0, 0, 0), new Iova(0x10), DmaAccess.Read));
            Assert.Null(result.Fault);
            Assert.Equal(TranslationKind.Disabled, result.Kind);
            Assert.Equal(new Hpa(0x10), result.Address);
            Assert.Equal(4096UL, result.PageSize);
            Assert.Equal(AccessRights.Read | AccessRights.Write | AccessRights.Execute | AccessRights.User, result.Rights);
            unit.WriteRegister64(RegisterOffset.RTADDR, 0x10_0000);
            unit.WriteRegister32(RegisterOffset.GCMD, (uint)GlobalCommand.SetRootTablePointer);
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void PagesWhoseNumbersAreShiftsOfEachOtherTranslateApart(bool lowFirst)
    {
        // Page 0x1 (IOVA 0x1000) and page 0x100_0000 (IOVA 2^36): 0x1000 << 12 is the second one's page number.
        const ulong low = 0x1000, high = 0x10_0000_0000;
        var bench = new LegacyBench(cached: true).WithMapping(low, LegacyBench.DataBase);
        bench.SecondLevel.Map(new Gpa(high), new Hpa(LegacyBench.DataBase + 0x1000), 4096);
        (ulong first, ulong firstHpa, ulong second, ulong secondHpa) = lowFirst
            ? (low, LegacyBench.DataBase, high, LegacyBench.DataBase + 0x1000)
            : (high, LegacyBench.DataBase + 0x1000, low, LegacyBench.DataBase);
        for (int i = 0; i < 3; i++) Assert.Equal(new Hpa(firstHpa), bench.Unit.Translate(LegacyBench.Read(first)).Address);
        TranslationResult other = bench.Unit.Translate(LegacyBench.Read(second));
        Assert.Null(other.Fault);
        Assert.Equal(new Hpa(secondHpa), other.Address);
    }

    [Fact]
    public void ATranslationRequestIsBlockedAfterUntranslatedRequestsToTheSamePage()
    {
        // TT=00 allows untranslated requests only: an ATS translation request faults LCT.5 (spec 3.9, 7.1.3) whatever
        // the untranslated requests before it got.
        var bench = new LegacyBench(cached: true).WithMapping(Iova, LegacyBench.DataBase);
        for (int i = 0; i < 3; i++) Assert.Null(bench.Unit.Translate(LegacyBench.Read(Iova)).Fault);
        TranslationResult ats = bench.Unit.Translate(new DmaRequest(LegacyBench.Device, new Iova(Iova), DmaAccess.Read,
            AddressType: AddressType.TranslationRequest));
        Assert.Equal(FaultReason.LCT5_TranslationTypeBlocked, ats.Fault?.Reason);
    }

    /// <summary>A scalable unit (architectural: ECAP.RPS) with caches; each PASID gets its own first-stage page.</summary>
    private static NestedBench FirstStagePerPasid(uint ridPasid, params (uint Pasid, ulong Page)[] pages) =>
        FirstStagePerPasid(BuiltInProfiles.Architectural, ridPasid, pages);

    private static NestedBench FirstStagePerPasid(VtdProfile profile, uint ridPasid, params (uint Pasid, ulong Page)[] pages)
    {
        var bench = new NestedBench(profile, cached: true);
        bench.Tables.SetScalableContext(NestedBench.Device, dir => ScalableContextEntry.Create(dir, ridPasid: ridPasid).WithPasidEnable(true));
        foreach (var (pasid, page) in pages)
        {
            var fs = FirstStageTableBuilder.InHostMemory(bench.HostFrames);
            fs.Map(new Iova(Iova), page);
            bench.Tables.SetPasidEntry(NestedBench.Device, pasid, PasidEntry.FirstStage(fs.Root, 4));
        }
        return bench;
    }

    [Fact]
    public void AnExecuteRequestIsRefusedAfterReadsOfTheSamePageWhenTheEntryHasEreZero()
    {
        // ERE=0: an execute request faults SPT.5 (spec 9.6, 7.1.3 table 26) whatever plain reads got before it.
        var bench = FirstStagePerPasid(0, (1, 0x2_0000_0000));
        var read = new DmaRequest(NestedBench.Device, new Iova(Iova), DmaAccess.Read, Pasid: 1);
        for (int i = 0; i < 3; i++) Assert.Null(bench.Unit.Translate(read).Fault);
        Assert.Equal(FaultReason.SPT5_ExecuteRequestDisabled, bench.Unit.Translate(read with { Execute = true }).Fault?.Reason);
    }

    [Fact]
    public void TwoPasidsOfOneDeviceTranslateTheSameAddressThroughTheirOwnTables()
    {
        var bench = FirstStagePerPasid(0, (1, 0x2_0000_0000), (2, 0x2_0001_0000));
        var first = new DmaRequest(NestedBench.Device, new Iova(Iova + 4), DmaAccess.Read, Pasid: 1);
        for (int i = 0; i < 3; i++) Assert.Equal(new Hpa(0x2_0000_0004), bench.Unit.Translate(first).Address);
        Assert.Equal(new Hpa(0x2_0001_0004), bench.Unit.Translate(first with { Pasid = 2 }).Address);
    }

    [Fact]
    public void ARequestWithPasidZeroIsNotARequestWithoutPasid()
    {
        // ECAP.RPS=1 and RID_PASID=5: requests without PASID use PASID entry 5 (spec 9.4), requests with PASID 0 entry 0.
        var bench = FirstStagePerPasid(5, (5, 0x2_0000_0000), (0, 0x2_0001_0000));
        var withoutPasid = new DmaRequest(NestedBench.Device, new Iova(Iova), DmaAccess.Read);
        for (int i = 0; i < 3; i++) Assert.Equal(new Hpa(0x2_0000_0000), bench.Unit.Translate(withoutPasid).Address);
        Assert.Equal(new Hpa(0x2_0001_0000), bench.Unit.Translate(withoutPasid with { Pasid = 0 }).Address);
        for (int i = 0; i < 3; i++) Assert.Equal(new Hpa(0x2_0001_0000), bench.Unit.Translate(withoutPasid with { Pasid = 0 }).Address);
        Assert.Equal(new Hpa(0x2_0000_0000), bench.Unit.Translate(withoutPasid).Address);
    }

    [Theory]
    [InlineData(1u, 2u)]
    [InlineData(2u, 1u)]
    public void RepeatedRequestsKeepTheirPasidEntryMostRecentlyUsed(uint repeated, uint other)
    {
        // A PASID cache of one set with two ways, least recently used replaced: after `repeated` was used last, a third
        // PASID's fill evicts `other`, however the repeated request was answered (whichever way holds it).
        var profile = BuiltInProfiles.Architectural with
        {
            Caches = BuiltInProfiles.Architectural.Caches with { Pasid = new CacheGeometry(1, 2) },
        };
        var bench = FirstStagePerPasid(profile, 0, (1, 0x2_0000_0000), (2, 0x2_0001_0000), (3, 0x2_0002_0000));
        DmaRequest Request(uint pasid) => new(NestedBench.Device, new Iova(Iova), DmaAccess.Read, Pasid: pasid);
        foreach (uint pasid in new[] { repeated, other, repeated, other, repeated }) Assert.Null(bench.Unit.Translate(Request(pasid)).Fault);
        Assert.Null(bench.Unit.Translate(Request(3)).Fault);

        var pasidCache = bench.Unit.Caches.Pasid.Statistics;
        long misses = pasidCache.Misses;
        Assert.Null(bench.Unit.Translate(Request(repeated), new Tracing.WalkTrace()).Fault); // a trace looks the caches up
        Assert.Equal(misses, pasidCache.Misses);
        Assert.Null(bench.Unit.Translate(Request(other), new Tracing.WalkTrace()).Fault);
        Assert.Equal(misses + 1, pasidCache.Misses);
    }

    [Fact]
    public void WritesToAReadOnlyPageFaultAfterEveryDeviceOfTheDomainReadIt()
    {
        // 64 devices of one domain read a read-only page until the caches answer them in full; then each writes it:
        // every write faults LGN.2 (spec 3.6: W=0 at the leaf), whatever other requests were answered before.
        var bench = new LegacyBench(cached: true).WithMapping(Iova, LegacyBench.DataBase, write: false);
        var devices = Enumerable.Range(0, 64).Select(i => new SourceId(1, (byte)(i >> 3), (byte)(i & 7))).ToArray();
        foreach (SourceId device in devices) bench.Tables.SetLegacyContext(device, bench.DefaultContext());
        for (int round = 0; round < 3; round++)
            foreach (SourceId device in devices)
                Assert.Null(bench.Unit.Translate(new DmaRequest(device, new Iova(Iova), DmaAccess.Read)).Fault);
        foreach (SourceId device in devices)
            Assert.Equal(FaultReason.LGN2_WriteDenied, bench.Unit.Translate(new DmaRequest(device, new Iova(Iova), DmaAccess.Write)).Fault?.Reason);
    }
}
