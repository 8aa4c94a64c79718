using VtdSim.Hardware.Addressing;
using VtdSim.Kernel.Intel;
using VtdSim.Kernel.Process;

namespace VtdSim.Kernel.Iommufd;

/// <summary>
/// Pinned user pages (struct iopt_pages): a page-aligned user range of one process, pinned once (writable only when
/// the first map asked for WRITEABLE) and shared by every area that maps it — the area IOAS_MAP made and the areas
/// IOAS_COPY made from it. The pins are held as runs (one per folio), so pinned huge pages cost one run each. The pins
/// go when the last area does.
/// </summary>
internal sealed class PinnedPages
{
    private PinnedRun[]? _runs;
    private PinnedRunPages? _index; // for lookups by page index; built on the first one

    public PinnedPages(ProcessAddressSpace source, Uva uptr, ulong pageCount, bool writable)
    {
        Source = source;
        Uptr = uptr;
        PageCount = pageCount;
        Writable = writable;
    }

    public ProcessAddressSpace Source { get; }
    /// <summary>The user address the pages start at (page-aligned).</summary>
    public Uva Uptr { get; }
    public ulong PageCount { get; }
    /// <summary>pages->writable: pinned with FOLL_WRITE; an area asking for IOMMU_WRITE needs it (else EPERM).</summary>
    public bool Writable { get; }
    public int Areas { get; private set; }
    public PinnedRun[] Runs => _runs ?? throw new InvalidOperationException("pages are not pinned");

    /// <summary>The run holding page <paramref name="index"/> of the range, and the page's offset in that run.</summary>
    public (int Run, ulong Offset) Locate(ulong index)
    {
        var runs = Runs;
        if (index >= PageCount) throw new ArgumentOutOfRangeException(nameof(index));
        if (runs.Length == 1 || index == 0) return (0, index); // the common cases (a whole IOAS_MAP area) need no index
        return (_index ??= new PinnedRunPages(runs)).Locate(index);
    }

    /// <summary>The host address of page <paramref name="index"/> of the range.</summary>
    public Hpa PageAddress(ulong index)
    {
        var (run, offset) = Locate(index);
        return Runs[run].Address + offset * IoPagetable.PageSize;
    }

    /// <summary>The runs behind pages [first, first + count) of the range, the first and last trimmed to it.</summary>
    public List<PinnedRun> RunsOf(ulong first, ulong count)
    {
        var result = new List<PinnedRun>();
        var (run, offset) = Locate(first);
        for (; count != 0; run++, offset = 0)
        {
            var r = Runs[run];
            ulong take = Math.Min(r.PageCount - offset, count);
            result.Add(new PinnedRun(r.Folio, r.FirstPage + (uint)offset, (uint)take));
            count -= take;
        }
        return result;
    }

    /// <summary>Pins the whole range (once): EFAULT if any page cannot be pinned as asked.</summary>
    public Errno Pin()
    {
        if (_runs is not null) return Errno.Success;
        Errno e = Source.PinPages(Uptr, PageCount, Writable, out var runs);
        if (e == Errno.Success) _runs = runs;
        return e;
    }

    public void AddArea() => Areas++;

    /// <summary>An area let go; the last one unpins (pages unmapped from the process meanwhile are freed now).</summary>
    public void RemoveArea()
    {
        if (--Areas == 0) ReleaseIfUnused();
    }

    /// <summary>Unpins if no area uses the pages (also the undo path of a failed map).</summary>
    public void ReleaseIfUnused()
    {
        if (Areas != 0 || _runs is null) return;
        Source.UnpinPages(_runs);
        _runs = null;
        _index = null;
    }
}

/// <summary>
/// A piece of pinned pages to map (struct iopt_pages_list element): bytes [StartByte, StartByte + Length) of the
/// pages. The byte offset is kept, as Linux keeps start_byte: a piece that starts inside a page cannot become an area
/// of an IOAS whose alignment is a page (EINVAL), and must never be mapped as if it started at the page.
/// </summary>
internal readonly record struct PagesSlice(PinnedPages Pages, ulong StartByte, ulong Length)
{
    public ulong StartPage => StartByte / IoPagetable.PageSize;
    /// <summary>area->page_offset: where in its first page the piece starts.</summary>
    public ulong PageOffset => StartByte % IoPagetable.PageSize;
    /// <summary>The user address of the piece's first byte (iopt_alloc_iova keeps its alignment).</summary>
    public ulong UserAddress => (Pages.Uptr + StartByte).Value;
}

/// <summary>One area (struct iopt_area): [Iova, Last] mapped with Prot to a slice of pinned pages.</summary>
internal sealed class IoptArea(ulong iova, ulong length, IommuProt prot, PinnedPages pages, ulong startPage)
{
    public ulong Iova { get; } = iova;
    public ulong Length { get; } = length;
    public ulong Last => Iova + Length - 1;
    public IommuProt Prot { get; } = prot;
    public PinnedPages Pages { get; } = pages;
    public ulong StartPage { get; } = startPage;
    public ulong PageCount => Length / IoPagetable.PageSize;
    public Hpa PageAt(ulong iova) => Pages.PageAddress(StartPage + (iova - Iova) / IoPagetable.PageSize);
}

/// <summary>A reserved IOVA range and who reserved it (a device's reserved regions, a domain's aperture limits).</summary>
internal sealed record ReservedRange(ulong Start, ulong Last, object Owner);

/// <summary>
/// The io_pagetable of an IOAS (drivers/iommu/iommufd/io_pagetable.c): the area tree, the allowed and reserved IOVA
/// ranges, and the paging domains that mirror the areas. Every area is mapped in every domain; any change is applied
/// to all of them or to none.
/// </summary>
internal sealed class IoPagetable
{
    public const ulong PageSize = 4096;
    /// <summary>HPAGE_SIZE: the cap on automatic IOVA alignment.</summary>
    public const ulong HugePageSize = 2UL << 20;

    private readonly AreaTree _areas = new();
    private readonly List<IovaRange> _allowed = new();
    private readonly List<ReservedRange> _reserved = new();
    private readonly List<PagingDomain> _domains = new();

    /// <summary>
    /// iova_alignment: always PAGE_SIZE in this model (Linux starts at 1 and rises to the domains' smallest page; our
    /// areas are whole pinned pages, as they are in Linux as soon as a VT-d domain is present).
    /// </summary>
    public ulong IovaAlignment => PageSize;
    public IReadOnlyList<IovaRange> Allowed => _allowed;
    public IReadOnlyList<ReservedRange> Reserved => _reserved;
    public IReadOnlyList<PagingDomain> Domains => _domains;
    public int AreaCount => _areas.Count;
    public IEnumerable<IoptArea> AllAreas => _areas;

    public IReadOnlyList<IoasAreaInfo> AreaInfos() =>
        _areas.Select(a => new IoasAreaInfo(a.Iova, a.Length, a.Prot, a.Pages.RunsOf(a.StartPage, a.PageCount), a.Pages.Writable)).ToList();

    // ---- lookups ----

    /// <summary>The areas intersecting [start, last], lowest first.</summary>
    public List<IoptArea> AreasIntersecting(ulong start, ulong last) => _areas.Intersecting(start, last);

    /// <summary>iopt_area_iter_first: the lowest area intersecting [start, last].</summary>
    public IoptArea? FirstAreaIntersecting(ulong start, ulong last) => _areas.FirstIntersecting(start, last);

    public bool ReservedIntersects(ulong start, ulong last)
    {
        foreach (var r in _reserved)
        {
            if (r.Start <= last && start <= r.Last) return true;
        }
        return false;
    }

    public bool AllowedIntersects(ulong start, ulong last)
    {
        foreach (var r in _allowed)
        {
            if (r.Start <= last && start <= r.Last) return true;
        }
        return false;
    }

    // ---- IOVA space ----

    /// <summary>iopt_check_iova: a fixed IOVA must be aligned, fit, avoid reserved ranges (EINVAL) and areas (EEXIST).</summary>
    public Errno CheckIova(ulong iova, ulong length)
    {
        if ((iova & (IovaAlignment - 1)) != 0) return Errno.EINVAL;
        if (length - 1 > ulong.MaxValue - iova) return Errno.EOVERFLOW;
        ulong last = iova + length - 1;
        if (ReservedIntersects(iova, last)) return Errno.EINVAL;
        if (FirstAreaIntersecting(iova, last) is not null) return Errno.EEXIST;
        return Errno.Success;
    }

    /// <summary>
    /// iopt_alloc_iova: the lowest IOVA (never 0 and never the last page) in an allowed range, clear of reserved
    /// ranges and areas, aligned to min(roundup_pow_of_two(length), alignment of the user address, 2 MiB).
    /// </summary>
    public Errno AllocIova(ulong addr, ulong length, out ulong iova)
    {
        iova = 0;
        if (length == 0 || length >= ulong.MaxValue / 2) return Errno.EOVERFLOW;
        ulong alignment = RoundUpPowerOfTwo(length);
        if (addr != 0) alignment = Math.Min(alignment, 1UL << System.Numerics.BitOperations.TrailingZeroCount(addr));
        if (alignment >= HugePageSize) alignment = HugePageSize;
        if (alignment < IovaAlignment) return Errno.EINVAL;
        ulong pageOffset = addr % PageSize;

        const ulong windowStart = PageSize, windowLast = ulong.MaxValue - PageSize;
        IEnumerable<(ulong Start, ulong Last)> allowedSpans = _allowed.Count == 0
            ? [(windowStart, windowLast)]
            : Merge(_allowed.Select(r => (r.Start, r.Last)))
                .Where(s => s.Last >= windowStart && s.Start <= windowLast)
                .Select(s => (Math.Max(s.Start, windowStart), Math.Min(s.Last, windowLast)));
        var used = _reserved.Select(r => (r.Start, r.Last)).Concat(_areas.Select(a => (Start: a.Iova, a.Last))).ToList();
        foreach (var span in allowedSpans)
        {
            if (!FitsIn(span.Item1, span.Item2, length, alignment, pageOffset, out ulong spanStart)) continue;
            foreach (var hole in Holes(spanStart, span.Item2, used))
            {
                if (!FitsIn(hole.Start, hole.Last, length, alignment, pageOffset, out ulong start)) continue;
                iova = start;
                return Errno.Success;
            }
        }
        return Errno.ENOSPC;
    }

    /// <summary>__alloc_iova_check_range.</summary>
    private static bool FitsIn(ulong start, ulong last, ulong length, ulong alignment, ulong pageOffset, out ulong alignedStart)
    {
        alignedStart = 0;
        if (start > ulong.MaxValue - (alignment - 1)) return false;
        ulong aligned = ((start + alignment - 1) & ~(alignment - 1)) | pageOffset;
        if (aligned >= last || last - aligned < length - 1) return false;
        alignedStart = aligned;
        return true;
    }

    /// <summary>iopt_reserve_iova: EADDRINUSE if an area or an allowed range is there.</summary>
    public Errno ReserveIova(ulong start, ulong last, object owner)
    {
        if (FirstAreaIntersecting(start, last) is not null || AllowedIntersects(start, last)) return Errno.EADDRINUSE;
        _reserved.Add(new ReservedRange(start, last, owner));
        return Errno.Success;
    }

    public void RemoveReserved(object owner) => _reserved.RemoveAll(r => ReferenceEquals(r.Owner, owner));

    /// <summary>iopt_set_allow_iova: replaces the allowed list unless a new range meets a reserved one (EADDRINUSE).</summary>
    public Errno SetAllowed(IReadOnlyList<IovaRange> ranges)
    {
        foreach (var r in ranges)
        {
            if (ReservedIntersects(r.Start, r.Last)) return Errno.EADDRINUSE;
        }
        _allowed.Clear();
        _allowed.AddRange(ranges.OrderBy(r => r.Start));
        return Errno.Success;
    }

    /// <summary>The holes of the reserved tree over the whole IOVA space (IOAS_IOVA_RANGES).</summary>
    public List<IovaRange> UsableRanges() =>
        Holes(0, ulong.MaxValue, _reserved.Select(r => (r.Start, r.Last)).ToList()).Select(h => new IovaRange(h.Start, h.Last)).ToList();

    // ---- mapping ----

    /// <summary>
    /// iopt_map_pages: reserves IOVA for the slices (allocated or fixed), inserts one area per slice, pins, and maps
    /// every area into every domain. Any failure undoes everything (areas, domain mappings, the pins this call made).
    /// </summary>
    public Errno MapPages(ReadOnlySpan<PagesSlice> slices, ulong length, ref ulong iova, IommuProt prot, bool allocateIova)
    {
        // iopt_alloc_area_pages
        if ((length & (IovaAlignment - 1)) != 0 || length == 0) return Errno.EINVAL;
        Errno e;
        if (allocateIova)
        {
            var first = slices[0];
            e = AllocIova(first.UserAddress, length, out ulong chosen);
            if (e != Errno.Success) return e;
            iova = chosen;
        }
        else
        {
            e = CheckIova(iova, length);
            if (e != Errno.Success) return e;
        }
        foreach (var slice in slices)
        {
            // iopt_insert_area's checks
            if ((prot & IommuProt.Write) != 0 && !slice.Pages.Writable) return Errno.EPERM;
            if ((slice.PageOffset & (IovaAlignment - 1)) != 0) return Errno.EINVAL;
        }

        // iopt_fill_domains_pages (pinning first: the pfn reader pins before it maps)
        foreach (var slice in slices)
        {
            e = slice.Pages.Pin();
            if (e != Errno.Success)
            {
                foreach (var s in slices) s.Pages.ReleaseIfUnused();
                return e;
            }
        }
        ulong at = iova;
        for (int i = 0; i < slices.Length; i++)
        {
            var area = new IoptArea(at, slices[i].Length, prot, slices[i].Pages, slices[i].StartPage);
            e = FillDomains(area);
            if (e != Errno.Success)
            {
                // The areas of this call so far are consecutive from iova: take them out again.
                int first = _areas.FirstEndingAtOrAbove(iova);
                for (int j = 0; j < i; j++)
                {
                    UnfillDomains(_areas[first]);
                    _areas.RemoveAt(first);
                }
                foreach (var s in slices) s.Pages.ReleaseIfUnused();
                return e;
            }
            _areas.Insert(area);
            at += slices[i].Length;
        }
        foreach (var slice in slices) slice.Pages.AddArea();
        return Errno.Success;
    }

    /// <summary>iopt_get_pages: the slices behind [iova, iova+length), which contiguous areas must cover entirely (else ENOENT).</summary>
    public Errno GetPages(ulong iova, ulong length, out List<PagesSlice> slices)
    {
        slices = new List<PagesSlice>();
        if (length == 0) return Errno.EINVAL;
        if (length - 1 > ulong.MaxValue - iova) return Errno.EOVERFLOW;
        ulong last = iova + length - 1, cur = iova;
        foreach (var area in AreasIntersecting(iova, last))
        {
            if (area.Iova > cur) break; // a gap
            ulong end = Math.Min(last, area.Last);
            // iopt_area_start_byte: the byte offset is kept (areas start on a page here, K3).
            ulong startByte = area.StartPage * PageSize + (cur - area.Iova);
            slices.Add(new PagesSlice(area.Pages, startByte, end - cur + 1));
            if (end == last)
            {
                cur = last;
                return Errno.Success;
            }
            cur = end + 1;
        }
        slices.Clear();
        return Errno.ENOENT;
    }

    /// <summary>
    /// iopt_unmap_iova_range: removes areas lying wholly inside [start, last], lowest first. An area that sticks out
    /// stops the walk with ENOENT (areas below it are already gone, as in Linux).
    /// </summary>
    public Errno UnmapRange(ulong start, ulong last, out ulong unmapped)
    {
        unmapped = 0;
        int i = _areas.FirstEndingAtOrAbove(start);
        while (i < _areas.Count && _areas[i].Iova <= last)
        {
            var area = _areas[i];
            if (area.Iova < start || area.Last > last) return Errno.ENOENT;
            _areas.RemoveAt(i);
            UnfillDomains(area);
            area.Pages.RemoveArea();
            unmapped += area.Length;
        }
        return Errno.Success;
    }

    // ---- domains ----

    /// <summary>
    /// iopt_table_add_domain: reserves what lies outside the domain's aperture (EADDRINUSE if areas or allowed ranges
    /// are there) and maps every area into it; on failure the domain and the reserved tree are left as they were.
    /// </summary>
    public Errno AddDomain(PagingDomain domain)
    {
        ulong apertureEnd = domain.Aperture - 1;
        if (apertureEnd != ulong.MaxValue)
        {
            Errno r = ReserveIova(apertureEnd + 1, ulong.MaxValue, domain);
            if (r != Errno.Success) return r;
        }
        var filled = new List<IoptArea>();
        long mark = domain.Mark;
        foreach (var area in _areas)
        {
            Errno e = MapArea(domain, area);
            if (e != Errno.Success)
            {
                foreach (var f in filled) domain.Unmap(f.Iova, f.Length, mark);
                RemoveReserved(domain);
                return e;
            }
            filled.Add(area);
        }
        _domains.Add(domain);
        return Errno.Success;
    }

    /// <summary>iopt_table_remove_domain: unmaps every area from the domain and drops its reservations.</summary>
    public void RemoveDomain(PagingDomain domain)
    {
        int index = _domains.IndexOf(domain);
        if (index < 0) throw new InvalidOperationException("removing a domain this IOAS does not hold");
        // Linux keeps the domains xarray dense by moving the last entry into the hole.
        _domains[index] = _domains[^1];
        _domains.RemoveAt(_domains.Count - 1);
        foreach (var area in _areas) domain.Unmap(area.Iova, area.Length);
        RemoveReserved(domain);
    }

    private Errno FillDomains(IoptArea area)
    {
        Span<long> marks = _domains.Count <= 16 ? stackalloc long[16] : new long[_domains.Count];
        for (int i = 0; i < _domains.Count; i++)
        {
            marks[i] = _domains[i].Mark;
            Errno e = MapArea(_domains[i], area);
            if (e == Errno.Success) continue;
            for (int j = 0; j < i; j++) _domains[j].Unmap(area.Iova, area.Length, marks[j]);
            return e;
        }
        return Errno.Success;
    }

    private void UnfillDomains(IoptArea area)
    {
        foreach (var domain in _domains) domain.Unmap(area.Iova, area.Length);
    }

    /// <summary>
    /// Maps an area into one domain (iopt_area_fill_domain). Consecutive pinned runs that are physically contiguous are
    /// joined and handed over as one range, so the domain can use the largest pages that the alignment of IOVA and
    /// physical address allows: a 1 GiB folio at a 1 GiB-aligned IOVA becomes one 1 GiB leaf.
    /// </summary>
    private static Errno MapArea(PagingDomain domain, IoptArea area)
    {
        var runs = area.Pages.Runs;
        var (run, offset) = area.Pages.Locate(area.StartPage);
        ulong done = 0, total = area.PageCount;
        long mark = domain.Mark;
        while (done < total)
        {
            ulong physical = runs[run].Address.Value + offset * PageSize;
            ulong pages = Math.Min(runs[run].PageCount - offset, total - done);
            for (run++, offset = 0; done + pages < total && runs[run].Address.Value == physical + pages * PageSize; run++)
                pages += Math.Min(runs[run].PageCount, total - done - pages);
            Errno e = domain.Map(area.Iova + done * PageSize, physical, pages * PageSize, area.Prot);
            if (e != Errno.Success)
            {
                if (done != 0) domain.Unmap(area.Iova, done * PageSize, mark);
                return e;
            }
            done += pages;
        }
        return Errno.Success;
    }

    // ---- interval helpers ----

    private static List<(ulong Start, ulong Last)> Merge(IEnumerable<(ulong Start, ulong Last)> ranges)
    {
        var merged = new List<(ulong Start, ulong Last)>();
        foreach (var r in ranges.OrderBy(r => r.Start))
        {
            if (merged.Count != 0 && (merged[^1].Last == ulong.MaxValue || r.Start <= merged[^1].Last + 1))
            {
                if (r.Last > merged[^1].Last) merged[^1] = (merged[^1].Start, r.Last);
            }
            else
            {
                merged.Add(r);
            }
        }
        return merged;
    }

    /// <summary>The gaps between the (possibly overlapping) used ranges inside [from, to].</summary>
    private static IEnumerable<(ulong Start, ulong Last)> Holes(ulong from, ulong to, List<(ulong Start, ulong Last)> used)
    {
        ulong cur = from;
        foreach (var u in Merge(used.Where(u => u.Last >= from && u.Start <= to)))
        {
            if (u.Start > cur) yield return (cur, u.Start - 1);
            if (u.Last >= to) yield break;
            cur = Math.Max(cur, u.Last + 1);
        }
        yield return (cur, to);
    }

    private static ulong RoundUpPowerOfTwo(ulong v) => System.Numerics.BitOperations.RoundUpToPowerOf2(v);
}
