namespace VtdSim.Kernel;

/// <summary>Linux errno values, with the meanings the iommufd and VT-d code give them. Kernel calls return one (0 = success).</summary>
public enum Errno
{
    Success = 0,
    EPERM = 1,
    ENOENT = 2,
    E2BIG = 7,
    EBADF = 9,
    ENOMEM = 12,
    EFAULT = 14,
    EBUSY = 16,
    EEXIST = 17,
    ENODEV = 19,
    EINVAL = 22,
    ENOSPC = 28,
    ENOTTY = 25,
    EOVERFLOW = 75,
    EMSGSIZE = 90,
    EOPNOTSUPP = 95,
    EADDRINUSE = 98,
    ETIMEDOUT = 110,
}
