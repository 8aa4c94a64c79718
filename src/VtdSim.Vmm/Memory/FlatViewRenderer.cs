namespace VtdSim.Vmm.Memory;

/// <summary>
/// Renders a region tree into a flat view as QEMU's memory core does (docs/devel/memory.rst, "Visibility"):
/// a region is drawn over what is already there only where nothing is yet, so the first drawn wins. Subregions are
/// drawn in list order — higher priority first, later-added first among equals — before the container's own
/// contents; an alias draws its target shifted by its offset; a disabled region draws nothing, nor do its
/// subregions; a container without contents of its own leaves its holes to lower regions. Read-only is inherited
/// down the path (an alias set read-only makes RAM read-only through it). Adjacent sections of the same region with
/// contiguous offsets and the same flags are merged at the end (flatview_simplify).
/// </summary>
internal static class FlatViewRenderer
{
    private static readonly Int128 Top = (Int128)1 << 64;

    public static List<MemorySection> Render(MemoryRegion? root)
    {
        var ranges = new List<Range>();
        if (root is not null) Draw(ranges, root, 0, 0, Top, false);
        return Simplify(ranges);
    }

    /// <summary>
    /// QEMU's memory_region_get_flatview_root: from an enabled root, go down through an alias at offset 0 that shows
    /// its whole target, or through a container's only enabled subregion when it sits at 0 and fits; no enabled
    /// subregion at all means nothing to render (null).
    /// </summary>
    public static MemoryRegion? FlatViewRoot(MemoryRegion region)
    {
        MemoryRegion r = region;
        while (r.Enabled)
        {
            if (r.AliasTarget is { } target)
            {
                if (r.AliasOffset == 0 && r.Size >= target.Size)
                {
                    r = target;
                    continue;
                }
            }
            else if (!r.Terminates)
            {
                int found = 0;
                MemoryRegion? next = null;
                foreach (MemoryRegion child in r.Subregions)
                {
                    if (!child.Enabled) continue;
                    if (++found > 1)
                    {
                        next = null;
                        break;
                    }
                    if (child.Address == 0 && r.Size >= child.Size) next = child;
                }
                if (found == 0) return null;
                if (next is not null)
                {
                    r = next;
                    continue;
                }
            }
            return r;
        }
        return null;
    }

    private static void Draw(List<Range> ranges, MemoryRegion mr, Int128 origin, Int128 clipStart, Int128 clipEnd, bool readOnly)
    {
        if (!mr.Enabled) return;
        Int128 start = origin + mr.Address;
        Int128 end = start + (Int128)mr.Size;
        clipStart = Int128.Max(clipStart, start);
        clipEnd = Int128.Min(clipEnd, end);
        if (clipStart >= clipEnd) return;
        readOnly |= mr.ReadOnly;

        if (mr.AliasTarget is { } target)
        {
            // The target is drawn as if it sat where the alias shows its byte AliasOffset; its own address cancels out.
            Draw(ranges, target, start - target.Address - mr.AliasOffset, clipStart, clipEnd, readOnly);
            return;
        }
        foreach (MemoryRegion sub in mr.Subregions) Draw(ranges, sub, start, clipStart, clipEnd, readOnly);
        if (!mr.Terminates) return;

        // Fill the holes of [clipStart, clipEnd) that nothing drawn so far covers.
        Int128 at = clipStart;
        int i = FirstEndingAfter(ranges, at);
        while (at < clipEnd)
        {
            if (i < ranges.Count && ranges[i].Start <= at)
            {
                at = Int128.Max(at, ranges[i].End);
                i++;
                continue;
            }
            Int128 stop = i < ranges.Count ? Int128.Min(ranges[i].Start, clipEnd) : clipEnd;
            ranges.Insert(i, new Range(at, stop, mr, (ulong)(at - start), readOnly, mr.RomdMode));
            i++;
            at = stop;
        }
    }

    private static int FirstEndingAfter(List<Range> ranges, Int128 at)
    {
        int lo = 0, hi = ranges.Count;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (ranges[mid].End <= at) lo = mid + 1;
            else hi = mid;
        }
        return lo;
    }

    private static List<MemorySection> Simplify(List<Range> ranges)
    {
        var sections = new List<MemorySection>(ranges.Count);
        int i = 0;
        while (i < ranges.Count)
        {
            Range r = ranges[i];
            Int128 end = r.End;
            int j = i + 1;
            while (j < ranges.Count && ranges[j].Start == end && ranges[j].Region == r.Region
                   && (Int128)ranges[j].Offset == (Int128)r.Offset + (end - r.Start)
                   && ranges[j].ReadOnly == r.ReadOnly && ranges[j].RomdMode == r.RomdMode)
            {
                end = ranges[j].End;
                j++;
            }
            sections.Add(new MemorySection((ulong)r.Start, (UInt128)(end - r.Start), r.Region, r.Offset, r.ReadOnly, r.RomdMode));
            i = j;
        }
        return sections;
    }

    private readonly record struct Range(Int128 Start, Int128 End, MemoryRegion Region, ulong Offset, bool ReadOnly, bool RomdMode);
}
