using System.Collections;

namespace VtdSim.Kernel.Iommufd;

/// <summary>
/// The area tree of an io_pagetable (Linux's area_itree). Areas never overlap, so sorted by start they are sorted by
/// end as well, and a binary search answers "first area intersecting [start, last]" without allocating (the old
/// SortedSet needed a view object per query). Inserting or removing moves the tail of an array: a memmove, cheap for
/// the thousands of areas a VMM makes, and appending at the top (IOVAs chosen lowest-first) moves nothing.
/// </summary>
internal sealed class AreaTree : IReadOnlyList<IoptArea>
{
    private readonly List<IoptArea> _areas = new();

    public int Count => _areas.Count;
    public IoptArea this[int index] => _areas[index];

    /// <summary>The index of the first area ending at or above <paramref name="iova"/>: the one holding it, or the next.</summary>
    public int FirstEndingAtOrAbove(ulong iova)
    {
        int lo = 0, hi = _areas.Count;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (_areas[mid].Last >= iova) hi = mid;
            else lo = mid + 1;
        }
        return lo;
    }

    /// <summary>iopt_area_iter_first: the lowest area intersecting [start, last], or null.</summary>
    public IoptArea? FirstIntersecting(ulong start, ulong last)
    {
        int i = FirstEndingAtOrAbove(start);
        return i < _areas.Count && _areas[i].Iova <= last ? _areas[i] : null;
    }

    /// <summary>The areas intersecting [start, last], lowest first.</summary>
    public List<IoptArea> Intersecting(ulong start, ulong last)
    {
        var result = new List<IoptArea>();
        for (int i = FirstEndingAtOrAbove(start); i < _areas.Count && _areas[i].Iova <= last; i++) result.Add(_areas[i]);
        return result;
    }

    /// <summary>Adds an area; the caller has checked that it overlaps none.</summary>
    public void Insert(IoptArea area) => _areas.Insert(FirstEndingAtOrAbove(area.Iova), area);

    public void RemoveAt(int index) => _areas.RemoveAt(index);

    public List<IoptArea>.Enumerator GetEnumerator() => _areas.GetEnumerator();
    IEnumerator<IoptArea> IEnumerable<IoptArea>.GetEnumerator() => GetEnumerator();
    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
