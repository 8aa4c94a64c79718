using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Building;
using VtdSim.Hardware.Caches;
using VtdSim.Hardware.Faults;
using VtdSim.Hardware.Memory;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Structures;
using VtdSim.Hardware.Tests.Caches;
using VtdSim.Hardware.Tests.Support;
using VtdSim.Hardware.Tracing;
using VtdSim.Hardware.Translation;

namespace VtdSim.Hardware.Tests.Mutation;

/// <summary>
/// The first- and second-stage walks (TranslationEngine.FirstStage.cs, .SecondStage.cs) where a change to the code went
/// unnoticed by the other tests (docs/testing.md): the paging-structure caches' tags and their top level, what a walk
/// traces (each entry read once, the A/D writes and the erratum's write told apart), the GPA a nested first-stage fault
/// names, and a second-stage D update of a first-stage table page that fails.
/// </summary>
public class WalkMutationTests
{
    private const ulong Iova = 0x40_0000, Neighbour = 0x40_1000, PageA = 0x1_0000_0000, PageB = 0x2_0000_0000;

    /// <summary>
    /// The first-stage paging-structure cache is tagged by PASID as well as by domain (vtd-facts §7.1): two PASIDs that
    /// share a DID but not their tables never use each other's cached entries, whichever walks first, and each finds
    /// its own.
    /// </summary>
    [Theory]
    [InlineData(0u, 1u)]
    [InlineData(1u, 0u)]
    public void FirstStagePscEntriesOfOnePasidNeverServeAnotherPasidOfTheSameDomain(uint first, uint second)
    {
        var bench = new CacheBench();
        var tables = new Dictionary<uint, FirstStageTableBuilder>
        {
            [0] = bench.FirstStageDomain(7, pasid: 0),
            [1] = bench.FirstStageDomain(7, pasid: 1),
        };
        ulong Page(uint pasid) => pasid == 0 ? PageA : PageB;
        foreach (var (pasid, fs) in tables)
        {
            fs.Map(new Iova(Iova), Page(pasid));
            fs.Map(new Iova(Neighbour), Page(pasid) + 0x1000);
        }
        DmaRequest Request(uint pasid, ulong iova) =>
            new(CacheBench.Device, new Iova(iova), DmaAccess.Read, pasid == 0 ? null : pasid);

        Assert.Equal(new Hpa(Page(first)), bench.Unit.Translate(Request(first, Iova)).Address);
        // The neighbour misses the IOTLB; the walk may start below a cached entry only if that entry is this PASID's.
        Assert.Equal(new Hpa(Page(second) + 0x1000), bench.Unit.Translate(Request(second, Neighbour)).Address);
        // And each PASID's own entries do serve it: the first PASID's neighbour is one read away (the PTE).
        var trace = new WalkTrace();
        Assert.Equal(new Hpa(Page(first) + 0x1000), bench.Unit.Translate(Request(first, Neighbour), trace).Address);
        Assert.Equal(1, trace.PagingReads);
    }

    public enum Stage { First, Second }

    /// <summary>
    /// The top-level entry is a paging-structure entry like the others: a walk that faults below it has cached it, so
    /// the next walk under it starts one level down, says so in its trace, and counts a hit (a first walk: a miss).
    /// </summary>
    [Theory]
    [InlineData(Stage.First)]
    [InlineData(Stage.Second)]
    public void ATopLevelEntryCachedByAFaultingWalkServesTheNextWalk(Stage stage)
    {
        var bench = new CacheBench();
        if (stage == Stage.First) bench.FirstStageDomain(7).Map(new Iova(Iova), PageA);
        else bench.SecondStageDomain(7).Map(new Gpa(Iova), new Hpa(PageA));
        const ulong sameTopEntry = 0x4000_0000; // same PML4E as Iova, an empty PDPTE slot
        var request = new DmaRequest(CacheBench.Device, new Iova(sameTopEntry), DmaAccess.Read);
        CacheStatistics Psc() => bench.Unit.CacheReports().Single(r => r.Name == (stage == Stage.First ? "fs-paging-structures" : "ss-paging-structures")).Statistics;

        Assert.False(bench.Unit.Translate(request).Success);
        Assert.Equal((0L, 1L), (Psc().Hits, Psc().Misses));

        var trace = new WalkTrace();
        DmaFault? again = bench.Unit.Translate(request, trace).Fault;

        Assert.Equal(stage == Stage.First ? FaultReason.SFS2_EntryNotPresent : FaultReason.SSS2_EntryNotPresent, again?.Reason);
        Assert.Equal(3, again?.Level);
        Assert.Equal(1, trace.PagingReads); // the PDPTE only
        Assert.Equal($"{(stage == Stage.First ? "first" : "second")}-stage paging-structure cache (L4)",
            Assert.Single(trace.CacheHits, h => h.Contains("paging-structure", StringComparison.Ordinal)));
        Assert.Equal((1L, 1L), (Psc().Hits, Psc().Misses));
    }

    /// <summary>
    /// A nested walk with its caches on, cold: every entry it needs is read exactly once. A first-stage table page that
    /// the walk has just translated through the second stage (to fill the paging-structure cache) is not translated
    /// again when the walk reads it.
    /// </summary>
    [Fact]
    public void AColdNestedWalkReadsEachEntryOnce()
    {
        var bench = new NestedBench(BuiltInProfiles.Architectural, cached: true);
        var fs = bench.NewGuestFirstStage();
        const ulong dataGpa = 0x800_0000;
        bench.SecondStage.Map(new Gpa(dataGpa), NestedBench.GuestToHost(dataGpa));
        fs.Map(new Iova(0x7000_1000), dataGpa);
        bench.Tables.SetPasidEntry(NestedBench.Device, 0, PasidEntry.NestedEntry(fs.Root, bench.SecondStage.Root, bench.SecondStage.AddressWidth, 1));
        var trace = new WalkTrace();

        Assert.Equal(NestedBench.GuestToHost(dataGpa), bench.Unit.Translate(bench.Read(0x7000_1000), trace).Address);

        var reads = trace.References.Where(r => r.IsPagingRead).ToList();
        Assert.Equal(reads.Count, reads.Select(r => r.Address).Distinct().Count());
        Assert.Equal(4, reads.Count(r => r.Stage == TraceStage.FirstStage));
        // Each first-stage table page and the data page go through the second stage once.
        foreach (int forLevel in new[] { 4, 3, 2, 1, 0 })
            Assert.Contains(reads, r => r.Stage == TraceStage.SecondStage && r.ForFirstStageLevel == forLevel && r.Level == 1);
        Assert.Equal(5, reads.Count(r => r.Stage == TraceStage.SecondStage && r.Level == 1));
    }

    /// <summary>
    /// A second-stage refusal met while filling the first-stage paging-structure cache is the walk's fault as the next
    /// level would have met it: the same condition, level and entry GPA as with the caches off.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ANestedTableTheSecondStageDoesNotMapFaultsAlikeWithAndWithoutCaches(bool cached)
    {
        var bench = new NestedBench(BuiltInProfiles.Architectural, cached: cached);
        var fs = bench.NewGuestFirstStage();
        const ulong gva = 0x7000_1000, dataGpa = 0x800_0000;
        bench.SecondStage.Map(new Gpa(dataGpa), NestedBench.GuestToHost(dataGpa));
        fs.Map(new Iova(gva), dataGpa);
        bench.Tables.SetPasidEntry(NestedBench.Device, 0, PasidEntry.NestedEntry(fs.Root, bench.SecondStage.Root, bench.SecondStage.AddressWidth, 1));
        ulong pdEntryGpa = fs.EntryAddress(new Iova(gva), 2);
        bench.Memory.Write64(bench.SecondStage.EntryAddress(new Gpa(pdEntryGpa & ~0xFFFUL), 1), 0); // unmap the page directory
        var request = bench.Read(gva);

        DmaFault fault = FaultAssert.Recorded(bench.Unit, bench.Unit.Translate(request), FaultReason.SFS7_EntryNotReadable, request);

        Assert.Equal(2, fault.Level);
        Assert.Equal(new Gpa(pdEntryGpa), fault.Gpa);
    }

    /// <summary>A nested first-stage fault names the GPA of the entry the guest left empty; a first-stage-only one has no GPA.</summary>
    [Fact]
    public void ANestedNotPresentFaultNamesTheEntryGpa()
    {
        var bench = new NestedBench();
        var fs = bench.NewGuestFirstStage();
        const ulong gva = 0x7000_1000, dataGpa = 0x800_0000;
        bench.SecondStage.Map(new Gpa(dataGpa), NestedBench.GuestToHost(dataGpa));
        fs.Map(new Iova(gva), dataGpa);
        bench.Tables.SetPasidEntry(NestedBench.Device, 0, PasidEntry.NestedEntry(fs.Root, bench.SecondStage.Root, bench.SecondStage.AddressWidth, 1));
        var request = bench.Read(gva + 0x1000);

        DmaFault fault = FaultAssert.Recorded(bench.Unit, bench.Unit.Translate(request), FaultReason.SFS2_EntryNotPresent, request);

        Assert.Equal(new Gpa(fs.EntryAddress(new Iova(gva + 0x1000), 1)), fault.Gpa);
        Assert.Equal(NestedBench.GuestToHost(fs.EntryAddress(new Iova(gva + 0x1000), 1)), fault.EntryAddress);
    }

    /// <summary>
    /// The trace tells the A/D writes apart: on Sapphire Rapids the A write into a top-level table the second stage maps
    /// read-only is the erratum's write; every other first-stage A update, and the second stage's own A updates
    /// (SSADE=1), are ordinary flag updates. Each records the value before and after.
    /// </summary>
    [Theory]
    [InlineData("sapphire-rapids", 1)]
    [InlineData("architectural", 0)]
    public void TheTraceMarksTheErratumWriteAndOnlyIt(string profile, int erratumWrites)
    {
        var bench = new NestedBench(BuiltInProfiles.Find(profile));
        var fs = bench.NewGuestFirstStage();
        const ulong gva = 0x7000_1000, dataGpa = 0x800_0000;
        bench.SecondStage.Map(new Gpa(dataGpa), NestedBench.GuestToHost(dataGpa));
        fs.Map(new Iova(gva), dataGpa);
        if (erratumWrites != 0) bench.SecondStage.Map(new Gpa(fs.Root), NestedBench.GuestToHost(fs.Root), 4096, read: true, write: false);
        bench.Tables.SetPasidEntry(NestedBench.Device, 0,
            PasidEntry.NestedEntry(fs.Root, bench.SecondStage.Root, bench.SecondStage.AddressWidth, 1).WithSecondStageAccessedDirtyEnable(true));
        var trace = new WalkTrace();

        Assert.True(bench.Unit.Translate(bench.Read(gva), trace).Success);

        var writes = trace.References.Where(r => r.Kind != ReferenceKind.Read).ToList();
        Assert.All(writes, w => Assert.Equal(w.Value | w.NewValue, w.NewValue));
        var fsWrites = writes.Where(w => w.Stage == TraceStage.FirstStage).ToList();
        Assert.Equal([4, 3, 2, 1], fsWrites.Select(w => w.Level));
        Assert.All(fsWrites, w => Assert.Equal(FirstStageEntry.AccessedBit, w.NewValue & ~w.Value));
        Assert.Equal(erratumWrites, fsWrites.Count(w => w.Kind == ReferenceKind.ErratumFlagUpdate));
        if (erratumWrites != 0) Assert.Equal(ReferenceKind.ErratumFlagUpdate, fsWrites[0].Kind);
        var ssWrites = writes.Where(w => w.Stage == TraceStage.SecondStage).ToList();
        Assert.NotEmpty(ssWrites);
        Assert.All(ssWrites, w => Assert.Equal(ReferenceKind.FlagUpdate, w.Kind));
        Assert.Contains(ssWrites, w => (w.NewValue & ~w.Value) == SecondStageEntry.AccessedBit);
    }

    /// <summary>
    /// With SSADE=1 the A update of a first-stage entry is a write to its table page through the second stage, which
    /// must set D there; when that D update fails (SSS.6), the walk fails with it.
    /// </summary>
    [Fact]
    [FaultCoverage(FaultReason.SSS6_FlagUpdateFailed)]
    public void AFailedSecondStageDirtyUpdateOfAFirstStageTablePageFailsTheWalk()
    {
        var bench = new NestedBench();
        var fs = bench.NewGuestFirstStage();
        const ulong gva = 0x7000_1000, dataGpa = 0x800_0000;
        bench.SecondStage.Map(new Gpa(dataGpa), NestedBench.GuestToHost(dataGpa));
        fs.Map(new Iova(gva), dataGpa);
        // Every second-stage entry the walk reads has A already, so the walk itself writes nothing there; the leaf
        // page then refuses writes, so only the D update of the table page's leaf can fail.
        foreach (ulong gpa in new[] { 4, 3, 2, 1 }.Select(l => fs.EntryAddress(new Iova(gva), l)).Append(dataGpa))
        {
            for (int level = 4; level >= 1; level--)
            {
                Hpa entry = bench.SecondStage.EntryAddress(new Gpa(gpa), level);
                bench.Memory.Write64(entry, bench.Memory.Read64(entry) | SecondStageEntry.AccessedBit);
            }
        }
        Hpa rootLeaf = bench.SecondStage.EntryAddress(new Gpa(fs.Root), 1);
        bench.Memory.InjectError(rootLeaf.PageBase, 4096, InjectedErrorKind.WritesOnly);
        bench.Tables.SetPasidEntry(NestedBench.Device, 0,
            PasidEntry.NestedEntry(fs.Root, bench.SecondStage.Root, bench.SecondStage.AddressWidth, 1).WithSecondStageAccessedDirtyEnable(true));
        var request = bench.Read(gva);

        DmaFault fault = FaultAssert.Recorded(bench.Unit, bench.Unit.Translate(request), FaultReason.SSS6_FlagUpdateFailed, request);

        Assert.Equal(rootLeaf, fault.EntryAddress);
        Assert.Equal(new Gpa(fs.EntryAddress(new Iova(gva), 4)), fault.Gpa);
    }
}
