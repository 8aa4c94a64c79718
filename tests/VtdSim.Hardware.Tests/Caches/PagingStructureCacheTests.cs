using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Building;
using VtdSim.Hardware.Invalidation;
using VtdSim.Hardware.Structures;
using VtdSim.Hardware.Tracing;
using VtdSim.Hardware.Translation;

namespace VtdSim.Hardware.Tests.Caches;

/// <summary>
/// Paging-structure caches: a walk that misses the IOTLB starts below the lowest cached non-leaf entry, so a changed
/// upper-level entry keeps being ignored until an invalidation without the leaf-only hint removes it (D24, D28).
/// </summary>
public class PagingStructureCacheTests
{
    private const ulong Iova = 0x40_0000, Neighbour = 0x40_1000, PageA = 0x1_0000_0000, PageB = 0x2_0000_0000;

    /// <summary>SS-only DID 5 maps Iova and its neighbour (same last-level table); a translation of Iova warms the caches.</summary>
    private static (CacheBench Bench, SecondStageTableBuilder Ss) Warm()
    {
        var bench = new CacheBench();
        var ss = bench.SecondStageDomain(5);
        ss.Map(new Gpa(Iova), new Hpa(PageA));
        ss.Map(new Gpa(Neighbour), new Hpa(PageA + 0x1000));
        Assert.Equal(new Hpa(PageA), bench.Translate(Iova));
        return (bench, ss);
    }

    /// <summary>Points the PDE over Iova at a fresh page table that maps the neighbour to page B.</summary>
    private static void RepointPde(CacheBench bench, SecondStageTableBuilder ss)
    {
        Hpa newTable = bench.Frames.Allocate();
        bench.Memory.Write64(newTable + ((Neighbour >> 12) & 0x1FF) * 8, SecondStageEntry.Page(PageB, 1).Raw);
        bench.Memory.Write64(ss.EntryAddress(new Gpa(Iova), 2), SecondStageEntry.Table(newTable.Value).Raw);
    }

    [Fact]
    public void AWalkForANeighbourStartsBelowTheCachedEntries()
    {
        var (bench, _) = Warm();
        var trace = new WalkTrace();
        bench.Unit.Translate(new DmaRequest(CacheBench.Device, new Iova(Neighbour), DmaAccess.Read), trace);

        Assert.Equal(1, trace.PagingReads); // only the PTE: PML4E, PDPE and PDE came from the cache
        Assert.Contains(trace.CacheHits, h => h.StartsWith("second-stage paging-structure cache (L2)"));
    }

    [Fact]
    public void AChangedPdeIsIgnoredUntilANonLeafInvalidation()
    {
        var (bench, ss) = Warm();
        RepointPde(bench, ss);

        Assert.Equal(new Hpa(PageA + 0x1000), bench.Translate(Neighbour)); // stale PDE from the PSC

        bench.Submit(InvalidationDescriptor.IotlbPage(5, Neighbour, hint: true)); // IH=1: only leaves changed — not true here
        Assert.Equal(new Hpa(PageA + 0x1000), bench.Translate(Neighbour));

        bench.Submit(InvalidationDescriptor.IotlbPage(5, Neighbour, hint: false));
        Assert.Equal(new Hpa(PageB), bench.Translate(Neighbour));
    }

    [Fact]
    public void FirstStagePscEntriesGoWithAPasidBasedInvalidationWithoutTheHint()
    {
        var bench = new CacheBench();
        var fs = bench.FirstStageDomain(7);
        fs.Map(new Iova(Iova), PageA);
        fs.Map(new Iova(Neighbour), PageA + 0x1000);
        bench.Translate(Iova);
        Hpa newTable = bench.Frames.Allocate();
        bench.Memory.Write64(newTable + ((Neighbour >> 12) & 0x1FF) * 8, FirstStageEntry.Page(PageB).Raw);
        bench.Memory.Write64(fs.EntryHpa(new Iova(Iova), 2), FirstStageEntry.Table(newTable.Value).Raw);

        Assert.Equal(new Hpa(PageA + 0x1000), bench.Translate(Neighbour));
        bench.Submit(InvalidationDescriptor.PasidIotlbPage(7, 0, Neighbour, hint: true));
        Assert.Equal(new Hpa(PageA + 0x1000), bench.Translate(Neighbour));
        bench.Submit(InvalidationDescriptor.PasidIotlbPage(7, 0, Neighbour));
        Assert.Equal(new Hpa(PageB), bench.Translate(Neighbour));
    }

    [Fact]
    public void ANestedWalkReusesSecondStageTranslationsOfFirstStageTables()
    {
        var bench = new CacheBench();
        var ss = new SecondStageTableBuilder(bench.Frames, 4);
        const ulong guest = 0x3_0000_0000;
        ulong nextTable = 0x10_0000;
        ulong AllocateGuestTable()
        {
            ulong gpa = nextTable;
            nextTable += 0x1000;
            ss.Map(new Gpa(gpa), new Hpa(guest + gpa));
            return gpa;
        }
        var fs = new FirstStageTableBuilder(bench.Memory, AllocateGuestTable, g => new Hpa(guest + g));
        ss.Map(new Gpa(0x80_0000), new Hpa(guest + 0x80_0000));
        ss.Map(new Gpa(0x80_1000), new Hpa(guest + 0x80_1000));
        fs.Map(new Iova(Iova), 0x80_0000);
        fs.Map(new Iova(Neighbour), 0x80_1000);
        bench.Tables.SetPasidEntry(CacheBench.Device, 0, PasidEntry.NestedEntry(fs.Root, ss.Root, ss.AddressWidth, 9));
        Assert.Equal(new Hpa(guest + 0x80_0000), bench.Translate(Iova));

        var trace = new WalkTrace();
        var r = bench.Unit.Translate(new DmaRequest(CacheBench.Device, new Iova(Neighbour), DmaAccess.Read), trace);

        Assert.Equal(new Hpa(guest + 0x80_1000), r.Address);
        // FS PSC gives the PT's host page; its PTE (1 read) and the final GPA's SS walk (PTE only: 1 read) remain.
        Assert.Equal(2, trace.PagingReads);

        // Moving the guest's PT page in the second stage and flushing any page of the DID drops the nested PSC entries.
        Hpa movedPt = bench.Frames.Allocate();
        ulong ptGpa = fs.EntryAddress(new Iova(Neighbour), 1) & ~0xFFFUL;
        bench.Memory.Write64(movedPt + ((Neighbour >> 12) & 0x1FF) * 8, FirstStageEntry.Page(0x80_0000).Raw); // now maps to data page 0
        ss.Map(new Gpa(ptGpa), movedPt);
        bench.Submit(InvalidationDescriptor.IotlbPage(9, ptGpa));
        Assert.Equal(new Hpa(guest + 0x80_0000), bench.Translate(Neighbour));
    }
}
