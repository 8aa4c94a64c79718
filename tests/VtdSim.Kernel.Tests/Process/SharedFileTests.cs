using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Profiles;
using VtdSim.Kernel.Process;
using VtdSim.Machine;

namespace VtdSim.Kernel.Tests.Process;

/// <summary>read(2) and write(2) on a page-cache file, and what a mapping of the same file sees.</summary>
public class SharedFileTests
{
    private readonly LinuxKernel _kernel = LinuxKernel.Boot(PhysicalMachine.Host(BuiltInProfiles.SapphireRapids, 1UL << 32));

    [Fact]
    public void ReadReturnsWhatWriteWroteAcrossAPageBoundaryAndUnwrittenBytesAreZero()
    {
        var file = _kernel.CreateFile("data", 3 * 4096);
        byte[] data = [.. Enumerable.Range(1, 40).Select(i => (byte)i)];
        Assert.Equal(Errno.Success, file.Write(4096 - 20, data));    // the last 20 bytes of page 0, the first 20 of page 1
        Assert.Equal(2, file.CachedPages);

        var back = new byte[48];
        Assert.Equal(Errno.Success, file.Read(4096 - 24, back));
        Assert.Equal(new byte[4], back[..4]);
        Assert.Equal(data, back[4..44]);
        Assert.Equal(new byte[4], back[44..]);
        Assert.Equal(Errno.Success, file.Read(2 * 4096, new byte[4096])); // a page never written reads as zeros ...
        Assert.Equal(3, file.CachedPages);                                  // ... and is in the page cache from then on
    }

    [Fact]
    public void AProcessMappingAndReadWriteSeeTheSameBytes()
    {
        var file = _kernel.CreateFile("shm", 2 * 4096);
        var p = _kernel.CreateProcess("writer");
        Assert.Equal(Errno.Success, p.MmapShared(file, 0, 2 * 4096, MemoryProtection.ReadWrite, out Uva va));
        Assert.Equal(Errno.Success, p.Write64(va + 4096 + 8, 0x1122_3344_5566_7788));
        var bytes = new byte[8];
        Assert.Equal(Errno.Success, file.Read(4096 + 8, bytes));
        Assert.Equal(0x1122_3344_5566_7788UL, BitConverter.ToUInt64(bytes));

        Assert.Equal(Errno.Success, file.Write(16, BitConverter.GetBytes(0xCAFEUL)));
        Assert.Equal(Errno.Success, p.Read64(va + 16, out ulong v));
        Assert.Equal(0xCAFEUL, v);
    }

    [Theory]
    [InlineData(4096UL * 2 + 1, 0)]   // starts past the end
    [InlineData(4096UL * 2 - 4, 8)]   // runs past the end: a file does not grow here
    public void AnAccessBeyondTheEndIsEinvalAndMovesNothing(ulong offset, int length)
    {
        var file = _kernel.CreateFile("small", 2 * 4096);
        Assert.Equal(Errno.Success, file.Write(2 * 4096 - 4, [9, 9, 9, 9]));
        Assert.Equal(Errno.EINVAL, file.Write(offset, new byte[length]));
        var into = new byte[length];
        Array.Fill(into, (byte)0xAA);
        Assert.Equal(Errno.EINVAL, file.Read(offset, into));
        Assert.All(into, b => Assert.Equal(0xAA, b));
        var tail = new byte[4];
        Assert.Equal(Errno.Success, file.Read(2 * 4096 - 4, tail));
        Assert.Equal(new byte[] { 9, 9, 9, 9 }, tail);
        Assert.Equal(Errno.Success, file.Read(2 * 4096, Span<byte>.Empty)); // at the end, nothing to read
    }

    [Fact]
    public void ADeletedFileIsEnoentAndGivesBackItsPages()
    {
        var file = _kernel.CreateFile("gone", 4096);
        int before = _kernel.UserMemory.PagesInUse;
        Assert.Equal(Errno.Success, file.Write(0, [1]));
        Assert.Equal(before + 1, _kernel.UserMemory.PagesInUse);
        file.Delete();
        file.Delete(); // a second unlink finds nothing more to free
        Assert.True(file.Deleted);
        Assert.Equal(before, _kernel.UserMemory.PagesInUse);
        Assert.Equal(Errno.ENOENT, file.Write(0, [1]));
        Assert.Equal(Errno.ENOENT, file.Read(0, new byte[1]));
    }

    [Fact]
    public void APageTheMemoryCannotSupplyIsEnomem()
    {
        var layout = KernelMemoryLayout.Default with { UserPagesLength = 4096 };
        var kernel = LinuxKernel.Boot(PhysicalMachine.Host(BuiltInProfiles.SapphireRapids, 1UL << 32), layout);
        var file = kernel.CreateFile("big", 2 * 4096);
        Assert.Equal(Errno.Success, file.Write(0, [7]));               // takes the only user page
        Assert.Equal(Errno.ENOMEM, file.Read(4096, new byte[1]));
        Assert.Equal(Errno.ENOMEM, file.Write(4096, [7]));
        Assert.Equal(1, file.CachedPages);
    }

    [Theory]
    [InlineData(0UL)]
    [InlineData(4095UL)]
    public void AFileSizeMustBeWholePages(ulong size)
    {
        var e = Assert.Throws<ArgumentException>(() => _kernel.CreateFile("odd", size));
        Assert.Equal($"file 'odd': size 0x{size:x} must be a non-zero multiple of 4 KiB", e.Message); // no parameter name
    }
}
