using System.Buffers.Binary;
using VtdSim.Kernel.Iommufd.Uapi;
using VtdSim.Kernel.Process;

namespace VtdSim.Kernel.Iommufd;

public sealed partial class IommufdContext
{
    /// <summary>
    /// ioctl(fd, request, argp) on this /dev/iommu: the byte-level entry point user space has. <paramref name="argp"/>
    /// is the address of the ioctl's struct in the process that opened the file; its first __u32 is <c>size</c>.
    /// As iommufd_fops_ioctl does, before any handler runs: a request whose nr is outside the iommufd table is
    /// ENOTTY (without touching argp); <c>size</c> is read (EFAULT); a request that is not exactly _IO(';', nr) is
    /// ENOTTY; a size below the ioctl's minimum is EINVAL; bytes past the kernel's struct must be zero (E2BIG) and
    /// readable (EFAULT). Then the fields are decoded (missing ones are zero), the typed method runs, and the fields
    /// the kernel writes back are copied to min(size, sizeof) bytes of the user's struct. Driver data pointers in the
    /// struct are read and written in the same process. Ioctls the model does not implement are EOPNOTSUPP (K18). After
    /// <see cref="Close"/> every call is EBADF.
    /// </summary>
    public Errno Ioctl(uint request, ulong argp)
    {
        if (Closed) return Errno.EBADF; // the descriptor is gone: what ioctl(2) answers, where the typed calls throw

        uint nr = request & 0xFF; // _IOC_NR
        // Below and above the table Linux asks the VFIO type-1 compatibility code, which the model does not have.
        if (nr < IommufdIoctl.CmdBase || nr > IommufdIoctl.CmdLast) return Errno.ENOTTY;
        Span<byte> size = stackalloc byte[sizeof(uint)];
        if (Process.Read(new Uva(argp), size) != Errno.Success) return Errno.EFAULT;
        if (request != IommufdIoctl.Request(nr)) return Errno.ENOTTY;

        var ucmd = new IoctlCommand(Process, argp, BinaryPrimitives.ReadUInt32LittleEndian(size));
        return request switch
        {
            IommufdIoctl.Destroy => Run<IommuDestroy>(ucmd, IoctlDestroy),
            IommufdIoctl.IoasAlloc => Run<IommuIoasAlloc>(ucmd, IoctlIoasAlloc),
            IommufdIoctl.IoasAllowIovas => Run<IommuIoasAllowIovas>(ucmd, IoctlIoasAllowIovas),
            IommufdIoctl.IoasCopy => Run<IommuIoasCopy>(ucmd, IoctlIoasCopy),
            IommufdIoctl.IoasIovaRanges => Run<IommuIoasIovaRanges>(ucmd, IoctlIoasIovaRanges),
            IommufdIoctl.IoasMap => Run<IommuIoasMap>(ucmd, IoctlIoasMap),
            IommufdIoctl.IoasUnmap => Run<IommuIoasUnmap>(ucmd, IoctlIoasUnmap),
            IommufdIoctl.HwptAlloc => Run<IommuHwptAlloc>(ucmd, IoctlHwptAlloc),
            IommufdIoctl.GetHwInfo => Run<IommuHwInfo>(ucmd, IoctlGetHwInfo),
            IommufdIoctl.HwptSetDirtyTracking => Run<IommuHwptSetDirtyTracking>(ucmd, IoctlHwptSetDirtyTracking),
            IommufdIoctl.HwptGetDirtyBitmap => Run<IommuHwptGetDirtyBitmap>(ucmd, IoctlHwptGetDirtyBitmap),
            IommufdIoctl.HwptInvalidate => Run<IommuHwptInvalidate>(ucmd, IoctlHwptInvalidate),
            // OPTION, VFIO_IOAS, FAULT_QUEUE_ALLOC, IOAS_MAP_FILE, VIOMMU_ALLOC, VDEVICE_ALLOC, IOAS_CHANGE_PROCESS,
            // VEVENTQ_ALLOC, HW_QUEUE_ALLOC: real numbers the model has no handler (or struct) for.
            _ => Errno.EOPNOTSUPP,
        };
    }

    private delegate Errno IoctlHandler<T>(in IoctlCommand ucmd, T cmd) where T : struct, IIommufdCommand<T>;

    /// <summary>The size rule, then the handler on the kernel's copy of the struct.</summary>
    private static Errno Run<T>(in IoctlCommand ucmd, IoctlHandler<T> handler) where T : struct, IIommufdCommand<T>
    {
        if (ucmd.UserSize < T.MinSize) return Errno.EINVAL;
        Span<byte> kernel = stackalloc byte[T.StructSize];
        Errno e = ucmd.CopyFromUser(kernel);
        return e != Errno.Success ? e : handler(ucmd, T.Read(kernel));
    }
}
