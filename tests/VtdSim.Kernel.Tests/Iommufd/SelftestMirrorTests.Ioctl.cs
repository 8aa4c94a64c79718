using System.Buffers.Binary;

namespace VtdSim.Kernel.Tests.Iommufd;

// iommufd.cmd_length, cmd_ex_fail and the pointer/number part of cmd_fail, through the byte-level Ioctl.
public partial class SelftestMirrorTests
{
    // ---- iommufd.cmd_length ----

    [Fact]
    public void CmdLength_EveryIoctl()
    {
        // The selftest's form: a zeroed struct followed by one extra byte (0xFF), one fd, every ioctl in turn.
        var b = new IommufdBench();
        foreach (var (layout, _) in Uapi.All)
        {
            var s = new UserStruct(b.Process, layout);
            s.SetBytes(layout.Size, [0xFF]);
            s["size"] = (ulong)layout.MinSize - 1;
            Assert.Equal(Errno.EINVAL, s.Ioctl(b.Fd));
            s["size"] = (ulong)layout.Size + 1;
            Assert.Equal(Errno.E2BIG, s.Ioctl(b.Fd));
            s["size"] = (ulong)layout.Size;
            Errno exact = s.Ioctl(b.Fd);
            Assert.NotEqual(Errno.E2BIG, exact);
            s["size"] = (ulong)layout.Size + 1;
            s.SetBytes(layout.Size, [0]);
            Assert.Equal(exact, s.Ioctl(b.Fd));
        }
    }

    [Fact]
    public void CmdLength_RealisticCallsAlikeWithAZeroTail()
    {
        // The same rule on calls that succeed, each on a fresh (so identical) bench: a struct 8 bytes longer with a
        // zero tail does and writes back exactly what the exact size does; a non-zero tail or a short size changes
        // nothing at all.
        foreach (var (layout, make) in IoctlScenarios.All)
        {
            var exact = new IommufdBench();
            var s = make(exact, 0);
            Assert.True(s.Ioctl(exact.Fd) == Errno.Success, layout.Name);
            byte[] written = s.Bytes(layout.Size)[4..];
            string after = IoctlScenarios.State(exact);

            var longer = new IommufdBench();
            s = make(longer, 0);
            s["size"] = (ulong)layout.Size + 8;
            Assert.Equal(Errno.Success, s.Ioctl(longer.Fd));
            Assert.Equal(written, s.Bytes(layout.Size)[4..]);
            Assert.All(s.Bytes(layout.Size + 8)[layout.Size..], x => Assert.Equal(0, x)); // the tail is not written
            Assert.Equal(after, IoctlScenarios.State(longer));

            var nonZero = new IommufdBench();
            s = make(nonZero, 0);
            string before = IoctlScenarios.State(nonZero);
            s["size"] = (ulong)layout.Size + 8;
            s.SetBytes(layout.Size + 7, [1]);
            byte[] untouched = s.Bytes(layout.Size + 8);
            Assert.Equal(Errno.E2BIG, s.Ioctl(nonZero.Fd));
            Assert.Equal(untouched, s.Bytes(layout.Size + 8));
            Assert.Equal(before, IoctlScenarios.State(nonZero));

            var shortSize = new IommufdBench();
            s = make(shortSize, 0);
            before = IoctlScenarios.State(shortSize);
            s["size"] = (ulong)layout.MinSize - 1;
            untouched = s.Bytes(layout.Size);
            Assert.Equal(Errno.EINVAL, s.Ioctl(shortSize.Fd));
            Assert.Equal(untouched, s.Bytes(layout.Size));
            Assert.Equal(before, IoctlScenarios.State(shortSize));
        }
    }

    // ---- iommufd.cmd_ex_fail ----

    [Fact]
    public void CmdExFail_Destroy()
    {
        var b = new IommufdBench();
        var s = new UserStruct(b.Process, Uapi.Destroy); // struct iommu_destroy followed by a __u64 "future" field
        s["size"] = (ulong)Uapi.Destroy.Size + 8;
        s["id"] = 0;
        Assert.Equal(Errno.ENOENT, s.Ioctl(b.Fd)); // a longer command with a zero future field: the id is checked
        var future = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(future, 1);
        s.SetBytes(Uapi.Destroy.Size, future);
        Assert.Equal(Errno.E2BIG, s.Ioctl(b.Fd));
        s["size"] = (ulong)Uapi.Destroy.Size;
        Assert.Equal(Errno.ENOENT, s.Ioctl(b.Fd)); // the original command "works"
        s["size"] = (ulong)Uapi.Destroy.Size - 1;
        Assert.Equal(Errno.EINVAL, s.Ioctl(b.Fd));
    }

    // ---- iommufd.cmd_fail (bad pointer, unknown ioctl) ----

    [Fact]
    public void CmdFail_BadPointerAndUnknownIoctl()
    {
        var b = new IommufdBench();
        Assert.Equal(Errno.EFAULT, b.Fd.Ioctl(Uapi.Destroy.Request, 0));
        var s = new UserStruct(b.Process, Uapi.Destroy);
        Assert.Equal(Errno.ENOTTY, b.Fd.Ioctl(0x3B00 | (0x80 - 1), s.Address)); // IOMMUFD_CMD_BASE - 1
    }
}
