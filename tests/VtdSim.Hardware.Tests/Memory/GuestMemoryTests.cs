using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Memory;
using VtdSim.Hardware.Tests.Support;

namespace VtdSim.Hardware.Tests.Memory;

/// <summary>
/// A guest memory is a view: its pages are pages of the memory below, resolved on demand. What is not RAM fails as
/// beyond-the-end does, ROM refuses writes, a view over a view ends in the host's frames, and writes are reported at
/// every level (decisions M1–M9).
/// </summary>
public class GuestMemoryTests
{
    private const ulong Page = MachineMemory.PageSize;
    private const ulong TiB = 1UL << 40;

    [Fact]
    public void AnUnassignedPageFailsEveryAccessAndChangesNothing()
    {
        var host = new PhysicalMemory(64 * Page);
        var view = PageMap.Window(host, 16 * Page, 8, out var map);
        map[3] = GuestPage.Unassigned;
        host.Write64(new Hpa(11 * Page), 0x1111); // what view page 3 was before it was unmapped

        Assert.False(view.TryRead64(new Hpa(3 * Page), out ulong value));
        Assert.Equal(0UL, value);
        Assert.False(view.TryWrite64(new Hpa(3 * Page + 8), 1));
        Assert.False(view.TryCompareExchange64(new Hpa(3 * Page), 0, 1, out _, WriteOrigin.IommuFlagUpdate));
        var buffer = new byte[16];
        Assert.False(view.TryRead(new Hpa(3 * Page - 8), buffer)); // straddles pages 2 and 3: fails as a whole
        Assert.False(view.TryWrite(new Hpa(3 * Page - 8), new byte[16]));
        Assert.False(view.TryZero(new Hpa(2 * Page), 2 * Page));
        Assert.Equal(0x1111UL, host.Read64(new Hpa(11 * Page)));
        Assert.Equal(0UL, host.Read64(new Hpa(10 * Page + Page - 8))); // page 2's half of the refused write was not written
        Assert.Equal(1, host.MaterializedFrames);
        var e = Assert.Throws<MemoryAccessException>(() => view.Read64(new Hpa(3 * Page)));
        Assert.Contains("page 0x3000 is not RAM", e.Message);
    }

    [Fact]
    public void APageBeyondTheEndOfTheMemoryBelowIsNotRam()
    {
        var host = new PhysicalMemory(4 * Page);
        var view = PageMap.Window(host, 8 * Page, 0, out _); // pages 4..7 would be beyond the host
        Assert.True(view.TryWrite64(new Hpa(3 * Page), 5));
        Assert.False(view.TryWrite64(new Hpa(4 * Page), 5));
        Assert.False(view.TryRead64(new Hpa(7 * Page), out _));
    }

    [Fact]
    public void AReadOnlyPageReadsTheBytesBelowAndRefusesEveryWrite()
    {
        var host = new PhysicalMemory(64 * Page);
        var view = PageMap.Window(host, 16 * Page, 0, out var map);
        host.Write64(new Hpa(5 * Page + 16), 0xC0DE);
        map[5] = GuestPage.Ram(host, 5, writable: false);

        Assert.Equal(0xC0DEUL, view.Read64(new Hpa(5 * Page + 16)));
        Assert.False(view.TryWrite64(new Hpa(5 * Page + 16), 1));
        // A locked read-modify-write is a write: refused even when the compare would match.
        Assert.False(view.TryCompareExchange64(new Hpa(5 * Page + 16), 0xC0DE, 1, out _, WriteOrigin.IommuFlagUpdate));
        Assert.False(view.TryWrite(new Hpa(5 * Page - 4), new byte[8]));
        Assert.False(view.TryZero(new Hpa(5 * Page), Page));
        Assert.Equal(0xC0DEUL, host.Read64(new Hpa(5 * Page + 16)));
        Assert.Equal(0UL, host.Read64(new Hpa(4 * Page + Page - 8)));
        Assert.Contains("page 0x5000 is read-only", Assert.Throws<MemoryAccessException>(() => view.Write64(new Hpa(5 * Page), 1)).Message);
        // Writes through the host still reach the page, and the view reads them.
        host.Write64(new Hpa(5 * Page + 16), 0xBEEF);
        Assert.Equal(0xBEEFUL, view.Read64(new Hpa(5 * Page + 16)));
    }

    [Fact]
    public void AViewOverAViewReadsAndWritesTheHostsBytes()
    {
        var host = new PhysicalMemory(64 * Page);
        var l1 = PageMap.Window(host, 32 * Page, 16, out _); // L1 page g = host page g + 16
        var l2 = PageMap.Window(l1, 8 * Page, 4, out var l2Map); // L2 page g = L1 page g + 4 = host page g + 20
        l2Map[7] = GuestPage.Ram(host, 2); // and one L2 page straight on the host

        l2.Write64(new Hpa(Page + 8), 0xA2);
        Assert.Equal(0xA2UL, l1.Read64(new Hpa(5 * Page + 8)));
        Assert.Equal(0xA2UL, host.Read64(new Hpa(21 * Page + 8)));
        host.Write64(new Hpa(22 * Page), 0xB0);
        Assert.Equal(0xB0UL, l2.Read64(new Hpa(2 * Page)));
        l1.Write64(new Hpa(6 * Page), 0xB1);
        Assert.Equal(0xB1UL, l2.Read64(new Hpa(2 * Page)));
        l2.Write(new Hpa(7 * Page + 1), [1, 2, 3]);
        Assert.Equal(0x03_02_01_00UL, host.Read64(new Hpa(2 * Page)));
        Assert.True(l2.TryCompareExchange64(new Hpa(Page + 8), 0xA2, 0xA3, out ulong actual, WriteOrigin.IommuFlagUpdate));
        Assert.Equal(0xA2UL, actual);
        Assert.Equal(0xA3UL, host.Read64(new Hpa(21 * Page + 8)));
        Assert.True(l2.TryZero(new Hpa(Page), Page));
        Assert.Equal(0UL, host.Read64(new Hpa(21 * Page + 8)));
    }

    [Fact]
    public void AnL1PageThatIsReadOnlyIsReadOnlyThroughL2Too()
    {
        var host = new PhysicalMemory(64 * Page);
        var l1 = PageMap.Window(host, 32 * Page, 0, out var l1Map);
        var l2 = PageMap.Window(l1, 8 * Page, 0, out _);
        l1Map[3] = GuestPage.Ram(host, 3, writable: false);
        Assert.True(l2.TryRead64(new Hpa(3 * Page), out _));
        Assert.False(l2.TryWrite64(new Hpa(3 * Page), 1));
        Assert.False(l2.TryCompareExchange64(new Hpa(3 * Page), 0, 1, out _, WriteOrigin.IommuFlagUpdate));
        Assert.Equal(0, host.MaterializedFrames);
    }

    [Fact]
    public void A4TiBGuestCostsOnlyTheFramesItsWritesTouch()
    {
        var host = new PhysicalMemory(8 * TiB);
        var view = PageMap.Window(host, 4 * TiB, (2 * TiB + 0x1234_5000) / Page, out _);
        var buffer = new byte[3 * Page];
        view.Read(new Hpa(TiB - 100), buffer);                      // reads of untouched memory: zeros, no frame
        Assert.Equal(0UL, view.Read64(new Hpa(4 * TiB - 8)));
        Assert.True(view.TryZero(new Hpa(3 * TiB), 1UL << 30));     // a fresh 1 GiB page: nothing to clear
        view.Write(new Hpa(3 * TiB + 0x123), [0xAB]);
        view.Write64(new Hpa(0x1000), 1);
        view.Write(new Hpa(TiB - 2), [1, 2, 3, 4]);                 // straddles two pages
        Assert.Equal(4, host.MaterializedFrames);
        Assert.Equal(4, view.MaterializedFrames);
        view.Write64(new Hpa(0x1008), 2);                           // an existing frame
        Assert.Equal(4, host.MaterializedFrames);
        Assert.Equal(0xABUL << 0x18, host.Read64(new Hpa(5 * TiB + 0x1234_5000 + 0x120)));
    }

    [Fact]
    public void AWriteIsReportedAtEveryLevelAtThatLevelsAddressWithTheSameOrigin()
    {
        var host = new PhysicalMemory(64 * Page);
        var l1 = PageMap.Window(host, 32 * Page, 16, out _);
        var l2 = PageMap.Window(l1, 8 * Page, 0, out var l2Map);
        l2Map[1] = GuestPage.Ram(l1, 9); // L2 pages 0 and 1 lie apart in L1 (0 and 9) and in the host (16 and 25)
        var seen = new List<(string Level, MemoryWrite Write)>();
        using var a = l2.ObserveWrites(new Hpa(0), l2.Size, w => seen.Add(("L2", w)));
        using var b = l1.ObserveWrites(new Hpa(0), l1.Size, w => seen.Add(("L1", w)));
        using var c = host.ObserveWrites(new Hpa(0), host.Size, w => seen.Add(("host", w)));

        Assert.True(l2.TryWrite(new Hpa(Page - 8), new byte[16], WriteOrigin.Dma));
        Assert.Equal(
        [
            ("L2", new MemoryWrite(new Hpa(Page - 8), 16, WriteOrigin.Dma)),
            ("L1", new MemoryWrite(new Hpa(Page - 8), 8, WriteOrigin.Dma)),
            ("host", new MemoryWrite(new Hpa(17 * Page - 8), 8, WriteOrigin.Dma)),
            ("L1", new MemoryWrite(new Hpa(9 * Page), 8, WriteOrigin.Dma)),
            ("host", new MemoryWrite(new Hpa(25 * Page), 8, WriteOrigin.Dma)),
        ], seen);

        seen.Clear();
        Assert.True(l2.TryCompareExchange64(new Hpa(Page), 0, 0x21, out _, WriteOrigin.IommuFlagUpdate));
        Assert.Equal(
        [
            ("L2", new MemoryWrite(new Hpa(Page), 8, WriteOrigin.IommuFlagUpdate)),
            ("L1", new MemoryWrite(new Hpa(9 * Page), 8, WriteOrigin.IommuFlagUpdate)),
            ("host", new MemoryWrite(new Hpa(25 * Page), 8, WriteOrigin.IommuFlagUpdate)),
        ], seen);
    }

    [Fact]
    public void AnObserverBelowSeesViewWritesAndNobodyPaysWhenNobodyObserves()
    {
        var host = new PhysicalMemory(64 * Page);
        var view = PageMap.Window(host, 16 * Page, 32, out var map);
        view.Write64(new Hpa(Page), 1); // resolves page 1 once; its frame is cached
        int resolutions = map.Resolutions;
        view.Write64(new Hpa(Page + 8), 2);
        Assert.Equal(resolutions, map.Resolutions); // a cached write asks nobody

        var seen = new List<MemoryWrite>();
        var observer = host.ObserveWrites(new Hpa(33 * Page), Page, seen.Add); // added after the view resolved its page
        view.Write64(new Hpa(Page + 16), 3, WriteOrigin.Dma);
        Assert.Equal([new MemoryWrite(new Hpa(33 * Page + 16), 8, WriteOrigin.Dma)], seen);
        observer.Dispose();
        resolutions = map.Resolutions;
        view.Write64(new Hpa(Page + 24), 4);
        Assert.Single(seen);
        Assert.Equal(resolutions, map.Resolutions);
    }

    [Fact]
    public void InvalidateMakesTheViewAndEveryViewOverItResolveAgainAndAdvancesTheirGenerations()
    {
        var host = new PhysicalMemory(64 * Page);
        var l1 = PageMap.Window(host, 32 * Page, 0, out var l1Map);
        var l2 = PageMap.Window(l1, 8 * Page, 0, out _);
        host.Write64(new Hpa(2 * Page), 0x0A);
        host.Write64(new Hpa(40 * Page), 0x0B);
        Assert.Equal(0x0AUL, l2.Read64(new Hpa(2 * Page))); // L2 now caches the host's frame of page 2
        long g1 = l1.Generation, g2 = l2.Generation;

        l1Map[2] = GuestPage.Ram(host, 40); // the VMM remaps L1 page 2 and tells L1 only
        l1.Invalidate(2, 1);
        Assert.Equal(g1 + 1, l1.Generation);
        Assert.Equal(g2 + 1, l2.Generation);
        Assert.Equal(0L, host.Generation);
        Assert.Equal(0x0BUL, l2.Read64(new Hpa(2 * Page)));
        l2.Write64(new Hpa(2 * Page), 0x0C);
        Assert.Equal(0x0CUL, host.Read64(new Hpa(40 * Page)));
        Assert.Equal(0x0AUL, host.Read64(new Hpa(2 * Page)));
        l1.Invalidate(0, 0); // an empty range changes nothing
        Assert.Equal(g1 + 1, l1.Generation);
    }

    [Fact]
    public void AResolverThatAnswersAReadOnlyPageForReadsAndAnotherForWritesCopiesOnWrite()
    {
        var host = new PhysicalMemory(64 * Page);
        var resolver = new CopyOnWrite(host);
        var view = new GuestMemory(4 * Page, resolver);
        host.Write64(new Hpa(0), 0x2E40); // host page 0: what every page reads until it is written
        Assert.Equal(0x2E40UL, view.Read64(new Hpa(Page)));
        long before = view.Generation;
        view.Write64(new Hpa(Page + 8), 7);
        Assert.True(view.Generation > before); // the page now stands for another frame
        Assert.Equal(7UL, view.Read64(new Hpa(Page + 8)));
        Assert.Equal(0x2E40UL, host.Read64(new Hpa(0)));
        Assert.Equal(7UL, host.Read64(new Hpa(11 * Page + 8)));
    }

    [Fact]
    public void AnInjectedErrorFailsAccessesToTheMemoryItIsInjectedIntoOnly()
    {
        var host = new PhysicalMemory(64 * Page);
        var view = PageMap.Window(host, 16 * Page, 8, out _);
        host.Write64(new Hpa(9 * Page), 0x99);
        host.InjectError(new Hpa(9 * Page), Page);
        Assert.False(host.TryRead64(new Hpa(9 * Page), out _));
        Assert.Equal(0x99UL, view.Read64(new Hpa(Page))); // the view reaches the frame, not the host's decode
        view.InjectError(new Hpa(Page + 8), 8, InjectedErrorKind.WritesOnly);
        Assert.False(view.TryWrite64(new Hpa(Page + 8), 1));
        Assert.True(view.TryWrite64(new Hpa(Page + 16), 2));
        Assert.Contains("injected memory error", Assert.Throws<MemoryAccessException>(() => view.Write64(new Hpa(Page + 8), 1)).Message);
        host.ClearInjectedErrors();
        Assert.Equal(2UL, host.Read64(new Hpa(9 * Page + 16)));
    }

    [Fact]
    public void AViewCannotRestOnItself()
    {
        var host = new PhysicalMemory(16 * Page);
        var map = new PageMap(host);
        var view = new GuestMemory(4 * Page, map);
        map[1] = GuestPage.Ram(view, 0);
        Assert.Throws<InvalidOperationException>(() => view.TryRead64(new Hpa(Page), out _));
    }

    /// <summary>Reads of page p (1..3) see host page 0, read-only; a write gets page p + 10 of the host, writable from then on.</summary>
    private sealed class CopyOnWrite(PhysicalMemory host) : IGuestPageResolver
    {
        private readonly HashSet<ulong> _copied = new();

        public GuestPage Resolve(ulong page, bool write)
        {
            if (_copied.Contains(page)) return GuestPage.Ram(host, page + 10);
            if (!write) return GuestPage.Ram(host, 0, writable: false);
            _copied.Add(page);
            host.Write(new Hpa((page + 10) * Page), host.ReadPage(0));
            return GuestPage.Ram(host, page + 10);
        }
    }
}

internal static class MemoryTestExtensions
{
    public static byte[] ReadPage(this MachineMemory memory, ulong page)
    {
        var bytes = new byte[MachineMemory.PageSize];
        memory.Read(new Hpa(page * MachineMemory.PageSize), bytes);
        return bytes;
    }
}
