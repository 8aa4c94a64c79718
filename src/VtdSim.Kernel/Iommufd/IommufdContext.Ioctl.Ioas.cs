using VtdSim.Kernel.Iommufd.Uapi;

using VtdSim.Kernel.Process;

namespace VtdSim.Kernel.Iommufd;

// The ioctl handlers of IOMMU_DESTROY and the IOAS ioctls: decode, the typed method, write back (K17).
public sealed partial class IommufdContext
{
    private Errno IoctlDestroy(in IoctlCommand ucmd, IommuDestroy cmd) => Destroy(cmd.Id);

    private Errno IoctlIoasAlloc(in IoctlCommand ucmd, IommuIoasAlloc cmd)
    {
        Errno e = IoasAlloc(cmd.Flags, out uint id);
        if (e != Errno.Success) return e;
        cmd.OutIoasId = id;
        return RespondOrAbort(ucmd, cmd, id);
    }

    private Errno IoctlIoasAllowIovas(in IoctlCommand ucmd, IommuIoasAllowIovas cmd) =>
        IoasAllowIovas(cmd.IoasId, cmd.NumIovas, UserPointer.At(Process, cmd.AllowedIovas), cmd.Reserved);

    private Errno IoctlIoasCopy(in IoctlCommand ucmd, IommuIoasCopy cmd)
    {
        ulong dstIova = cmd.DstIova;
        Errno e = IoasCopy(cmd.DstIoasId, cmd.SrcIoasId, (IoasMapFlags)cmd.Flags, cmd.Length, ref dstIova, cmd.SrcIova);
        if (e != Errno.Success) return e;
        cmd.DstIova = dstIova;
        return ucmd.Respond(cmd); // a failed write back leaves the copy in place
    }

    private Errno IoctlIoasIovaRanges(in IoctlCommand ucmd, IommuIoasIovaRanges cmd)
    {
        uint num = cmd.NumIovas;
        Errno e = IoasIovaRanges(cmd.IoasId, ref num, UserPointer.At(Process, cmd.AllowedIovas), out ulong alignment, cmd.Reserved);
        if (e is not (Errno.Success or Errno.EMSGSIZE)) return e;
        // EMSGSIZE still tells the caller how many ranges there are.
        cmd.NumIovas = num;
        cmd.OutIovaAlignment = alignment;
        Errno r = ucmd.Respond(cmd);
        return r != Errno.Success ? r : e;
    }

    private Errno IoctlIoasMap(in IoctlCommand ucmd, IommuIoasMap cmd)
    {
        ulong iova = cmd.Iova;
        Errno e = IoasMap(cmd.IoasId, (IoasMapFlags)cmd.Flags, new Uva(cmd.UserVa), cmd.Length, ref iova, cmd.Reserved);
        if (e != Errno.Success) return e;
        cmd.Iova = iova;
        return ucmd.Respond(cmd); // a failed write back leaves the mapping in place
    }

    private Errno IoctlIoasUnmap(in IoctlCommand ucmd, IommuIoasUnmap cmd)
    {
        ulong length = cmd.Length;
        Errno e = IoasUnmap(cmd.IoasId, cmd.Iova, ref length);
        if (e != Errno.Success) return e;
        cmd.Length = length;
        return ucmd.Respond(cmd);
    }

    /// <summary>
    /// The write back of an ioctl that made an object: if the new id cannot reach the caller, the object is destroyed
    /// again (iommufd_object_abort_and_destroy), so nothing is left that user space cannot name.
    /// </summary>
    private Errno RespondOrAbort<T>(in IoctlCommand ucmd, in T cmd, uint newId) where T : struct, IIommufdCommand<T>
    {
        Errno e = ucmd.Respond(cmd);
        if (e != Errno.Success) DestroyObject(_objects[newId]);
        return e;
    }
}
