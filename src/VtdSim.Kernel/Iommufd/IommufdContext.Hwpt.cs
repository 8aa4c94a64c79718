using VtdSim.Kernel.Intel;

namespace VtdSim.Kernel.Iommufd;

public sealed partial class IommufdContext
{
    /// <summary>
    /// IOMMU_HWPT_ALLOC. The type of <paramref name="ptId"/> picks what is made: on an IOAS, a paging HWPT filled with
    /// the IOAS's mappings (NEST_PARENT and DIRTY_TRACKING force a second-stage table); on a paging HWPT, a nested
    /// HWPT whose VT-d stage-1 configuration is <paramref name="data"/> (struct iommu_hwpt_vtd_s1, data_type VTD_S1);
    /// anything else, or an id that does not exist, is EINVAL. A NEST_PARENT HWPT on an IOAS that already has
    /// read-only areas fails with EINVAL (erratum 772415) and leaves nothing behind.
    /// </summary>
    public Errno HwptAlloc(uint devId, uint ptId, HwptAllocFlags flags, out uint hwptId,
        HwptDataType dataType = HwptDataType.None, uint dataLen = 0, byte[]? data = null, uint faultId = 0, uint reserved = 0) =>
        HwptAlloc(devId, ptId, flags, out hwptId, dataType, dataLen, UserPointer.Of(data), faultId, reserved);

    /// <summary>iommufd_hwpt_alloc with data_uptr as a user pointer.</summary>
    internal Errno HwptAlloc(uint devId, uint ptId, HwptAllocFlags flags, out uint hwptId,
        HwptDataType dataType, uint dataLen, UserPointer data, uint faultId, uint reserved)
    {
        ThrowIfClosed();
        hwptId = 0;
        if (reserved != 0) return Errno.EOPNOTSUPP;
        if ((dataType == HwptDataType.None && dataLen != 0) || (dataType != HwptDataType.None && dataLen == 0)) return Errno.EINVAL;
        Errno e = Lookup(devId, out IommufdDevice device);
        if (e != Errno.Success) return e;
        if (Find(ptId) is not IommufdObject pt) return Errno.EINVAL; // looked up as IOMMUFD_OBJ_ANY

        Hwpt hwpt;
        switch (pt)
        {
            case Ioas ioas:
                e = PagingAlloc(ioas, device, flags, hasUserData: dataLen != 0, autoDomain: false, immediateAttach: false, out var paging);
                if (e != Errno.Success) return e;
                hwpt = paging!;
                break;
            case HwptPaging parent:
                e = NestedAlloc(parent, flags, dataType, dataLen, data, out var nested);
                if (e != Errno.Success) return e;
                hwpt = nested!;
                break;
            default:
                return Errno.EINVAL; // a nested HWPT (no nesting on nesting), a device, an access
        }

        if ((flags & HwptAllocFlags.FaultIdValid) != 0)
        {
            // iommufd_get_fault: this model has no FAULT objects, so no fault_id names one.
            _ = faultId;
            DestroyObject(hwpt);
            return Errno.ENOENT;
        }
        hwptId = Insert(hwpt);
        return Errno.Success;
    }

    /// <summary>
    /// iommufd_hwpt_paging_alloc + intel_iommu_domain_alloc_paging_flags: flag checks, the driver's domain, an
    /// optional immediate attach (auto domains), then iopt_table_add_domain, which maps every area.
    /// </summary>
    private Errno PagingAlloc(Ioas ioas, IommufdDevice device, HwptAllocFlags flags, bool hasUserData, bool autoDomain, bool immediateAttach,
        out HwptPaging? hwpt, uint pasid = NoPasid)
    {
        hwpt = null;
        const HwptAllocFlags valid = HwptAllocFlags.NestParent | HwptAllocFlags.DirtyTracking | HwptAllocFlags.FaultIdValid | HwptAllocFlags.Pasid;
        if ((flags & ~valid) != 0) return Errno.EOPNOTSUPP;
        if ((flags & HwptAllocFlags.DirtyTracking) != 0 && !Driver.DirtyTrackingSupported) return Errno.EOPNOTSUPP;
        if ((flags & HwptAllocFlags.FaultIdValid) != 0 && (flags & HwptAllocFlags.NestParent) != 0) return Errno.EOPNOTSUPP;

        // The driver (IOMMU_HWPT_ALLOC_PASID changes no domain: it only makes the HWPT usable at a PASID).
        bool nestParent = (flags & HwptAllocFlags.NestParent) != 0;
        if (nestParent && !Driver.NestingSupported) return Errno.EOPNOTSUPP;
        if (hasUserData) return Errno.EOPNOTSUPP;
        var driverFlags = (nestParent ? PagingDomainFlags.NestParent : 0) |
            ((flags & HwptAllocFlags.DirtyTracking) != 0 ? PagingDomainFlags.DirtyTracking : 0);
        Errno e = Driver.AllocPaging(driverFlags, out var domain);
        if (e != Errno.Success) return e;

        var paging = new HwptPaging(domain!, ioas, autoDomain, nestParent) { PasidCapable = (flags & HwptAllocFlags.Pasid) != 0 };
        if (immediateAttach)
        {
            e = DoAttach(device, pasid, paging);
            if (e != Errno.Success)
            {
                Driver.Free(domain!);
                return e;
            }
        }
        e = ioas.Iopt.AddDomain(domain!);
        if (e != Errno.Success)
        {
            if (immediateAttach) DetachInternal(device, pasid, destroyAuto: false);
            Driver.Free(domain!);
            return e;
        }
        ioas.HwptList.Add(paging);
        ioas.Users++;
        hwpt = paging;
        return Errno.Success;
    }

    /// <summary>iommufd_hwpt_nested_alloc + intel_iommu_domain_alloc_nested (copying struct iommu_hwpt_vtd_s1).</summary>
    private Errno NestedAlloc(HwptPaging parent, HwptAllocFlags flags, HwptDataType dataType, uint dataLen, UserPointer data, out HwptNested? hwpt)
    {
        hwpt = null;
        if ((flags & ~(HwptAllocFlags.FaultIdValid | HwptAllocFlags.Pasid)) != 0 || dataLen == 0) return Errno.EOPNOTSUPP;
        if (parent.AutoDomain || !parent.NestParent) return Errno.EINVAL;

        // The driver.
        if (!Driver.NestingSupported) return Errno.EOPNOTSUPP;
        if (dataType != HwptDataType.VtdS1) return Errno.EOPNOTSUPP;
        if (parent.PagingDomain is not { Format: PagingFormat.SecondStage, NestParent: true }) return Errno.EINVAL;
        // iommu_copy_struct_from_user(..., __reserved): shorter than the minimum or longer than the struct is EINVAL.
        if (dataLen < VtdUapi.S1Size || dataLen > VtdUapi.S1Size) return Errno.EINVAL;
        Span<byte> bytes = stackalloc byte[VtdUapi.S1Size];
        if (data.Read(0, bytes) != Errno.Success) return Errno.EFAULT;
        var s1 = VtdUapi.DecodeS1(bytes);

        Errno e = Driver.AllocNested(parent.PagingDomain, s1, out var domain);
        if (e != Errno.Success) return e;
        hwpt = new HwptNested(domain!, parent) { PasidCapable = (flags & HwptAllocFlags.Pasid) != 0 };
        parent.Users++;
        return Errno.Success;
    }

    /// <summary>
    /// IOMMU_HWPT_INVALIDATE: forwards an array of VT-d stage-1 invalidations (struct iommu_hwpt_vtd_s1_invalidate,
    /// data_type VTD_S1) to a nested HWPT. Entries are handled in order; the first bad one stops the call with its
    /// errno. <paramref name="entryNum"/> is always written back with the number handled, even on error.
    /// </summary>
    public Errno HwptInvalidate(uint hwptId, HwptInvalidateDataType dataType, uint entryLen, ref uint entryNum, byte[]? data, uint reserved = 0) =>
        HwptInvalidate(hwptId, dataType, entryLen, ref entryNum, UserPointer.Of(data), reserved);

    /// <summary>iommufd_hwpt_invalidate with data_uptr as a user pointer: entries are copied one at a time.</summary>
    internal Errno HwptInvalidate(uint hwptId, HwptInvalidateDataType dataType, uint entryLen, ref uint entryNum, UserPointer data, uint reserved)
    {
        ThrowIfClosed();
        uint done = 0;
        Errno e;
        if (reserved != 0)
        {
            e = Errno.EOPNOTSUPP;
        }
        else if (entryNum != 0 && (data.IsNull || entryLen == 0))
        {
            e = Errno.EINVAL;
        }
        else if (Find(hwptId) is not IommufdObject obj)
        {
            e = Errno.ENOENT;
        }
        else if (obj is HwptNested nested)
        {
            e = VtdCacheInvalidateUser(nested, dataType, entryLen, entryNum, data, out done);
        }
        else
        {
            e = Errno.EINVAL; // a paging HWPT (or anything else) takes no user invalidations
        }
        entryNum = done;
        return e;
    }

    /// <summary>intel_nested_cache_invalidate_user (nested.c).</summary>
    private static Errno VtdCacheInvalidateUser(HwptNested nested, HwptInvalidateDataType dataType, uint entryLen, uint entryNum, UserPointer data, out uint processed)
    {
        processed = 0;
        if (dataType != HwptInvalidateDataType.VtdS1) return Errno.EINVAL;
        Span<byte> bytes = stackalloc byte[VtdUapi.S1InvalidateSize];
        for (uint index = 0; index < entryNum; index++)
        {
            // iommu_copy_struct_from_user_array(..., __reserved)
            if (entryLen < VtdUapi.S1InvalidateSize || entryLen > VtdUapi.S1InvalidateSize) return Errno.EINVAL;
            if (data.Read((ulong)index * entryLen, bytes) != Errno.Success) return Errno.EFAULT;
            var entry = VtdUapi.DecodeInvalidation(bytes);

            if ((entry.Flags & ~VtdS1Invalidation.Leaf) != 0 || entry.Reserved != 0) return Errno.EOPNOTSUPP;
            if ((entry.Address & 0xFFF) != 0 || (entry.Pages == ulong.MaxValue && entry.Address != 0)) return Errno.EINVAL;

            bool leaf = (entry.Flags & VtdS1Invalidation.Leaf) != 0;
            // [addr, addr + npages·4K − 1], inclusive: addr = 2^64 − 4K with one page ends at 2^64 − 1, it does not
            // wrap. A range that does wrap is flushed whole: more than asked, never less (K10). No pages: nothing
            // to flush (Linux's qi_flush_piotlb refuses npages 0).
            bool wraps = entry.Pages == ulong.MaxValue || entry.Pages - 1 > (ulong.MaxValue - entry.Address) >> 12;
            if (entry.Pages != 0)
            {
                ulong last = wraps ? ulong.MaxValue : entry.Address + ((entry.Pages - 1) << 12) + 0xFFF;
                nested.NestedDomain.Invalidate(wraps ? 0 : entry.Address, last, leaf);
            }
            processed++;
        }
        return Errno.Success;
    }

    /// <summary>
    /// IOMMU_HWPT_SET_DIRTY_TRACKING: turns second-stage A/D tracking on or off for a paging HWPT allocated with
    /// DIRTY_TRACKING (else EOPNOTSUPP; a nested HWPT is ENOENT). Turning it on first clears stale dirty bits.
    /// </summary>
    public Errno HwptSetDirtyTracking(uint hwptId, DirtyTrackingFlags flags)
    {
        ThrowIfClosed();
        if ((flags & ~DirtyTrackingFlags.Enable) != 0) return Errno.EOPNOTSUPP;
        Errno e = Lookup(hwptId, out HwptPaging hwpt);
        if (e != Errno.Success) return e;
        var domain = hwpt.PagingDomain;
        if (!domain.DirtyTrackingCapable) return Errno.EOPNOTSUPP;
        bool enable = (flags & DirtyTrackingFlags.Enable) != 0;
        if (enable)
        {
            // iopt_clear_dirty_data: a clean snapshot before tracking starts.
            foreach (var area in hwpt.Ioas.Iopt.AllAreas)
            {
                e = domain.ReadAndClearDirty(area.Iova, area.Last, clear: true, dirty: null);
                if (e != Errno.Success) return e;
            }
        }
        return Driver.SetDirtyTracking(domain, enable);
    }

    /// <summary>
    /// IOMMU_HWPT_GET_DIRTY_BITMAP: sets bit ((iova − <paramref name="iova"/>) / page_size) of <paramref name="bitmap"/>
    /// for every dirty page (page_size counted as its lowest set bit, as Linux's iova_bitmap does), and clears the dirty
    /// bits unless NO_CLEAR. Range checks are EOVERFLOW/EINVAL; a HWPT without DIRTY_TRACKING is EOPNOTSUPP. As in
    /// Linux, problems met during the walk are not reported: the walk stops at the first IOVA not covered by an area,
    /// reads nothing while tracking is off, and drops bits that do not fit in the bitmap — and the call still succeeds.
    /// </summary>
    public Errno HwptGetDirtyBitmap(uint hwptId, ulong iova, ulong length, ulong pageSize, ulong[]? bitmap,
        DirtyBitmapFlags flags = DirtyBitmapFlags.None, uint reserved = 0) =>
        HwptGetDirtyBitmap(hwptId, iova, length, pageSize, bit =>
        {
            if (bitmap is not null && bit / 64 < (ulong)bitmap.Length) bitmap[bit / 64] |= 1UL << (int)(bit % 64);
        }, flags, reserved);

    /// <summary>
    /// iommufd_hwpt_get_dirty_bitmap with the bitmap behind <paramref name="setBit"/>, which records bit n (page n of
    /// the range) wherever the bitmap lives and drops what it cannot record.
    /// </summary>
    internal Errno HwptGetDirtyBitmap(uint hwptId, ulong iova, ulong length, ulong pageSize, Action<ulong> setBit,
        DirtyBitmapFlags flags, uint reserved)
    {
        ThrowIfClosed();
        if ((flags & ~DirtyBitmapFlags.NoClear) != 0 || reserved != 0) return Errno.EOPNOTSUPP;
        Errno e = Lookup(hwptId, out HwptPaging hwpt);
        if (e != Errno.Success) return e;
        var iopt = hwpt.Ioas.Iopt;

        // iommufd_check_iova_range. The last IOVA is iova + length − 1 with overflow checking: length 0 overflows for
        // every iova but 0, where it is 2^64 − 1 and the whole space is read (G9, G10). page_size − 1 is the mask
        // whether or not page_size is a power of two (G11).
        if (length - 1 > UlongMax - iova) return Errno.EOVERFLOW;
        ulong last = iova + (length - 1);
        ulong alignMask = iopt.IovaAlignment - 1;
        if ((iova & alignMask) != 0 || ((last + 1) & alignMask) != 0) return Errno.EINVAL;
        if (pageSize == 0) return Errno.EINVAL;
        if ((iova & (pageSize - 1)) != 0 || ((last + 1) & (pageSize - 1)) != 0) return Errno.EINVAL;

        var domain = hwpt.PagingDomain;
        if (!domain.DirtyTrackingCapable) return Errno.EOPNOTSUPP;

        // iova_bitmap: bit n stands for the n-th block of 2^(page_size's lowest set bit) bytes from iova.
        int shift = System.Numerics.BitOperations.TrailingZeroCount(pageSize);
        bool clear = (flags & DirtyBitmapFlags.NoClear) == 0;
        ulong cur = iova;
        foreach (var area in iopt.AreasIntersecting(iova, last))
        {
            if (area.Iova > cur) break; // not contiguous: the walk ends (its EINVAL is dropped)
            ulong end = Math.Min(last, area.Last);
            e = domain.ReadAndClearDirty(cur, end, clear, (dirtyIova, size) =>
            {
                ulong from = Math.Max(dirtyIova, cur), to = Math.Min(dirtyIova + (size - 1), end);
                for (ulong bit = (from - iova) >> shift, lastBit = (to - iova) >> shift; ; bit++)
                {
                    setBit(bit);
                    if (bit == lastBit) break;
                }
            });
            if (e != Errno.Success || end == last) break;
            cur = end + 1;
        }
        return Errno.Success;
    }
}
