using VtdSim.Kernel.Iommufd.Uapi;
using VtdSim.Kernel.Process;

namespace VtdSim.Kernel.Iommufd;

/// <summary>
/// One ioctl's user struct (struct iommufd_ucmd): where it lies in the caller's memory and the <c>size</c> the caller
/// gave. The kernel works on its own copy of <c>sizeof</c> bytes and copies min(size, sizeof) bytes back.
/// </summary>
internal readonly struct IoctlCommand(ProcessAddressSpace process, ulong argp, uint userSize)
{
    public ProcessAddressSpace Process { get; } = process;
    public ulong Argp { get; } = argp;
    public uint UserSize { get; } = userSize;

    /// <summary>
    /// copy_struct_from_user into <paramref name="kernel"/> (sizeof bytes): a shorter user struct leaves the rest
    /// zero; a longer one is accepted only if every byte past sizeof is zero (else E2BIG) and readable (else
    /// EFAULT). The tail is checked first, in address order, so a non-zero byte before an unreadable page is E2BIG.
    /// </summary>
    public Errno CopyFromUser(Span<byte> kernel)
    {
        kernel.Clear();
        if (UserSize > (uint)kernel.Length)
        {
            Errno e = CheckZeroed(Argp + (ulong)kernel.Length, UserSize - (uint)kernel.Length);
            if (e != Errno.Success) return e;
        }
        int copy = (int)Math.Min(UserSize, (uint)kernel.Length);
        return Process.Read(new Uva(Argp), kernel[..copy]) == Errno.Success ? Errno.Success : Errno.EFAULT;
    }

    /// <summary>iommufd_ucmd_respond: the kernel's struct, min(size, sizeof) bytes of it, back to the caller (EFAULT if it cannot be written).</summary>
    public Errno Respond<T>(in T cmd) where T : struct, IIommufdCommand<T>
    {
        Span<byte> kernel = stackalloc byte[T.StructSize];
        kernel.Clear();
        cmd.Write(kernel);
        int copy = (int)Math.Min(UserSize, (uint)T.StructSize);
        return Process.Write(new Uva(Argp), kernel[..copy]) == Errno.Success ? Errno.Success : Errno.EFAULT;
    }

    /// <summary>check_zeroed_user, a page at a time (a page is readable or not as a whole).</summary>
    private Errno CheckZeroed(ulong address, ulong length)
    {
        Span<byte> chunk = stackalloc byte[(int)ProcessAddressSpace.PageSize];
        while (length != 0)
        {
            int n = (int)Math.Min(length, ProcessAddressSpace.PageSize - (address & (ProcessAddressSpace.PageSize - 1)));
            if (Process.Read(new Uva(address), chunk[..n]) != Errno.Success) return Errno.EFAULT;
            if (chunk[..n].ContainsAnyExcept((byte)0)) return Errno.E2BIG;
            address += (ulong)n;
            length -= (ulong)n;
        }
        return Errno.Success;
    }
}
