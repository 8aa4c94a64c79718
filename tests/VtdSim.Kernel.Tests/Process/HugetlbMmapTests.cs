using VtdSim.Kernel.Process;

namespace VtdSim.Kernel.Tests.Process;

/// <summary>mmap/munmap with MAP_HUGETLB: Linux's alignment, length and split rules; errors at mmap and at fault time.</summary>
public class HugetlbMmapTests
{
    private const ulong MiB = 1UL << 20, GiB = 1UL << 30, Page = 4096;
    private const MapFlags Huge2M = MapFlags.Hugetlb | MapFlags.Huge2MB;
    private const MapFlags Huge1G = MapFlags.Hugetlb | MapFlags.Huge1GB;
    private readonly LinuxKernel _kernel = HugePageKernel.Boot();

    [Fact]
    public void TheLengthIsRoundedUpToWholeHugePagesAndTheAddressAligned()
    {
        var p = _kernel.CreateProcess("a");
        Assert.Equal(Errno.Success, p.Mmap(Page, MemoryProtection.ReadWrite, out Uva small)); // takes mmap_base
        Assert.Equal(Errno.Success, p.Mmap(3 * MiB, MemoryProtection.ReadWrite, out Uva va2m, flags: Huge2M));
        Assert.Equal(Errno.Success, p.Mmap(1, MemoryProtection.ReadWrite, out Uva va1g, flags: Huge1G));

        var m2 = p.FindMapping(va2m)!;
        Assert.Equal(0UL, va2m.Value % (2 * MiB));
        Assert.True(va2m.Value > small.Value);
        Assert.Equal(4 * MiB, m2.Length);
        Assert.Equal(2 * MiB, m2.PageSize);
        Assert.True(m2.Hugetlb);
        var m1 = p.FindMapping(va1g)!;
        Assert.Equal(0UL, va1g.Value % GiB);
        Assert.Equal(GiB, m1.Length);
        Assert.Equal(GiB, m1.PageSize);
        Assert.False(p.FindMapping(small)!.Hugetlb);
    }

    [Fact]
    public void HugetlbWithoutASizeUsesTheDefaultTwoMebibytes()
    {
        var p = _kernel.CreateProcess("a");
        Assert.Equal(Errno.Success, p.Mmap(Page, MemoryProtection.ReadWrite, out Uva va, flags: MapFlags.Hugetlb));
        Assert.Equal(ProcessAddressSpace.DefaultHugePageSize, p.FindMapping(va)!.PageSize);
        // A size without MAP_HUGETLB is ignored, as Linux ignores it.
        Assert.Equal(Errno.Success, p.Mmap(Page, MemoryProtection.ReadWrite, out Uva plain, flags: MapFlags.Huge1GB));
        Assert.Equal(Page, p.FindMapping(plain)!.Length);
    }

    [Fact]
    public void BadFlagsOrAnUnalignedFixedAddressAreEinval()
    {
        var p = _kernel.CreateProcess("a");
        Assert.Equal(Errno.EINVAL, p.Mmap(2 * MiB, MemoryProtection.ReadWrite, out _, new Uva(0x2_0010_0000UL), Huge2M));
        Assert.Equal(Errno.EINVAL, p.Mmap(GiB, MemoryProtection.ReadWrite, out _, new Uva(0x2_2000_0000UL), Huge1G));
        Assert.Equal(Errno.EINVAL, p.Mmap(2 * MiB, MemoryProtection.ReadWrite, out _, flags: MapFlags.Hugetlb | (MapFlags)(16u << 26))); // 64 KiB: no such pool
        Assert.Equal(Errno.EINVAL, p.Mmap(Page, MemoryProtection.ReadWrite, out _, flags: (MapFlags)0x1));
        Assert.Equal(Errno.EINVAL, p.Mmap(0, MemoryProtection.ReadWrite, out _, flags: Huge2M));
        Assert.Empty(p.Mappings);
        Assert.Equal(Errno.Success, p.Mmap(2 * MiB, MemoryProtection.ReadWrite, out Uva fixedVa, new Uva(0x2_0020_0000UL), Huge2M));
        Assert.Equal(0x2_0020_0000UL, fixedVa.Value);
        Assert.Equal(Errno.EEXIST, p.Mmap(2 * MiB, MemoryProtection.ReadWrite, out _, new Uva(0x2_0020_0000UL), Huge2M));
    }

    [Fact]
    public void ASharedFileCannotBeMappedWithHugePages()
    {
        var p = _kernel.CreateProcess("a");
        var file = _kernel.CreateFile("tmpfs-file", 2 * MiB);
        Assert.Equal(Errno.EINVAL, p.MmapShared(file, 0, 2 * MiB, MemoryProtection.ReadWrite, out _, flags: Huge2M));
        Assert.Equal(Errno.Success, p.MmapShared(file, 0, 2 * MiB, MemoryProtection.ReadWrite, out _));
    }

    [Fact]
    public void MunmapMustNotCutAHugePage()
    {
        var p = _kernel.CreateProcess("a");
        Assert.Equal(Errno.Success, p.Mmap(6 * MiB, MemoryProtection.ReadWrite, out Uva va, flags: Huge2M));
        for (ulong i = 0; i < 3; i++) Assert.Equal(Errno.Success, p.Write64(va + i * 2 * MiB, i + 1));
        int inUse = _kernel.UserMemory.PagesInUse;

        Assert.Equal(Errno.EINVAL, p.Munmap(va, Page));                  // would split at va + 4 KiB
        Assert.Equal(Errno.EINVAL, p.Munmap(va + Page, 2 * MiB));        // starts inside a huge page
        Assert.Equal(Errno.EINVAL, p.Munmap(va + 2 * MiB, 3 * MiB));     // ends inside one
        Assert.Equal(inUse, _kernel.UserMemory.PagesInUse);              // refused calls change nothing
        Assert.Single(p.Mappings);

        // The middle huge page: the mapping splits at huge page boundaries and the folio goes back.
        Assert.Equal(Errno.Success, p.Munmap(va + 2 * MiB, 2 * MiB));
        Assert.Equal(2, p.Mappings.Count);
        Assert.Equal(inUse - 1, _kernel.UserMemory.PagesInUse);
        Assert.Equal(Errno.EFAULT, p.Read64(va + 2 * MiB, out _));
        Assert.Equal(Errno.Success, p.Read64(va + 4 * MiB, out ulong third));
        Assert.Equal(3UL, third);
        Assert.All(p.Mappings, m => Assert.Equal(2 * MiB, m.PageSize));

        // A range that covers whole hugetlb mappings need not be aligned where it lies outside them.
        Assert.Equal(Errno.Success, p.Munmap(new Uva(va.Value - Page), 6 * MiB + 2 * Page));
        Assert.Empty(p.Mappings);
        Assert.Equal(inUse - 3, _kernel.UserMemory.PagesInUse);
    }

    [Fact]
    public void RunningOutOfHugePagesIsEnomemAtFaultTimeNotAtMmap()
    {
        var kernel = HugePageKernel.Boot(userBytes: 2 * GiB);
        var p = kernel.CreateProcess("a");
        Assert.Equal(Errno.Success, p.Mmap(3 * GiB, MemoryProtection.ReadWrite, out Uva va, flags: Huge1G));
        Assert.Equal(Errno.Success, p.Write64(va, 1));
        Assert.Equal(Errno.Success, p.Write64(va + GiB, 2));
        Assert.Equal(Errno.ENOMEM, p.Write64(va + 2 * GiB, 3));
        Assert.Equal(Errno.ENOMEM, p.PinPages(va + 2 * GiB, 1, write: true, out _));
        Assert.Equal(2, p.ResidentPages);

        // With the 1 GiB pages gone, even a 4 KiB page is ENOMEM; freeing one huge page makes room again.
        Assert.Equal(Errno.Success, p.Mmap(Page, MemoryProtection.ReadWrite, out Uva small));
        Assert.Equal(Errno.ENOMEM, p.Write64(small, 4));
        Assert.Equal(Errno.Success, p.Munmap(va + GiB, GiB));
        Assert.Equal(Errno.Success, p.Write64(small, 4));
    }
}
