using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Profiles;
using VtdSim.Kernel.Memory;
using VtdSim.Machine;

namespace VtdSim.Kernel.Tests.Memory;

/// <summary>The kernel's page allocator: zeroed pages, lowest freed page first, contiguous runs, and misuse refused.</summary>
public class PageAllocatorTests
{
    private const ulong Page = 4096;
    private readonly PhysicalMachine _machine = PhysicalMachine.Host(BuiltInProfiles.SapphireRapids, 1UL << 32);

    [Fact]
    public void FreedPagesComeBackZeroedLowestFirst()
    {
        var pages = new PageAllocator(_machine, new Hpa(0x10_0000), 4 * Page);
        Hpa a = pages.TryAllocate()!.Value, b = pages.TryAllocate()!.Value, c = pages.TryAllocate()!.Value;
        _machine.Write(b, 8, 0xDEAD);
        pages.Free(c);
        pages.Free(b);
        Assert.Equal(b, pages.TryAllocate());                 // the lower of the two freed pages
        Assert.Equal(0UL, _machine.Read(b, 8));               // zeroed again
        Assert.Equal(c, pages.TryAllocate());
        Assert.Equal(a + 3 * Page, pages.TryAllocate());
        Assert.Null(pages.TryAllocate());                     // the range is used up
        Assert.Equal(4, pages.PagesInUse);
    }

    [Fact]
    public void AContiguousRunComesFromTheNeverUsedPartOrNotAtAll()
    {
        var pages = new PageAllocator(_machine, new Hpa(0x10_0000), 4 * Page);
        Hpa first = pages.TryAllocate()!.Value;
        pages.Free(first);
        Assert.Equal(first + Page, pages.TryAllocateContiguous(2)); // not the freed page: a run needs pages side by side
        Assert.Null(pages.TryAllocateContiguous(2));                 // one never-used page left
        Assert.Null(pages.TryAllocateContiguous(0));
        Assert.Equal(first, pages.TryAllocateContiguous(1));         // one page may be any free page
        Assert.Equal(3, pages.PagesInUse);
    }

    [Fact]
    public void FreeingAPageTwiceOrOneNeverHandedOutIsRefused()
    {
        var pages = new PageAllocator(_machine, new Hpa(0x10_0000), 4 * Page);
        Hpa a = pages.TryAllocate()!.Value;
        pages.Free(a);
        Assert.Throws<InvalidOperationException>(() => pages.Free(a));                  // already freed
        Assert.Throws<InvalidOperationException>(() => pages.Free(a + Page));           // not handed out yet
        Assert.Throws<InvalidOperationException>(() => pages.Free(new Hpa(0x8_0000)));  // below the range
        Assert.Throws<InvalidOperationException>(() => pages.Free(new Hpa(a.Value + 8))); // not a page boundary
        Assert.Equal(0, pages.PagesInUse);
    }

    [Theory]
    [InlineData(0x10_0800UL, Page)]   // start not page aligned
    [InlineData(0x10_0000UL, 0x1800UL)] // not whole pages
    [InlineData(0x10_0000UL, 0UL)]    // empty
    public void TheRangeMustBeWholePages(ulong start, ulong length)
    {
        var e = Assert.Throws<ArgumentException>(() => new PageAllocator(_machine, new Hpa(start), length));
        Assert.Contains("must be whole, non-empty 4 KiB pages", e.Message);
    }

    [Fact]
    public void APageNoMemoryBacksIsAnErrorNotASilentlyUnzeroedPage()
    {
        var pages = new PageAllocator(_machine, new Hpa((1UL << 32) - Page), 2 * Page); // the second page lies past RAM
        Assert.NotNull(pages.TryAllocate());
        Assert.Throws<InvalidOperationException>(() => pages.TryAllocate());
        Assert.Throws<InvalidOperationException>(() => new PageAllocator(_machine, new Hpa((1UL << 32) - Page), 2 * Page).TryAllocateContiguous(2));
    }
}
