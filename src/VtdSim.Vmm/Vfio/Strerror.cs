using VtdSim.Kernel;

namespace VtdSim.Vmm.Vfio;

/// <summary>glibc's strerror texts for the errno values the kernel returns (what QEMU prints with %m and strerror).</summary>
internal static class Strerror
{
    public static string Of(Errno e) => e switch
    {
        Errno.Success => "Success", // strerror(0)
        Errno.EPERM => "Operation not permitted",
        Errno.ENOENT => "No such file or directory",
        Errno.E2BIG => "Argument list too long",
        Errno.EBADF => "Bad file descriptor",
        Errno.ENOMEM => "Cannot allocate memory",
        Errno.EFAULT => "Bad address",
        Errno.EBUSY => "Device or resource busy",
        Errno.EEXIST => "File exists",
        Errno.ENODEV => "No such device",
        Errno.EINVAL => "Invalid argument",
        Errno.ENOTTY => "Inappropriate ioctl for device",
        Errno.ENOSPC => "No space left on device",
        Errno.EOVERFLOW => "Value too large for defined data type",
        Errno.EMSGSIZE => "Message too long",
        Errno.EOPNOTSUPP => "Operation not supported",
        Errno.EADDRINUSE => "Address already in use",
        Errno.ETIMEDOUT => "Connection timed out",
        _ => $"Unknown error {(int)e}",
    };
}
