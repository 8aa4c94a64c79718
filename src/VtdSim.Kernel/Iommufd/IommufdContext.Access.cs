using VtdSim.Kernel.Intel;

namespace VtdSim.Kernel.Iommufd;

public sealed partial class IommufdContext
{
    /// <summary>
    /// iommufd_access_create + iommufd_access_attach: an in-kernel user of an IOAS (an emulated device, a mediated
    /// device) that reads and writes by IOVA through the pinned pages. The creating driver holds it, so IOMMU_DESTROY
    /// of its id is EBUSY; it holds its IOAS, which then cannot be destroyed either.
    /// </summary>
    public Errno AccessCreate(uint ioasId, out uint accessId)
    {
        ThrowIfClosed();
        accessId = 0;
        Errno e = Lookup(ioasId, out Ioas ioas);
        if (e != Errno.Success) return e;
        var access = new IommufdAccess(ioas) { Users = 2 };
        ioas.Users++;
        accessId = Insert(access);
        return Errno.Success;
    }

    /// <summary>iommufd_access_destroy: the driver lets the access go.</summary>
    public Errno AccessDestroy(uint accessId)
    {
        ThrowIfClosed();
        Errno e = Lookup(accessId, out IommufdAccess access);
        if (e != Errno.Success) return e;
        access.Users--;
        DestroyObject(access);
        return Errno.Success;
    }

    /// <summary>iommufd_access_rw (read): EINVAL for length 0, EOVERFLOW if the range wraps, EPERM on an area without READ, ENOENT where nothing is mapped.</summary>
    public Errno AccessRead(uint accessId, ulong iova, Span<byte> data)
    {
        ThrowIfClosed();
        Errno e = Lookup(accessId, out IommufdAccess access);
        if (e != Errno.Success) return e;
        var buffer = new byte[data.Length];
        e = AccessRw(access, iova, (ulong)buffer.Length, write: false, (hpa, offset, n) =>
            Kernel.Machine.TryReadBytes(hpa, buffer.AsSpan(offset, n)));
        buffer.CopyTo(data);
        return e;
    }

    /// <summary>iommufd_access_rw (write): as <see cref="AccessRead"/>, needing WRITE on every area (EPERM).</summary>
    public Errno AccessWrite(uint accessId, ulong iova, ReadOnlySpan<byte> data)
    {
        ThrowIfClosed();
        Errno e = Lookup(accessId, out IommufdAccess access);
        if (e != Errno.Success) return e;
        byte[] copy = data.ToArray();
        return AccessRw(access, iova, (ulong)copy.Length, write: true, (hpa, offset, n) =>
            Kernel.Machine.TryWriteBytes(hpa, copy.AsSpan(offset, n)));
    }

    private delegate bool PageCopy(Hardware.Addressing.Hpa address, int offset, int length);

    private static Errno AccessRw(IommufdAccess access, ulong iova, ulong length, bool write, PageCopy copy)
    {
        if (length == 0) return Errno.EINVAL;
        if (length - 1 > UlongMax - iova) return Errno.EOVERFLOW;
        ulong last = iova + length - 1, cur = iova;
        foreach (var area in access.Ioas.Iopt.AreasIntersecting(iova, last))
        {
            if (area.Iova > cur) break;
            if ((area.Prot & (write ? IommuProt.Write : IommuProt.Read)) == 0) return Errno.EPERM;
            ulong end = Math.Min(last, area.Last);
            while (cur <= end)
            {
                ulong inPage = cur % IoPagetable.PageSize;
                int n = (int)Math.Min(end - cur + 1, IoPagetable.PageSize - inPage);
                if (!copy(area.PageAt(cur) + inPage, (int)(cur - iova), n)) return Errno.EFAULT;
                cur += (ulong)n;
                if (cur == 0) return Errno.Success; // wrapped past the top: the whole range is done
            }
            if (end == last) return Errno.Success;
        }
        return Errno.ENOENT;
    }
}
