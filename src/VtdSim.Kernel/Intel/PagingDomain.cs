using VtdSim.Hardware.Invalidation;

namespace VtdSim.Kernel.Intel;

/// <summary>Which table format a paging domain uses.</summary>
public enum PagingFormat
{
    FirstStage,
    SecondStage,
}

/// <summary>
/// A kernel-managed paging domain: an I/O page table the driver fills with map/unmap, flushing the IOTLB of every unit
/// it is attached through. A nest parent (always second stage) is the host half of a nested translation; its mappings
/// must be writable on Linux 6.7+ because of erratum 772415.
/// </summary>
public sealed class PagingDomain : IntelDomain
{
    internal const string ErratumMessage =
        "Read-only mapping is disallowed on the domain which serves as the parent in a nested configuration, due to HW errata (ERRATA_772415_SPR17)";

    private readonly List<NestedDomain> _children = new();
    private readonly IntelIommuOptions _options;
    private readonly KernelLog _log;

    internal PagingDomain(IoPageTable table, PagingFormat format, bool nestParent, bool dirtyTracking, IntelIommuOptions options, KernelLog log)
        : base(DomainType.Paging)
    {
        Table = table;
        Format = format;
        NestParent = nestParent;
        DirtyTrackingCapable = dirtyTracking;
        _options = options;
        _log = log;
    }

    public PagingFormat Format { get; }
    public bool NestParent { get; }
    /// <summary>Allocated with IOMMU_HWPT_ALLOC_DIRTY_TRACKING.</summary>
    public bool DirtyTrackingCapable { get; }
    public bool DirtyTrackingEnabled { get; internal set; }
    internal IoPageTable Table { get; }
    public int Levels => Table.Levels;
    /// <summary>
    /// One past the highest IOVA the domain accepts. A first-stage table only takes the lower canonical half (bit
    /// width − 1: the hardware faults non-canonical inputs), as Linux's first-stage geometry does.
    /// </summary>
    public ulong Aperture => Format == PagingFormat.FirstStage ? Table.Aperture / 2 : Table.Aperture;
    public IReadOnlyList<NestedDomain> Children => _children;

    internal void AddChild(NestedDomain child) => _children.Add(child);
    internal void RemoveChild(NestedDomain child) => _children.Remove(child);

    /// <summary>iommu_map: neither R nor W is EINVAL; a read-only map in a nest parent is EINVAL (erratum rule); then map and sync.</summary>
    public Errno Map(ulong iova, ulong physical, ulong length, IommuProt prot)
    {
        if ((prot & (IommuProt.Read | IommuProt.Write)) == 0) return Errno.EINVAL;
        if (NestParent && (prot & IommuProt.Write) == 0 && _options.EnforceErratum772415)
        {
            _log.Write("DMAR: ", ErratumMessage);
            return Errno.EINVAL;
        }
        Errno e = Table.Map(iova, physical, length, prot, out bool freedTables);
        if (e != Errno.Success) return e;
        if (freedTables) FlushRange(iova, iova + (length - 1), leafOnly: false); // switch_to_super_page's flush
        return SyncMap(iova, length);
    }

    /// <summary>
    /// iommu_unmap: clears whole pages, frees the tables the range covers whole (as Linux does; a table left empty
    /// stays), and flushes every unit (leaf-only hint unless tables went, as cache_tag_flush_range is told).
    /// </summary>
    public ulong Unmap(ulong iova, ulong length)
    {
        ulong unmapped = Table.Unmap(iova, length, out bool freedTables);
        if (length != 0) FlushRange(iova, iova + (length - 1), leafOnly: !freedTables); // an unmapped range never wraps (it lies below the aperture)
        return unmapped;
    }

    /// <summary>A mark to undo a failed series of maps with <see cref="Unmap(ulong, ulong, long)"/>.</summary>
    internal long Mark => Table.Mark;

    /// <summary>The undo of maps that failed part way: unmaps, and frees the tables made since <paramref name="mark"/> that hold nothing (decision K31).</summary>
    internal ulong Unmap(ulong iova, ulong length, long mark)
    {
        ulong unmapped = Table.Unmap(iova, length, mark, out bool freedTables);
        if (length != 0) FlushRange(iova, iova + (length - 1), leafOnly: !freedTables);
        return unmapped;
    }

    /// <summary>
    /// iotlb_sync_map: with caching mode a not-present→present change must be invalidated too (a vIOMMU learns of new
    /// mappings this way); otherwise a write-buffer flush when the unit asks for one.
    /// </summary>
    private Errno SyncMap(ulong iova, ulong length)
    {
        ulong last = iova + (length - 1); // a mapped range never wraps (it lies below the aperture)
        foreach (var unit in Attachments)
        {
            Errno e = unit.Iommu.Cap.CachingMode ? FlushOn(unit, iova, last, leafOnly: true) : unit.Iommu.FlushWriteBuffer();
            if (e != Errno.Success) return e;
        }
        foreach (var child in _children)
        {
            foreach (var (iommu, did) in child.Attachments)
            {
                if (iommu.Cap.CachingMode) iommu.FlushIotlbRange(did, iova, last, leafOnly: true);
            }
        }
        return Errno.Success;
    }

    private void FlushRange(ulong start, ulong last, bool leafOnly)
    {
        foreach (var unit in Attachments) FlushOn(unit, start, last, leafOnly);
        // A nest parent's change reaches every nested translation built on it: their PASID entries carry the nested
        // domain's DID, so flush with those DIDs too (Linux's NESTING_IOTLB cache tags).
        foreach (var child in _children)
        {
            foreach (var (iommu, did) in child.Attachments) iommu.FlushIotlbRange(did, start, last, leafOnly);
        }
    }

    /// <summary>
    /// Second stage: one DID-based flush covers every PASID using the domain. First stage: the IOTLB is tagged
    /// (DID, PASID), so each PASID the domain is attached at (RID_PASID for the RIDs) gets its own PASID-based flush.
    /// </summary>
    private Errno FlushOn(DomainUnit unit, ulong start, ulong last, bool leafOnly)
    {
        var (iommu, did) = unit;
        if (Format == PagingFormat.SecondStage) return iommu.FlushIotlbRange(did, start, last, leafOnly);
        var users = unit.Users;
        for (int i = 0; i < users.Count; i++)
        {
            if (!unit.FirstWithItsPasid(i)) continue;
            Errno e = iommu.FlushPasidIotlbRange(did, users[i].Pasid, start, last, leafOnly);
            if (e != Errno.Success) return e;
        }
        return Errno.Success;
    }

    /// <summary>
    /// Reads and clears the second-stage D bits of mapped pages in [start, last] (inclusive, so the range may end at
    /// 2^64 − 1), reporting each dirty page. Without a <paramref name="dirty"/> callback (Linux's NULL bitmap) it only
    /// clears, which is allowed while tracking is off (iommufd clears stale bits before turning tracking on); with one,
    /// tracking must be on (EINVAL).
    /// </summary>
    public Errno ReadAndClearDirty(ulong start, ulong last, bool clear, Action<ulong, ulong>? dirty)
    {
        if (Format != PagingFormat.SecondStage || !DirtyTrackingCapable) return Errno.EOPNOTSUPP;
        if (!DirtyTrackingEnabled && dirty is not null) return Errno.EINVAL;
        const ulong dirtyBit = 1UL << 9;
        bool cleared = false;
        Table.ForEachLeaf((pageIova, entry, raw, size) =>
        {
            if (pageIova + (size - 1) < start || pageIova > last || (raw & dirtyBit) == 0) return;
            dirty?.Invoke(pageIova, size);
            if (clear)
            {
                Table.WriteLeafEntry(entry, raw & ~dirtyBit);
                cleared = true;
            }
        });
        if (cleared) FlushRange(start, last, leafOnly: true);
        return Errno.Success;
    }
}
