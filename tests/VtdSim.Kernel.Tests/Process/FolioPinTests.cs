using VtdSim.Kernel.Process;

namespace VtdSim.Kernel.Tests.Process;

/// <summary>pin_user_pages by runs: pins are counted on the folio, and a folio is freed only when refs and pins are zero.</summary>
public class FolioPinTests
{
    private const ulong MiB = 1UL << 20, Page = 4096;
    private readonly LinuxKernel _kernel = HugePageKernel.Boot();

    [Fact]
    public void PinningPagesOfAHugePageCountsThemOnItsFolioInOneRun()
    {
        var p = _kernel.CreateProcess("a");
        Assert.Equal(Errno.Success, p.Mmap(2 * MiB, MemoryProtection.ReadWrite, out Uva va, flags: MapFlags.Hugetlb));
        long pins = _kernel.UserMemory.TotalPins;

        Assert.Equal(Errno.Success, p.PinPages(va + 5 * Page, 3, write: true, out var runs));
        var run = Assert.Single(runs);
        Assert.Equal(5u, run.FirstPage);
        Assert.Equal(3u, run.PageCount);
        Assert.Equal(p.Translate(va + 5 * Page), run.Address);
        Assert.Equal(3, run.Folio.PinCount);
        Assert.Equal(pins + 3, _kernel.UserMemory.TotalPins);

        // A second pin of the whole huge page: still one folio, pinned once per page per pin.
        Assert.Equal(Errno.Success, p.PinPages(va, 512, write: false, out var whole));
        Assert.Same(run.Folio, Assert.Single(whole).Folio);
        Assert.Equal(3 + 512, run.Folio.PinCount);

        p.UnpinPages(runs);
        Assert.Equal(512, run.Folio.PinCount);
        p.UnpinPages(whole);
        Assert.Equal(0, run.Folio.PinCount);
        Assert.Equal(pins, _kernel.UserMemory.TotalPins);
        Assert.False(run.Folio.Freed); // still mapped
    }

    [Fact]
    public void APinAcrossFoliosReturnsARunPerFolio()
    {
        var p = _kernel.CreateProcess("a");
        Assert.Equal(Errno.Success, p.Mmap(4 * MiB, MemoryProtection.ReadWrite, out Uva huge, new Uva(0x2_0000_0000UL), MapFlags.Hugetlb));
        Assert.Equal(Errno.Success, p.Mmap(2 * Page, MemoryProtection.ReadWrite, out _, new Uva(0x2_0040_0000UL)));

        // The last page of the first huge page, all of the second, and both small pages behind them.
        Assert.Equal(Errno.Success, p.PinPages(huge + (2 * MiB - Page), 1 + 512 + 2, write: true, out var runs));
        Assert.Equal([(9, 511u, 1u), (9, 0u, 512u), (0, 0u, 1u), (0, 0u, 1u)],
            runs.Select(r => (r.Folio.Order, r.FirstPage, r.PageCount)).ToArray());
        Assert.Equal(4, runs.Select(r => r.Folio).Distinct().Count());
        p.UnpinPages(runs);
    }

    [Fact]
    public void AFailedPinLeavesNoPinsOnTheFoliosItReached()
    {
        var p = _kernel.CreateProcess("a");
        Assert.Equal(Errno.Success, p.Mmap(2 * MiB, MemoryProtection.ReadWrite, out Uva va, new Uva(0x2_0000_0000UL), MapFlags.Hugetlb));
        long pins = _kernel.UserMemory.TotalPins;
        // Runs off the end of the mapping into nothing.
        Assert.Equal(Errno.EFAULT, p.PinPages(va + (2 * MiB - Page), 2, write: true, out var runs));
        Assert.Empty(runs);
        Assert.Equal(pins, _kernel.UserMemory.TotalPins);
        Assert.Equal(0, _kernel.UserMemory.FrameAt(p.Translate(va)!.Value)!.PinCount);
    }

    [Fact]
    public void AHugeFolioIsFreedOnlyWhenItsReferencesAndPinsAreAllGone()
    {
        var p = _kernel.CreateProcess("a");
        Assert.Equal(Errno.Success, p.Mmap(2 * MiB, MemoryProtection.ReadWrite, out Uva va, flags: MapFlags.Hugetlb));
        Assert.Equal(Errno.Success, p.PinPages(va + 16 * Page, 2, write: true, out var first));
        Assert.Equal(Errno.Success, p.PinPages(va + MiB, 1, write: true, out var second));
        var folio = first[0].Folio;
        Assert.Same(folio, second[0].Folio);
        var freed = new List<PageFrame>();
        _kernel.UserMemory.PageFreed += freed.Add;

        Assert.Equal(Errno.Success, p.Munmap(va, 2 * MiB));
        Assert.Equal(0, folio.References);
        Assert.Equal(3, folio.PinCount);
        p.UnpinPages(first);
        Assert.False(folio.Freed);
        Assert.Empty(freed);
        Assert.Equal(folio, _kernel.UserMemory.FrameAt(folio.Address + MiB + 123));

        p.UnpinPages(second);
        Assert.True(folio.Freed);
        Assert.Equal([folio], freed);
        Assert.Null(_kernel.UserMemory.FrameAt(folio.Address + MiB));
        Assert.Throws<InvalidOperationException>(() => p.UnpinPages(second)); // a stale run is a bug, not a silent no-op
    }
}
