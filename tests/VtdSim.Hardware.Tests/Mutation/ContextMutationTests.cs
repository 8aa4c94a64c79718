using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Building;
using VtdSim.Hardware.Faults;
using VtdSim.Hardware.Invalidation;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Registers;
using VtdSim.Hardware.Structures;
using VtdSim.Hardware.Tests.Caches;
using VtdSim.Hardware.Tests.Support;
using VtdSim.Hardware.Translation;

namespace VtdSim.Hardware.Tests.Mutation;

/// <summary>
/// Context and PASID resolution (TranslationEngine.Context.cs) where a change to the code went unnoticed by the other
/// tests (docs/testing.md): what caching mode caches and under which domain, ATS-translated and translation requests
/// on a context that admits them, the half of a scalable root entry a fault names, and the explanations of the PASID-
/// entry and context checks the fault tests did not reach.
/// </summary>
public class ContextMutationTests
{
    private const ulong Iova = 0x40_0000, PageA = 0x1_0000_0000;
    private const ulong Icc = 1UL << 63;

    private static VtdProfile WithCachingMode(VtdProfile profile) =>
        profile with { Name = profile.Name + "+cm", Cap = profile.Cap.WithCachingMode(true) };

    /// <summary>Register-based domain-selective context-cache invalidation (CCMD.CIRG=10, spec 6.5.1.1).</summary>
    private static void InvalidateContextDomain(VtdUnit unit, ushort did)
    {
        unit.WriteRegister64(RegisterOffset.CCMD, Icc | 2UL << 61 | did);
        Assert.Equal(0UL, unit.ReadRegister64(RegisterOffset.CCMD) & Icc);
    }

    private static FaultReason? Outcome(VtdUnit unit, in DmaRequest request) => unit.Translate(request).Fault?.Reason;

    // ---- legacy mode, CAP.CM=1 (spec 6.1): the context cache may keep not-present entries, tagged with domain 0 ----

    [Fact]
    public void WithCachingModeANotPresentLegacyContextEntryIsCachedUnderDomainZero()
    {
        // The context entry is not present but still holds DID 7 from an earlier use. With CM=1 the unit may cache it,
        // and it does so under domain-id 0 (spec 6.1: software flushes a not-present entry it made present with DID
        // 0): an invalidation of domain 7 leaves it, one of domain 0 removes it.
        var bench = new LegacyBench(WithCachingMode(FaultProfiles.Qemu72Legacy), cached: true);
        bench.SecondLevel.Map(new Gpa(Iova), new Hpa(LegacyBench.DataBase));
        bench.SetContext(LegacyContextEntry.Create(bench.SecondLevel.Root, bench.SecondLevel.AddressWidth, 7).WithPresent(false));
        var request = LegacyBench.Read(Iova);
        Assert.Equal(FaultReason.LCT2_ContextNotPresent, Outcome(bench.Unit, request));

        bench.SetContext(bench.DefaultContext()); // DID 1, present
        Assert.Equal(FaultReason.LCT2_ContextNotPresent, Outcome(bench.Unit, request)); // the cached copy answers

        InvalidateContextDomain(bench.Unit, 7);
        Assert.Equal(FaultReason.LCT2_ContextNotPresent, Outcome(bench.Unit, request));

        InvalidateContextDomain(bench.Unit, 0);
        Assert.Equal(new Hpa(LegacyBench.DataBase), bench.Unit.Translate(request).Address);
    }

    [Fact]
    public void WithCachingModeAPresentLegacyContextEntryIsCachedUnderItsOwnDomain()
    {
        // A present entry is tagged with its DID, caching mode or not: clearing it in memory takes effect only after
        // an invalidation of that domain, not of domain 0.
        var bench = new LegacyBench(WithCachingMode(FaultProfiles.Qemu72Legacy), cached: true).WithMapping(Iova, LegacyBench.DataBase);
        var request = LegacyBench.Read(Iova);
        Assert.Equal(new Hpa(LegacyBench.DataBase), bench.Unit.Translate(request).Address);

        bench.SetContext(bench.DefaultContext().WithPresent(false));
        Assert.Equal(new Hpa(LegacyBench.DataBase), bench.Unit.Translate(request).Address);

        InvalidateContextDomain(bench.Unit, 0);
        Assert.Equal(new Hpa(LegacyBench.DataBase), bench.Unit.Translate(request).Address);

        InvalidateContextDomain(bench.Unit, LegacyBench.DomainId);
        Assert.Equal(FaultReason.LCT2_ContextNotPresent, Outcome(bench.Unit, request));
    }

    // ---- ATS: translated requests pass untranslated, translation requests are translated (vtd-facts §2.2, §2.3) ----

    [Fact]
    public void OnALegacyContextWithTt01ATranslatedRequestPassesAndATranslationRequestIsTranslated()
    {
        // TT=01 (ECAP.DT on the architectural unit): an AT=10 request carries an address the device's ATC already
        // translated, so it reaches that host address unchanged, even one the tables map elsewhere or not at all; an
        // AT=01 translation request gets what the second-level tables say.
        var bench = new LegacyBench(BuiltInProfiles.Architectural, levels: 4);
        bench.SetContext(bench.DefaultContext().WithTranslationType(TranslationType.AllRequests));
        bench.SecondLevel.Map(new Gpa(Iova), new Hpa(LegacyBench.DataBase));

        foreach (ulong address in new[] { Iova + 0x18, LegacyBench.DataBase + 0x5000 })
        {
            TranslationResult translated = bench.Unit.Translate(LegacyBench.Read(address) with { AddressType = AddressType.Translated });
            Assert.Null(translated.Fault);
            Assert.Equal(new Hpa(address), translated.Address);
        }
        TranslationResult ats = bench.Unit.Translate(LegacyBench.Read(Iova + 0x18) with { AddressType = AddressType.TranslationRequest });
        Assert.Null(ats.Fault);
        Assert.Equal(new Hpa(LegacyBench.DataBase + 0x18), ats.Address);
    }

    [Fact]
    public void OnAScalableContextWithDte1ATranslatedRequestPassesAndATranslationRequestIsTranslated()
    {
        // The same in scalable mode with the context's DTE=1: the translated request is not looked up in the PASID
        // entry's second stage; the translation request is.
        var bench = new NestedBench();
        bench.Tables.SetScalableContext(NestedBench.Device, dir => ScalableContextEntry.Create(dir).WithPasidEnable(true).WithDeviceTlbEnable(true));
        bench.SecondStage.Map(new Gpa(Iova), new Hpa(PageA));
        bench.Tables.SetPasidEntry(NestedBench.Device, 0, PasidEntry.SecondStage(bench.SecondStage.Root, bench.SecondStage.AddressWidth, 1));

        foreach (ulong address in new[] { Iova + 0x18, PageA + 0x5000 })
        {
            TranslationResult translated = bench.Unit.Translate(bench.Read(address) with { AddressType = AddressType.Translated });
            Assert.Null(translated.Fault);
            Assert.Equal(new Hpa(address), translated.Address);
        }
        TranslationResult ats = bench.Unit.Translate(bench.Read(Iova + 0x18) with { AddressType = AddressType.TranslationRequest });
        Assert.Null(ats.Fault);
        Assert.Equal(new Hpa(PageA + 0x18), ats.Address);
    }

    // ---- a scalable root entry has two halves: LP/LCTP for devfn 0x00-0x7F, UP/UCTP for 0x80-0xFF (spec 9.2) ----

    private static readonly SourceId Lower = new(0, 1, 0), Upper = new(0, 0x10, 0); // devfn 0x08 and 0x80

    /// <summary>A scalable unit whose bus-0 root entry has only the half of <paramref name="present"/> set; the other half holds <paramref name="otherHalf"/>.</summary>
    private static (NestedBench Bench, Hpa RootEntry) OneHalfPresent(SourceId present, ulong otherHalf)
    {
        var bench = new NestedBench();
        bench.SecondStage.Map(new Gpa(Iova), new Hpa(PageA));
        bench.Tables.SetPasidEntry(present, 0, PasidEntry.SecondStage(bench.SecondStage.Root, bench.SecondStage.AddressWidth, 1));
        Hpa root = bench.Tables.Root;
        bench.Memory.Write64(present == Upper ? root : root + 8, otherHalf);
        Assert.True(bench.Unit.Translate(new DmaRequest(present, new Iova(Iova), DmaAccess.Read)).Success);
        return (bench, root);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void ANotPresentRootHalfFaultsSrt2NamingThatHalfAndItsValue(bool upper)
    {
        // The other half is not present (P=0) but not zero either (a context-table address left behind): the fault
        // names the half the request's devfn selects, UP or LP, and carries that half's value as the entry it read.
        const ulong stale = 0x0234_5000;
        var (bench, _) = OneHalfPresent(upper ? Lower : Upper, stale);
        var request = new DmaRequest(upper ? Upper : Lower, new Iova(Iova), DmaAccess.Read);

        DmaFault fault = FaultAssert.Recorded(bench.Unit, bench.Unit.Translate(request), FaultReason.SRT2_RootNotPresent, request);
        Assert.Equal(stale, fault.EntryValue);
        FaultAssert.Explains(fault, upper ? "has UP=0: no context table for devfn 80" : "has LP=0: no context table for devfn 08");
        Assert.Equal(new Hpa(bench.Tables.Root.Value), fault.EntryAddress);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void AReservedBitInTheRootHalfInUseFaultsSrt3CarryingThatHalf(bool upper)
    {
        // Bit 1 of either half is reserved (spec 9.2). The fault carries the value of the half the devfn uses, which
        // differs from the other half (that one is zero: only one half is present).
        var (bench, root) = OneHalfPresent(upper ? Upper : Lower, 0);
        Hpa half = upper ? root + 8 : root;
        bench.Memory.Write64(half, bench.Memory.Read64(half) | 2);
        var request = new DmaRequest(upper ? Upper : Lower, new Iova(Iova), DmaAccess.Read);

        DmaFault fault = FaultAssert.Recorded(bench.Unit, bench.Unit.Translate(request), FaultReason.SRT3_RootReserved, request);
        Assert.Equal(bench.Memory.Read64(half), fault.EntryValue);
        Assert.NotEqual(0UL, fault.EntryValue);
    }

    // ---- scalable mode, CAP.CM=1: the PASID cache may keep what it read, but only what faults as memory does ----

    [Fact]
    public void WithCachingModeAPasidEntryIsCachedUntilAPasidCacheInvalidation()
    {
        var bench = new CacheBench(WithCachingMode(BuiltInProfiles.Architectural));
        bench.SecondStageDomain(5).Map(new Gpa(Iova), new Hpa(PageA));
        Assert.Equal(new Hpa(PageA), bench.Translate(Iova));

        bench.Tables.SetPasidEntry(CacheBench.Device, 0, default); // cleared in memory, no flush
        Assert.Equal(new Hpa(PageA), bench.Translate(Iova)); // the cached PASID entry (and the IOTLB) answer

        bench.Submit(InvalidationDescriptor.PasidCachePasid(5, 0));
        Assert.Equal(FaultReason.SPT2_PasidEntryNotPresent,
            bench.Unit.Translate(new DmaRequest(CacheBench.Device, new Iova(Iova), DmaAccess.Read)).Fault?.Reason);
    }

    [Theory]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(6)]
    [InlineData(7)]
    public void WithCachingModeAPasidEntryWithAReservedUpperWordIsNotCached(int word)
    {
        // Q3-Q7 of a PASID entry are reserved (SPT.3). A cached PASID entry keeps only Q0-Q2, so a copy of this entry
        // would translate where memory faults. Caching mode keeps a faulting entry cached so that it keeps faulting
        // until software invalidates it (decisions D25); this one cannot be kept so, so every request re-reads it and
        // faults again.
        var bench = new CacheBench(WithCachingMode(BuiltInProfiles.Architectural));
        var ss = new SecondStageTableBuilder(bench.Frames, 4);
        ss.Map(new Gpa(Iova), new Hpa(PageA));
        Hpa entry = bench.Tables.SetPasidEntry(CacheBench.Device, 0, PasidEntry.SecondStage(ss.Root, ss.AddressWidth, 5));
        bench.Memory.Write64(entry + (ulong)(8 * word), 1UL << 20);
        var request = new DmaRequest(CacheBench.Device, new Iova(Iova), DmaAccess.Read);

        for (int i = 0; i < 3; i++)
            Assert.Equal(FaultReason.SPT3_PasidEntryReserved, bench.Unit.Translate(request).Fault?.Reason);
    }

    // ---- explanations of checks no fault test reached ----

    [Fact]
    public void AnAddressWidthOutsideSagawIsExplainedWithItsWidthInBits()
    {
        // qemu-7.2 offers only 39-bit/3-level tables (SAGAW=0x2): AW=2 is 48 bits, AW=3 57 (30 + 9 * AW, spec 9.3).
        foreach ((int aw, string bits) in new[] { (2, "AW=2 (48-bit)"), (3, "AW=3 (57-bit)") })
        {
            var bench = new LegacyBench();
            bench.SetContext(LegacyContextEntry.Create(bench.SecondLevel.Root, aw, LegacyBench.DomainId));
            var request = LegacyBench.Read(Iova);

            DmaFault fault = FaultAssert.Recorded(bench.Unit, bench.Unit.Translate(request), FaultReason.LCT4_ContextInvalid, request);
            FaultAssert.Explains(fault, $"{bits} is not in CAP.SAGAW=0x2");
        }
    }

    public enum Lacking { SecondStageWithoutSsts, PassThroughWithoutPt, FiveLevelWithoutFs5lp }

    [Theory]
    [InlineData(Lacking.SecondStageWithoutSsts, "PGTT=010 (second stage) but ECAP.SSTS=0")]
    [InlineData(Lacking.PassThroughWithoutPt, "PGTT=100 (pass-through) but ECAP.PT=0")]
    [InlineData(Lacking.FiveLevelWithoutFs5lp, "FSPM=01 (5-level) but CAP.FS5LP=0")]
    public void APasidEntryAskingForWhatTheUnitLacksNamesIt(Lacking kind, string explained)
    {
        // SPT.4 (spec 9.6): a PGTT the unit does not support, or 5-level first-stage paging without CAP.FS5LP.
        VtdProfile a = BuiltInProfiles.Architectural;
        VtdProfile profile = kind switch
        {
            Lacking.SecondStageWithoutSsts => a with { Name = "no-ssts", Ecap = a.Ecap.With(ExtendedCapabilityBit.SSTS, false).With(ExtendedCapabilityBit.NEST, false) },
            Lacking.PassThroughWithoutPt => a with { Name = "no-pt", Ecap = a.Ecap.With(ExtendedCapabilityBit.PT, false) },
            _ => a with { Name = "no-fs5lp", Cap = a.Cap.WithFirstStage5LevelPaging(false) },
        };
        var bench = new NestedBench(profile);
        var fs = FirstStageTableBuilder.InHostMemory(bench.HostFrames, 5);
        bench.Tables.SetPasidEntry(NestedBench.Device, 0, kind switch
        {
            Lacking.SecondStageWithoutSsts => PasidEntry.SecondStage(bench.SecondStage.Root, bench.SecondStage.AddressWidth, 1),
            Lacking.PassThroughWithoutPt => PasidEntry.PassThroughEntry(1),
            _ => PasidEntry.FirstStage(fs.Root, 1, fiveLevel: true),
        });
        var request = bench.Read(Iova);

        DmaFault fault = FaultAssert.Recorded(bench.Unit, bench.Unit.Translate(request), FaultReason.SPT4_PasidEntryInvalid, request);
        FaultAssert.Explains(fault, explained);
    }
}
