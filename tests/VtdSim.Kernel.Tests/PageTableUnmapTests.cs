using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Registers;
using VtdSim.Kernel.Intel;

namespace VtdSim.Kernel.Tests;

/// <summary>
/// Which table pages an unmap frees, as Linux's dma_pte_clear_level decides (decision K31): only the tables whose
/// whole span the range covers; a table the range covers in part stays, even when it is left empty, and the flush
/// then keeps the paging-structure caches (IH=1). A range that covers a table whole frees it and drops them (IH=0).
/// </summary>
public class PageTableUnmapTests
{
    private const ulong Page = 0x1000, TwoMiB = 0x20_0000;
    private const ulong Base = 0x1000_0000; // 2 MiB aligned: its level-1 table covers [Base, Base + 2 MiB)
    private const IommuProt Rw = IommuProt.Read | IommuProt.Write;

    private static (KernelBench Bench, PagingDomain Domain) Attached()
    {
        var bench = new KernelBench();
        Assert.Equal(Errno.Success, bench.Driver.AllocPaging(PagingDomainFlags.None, out var domain));
        Assert.Equal(Errno.Success, bench.Driver.Attach(KernelBench.Device, domain!));
        return (bench, domain!);
    }

    /// <summary>The invalidation hint (IH, bit 6 of the address qword) of the last IOTLB descriptor before the wait descriptor.</summary>
    private static bool LastFlushKeptPagingStructureCaches(KernelBench bench)
    {
        var m = bench.Machine;
        ulong iqa = m.Read(m.IommuBase + RegisterOffset.IQA, 8);
        int size = (iqa & (1UL << 11)) != 0 ? 32 : 16;
        ulong entries = 4096UL / (ulong)size;
        ulong tail = m.Read(m.IommuBase + RegisterOffset.IQT, 8) / (ulong)size;
        ulong slot = (tail + entries - 2) % entries;
        ulong addressQword = m.Read(new Hpa((iqa & ~0xFFFUL) + slot * (ulong)size + 8), 8);
        return (addressQword & (1UL << 6)) != 0;
    }

    [Fact]
    public void UnmappingPagesLeavesTheirTableEvenEmptyAndKeepsThePagingStructureCaches()
    {
        var (bench, domain) = Attached();
        Assert.Equal(Errno.Success, domain.Map(Base, 0x4000_0000, Page, Rw));
        Assert.Equal(Errno.Success, domain.Map(Base + Page, 0x4000_1000, Page, Rw));
        int tables = domain.Table.TablePages, pages = bench.Pages.PagesInUse;

        Assert.Equal(Page, domain.Unmap(Base, Page));
        Assert.True(LastFlushKeptPagingStructureCaches(bench));
        Assert.Equal(Page, domain.Unmap(Base + Page, Page));     // the level-1 table is empty now, and stays
        Assert.True(LastFlushKeptPagingStructureCaches(bench));
        Assert.Equal(tables, domain.Table.TablePages);
        Assert.Equal(pages, bench.Pages.PagesInUse);
        Assert.Null(domain.Table.Lookup(Base));

        Assert.Equal(Errno.Success, domain.Map(Base, 0x4000_2000, Page, Rw)); // and is used again without an allocation
        Assert.Equal(pages, bench.Pages.PagesInUse);
        Assert.Equal(0x4000_2000UL, domain.Table.Lookup(Base)!.Value.Physical);
    }

    [Fact]
    public void UnmappingARangeThatCoversATableWholeFreesItAndDropsThePagingStructureCaches()
    {
        var (bench, domain) = Attached();
        Assert.Equal(Errno.Success, domain.Map(Base + 5 * Page, 0x4000_0000, 3 * Page, Rw));
        Assert.Equal(Errno.Success, domain.Map(Base + TwoMiB, 0x4010_0000, Page, Rw)); // the next table, not covered below
        int tables = domain.Table.TablePages, pages = bench.Pages.PagesInUse;

        Assert.Equal(3 * Page, domain.Unmap(Base, TwoMiB));    // the whole span of the first level-1 table
        Assert.False(LastFlushKeptPagingStructureCaches(bench));
        Assert.Equal(tables - 1, domain.Table.TablePages);
        Assert.Equal(pages - 1, bench.Pages.PagesInUse);
        Assert.Equal(0x4010_0000UL, domain.Table.Lookup(Base + TwoMiB)!.Value.Physical);
    }

    /// <summary>
    /// switch_to_super_page: a 2 MiB map where an unmap left an empty level-1 table takes the table out, frees it and
    /// flushes the paging-structure caches (IH=0), so a device that walked the old table before now reaches the page.
    /// </summary>
    [Fact]
    public void ALargePageReplacesAnEmptyTableAndTheDeviceSeesIt()
    {
        var (bench, domain) = Attached();
        bench.Machine.Memory.Write(new Hpa(0x4020_1000), "superpage"u8);
        Assert.Equal(Errno.Success, domain.Map(Base, 0x4000_0000, Page, Rw));
        Assert.True(bench.DmaRead(Base, new byte[8]).Completed);     // the unit caches the walk to the level-1 table
        domain.Unmap(Base, Page);
        int tables = domain.Table.TablePages, pages = bench.Pages.PagesInUse;

        Assert.Equal(Errno.Success, domain.Map(Base, 0x4020_0000, TwoMiB, Rw));
        Assert.False(LastFlushKeptPagingStructureCaches(bench));
        Assert.Equal(tables - 1, domain.Table.TablePages);
        Assert.Equal(TwoMiB, domain.Table.Lookup(Base + Page)!.Value.PageSize);
        var buffer = new byte[9];
        Assert.True(bench.DmaRead(Base + Page, buffer).Completed);
        Assert.Equal("superpage"u8.ToArray(), buffer);

        // The table taken out goes back to the allocator at the next unmap (K31), not before: a failed map of the same
        // operation could still put it back.
        Assert.Equal(pages, bench.Pages.PagesInUse);
        Assert.Equal(0UL, domain.Unmap(Base + 64 * TwoMiB, Page));
        Assert.Equal(pages - 1, bench.Pages.PagesInUse);
        Assert.Equal(TwoMiB, domain.Table.Lookup(Base)!.Value.PageSize);
    }

    /// <summary>
    /// A map that took an empty table out for a large page and then ran out of table pages further on puts the table
    /// back: the failed call leaves the tables, the allocator and the mappings as they were.
    /// </summary>
    [Fact]
    public void AFailedMapPutsBackTheEmptyTableItTookOut()
    {
        var (bench, domain) = Attached();
        Assert.Equal(Errno.Success, domain.Map(Base, 0x4000_0000, Page, Rw));
        domain.Unmap(Base, Page);                                      // the level-1 table stays, empty
        while (bench.Pages.TryAllocate() is not null) { }              // no page left for the next level-1 table
        int tables = domain.Table.TablePages, pages = bench.Pages.PagesInUse;

        // 2 MiB at Base (replacing the empty table), then 4 KiB in the next 2 MiB, which needs a new table: ENOMEM.
        Assert.Equal(Errno.ENOMEM, domain.Map(Base, 0x4020_0000, TwoMiB + Page, Rw));
        Assert.Equal(tables, domain.Table.TablePages);
        Assert.Equal(pages, bench.Pages.PagesInUse);
        Assert.Equal(tables, ReachableTables(bench, domain.Table.Root.Value, domain.Levels));
        Assert.Null(domain.Table.Lookup(Base));
        Assert.Equal(Errno.Success, domain.Map(Base, 0x4000_3000, Page, Rw)); // the table is there to use again
        Assert.Equal(0x4000_3000UL, domain.Table.Lookup(Base)!.Value.Physical);
    }

    /// <summary>A table that still maps a page is not replaced: the larger map is EEXIST and nothing changes.</summary>
    [Fact]
    public void ALargePageOverATableThatStillMapsSomethingIsEexist()
    {
        var (bench, domain) = Attached();
        Assert.Equal(Errno.Success, domain.Map(Base + 7 * Page, 0x4000_0000, Page, Rw));
        int tables = domain.Table.TablePages, pages = bench.Pages.PagesInUse;
        Assert.Equal(Errno.EEXIST, domain.Map(Base, 0x4020_0000, TwoMiB, Rw));
        Assert.Equal(tables, domain.Table.TablePages);
        Assert.Equal(pages, bench.Pages.PagesInUse);
        Assert.Equal(0x4000_0000UL, domain.Table.Lookup(Base + 7 * Page)!.Value.Physical);
    }

    [Fact]
    public void UnmappingTheWholeApertureLeavesOnlyTheRoot()
    {
        var (bench, domain) = Attached();
        int pages = bench.Pages.PagesInUse;
        Assert.Equal(Errno.Success, domain.Map(Base, 0x4000_0000, 3 * Page, Rw));
        Assert.Equal(Errno.Success, domain.Map(1UL << 39, 0x4000_0000, TwoMiB, Rw));
        Assert.Equal(Errno.Success, domain.Map(5UL << 30, 1UL << 30, 1UL << 30, Rw));

        Assert.Equal(3 * Page + TwoMiB + (1UL << 30), domain.Unmap(0, domain.Aperture));
        Assert.Equal(1, domain.Table.TablePages);
        Assert.Equal(pages, bench.Pages.PagesInUse);
    }

    /// <summary>
    /// Random maps and unmaps (pages, 2 MiB and 1 GiB runs, ranges across table boundaries): every page answers as a
    /// reference map says, unmap reports the bytes the reference held, and a table is freed only when the range
    /// covered it whole — so the table pages are exactly those reachable from the root, the allocator agrees, and
    /// unmapping everything leaves only the root.
    /// </summary>
    [Fact]
    public void RandomMapsAndUnmapsAgreeWithAReferenceAndLeakNoTable()
    {
        var (bench, domain) = Attached();
        int baseline = bench.Pages.PagesInUse;
        var reference = new Dictionary<ulong, ulong>(); // 4 KiB page → physical
        var rng = new Random(31);
        const ulong Window = 1UL << 32;                 // 4 GiB of IOVA: several level-2 and level-3 tables
        for (int step = 0; step < 3000; step++)
        {
            ulong unit = rng.Next(10) switch { < 7 => Page, < 9 => TwoMiB, _ => 1UL << 30 };
            ulong iova = (ulong)rng.NextInt64(0, (long)(Window / unit)) * unit;
            ulong length = unit * (ulong)rng.Next(1, unit == Page ? 600 : 3);
            if (iova + length > Window) length = Window - iova;
            if (rng.Next(2) == 0)
            {
                ulong physical = 0x1_0000_0000UL + iova;
                bool free = true;
                for (ulong a = iova; a < iova + length && free; a += Page) free = !reference.ContainsKey(a);
                Errno e = domain.Map(iova, physical, length, Rw);
                if (!free)
                {
                    Assert.Equal(Errno.EEXIST, e);
                    continue;
                }
                Assert.Equal(Errno.Success, e);
                for (ulong a = 0; a < length; a += Page) reference[iova + a] = physical + a;
            }
            else
            {
                // A leaf the range covers only in part goes whole: widen the reference's range the same way.
                ulong first = iova, last = iova + length - 1;
                var hit = domain.Table.Lookup(first);
                if (hit is { } h) first &= ~(h.PageSize - 1);
                hit = domain.Table.Lookup(last);
                if (hit is { } t) last |= t.PageSize - 1;
                ulong expected = 0;
                for (ulong a = first; a <= last; a += Page)
                    if (reference.Remove(a)) expected += Page;
                Assert.Equal(expected, domain.Unmap(iova, length));
            }
            if (step % 100 == 0) CheckAgainst(reference, domain, bench, baseline, rng);
        }
        CheckAgainst(reference, domain, bench, baseline, rng);
        domain.Unmap(0, domain.Aperture);
        Assert.Equal(1, domain.Table.TablePages);
        Assert.Equal(baseline, bench.Pages.PagesInUse);
    }

    private static void CheckAgainst(Dictionary<ulong, ulong> reference, PagingDomain domain, KernelBench bench, int baseline, Random rng)
    {
        Assert.Equal(0UL, domain.Unmap(1UL << 33, Page)); // a hole outside the window: frees the tables maps took out (K31)
        foreach (var (page, physical) in reference.Take(200))
            Assert.Equal(physical, domain.Table.Lookup(page)?.Physical);
        for (int i = 0; i < 200; i++)
        {
            ulong page = (ulong)rng.NextInt64(0, 1L << 20) * Page;
            Assert.Equal(reference.TryGetValue(page, out ulong p) ? p : null, domain.Table.Lookup(page)?.Physical);
        }
        int reachable = ReachableTables(bench, domain.Table.Root.Value, domain.Levels);
        Assert.Equal(reachable, domain.Table.TablePages);
        Assert.Equal(baseline + reachable - 1, bench.Pages.PagesInUse);
    }

    /// <summary>Present (P, or R in a second-stage entry: every mapping here is read-write); a table pointer is one above level 1 without PS.</summary>
    private static int ReachableTables(KernelBench bench, ulong table, int level)
    {
        int count = 1;
        for (int i = 0; i < 512; i++)
        {
            ulong raw = bench.Machine.Read(new Hpa(table + (ulong)i * 8), 8);
            if ((raw & 1) == 0 || level == 1 || (raw & (1UL << 7)) != 0) continue;
            count += ReachableTables(bench, raw & 0x000F_FFFF_FFFF_F000, level - 1);
        }
        return count;
    }
}
