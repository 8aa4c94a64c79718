using VtdSim.Hardware.Addressing;
using VtdSim.Kernel.Memory;
using VtdSim.Machine;

namespace VtdSim.Kernel.Process;

/// <summary>
/// One 4 KiB page of user memory (Linux's struct page for an anonymous or page-cache page). It is referenced by the
/// page tables that map it and by the page cache that holds it (<see cref="References"/>), and pinned by DMA users
/// (<see cref="PinCount"/>, FOLL_PIN). It goes back to the allocator only when both reach zero, so a page a device may
/// still reach is never reused.
/// </summary>
public sealed class PageFrame
{
    internal PageFrame(Hpa address) => Address = address;

    public Hpa Address { get; }
    /// <summary>Mappings in process page tables plus the page cache's own reference.</summary>
    public int References { get; internal set; }
    /// <summary>Long-term DMA pins (pin_user_pages with FOLL_LONGTERM).</summary>
    public int PinCount { get; internal set; }
    /// <summary>True once the page went back to the allocator (a stale reference to it is a bug).</summary>
    public bool Freed { get; internal set; }

    public override string ToString() => $"page {Address} (refs {References}, pins {PinCount}{(Freed ? ", freed" : "")})";
}

/// <summary>
/// The allocator of user pages: a range of physical memory separate from the kernel's own pages (page tables, PASID
/// tables, queues), so that a DMA reaching a kernel page is always a bug, never a coincidence. Pages come back zeroed;
/// freed pages are reused lowest address first (deterministic runs).
/// </summary>
public sealed class UserMemory
{
    private readonly PageAllocator _allocator;
    private readonly Dictionary<ulong, PageFrame> _live = new();

    public UserMemory(PhysicalMachine machine, Hpa start, ulong length)
    {
        Machine = machine;
        _allocator = new PageAllocator(machine, start, length);
        Start = start;
        Length = length;
    }

    public PhysicalMachine Machine { get; }
    public Hpa Start { get; }
    public ulong Length { get; }
    /// <summary>Pages currently allocated (referenced or pinned).</summary>
    public int PagesInUse => _live.Count;
    /// <summary>Sum of all pin counts.</summary>
    public long TotalPins { get; private set; }

    /// <summary>Raised when a page goes back to the allocator.</summary>
    public event Action<PageFrame>? PageFreed;

    /// <summary>The live page at a physical address, or null (not a user page, or freed).</summary>
    public PageFrame? FrameAt(Hpa address) => _live.GetValueOrDefault(address.Value & ~0xFFFUL);

    public bool Contains(Hpa address) => address.Value >= Start.Value && address.Value - Start.Value < Length;

    /// <summary>A zeroed page with one reference (its first mapping or the page cache), or null when memory is exhausted.</summary>
    internal PageFrame? Allocate()
    {
        if (_allocator.TryAllocate() is not Hpa page) return null;
        var frame = new PageFrame(page) { References = 1 };
        _live.Add(page.Value, frame);
        return frame;
    }

    internal void Get(PageFrame frame)
    {
        CheckLive(frame);
        frame.References++;
    }

    internal void Put(PageFrame frame)
    {
        CheckLive(frame);
        if (frame.References == 0) throw new InvalidOperationException($"dropping a reference {frame} does not have");
        frame.References--;
        FreeIfUnused(frame);
    }

    internal void Pin(PageFrame frame)
    {
        CheckLive(frame);
        frame.PinCount++;
        TotalPins++;
    }

    internal void Unpin(PageFrame frame)
    {
        CheckLive(frame);
        if (frame.PinCount == 0) throw new InvalidOperationException($"unpinning {frame}, which is not pinned");
        frame.PinCount--;
        TotalPins--;
        FreeIfUnused(frame);
    }

    private void FreeIfUnused(PageFrame frame)
    {
        if (frame.References != 0 || frame.PinCount != 0) return;
        frame.Freed = true;
        _live.Remove(frame.Address.Value);
        _allocator.Free(frame.Address);
        PageFreed?.Invoke(frame);
    }

    private static void CheckLive(PageFrame frame)
    {
        if (frame.Freed) throw new InvalidOperationException($"use of {frame} after it was freed");
    }
}
