using System.Runtime.InteropServices;
using VtdSim.Hardware.Addressing;
using VtdSim.Kernel.Memory;
using VtdSim.Machine;

namespace VtdSim.Kernel.Intel;

/// <summary>IOMMU_READ / IOMMU_WRITE: what a mapping lets the device do.</summary>
[Flags]
public enum IommuProt
{
    None = 0,
    Read = 1,
    Write = 2,
}

/// <summary>
/// One radix I/O page-table algorithm (map with the largest page that fits, unmap, free the tables an unmap covers
/// whole, look up),
/// shared by the first- and second-stage formats, which supply only their entry encodings — the shape of Linux's
/// generic_pt. Tables are 4 KiB pages from the kernel's allocator, written with CPU stores.
/// </summary>
internal abstract class IoPageTable
{
    private readonly PhysicalMachine _machine;
    private readonly PageAllocator _pages;
    private readonly Dictionary<ulong, TableInfo> _used = new(); // table page → its bookkeeping
    private long _born;                                             // tables made so far (the next one's birth number)
    // Empty tables maps took out for larger pages, oldest first, with their order number and page count: freed at the
    // next unmap, put back by the undo of a failed map (Unmap with a mark).
    private readonly List<(ulong Table, int Index, ulong Raw, int Level, long Seq, int Pages)> _held = new();
    private int _heldPages;

    /// <summary>A table page's non-empty entries, when it was made, and the entry that points to it (none for the root).</summary>
    private struct TableInfo(long born, ulong parent, int index)
    {
        public int Entries;
        public readonly long Born = born;
        public readonly ulong Parent = parent;
        public readonly int Index = index;
    }

    protected IoPageTable(PhysicalMachine machine, PageAllocator pages, int levels, Hpa root)
    {
        _machine = machine;
        _pages = pages;
        Levels = levels;
        Root = root;
        _used[root.Value] = new TableInfo(_born++, 0, -1);
    }

    public Hpa Root { get; }
    public int Levels { get; }
    /// <summary>The highest IOVA this table can map, plus one.</summary>
    public ulong Aperture => 1UL << (12 + 9 * Levels);
    /// <summary>The table pages reachable from the root (taken-out tables waiting for the next unmap are not).</summary>
    public int TablePages => _used.Count - _heldPages;
    /// <summary>A mark for <see cref="Unmap(ulong, ulong, long, out bool)"/>: the tables made from now on are newer than it.</summary>
    public long Mark => _born;

    /// <summary>Whether a leaf may sit at <paramref name="level"/> (1 = 4 KiB, 2 = 2 MiB, 3 = 1 GiB) in this format on this unit.</summary>
    protected abstract bool LeafAllowed(int level);
    protected abstract bool IsPresent(ulong raw);
    protected abstract bool IsLeaf(ulong raw, int level);
    protected abstract ulong NextTable(ulong raw);
    protected abstract ulong MakeTable(Hpa next);
    protected abstract ulong MakeLeaf(ulong physical, int level, IommuProt prot);
    protected abstract IommuProt ProtOf(ulong raw);

    /// <summary>
    /// Maps [iova, iova+length) to [physical, …) with the largest pages that fit. EEXIST if anything there is mapped.
    /// Where a larger page goes and an unmap left an empty table, the table is taken out and the page takes its place
    /// (switch_to_super_page); <paramref name="freedTables"/> then says the paging-structure caches must be flushed. The
    /// tables taken out return to the allocator at the next unmap (decision K31): until then a failed map of the
    /// same operation can put them back.
    /// </summary>
    public Errno Map(ulong iova, ulong physical, ulong length, IommuProt prot, out bool freedTables)
    {
        freedTables = false;
        if (((iova | physical | length) & 0xFFF) != 0 || length == 0 || iova + length > Aperture || iova + length < iova)
            return Errno.EINVAL;
        ulong done = 0;
        long mark = _born;
        int held = _held.Count;
        while (done < length)
        {
            int level = LargestLevel(iova + done, physical + done, length - done);
            Errno e = MapOne(iova + done, physical + done, level, prot);
            if (e != Errno.Success)
            {
                Unmap(iova, done, mark, out _); // leave nothing half done
                return e;
            }
            done += PageSize(level);
        }
        freedTables = _held.Count != held;
        return Errno.Success;
    }

    /// <summary>
    /// Unmaps [iova, iova+length) as Linux's dma_pte_clear_level does: an entry whose whole span the range covers is
    /// cleared, and if it points to a table, that table and every table under it are freed; a table the range covers
    /// only in part is descended into and stays, even when it ends up empty; a leaf the range covers only in part
    /// goes whole (intel_iommu_unmap rounds the size up to the page at the address). Returns the bytes that were
    /// mapped and are not now (a hole counts nothing) and whether table pages were freed (the flush then drops
    /// paging-structure caches too). The range lies below <see cref="Aperture"/>. Tables earlier maps took out for
    /// larger pages are freed now.
    /// </summary>
    public ulong Unmap(ulong iova, ulong length, out bool freedTables)
    {
        ReleaseHeld();
        freedTables = false;
        return length == 0 ? 0 : ClearLevel(Root.Value, Levels, iova, iova + (length - 1), ref freedTables);
    }

    /// <summary>
    /// The undo of maps that failed part way, back to <paramref name="mark"/> (<see cref="Mark"/> taken before them):
    /// unmaps the range, frees the tables made since the mark that hold nothing (newest first, so a chain goes whole),
    /// and puts back the empty tables taken out since the mark for larger pages. The table is then as it was at the
    /// mark. Linux keeps the new tables until the domain goes; the model restores the state exactly (decision K31).
    /// </summary>
    public ulong Unmap(ulong iova, ulong length, long mark, out bool freedTables)
    {
        freedTables = false;
        ulong unmapped = length == 0 ? 0 : ClearLevel(Root.Value, Levels, iova, iova + (length - 1), ref freedTables);
        if (_born == mark) return unmapped;
        var newer = new List<(long Born, ulong Page)>();
        foreach (var (page, info) in _used)
            if (info.Born >= mark) newer.Add((info.Born, page));
        newer.Sort((x, y) => y.Born.CompareTo(x.Born));
        foreach (var (_, page) in newer)
        {
            TableInfo info = _used[page];
            if (info.Entries != 0) continue;
            WriteEntry(info.Parent, info.Index, 0);
            Entry(info.Parent).Entries--;
            _used.Remove(page);
            _pages.Free(new Hpa(page));
            freedTables = true;
        }
        for (int i = _held.Count - 1; i >= 0 && _held[i].Seq >= mark; i--)
        {
            var h = _held[i];
            WriteEntry(h.Table, h.Index, h.Raw);
            Entry(h.Table).Entries++;
            _heldPages -= h.Pages;
            _held.RemoveAt(i);
        }
        return unmapped;
    }

    /// <summary>Frees the tables maps took out for larger pages (they are unreachable and were flushed then).</summary>
    private void ReleaseHeld()
    {
        foreach (var h in _held) FreeTables(NextTable(h.Raw), h.Level);
        _held.Clear();
        _heldPages = 0;
    }

    private ulong ClearLevel(ulong table, int level, ulong first, ulong last, ref bool freedTables)
    {
        ulong span = PageSize(level), unmapped = 0;
        for (ulong at = first; ; )
        {
            int index = Index(at, level);
            ulong start = at & ~(span - 1), end = start + (span - 1);
            ulong raw = ReadEntry(table, index);
            if (IsPresent(raw))
            {
                if (IsLeaf(raw, level))
                {
                    unmapped += span;
                }
                else if (first <= start && last >= end)
                {
                    unmapped += FreeTables(NextTable(raw), level - 1);
                    freedTables = true;
                }
                else
                {
                    unmapped += ClearLevel(NextTable(raw), level - 1, Math.Max(first, start), Math.Min(last, end), ref freedTables);
                    goto next; // the table stays, and so does the entry pointing to it
                }
                WriteEntry(table, index, 0);
                Entry(table).Entries--;
            }
        next:
            if (end >= last) return unmapped;
            at = end + 1;
        }
    }

    /// <summary>Frees a table and every table under it (dma_pte_list_pagetables); returns the bytes their leaves mapped.</summary>
    private ulong FreeTables(ulong table, int level)
    {
        ulong mapped = 0;
        for (int i = 0; i < 512; i++)
        {
            ulong raw = ReadEntry(table, i);
            if (!IsPresent(raw)) continue;
            mapped += IsLeaf(raw, level) ? PageSize(level) : FreeTables(NextTable(raw), level - 1);
        }
        _used.Remove(table);
        _pages.Free(new Hpa(table)); // freed pages come back zeroed when they are handed out again
        return mapped;
    }

    private int CountTables(ulong table, int level)
    {
        int count = 1;
        for (int i = 0; i < 512 && level > 1; i++)
        {
            ulong raw = ReadEntry(table, i);
            if (IsPresent(raw) && !IsLeaf(raw, level)) count += CountTables(NextTable(raw), level - 1);
        }
        return count;
    }

    private bool MapsAnything(ulong table, int level)
    {
        for (int i = 0; i < 512; i++)
        {
            ulong raw = ReadEntry(table, i);
            if (IsPresent(raw) && (IsLeaf(raw, level) || MapsAnything(NextTable(raw), level - 1))) return true;
        }
        return false;
    }

    private ref TableInfo Entry(ulong table) => ref CollectionsMarshal.GetValueRefOrNullRef(_used, table);

    /// <summary>The physical address and rights an IOVA maps to, or null.</summary>
    public (ulong Physical, IommuProt Prot, ulong PageSize)? Lookup(ulong iova)
    {
        ulong table = Root.Value;
        for (int level = Levels; level >= 1; level--)
        {
            ulong raw = ReadEntry(table, Index(iova, level));
            if (!IsPresent(raw)) return null;
            if (IsLeaf(raw, level))
            {
                ulong size = PageSize(level);
                return ((raw & 0x000F_FFFF_FFFF_F000 & ~(size - 1)) | (iova & (size - 1)), ProtOf(raw), size);
            }
            table = NextTable(raw);
        }
        return null;
    }

    /// <summary>Visits every leaf entry (IOVA, host address of the entry, value, page size), for dirty tracking and dumps.</summary>
    public void ForEachLeaf(Action<ulong, Hpa, ulong, ulong> visit) => Visit(Root.Value, Levels, 0, visit);

    public void WriteLeafEntry(Hpa entry, ulong value) => _machine.Write(entry, 8, value);

    private void Visit(ulong table, int level, ulong baseIova, Action<ulong, Hpa, ulong, ulong> visit)
    {
        for (int i = 0; i < 512; i++)
        {
            ulong raw = ReadEntry(table, i);
            if (!IsPresent(raw)) continue;
            ulong iova = baseIova + ((ulong)i << (12 + 9 * (level - 1)));
            if (IsLeaf(raw, level)) visit(iova, new Hpa(table + (ulong)i * 8), raw, PageSize(level));
            else Visit(NextTable(raw), level - 1, iova, visit);
        }
    }

    private Errno MapOne(ulong iova, ulong physical, int leafLevel, IommuProt prot)
    {
        ulong table = Root.Value;
        for (int level = Levels; level > leafLevel; level--)
        {
            int index = Index(iova, level);
            ulong raw = ReadEntry(table, index);
            if (!IsPresent(raw))
            {
                // Out of pages part way down: Map's undo frees the tables made on the way, which hold nothing.
                if (_pages.TryAllocate() is not Hpa next) return Errno.ENOMEM;
                _used[next.Value] = new TableInfo(_born++, table, index);
                WriteEntry(table, index, MakeTable(next));
                Entry(table).Entries++;
                table = next.Value;
            }
            else if (IsLeaf(raw, level))
            {
                return Errno.EEXIST;
            }
            else
            {
                table = NextTable(raw);
            }
        }
        int leafIndex = Index(iova, leafLevel);
        ulong old = ReadEntry(table, leafIndex);
        if (IsPresent(old))
        {
            // A table where this page goes: taken out if it maps nothing (Map frees it once the whole map has worked).
            if (leafLevel == 1 || IsLeaf(old, leafLevel) || MapsAnything(NextTable(old), leafLevel - 1)) return Errno.EEXIST;
            int pages = CountTables(NextTable(old), leafLevel - 1);
            _held.Add((table, leafIndex, old, leafLevel - 1, _born++, pages));
            _heldPages += pages;
            WriteEntry(table, leafIndex, 0);
            Entry(table).Entries--;
        }
        WriteEntry(table, leafIndex, MakeLeaf(physical, leafLevel, prot));
        Entry(table).Entries++;
        return Errno.Success;
    }

    private int LargestLevel(ulong iova, ulong physical, ulong remaining)
    {
        for (int level = 3; level > 1; level--)
        {
            ulong size = PageSize(level);
            if (LeafAllowed(level) && level <= Levels && ((iova | physical) & (size - 1)) == 0 && remaining >= size) return level;
        }
        return 1;
    }

    private ulong ReadEntry(ulong table, int index) => _machine.Read(new Hpa(table + (ulong)index * 8), 8);
    private void WriteEntry(ulong table, int index, ulong value) => _machine.Write(new Hpa(table + (ulong)index * 8), 8, value);
    protected static ulong PageSize(int level) => 1UL << (12 + 9 * (level - 1));
    private static int Index(ulong iova, int level) => (int)((iova >> (12 + 9 * (level - 1))) & 0x1FF);

    /// <summary>Frees every table page (the domain is being destroyed and is attached nowhere).</summary>
    public void FreeAll()
    {
        foreach (ulong page in _used.Keys) _pages.Free(new Hpa(page));
        _used.Clear();
        _held.Clear();
        _heldPages = 0;
    }
}
