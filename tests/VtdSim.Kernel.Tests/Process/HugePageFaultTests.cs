using VtdSim.Hardware.Addressing;
using VtdSim.Kernel.Process;

namespace VtdSim.Kernel.Tests.Process;

/// <summary>A huge page is faulted in whole, by one page-table entry, and the CPU reads and writes it like any memory.</summary>
public class HugePageFaultTests
{
    private const ulong MiB = 1UL << 20, GiB = 1UL << 30, Page = 4096;
    private readonly LinuxKernel _kernel = HugePageKernel.Boot();

    [Theory]
    [InlineData(MapFlags.Hugetlb | MapFlags.Huge2MB, 2 * MiB)]
    [InlineData(MapFlags.Hugetlb | MapFlags.Huge1GB, GiB)]
    public void OneTouchFaultsInTheWholeHugePageAsOneFolio(MapFlags flags, ulong size)
    {
        var p = _kernel.CreateProcess("a");
        Assert.Equal(Errno.Success, p.Mmap(2 * size, MemoryProtection.ReadWrite, out Uva va, flags: flags));
        int folios = _kernel.UserMemory.PagesInUse;
        ulong bytes = _kernel.UserMemory.BytesInUse;

        Assert.Equal(Errno.Success, p.Write64(va + (size - 8), 0xE1D)); // the last word of the first huge page
        Assert.Equal(1, p.ResidentPages);
        Assert.Equal(folios + 1, _kernel.UserMemory.PagesInUse);
        Assert.Equal(bytes + size, _kernel.UserMemory.BytesInUse);

        // Every 4 KiB of it is present, physically contiguous and aligned; the next huge page is not faulted in.
        Hpa head = p.Translate(va)!.Value;
        Assert.Equal(0UL, head.Value % size);
        Assert.Equal(head + size / 2 + 0x123, p.Translate(va + size / 2 + 0x123));
        Assert.Equal(head + (size - 8), p.Translate(va + (size - 8)));
        Assert.Null(p.Translate(va + size));
        var folio = _kernel.UserMemory.FrameAt(head + size / 2)!;
        Assert.Equal(head, folio.Address);
        Assert.Equal(size, folio.Size);
        Assert.Equal(1, folio.References); // one entry maps it
        // A fresh huge page costs only what was written to it.
        Assert.True(_kernel.Machine.Memory.MaterializedFrames < 1000);
    }

    [Fact]
    public void CpuAccessesCrossFourKibibyteAndHugePageBoundaries()
    {
        var p = _kernel.CreateProcess("a");
        Assert.Equal(Errno.Success, p.Mmap(4 * MiB, MemoryProtection.ReadWrite, out Uva va, flags: MapFlags.Hugetlb));
        var data = Enumerable.Range(1, 64).Select(i => (byte)i).ToArray();

        // Across a 4 KiB boundary inside the first huge page.
        Assert.Equal(Errno.Success, p.Write(va + (3 * Page - 20), data));
        var back = new byte[64];
        Assert.Equal(Errno.Success, p.Read(va + (3 * Page - 20), back));
        Assert.Equal(data, back);
        Hpa head = p.Translate(va)!.Value;
        var physical = new byte[64];
        _kernel.Machine.Memory.Read(head + (3 * Page - 20), physical);
        Assert.Equal(data, physical);

        // Across the boundary between the two huge pages (two folios, each faulted in whole).
        Assert.Equal(Errno.Success, p.Write(va + (2 * MiB - 32), data));
        Assert.Equal(2, p.ResidentPages);
        Assert.Equal(Errno.Success, p.Read(va + (2 * MiB - 32), back));
        Assert.Equal(data, back);
        Hpa second = p.Translate(va + 2 * MiB)!.Value;
        _kernel.Machine.Memory.Read(second, physical.AsSpan(0, 32));
        Assert.Equal(data[32..], physical[..32]);
    }

    [Fact]
    public void AReusedHugePageComesBackZeroed()
    {
        var p = _kernel.CreateProcess("a");
        Assert.Equal(Errno.Success, p.Mmap(2 * MiB, MemoryProtection.ReadWrite, out Uva va, flags: MapFlags.Hugetlb));
        Assert.Equal(Errno.Success, p.Write64(va + MiB, 42));
        Hpa head = p.Translate(va)!.Value;
        Assert.Equal(Errno.Success, p.Munmap(va, 2 * MiB));
        Assert.Equal(Errno.Success, p.Mmap(2 * MiB, MemoryProtection.ReadWrite, out Uva again, flags: MapFlags.Hugetlb));
        Assert.Equal(Errno.Success, p.Read64(again + MiB, out ulong value));
        Assert.Equal(head, p.Translate(again)); // lowest address first: the same block
        Assert.Equal(0UL, value);
    }

    [Fact]
    public void ReadOnlyHugePagesRefuseWritesAndReadAsZero()
    {
        var p = _kernel.CreateProcess("a");
        Assert.Equal(Errno.Success, p.Mmap(2 * MiB, MemoryProtection.Read, out Uva va, flags: MapFlags.Hugetlb));
        Assert.Equal(Errno.EFAULT, p.Write64(va, 1));
        Assert.Equal(0, p.ResidentPages);
        Assert.Equal(Errno.Success, p.Read64(va + 0x1F_FFF8, out ulong zero));
        Assert.Equal(0UL, zero);
        Assert.Equal(1, p.ResidentPages);
    }
}
