using VtdSim.Kernel.Intel;
using VtdSim.Kernel.Process;

namespace VtdSim.Kernel.Iommufd;

public sealed partial class IommufdContext
{
    private const IoasMapFlags KnownMapFlags = IoasMapFlags.FixedIova | IoasMapFlags.Writeable | IoasMapFlags.Readable;

    /// <summary>IOMMU_IOAS_ALLOC: flags must be 0 (EOPNOTSUPP).</summary>
    public Errno IoasAlloc(uint flags, out uint ioasId)
    {
        ThrowIfClosed();
        ioasId = 0;
        if (flags != 0) return Errno.EOPNOTSUPP;
        ioasId = Insert(new Ioas(new IoPagetable()));
        return Errno.Success;
    }

    /// <summary>IOMMU_IOAS_ALLOC with flags 0.</summary>
    public uint IoasAlloc() => IoasAlloc(0, out uint id) == Errno.Success ? id : throw new InvalidOperationException("IOAS_ALLOC failed");

    /// <summary>
    /// IOMMU_IOAS_ALLOW_IOVAS: replaces the ranges automatic IOVA allocation may use. Each needs start &lt; last and
    /// none may overlap another (EINVAL); one that meets a reserved range is EADDRINUSE. An empty list allows all.
    /// </summary>
    public Errno IoasAllowIovas(uint ioasId, ReadOnlySpan<IovaRange> ranges, uint reserved = 0)
    {
        var bytes = new byte[ranges.Length * IovaRange.SizeOf];
        for (int i = 0; i < ranges.Length; i++) ranges[i].Write(bytes.AsSpan(i * IovaRange.SizeOf));
        return IoasAllowIovas(ioasId, (uint)ranges.Length, UserPointer.Of(bytes), reserved);
    }

    /// <summary>
    /// iommufd_ioas_allow_iovas with allowed_iovas as a user pointer: ranges are copied one at a time, each checked
    /// before the next is read, so an unreadable range is EFAULT only once the ones before it passed.
    /// </summary>
    internal Errno IoasAllowIovas(uint ioasId, uint numIovas, UserPointer allowedIovas, uint reserved)
    {
        ThrowIfClosed();
        if (reserved != 0) return Errno.EOPNOTSUPP;
        Errno e = Lookup(ioasId, out Ioas ioas);
        if (e != Errno.Success) return e;
        var list = new List<IovaRange>();
        Span<byte> one = stackalloc byte[IovaRange.SizeOf];
        for (uint i = 0; i < numIovas; i++)
        {
            if (allowedIovas.Read((ulong)i * IovaRange.SizeOf, one) != Errno.Success) return Errno.EFAULT;
            var r = IovaRange.Read(one);
            if (r.Start >= r.Last) return Errno.EINVAL;
            if (list.Exists(o => o.Start <= r.Last && r.Start <= o.Last)) return Errno.EINVAL;
            list.Add(r);
        }
        return ioas.Iopt.SetAllowed(list);
    }

    /// <summary>
    /// IOMMU_IOAS_IOVA_RANGES: the holes of the reserved tree. <paramref name="numIovas"/> is the capacity on input
    /// and the number of ranges on output; if they did not all fit, the first ones are written and the result is
    /// EMSGSIZE. <paramref name="ranges"/> shorter than the capacity it claims is a bad pointer (EFAULT).
    /// </summary>
    public Errno IoasIovaRanges(uint ioasId, ref uint numIovas, Span<IovaRange> ranges, out ulong iovaAlignment, uint reserved = 0)
    {
        var bytes = new byte[ranges.Length * IovaRange.SizeOf];
        uint max = numIovas, num = numIovas;
        Errno e = IoasIovaRanges(ioasId, ref num, UserPointer.Of(bytes), out iovaAlignment, reserved);
        // The handler wrote the first min(count, capacity) ranges, or every slot of a short array before its EFAULT.
        int written = e switch
        {
            Errno.Success or Errno.EMSGSIZE => (int)Math.Min(num, max),
            Errno.EFAULT => ranges.Length,
            _ => 0,
        };
        for (int i = 0; i < written; i++) ranges[i] = IovaRange.Read(bytes.AsSpan(i * IovaRange.SizeOf));
        if (e is Errno.Success or Errno.EMSGSIZE) numIovas = num;
        return e;
    }

    /// <summary>
    /// iommufd_ioas_iova_ranges with allowed_iovas as a user pointer. <paramref name="numIovas"/> changes only on
    /// success and EMSGSIZE; on EFAULT the ranges copied before the fault stay written.
    /// </summary>
    internal Errno IoasIovaRanges(uint ioasId, ref uint numIovas, UserPointer allowedIovas, out ulong iovaAlignment, uint reserved)
    {
        ThrowIfClosed();
        iovaAlignment = 0;
        if (reserved != 0) return Errno.EOPNOTSUPP;
        Errno e = Lookup(ioasId, out Ioas ioas);
        if (e != Errno.Success) return e;
        uint max = numIovas;
        var usable = ioas.Iopt.UsableRanges();
        iovaAlignment = ioas.Iopt.IovaAlignment;
        Span<byte> one = stackalloc byte[IovaRange.SizeOf];
        for (int i = 0; i < usable.Count && (uint)i < max; i++)
        {
            usable[i].Write(one);
            if (allowedIovas.Write((ulong)i * IovaRange.SizeOf, one) != Errno.Success) return Errno.EFAULT;
        }
        numIovas = (uint)usable.Count;
        return numIovas > max ? Errno.EMSGSIZE : Errno.Success;
    }

    /// <summary>
    /// IOMMU_IOAS_MAP: maps [user_va, user_va+length) of the calling process at an IOVA (FIXED_IOVA) or at one the
    /// kernel picks and writes back. The pages are pinned (writable if WRITEABLE is asked: a read-only mapping then
    /// fails with EFAULT) and mapped into every paging domain of the IOAS; if any domain refuses (a read-only map into
    /// a nest parent, erratum 772415: EINVAL), nothing is left mapped or pinned. Checks in Linux's order.
    /// </summary>
    public Errno IoasMap(uint ioasId, IoasMapFlags flags, Uva user, ulong length, ref ulong iova, uint reserved = 0)
    {
        ulong userVa = user.Value;
        ThrowIfClosed();
        if ((flags & ~KnownMapFlags) != 0 || reserved != 0) return Errno.EOPNOTSUPP;
        if (iova >= UlongMax || length >= UlongMax) return Errno.EOVERFLOW;
        if ((flags & (IoasMapFlags.Writeable | IoasMapFlags.Readable)) == 0) return Errno.EINVAL;
        Errno e = Lookup(ioasId, out Ioas ioas);
        if (e != Errno.Success) return e;

        if (length > UlongMax - userVa) return Errno.EOVERFLOW;
        if (length == 0 || length > UlongMax - IoPagetable.PageSize) return Errno.EINVAL;
        // iopt_alloc_user_pages: the pages cover [uptr_down, user_va + length) and the area starts start_byte into
        // them; a user_va inside a page gives a start_byte the 4 KiB IOVA alignment refuses (EINVAL, K3), after the
        // IOVA checks and before anything is pinned.
        ulong uptrDown = userVa & ~(IoPagetable.PageSize - 1);
        ulong startByte = userVa - uptrDown;
        var pages = new PinnedPages(Process, new Uva(uptrDown), (startByte + length + IoPagetable.PageSize - 1) / IoPagetable.PageSize,
            writable: (flags & IoasMapFlags.Writeable) != 0);
        var slice = new PagesSlice(pages, startByte, length);

        ulong chosen = iova;
        e = ioas.Iopt.MapPages(new ReadOnlySpan<PagesSlice>(in slice), length, ref chosen, ProtOf(flags), allocateIova: (flags & IoasMapFlags.FixedIova) == 0);
        if (e == Errno.Success) iova = chosen;
        return e;
    }

    /// <summary>
    /// IOMMU_IOAS_COPY: maps, in the destination IOAS, the pages behind [src_iova, src_iova+length) of the source
    /// (any range covered by contiguous areas, ENOENT otherwise) without pinning again. WRITEABLE on pages that were
    /// pinned read-only is EPERM; the destination's domains apply as for a map (erratum: EINVAL).
    /// </summary>
    public Errno IoasCopy(uint dstIoasId, uint srcIoasId, IoasMapFlags flags, ulong length, ref ulong dstIova, ulong srcIova)
    {
        ThrowIfClosed();
        if ((flags & ~KnownMapFlags) != 0) return Errno.EOPNOTSUPP;
        if (length >= UlongMax || srcIova >= UlongMax || dstIova >= UlongMax) return Errno.EOVERFLOW;
        if ((flags & (IoasMapFlags.Writeable | IoasMapFlags.Readable)) == 0) return Errno.EINVAL;
        Errno e = Lookup(srcIoasId, out Ioas src);
        if (e != Errno.Success) return e;
        e = src.Iopt.GetPages(srcIova, length, out var slices);
        if (e != Errno.Success) return e;
        e = Lookup(dstIoasId, out Ioas dst);
        if (e != Errno.Success) return e;
        ulong chosen = dstIova;
        e = dst.Iopt.MapPages(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(slices), length, ref chosen, ProtOf(flags), allocateIova: (flags & IoasMapFlags.FixedIova) == 0);
        if (e == Errno.Success) dstIova = chosen;
        return e;
    }

    /// <summary>
    /// IOMMU_IOAS_UNMAP: iova 0 with length U64_MAX unmaps everything (success on an empty IOAS). Otherwise the range
    /// must contain whole areas: nothing mapped there, or an area cut, is ENOENT. Writes back the bytes unmapped.
    /// </summary>
    public Errno IoasUnmap(uint ioasId, ulong iova, ref ulong length)
    {
        ThrowIfClosed();
        Errno e = Lookup(ioasId, out Ioas ioas);
        if (e != Errno.Success) return e;
        ulong unmapped;
        if (iova == 0 && length == ulong.MaxValue)
        {
            e = ioas.Iopt.UnmapRange(0, UlongMax, out unmapped);
            if (e != Errno.Success) return e;
        }
        else
        {
            if (iova >= UlongMax || length >= UlongMax) return Errno.EOVERFLOW;
            if (length == 0) return Errno.EINVAL;
            if (length - 1 > UlongMax - iova) return Errno.EOVERFLOW;
            e = ioas.Iopt.UnmapRange(iova, iova + length - 1, out unmapped);
            if (e != Errno.Success) return e;
            if (unmapped == 0) return Errno.ENOENT;
        }
        length = unmapped;
        return Errno.Success;
    }

    private static IommuProt ProtOf(IoasMapFlags flags) =>
        ((flags & IoasMapFlags.Writeable) != 0 ? IommuProt.Write : 0) | ((flags & IoasMapFlags.Readable) != 0 ? IommuProt.Read : 0);
}
