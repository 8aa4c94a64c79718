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
/// One radix I/O page-table algorithm (map with the largest page that fits, unmap, free empty tables, look up),
/// shared by the first- and second-stage formats, which supply only their entry encodings — the shape of Linux's
/// generic_pt. Tables are 4 KiB pages from the kernel's allocator, written with CPU stores.
/// </summary>
internal abstract class IoPageTable
{
    private readonly PhysicalMachine _machine;
    private readonly PageAllocator _pages;
    private readonly Dictionary<ulong, int> _used = new(); // table page → number of non-empty entries

    protected IoPageTable(PhysicalMachine machine, PageAllocator pages, int levels, Hpa root)
    {
        _machine = machine;
        _pages = pages;
        Levels = levels;
        Root = root;
        _used[root.Value] = 0;
    }

    public Hpa Root { get; }
    public int Levels { get; }
    /// <summary>The highest IOVA this table can map, plus one.</summary>
    public ulong Aperture => 1UL << (12 + 9 * Levels);
    public int TablePages => _used.Count;

    /// <summary>Whether a leaf may sit at <paramref name="level"/> (1 = 4 KiB, 2 = 2 MiB, 3 = 1 GiB) in this format on this unit.</summary>
    protected abstract bool LeafAllowed(int level);
    protected abstract bool IsPresent(ulong raw);
    protected abstract bool IsLeaf(ulong raw, int level);
    protected abstract ulong NextTable(ulong raw);
    protected abstract ulong MakeTable(Hpa next);
    protected abstract ulong MakeLeaf(ulong physical, int level, IommuProt prot);
    protected abstract IommuProt ProtOf(ulong raw);

    /// <summary>Maps [iova, iova+length) to [physical, …) with the largest pages that fit. EEXIST if anything there is mapped.</summary>
    public Errno Map(ulong iova, ulong physical, ulong length, IommuProt prot)
    {
        if (((iova | physical | length) & 0xFFF) != 0 || length == 0 || iova + length > Aperture || iova + length < iova)
            return Errno.EINVAL;
        ulong done = 0;
        while (done < length)
        {
            int level = LargestLevel(iova + done, physical + done, length - done);
            Errno e = MapOne(iova + done, physical + done, level, prot);
            if (e != Errno.Success)
            {
                if (done != 0) Unmap(iova, done, out _); // leave nothing half done
                return e;
            }
            done += PageSize(level);
        }
        return Errno.Success;
    }

    /// <summary>
    /// Unmaps whole pages in [iova, iova+length); returns the bytes that were mapped and are not now (a hole in the
    /// range counts nothing) and whether table pages were freed.
    /// </summary>
    public ulong Unmap(ulong iova, ulong length, out bool freedTables)
    {
        freedTables = false;
        ulong done = 0, unmapped = 0;
        while (done < length)
        {
            ulong size = UnmapOne(iova + done, ref freedTables);
            done += size == 0 ? 4096 : size;
            unmapped += size;
        }
        return unmapped;
    }

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
        int firstNew = 0; // the level of the table whose entry got the first table this call allocated
        for (int level = Levels; level > leafLevel; level--)
        {
            int index = Index(iova, level);
            ulong raw = ReadEntry(table, index);
            if (!IsPresent(raw))
            {
                if (_pages.TryAllocate() is not Hpa next)
                {
                    // Out of pages part way down: the tables allocated on the way hold nothing; they go again.
                    if (firstNew != 0) FreeNewBranch(iova, firstNew);
                    return Errno.ENOMEM;
                }
                if (firstNew == 0) firstNew = level;
                _used[next.Value] = 0;
                WriteEntry(table, index, MakeTable(next));
                _used[table]++;
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
        if (IsPresent(ReadEntry(table, leafIndex))) return Errno.EEXIST;
        WriteEntry(table, leafIndex, MakeLeaf(physical, leafLevel, prot));
        _used[table]++;
        return Errno.Success;
    }

    /// <summary>
    /// Takes out the chain of tables a failed <see cref="MapOne"/> hung off the entry for <paramref name="iova"/> in the
    /// level-<paramref name="level"/> table: each holds only the entry leading to the next, the last none. Nothing
    /// walked them (their entries were never present in a flushed state), so no invalidation is needed.
    /// </summary>
    private void FreeNewBranch(ulong iova, int level)
    {
        ulong parent = Root.Value;
        for (int l = Levels; l > level; l--) parent = NextTable(ReadEntry(parent, Index(iova, l)));
        ulong child = NextTable(ReadEntry(parent, Index(iova, level)));
        WriteEntry(parent, Index(iova, level), 0);
        _used[parent]--;
        for (int l = level - 1; ; l--)
        {
            ulong raw = ReadEntry(child, Index(iova, l));
            _used.Remove(child);
            _pages.Free(new Hpa(child));
            if (!IsPresent(raw)) return;
            child = NextTable(raw);
        }
    }

    private ulong UnmapOne(ulong iova, ref bool freedTables)
    {
        Span<ulong> path = stackalloc ulong[6];
        ulong table = Root.Value;
        for (int level = Levels; level >= 1; level--)
        {
            path[level] = table;
            int index = Index(iova, level);
            ulong raw = ReadEntry(table, index);
            if (!IsPresent(raw)) return 0;
            if (!IsLeaf(raw, level))
            {
                table = NextTable(raw);
                continue;
            }
            WriteEntry(table, index, 0);
            // Free tables that became empty, bottom up (never the root).
            for (int l = level; l < Levels; l++)
            {
                ulong t = path[l];
                if (--_used[t] != 0) return PageSize(level);
                _used.Remove(t);
                _pages.Free(new Hpa(t));
                freedTables = true;
                WriteEntry(path[l + 1], Index(iova, l + 1), 0);
            }
            _used[Root.Value]--;
            return PageSize(level);
        }
        return 0;
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
    }
}
