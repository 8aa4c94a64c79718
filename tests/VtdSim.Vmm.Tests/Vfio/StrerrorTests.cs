using VtdSim.Kernel;
using VtdSim.Vmm.Vfio;

namespace VtdSim.Vmm.Tests.Vfio;

/// <summary>The errno texts in QEMU's messages are glibc's strerror, for every errno the kernel model returns.</summary>
public class StrerrorTests
{
    [Theory]
    [InlineData(Errno.Success, "Success")]
    [InlineData(Errno.EPERM, "Operation not permitted")]
    [InlineData(Errno.ENOENT, "No such file or directory")]
    [InlineData(Errno.E2BIG, "Argument list too long")]
    [InlineData(Errno.EBADF, "Bad file descriptor")]
    [InlineData(Errno.ENOMEM, "Cannot allocate memory")]
    [InlineData(Errno.EFAULT, "Bad address")]
    [InlineData(Errno.EBUSY, "Device or resource busy")]
    [InlineData(Errno.EEXIST, "File exists")]
    [InlineData(Errno.ENODEV, "No such device")]
    [InlineData(Errno.EINVAL, "Invalid argument")]
    [InlineData(Errno.ENOTTY, "Inappropriate ioctl for device")]
    [InlineData(Errno.ENOSPC, "No space left on device")]
    [InlineData(Errno.EOVERFLOW, "Value too large for defined data type")]
    [InlineData(Errno.EMSGSIZE, "Message too long")]
    [InlineData(Errno.EOPNOTSUPP, "Operation not supported")]
    [InlineData(Errno.EADDRINUSE, "Address already in use")]
    [InlineData(Errno.ETIMEDOUT, "Connection timed out")]
    [InlineData((Errno)200, "Unknown error 200")]
    [InlineData((Errno)(-3), "Unknown error -3")]
    public void EveryErrnoReadsAsGlibcPrintsIt(Errno errno, string text) => Assert.Equal(text, Strerror.Of(errno));

    [Fact]
    public void EveryErrnoTheKernelHasHasItsOwnText()
    {
        // A new errno in the kernel model must get glibc's text here, not "Unknown error N".
        foreach (Errno e in Enum.GetValues<Errno>()) Assert.DoesNotContain("Unknown error", Strerror.Of(e));
    }
}
