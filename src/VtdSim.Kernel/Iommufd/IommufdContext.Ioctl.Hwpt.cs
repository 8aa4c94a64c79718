using VtdSim.Kernel.Iommufd.Uapi;
using VtdSim.Kernel.Process;

namespace VtdSim.Kernel.Iommufd;

// The ioctl handlers of the HWPT ioctls and IOMMU_GET_HW_INFO: decode, the typed method, write back (K17).
public sealed partial class IommufdContext
{
    private Errno IoctlHwptAlloc(in IoctlCommand ucmd, IommuHwptAlloc cmd)
    {
        // __reserved2 is padding Linux does not check (K19).
        Errno e = HwptAlloc(cmd.DevId, cmd.PtId, (HwptAllocFlags)cmd.Flags, out uint id, (HwptDataType)cmd.DataType, cmd.DataLen,
            UserPointer.At(Process, cmd.DataUptr), cmd.FaultId, cmd.Reserved);
        if (e != Errno.Success) return e;
        cmd.OutHwptId = id;
        return RespondOrAbort(ucmd, cmd, id);
    }

    private Errno IoctlGetHwInfo(in IoctlCommand ucmd, IommuHwInfo cmd)
    {
        uint dataLen = cmd.DataLen;
        var type = (HwInfoType)cmd.DataType;
        Errno e = GetHwInfo(cmd.DevId, ref dataLen, UserPointer.At(Process, cmd.DataUptr), ref type, out byte maxPasidLog2,
            out HwCapabilities capabilities, (HwInfoFlags)cmd.Flags, cmd.Reserved);
        if (e != Errno.Success) return e;
        cmd.DataLen = dataLen;
        cmd.DataType = (uint)type;
        cmd.OutMaxPasidLog2 = maxPasidLog2;
        cmd.OutCapabilities = (ulong)capabilities;
        return ucmd.Respond(cmd);
    }

    // __reserved is not checked by Linux here (K19).
    private Errno IoctlHwptSetDirtyTracking(in IoctlCommand ucmd, IommuHwptSetDirtyTracking cmd) =>
        HwptSetDirtyTracking(cmd.HwptId, (DirtyTrackingFlags)cmd.Flags);

    private Errno IoctlHwptGetDirtyBitmap(in IoctlCommand ucmd, IommuHwptGetDirtyBitmap cmd)
    {
        var process = Process;
        ulong data = cmd.Data;
        // Bit n is bit n % 8 of byte n / 8 (the u64 words are little endian); a bit whose byte cannot be written is
        // dropped, as a bit past a short bitmap is (K6, K20).
        void SetBit(ulong bit)
        {
            if (data == 0 || bit / 8 > ulong.MaxValue - data) return;
            Span<byte> b = stackalloc byte[1];
            ulong at = data + bit / 8;
            if (process.Read(new Uva(at), b) != Errno.Success) return;
            b[0] |= (byte)(1 << (int)(bit % 8));
            process.Write(new Uva(at), b);
        }
        return HwptGetDirtyBitmap(cmd.HwptId, cmd.Iova, cmd.Length, cmd.PageSize, SetBit, (DirtyBitmapFlags)cmd.Flags, cmd.Reserved);
    }

    private Errno IoctlHwptInvalidate(in IoctlCommand ucmd, IommuHwptInvalidate cmd)
    {
        uint entryNum = cmd.EntryNum;
        Errno e = HwptInvalidate(cmd.HwptId, (HwptInvalidateDataType)cmd.DataType, cmd.EntryLen, ref entryNum,
            UserPointer.At(Process, cmd.DataUptr), cmd.Reserved);
        // entry_num goes back on every path; failing to write it back is the error the caller sees.
        cmd.EntryNum = entryNum;
        Errno r = ucmd.Respond(cmd);
        return r != Errno.Success ? r : e;
    }
}
