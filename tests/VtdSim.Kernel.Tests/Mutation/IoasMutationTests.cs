using VtdSim.Kernel.Iommufd;
using VtdSim.Kernel.Tests.Iommufd;

namespace VtdSim.Kernel.Tests.Mutation;

/// <summary>
/// IOAS calls (IommufdContext.Ioas.cs) where mutation testing (docs/testing.md) found that no test noticed a change: the
/// typed API on a closed iommufd, allowed ranges that share one byte, and IOAS_COPY's EOVERFLOW check on each field
/// alone, where the later range checks would not notice.
/// </summary>
public class IoasMutationTests
{
    private const ulong Page = 4096;

    /// <summary>Every typed IOAS call, with arguments an open iommufd would accept and with some it would refuse.</summary>
    public static TheoryData<string> TypedCalls() => new(Calls.Keys);

    private static readonly Dictionary<string, Action<IommufdContext, uint>> Calls = new()
    {
        ["IoasAlloc"] = (fd, _) => fd.IoasAlloc(0, out _),
        ["IoasAllowIovas"] = (fd, ioas) => fd.IoasAllowIovas(ioas, [new IovaRange(0x10_0000, 0x1f_ffff)]),
        ["IoasIovaRanges"] = (fd, ioas) =>
        {
            uint n = 4;
            fd.IoasIovaRanges(ioas, ref n, new IovaRange[4], out _);
        },
        // A closed file is EBADF before any field is looked at: also with a field another check would refuse first.
        ["IoasAllowIovas, reserved"] = (fd, ioas) => fd.IoasAllowIovas(ioas, [], reserved: 1),
        ["IoasIovaRanges, reserved"] = (fd, ioas) =>
        {
            uint n = 0;
            fd.IoasIovaRanges(ioas, ref n, [], out _, reserved: 1);
        },
        ["IoasCopy, unknown flag"] = (fd, ioas) =>
        {
            ulong dst = 0;
            fd.IoasCopy(ioas, ioas, (IoasMapFlags)0x100, Page, ref dst, 0);
        },
        ["IoasUnmap"] = (fd, ioas) =>
        {
            ulong length = ulong.MaxValue;
            fd.IoasUnmap(ioas, 0, ref length);
        },
        ["IoasCopy"] = (fd, ioas) =>
        {
            ulong dst = 0x20_0000;
            fd.IoasCopy(ioas, ioas, IoasMapFlags.ReadWrite | IoasMapFlags.FixedIova, Page, ref dst, 0x10_0000);
        },
        ["Destroy"] = (fd, ioas) => fd.Destroy(ioas),
    };

    [Theory]
    [MemberData(nameof(TypedCalls))]
    public void ATypedCallOnAClosedIommufdIsAUseAfterClose(string call)
    {
        // The byte-level ioctl answers EBADF (ErrnoTableTests L20); the typed API, which only code holding the closed
        // object can call, says so with ObjectDisposedException, whatever the arguments.
        var b = new IommufdBench();
        uint ioas = b.Ioas();
        b.Fd.Close();
        Assert.Throws<ObjectDisposedException>(() => Calls[call](b.Fd, ioas));
    }

    [Fact]
    public void AllowedRangesThatShareOneByteOverlapAndAdjacentOnesDoNot()
    {
        // iommufd_ioas_allow_iovas: ranges are inclusive, so [a, b] and [b, c] overlap (EINVAL) in either order;
        // [a, b] and [b + 1, c] do not.
        var b = new IommufdBench();
        uint ioas = b.Ioas();
        Assert.Equal(Errno.EINVAL, b.Fd.IoasAllowIovas(ioas, [new IovaRange(0x10_0000, 0x1f_ffff), new IovaRange(0x1f_ffff, 0x2f_ffff)]));
        Assert.Equal(Errno.EINVAL, b.Fd.IoasAllowIovas(ioas, [new IovaRange(0x1f_ffff, 0x2f_ffff), new IovaRange(0x10_0000, 0x1f_ffff)]));
        Assert.Equal(Errno.Success, b.Fd.IoasAllowIovas(ioas, [new IovaRange(0x10_0000, 0x1f_ffff), new IovaRange(0x20_0000, 0x2f_ffff)]));
        Assert.Equal(2, b.IoasOf(ioas).Iopt.Allowed.Count);
    }

    [Fact]
    public void CopyChecksLengthAndSourceAgainstUlongMaxOnTheirOwn()
    {
        // Linux: length >= ULONG_MAX or src_iova >= ULONG_MAX or dst_iova >= ULONG_MAX is EOVERFLOW before anything
        // else is looked at — also where the range itself would not wrap (length ULONG_MAX from IOVA 0, one byte at
        // ULONG_MAX), so the range lookup could not have said so.
        var b = new IommufdBench();
        uint ioas = b.Ioas();
        b.Map(ioas, b.Buffer(2), 2 * Page, iova: 0x10_0000);
        ulong dst = 0x20_0000;
        Assert.Equal(Errno.EOVERFLOW, b.Fd.IoasCopy(ioas, ioas, IoasMapFlags.ReadWrite, ulong.MaxValue, ref dst, 0));
        Assert.Equal(Errno.EOVERFLOW, b.Fd.IoasCopy(ioas, ioas, IoasMapFlags.ReadWrite, 1, ref dst, ulong.MaxValue));
        Assert.Equal(0x20_0000UL, dst);
    }
}
