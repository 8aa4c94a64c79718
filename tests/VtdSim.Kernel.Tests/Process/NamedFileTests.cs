using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Profiles;
using VtdSim.Kernel.Process;
using VtdSim.Machine;

namespace VtdSim.Kernel.Tests.Process;

/// <summary>
/// Files by path in the kernel's tmpfs (/dev/shm): every open of a path is the same file, so every process that maps it
/// maps the same page-cache pages (decision S60).
/// </summary>
public class NamedFileTests
{
    private readonly LinuxKernel _kernel = LinuxKernel.Boot(PhysicalMachine.Host(BuiltInProfiles.SapphireRapids, 1UL << 32));

    [Fact]
    public void TwoProcessesThatOpenThePathMapTheSameFrameAndSeeEachOthersBytes()
    {
        Assert.Equal(Errno.Success, _kernel.CreateNamedFile("/dev/shm/rom.img", 4 * 4096, out SharedFile? created));
        Assert.Equal(Errno.Success, created!.Write(4096 + 8, BitConverter.GetBytes(0x0123_4567_89ab_cdefUL)));

        var writer = _kernel.CreateProcess("writer");
        var reader = _kernel.CreateProcess("reader");
        Assert.Equal(Errno.Success, _kernel.OpenFile("/dev/shm/rom.img", out SharedFile? a));
        Assert.Equal(Errno.Success, _kernel.OpenFile("/dev/shm/rom.img", out SharedFile? b));
        Assert.Equal(Errno.Success, writer.MmapShared(a!, 0, 4 * 4096, MemoryProtection.ReadWrite, out Uva wva));
        Assert.Equal(Errno.Success, reader.MmapShared(b!, 4096, 4096, MemoryProtection.Read, out Uva rva));

        Assert.Equal(Errno.Success, reader.Read64(rva + 8, out ulong seen));
        Assert.Equal(0x0123_4567_89ab_cdefUL, seen);                        // what write(2) put there
        Assert.Equal(Errno.Success, writer.Write64(wva + 4096 + 8, 0x27));  // a store through one mapping ...
        Assert.Equal(Errno.Success, reader.Read64(rva + 8, out seen));
        Assert.Equal(0x27UL, seen);                                         // ... is what the other reads
        Assert.Equal(writer.Translate(wva + 4096), reader.Translate(rva)); // one frame
        Assert.Equal(Errno.EFAULT, reader.Write64(rva, 1));                 // the reader's mapping is read-only
    }

    [Fact]
    public void CreatingAPathTwiceIsEexistAndOpeningAPathThatIsNotThereIsEnoent()
    {
        Assert.Equal(Errno.Success, _kernel.CreateNamedFile("/dev/shm/a", 4096, out SharedFile? first));
        Assert.Equal(Errno.EEXIST, _kernel.CreateNamedFile("/dev/shm/a", 8192, out SharedFile? second));
        Assert.Null(second);
        Assert.Equal(Errno.Success, _kernel.OpenFile("/dev/shm/a", out SharedFile? again));
        Assert.Same(first, again);
        Assert.Equal(4096UL, again!.Size);                                  // the refused create changed nothing
        Assert.Equal(Errno.ENOENT, _kernel.OpenFile("/dev/shm/b", out SharedFile? none));
        Assert.Null(none);
        Assert.Equal(Errno.EINVAL, _kernel.CreateNamedFile("/dev/shm/c", 100, out _)); // files here are whole pages
        Assert.Equal(Errno.ENOENT, _kernel.OpenFile("/dev/shm/c", out _));
    }
}
