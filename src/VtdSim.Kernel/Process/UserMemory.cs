using VtdSim.Hardware.Addressing;
using VtdSim.Kernel.Memory;
using VtdSim.Machine;

namespace VtdSim.Kernel.Process;

/// <summary>
/// One folio of user memory (Linux's struct folio): 2^<see cref="Order"/> physically contiguous 4 KiB pages, naturally
/// aligned — a single page for anonymous and page-cache memory, 2 MiB or 1 GiB for hugetlb. As in Linux, references and
/// pins are counted on the folio as a whole: it is referenced by the page-table entries that map it and by the page
/// cache that holds it (<see cref="References"/>), and pinned by DMA users (<see cref="PinCount"/>, FOLL_PIN: one per
/// pinned 4 KiB page). It goes back to the allocator only when both reach zero, so memory a device may still reach is
/// never reused.
/// </summary>
public sealed class PageFrame
{
    public const ulong PageSize = 4096;

    internal PageFrame(Hpa address, int order)
    {
        Address = address;
        Order = order;
    }

    public Hpa Address { get; }
    /// <summary>log2 of the number of 4 KiB pages: 0 (4 KiB), 9 (2 MiB), 18 (1 GiB).</summary>
    public int Order { get; }
    public ulong PageCount => 1UL << Order;
    public ulong Size => PageSize << Order;
    /// <summary>Mappings in process page tables plus the page cache's own reference.</summary>
    public int References { get; internal set; }
    /// <summary>Long-term DMA pins (pin_user_pages with FOLL_LONGTERM), one per pinned 4 KiB page of the folio.</summary>
    public int PinCount { get; internal set; }
    /// <summary>True once the folio went back to the allocator (a stale reference to it is a bug).</summary>
    public bool Freed { get; internal set; }

    /// <summary>Whether a physical address lies in this folio.</summary>
    public bool Contains(Hpa address) => address.Value >= Address.Value && address.Value - Address.Value < Size;

    public override string ToString() =>
        $"{(Order == 0 ? "page" : $"folio of order {Order}")} {Address} (refs {References}, pins {PinCount}{(Freed ? ", freed" : "")})";
}

/// <summary>
/// The allocator of user memory: a range of physical memory separate from the kernel's own pages (page tables, PASID
/// tables, queues), so that a DMA reaching a kernel page is always a bug, never a coincidence. Folios of any order come
/// from one buddy allocator, lowest address first (deterministic runs), and come back zeroed; zeroing pays only for
/// memory that was ever written, so a fresh 1 GiB folio costs nothing.
/// </summary>
public sealed class UserMemory
{
    private readonly BuddyAllocator _allocator;
    private readonly Dictionary<ulong, PageFrame> _live = new(); // folio address → folio
    private readonly int[] _liveByOrder = new int[BuddyAllocator.MaxOrder + 1];

    public UserMemory(PhysicalMachine machine, Hpa start, ulong length)
    {
        Machine = machine;
        _allocator = new BuddyAllocator(start, length);
        Start = start;
        Length = length;
    }

    public PhysicalMachine Machine { get; }
    public Hpa Start { get; }
    public ulong Length { get; }
    /// <summary>Folios currently allocated (referenced or pinned); a huge page counts once.</summary>
    public int PagesInUse => _live.Count;
    /// <summary>Bytes of the folios currently allocated.</summary>
    public ulong BytesInUse => _allocator.BytesInUse;
    /// <summary>Sum of all pin counts (pinned 4 KiB pages, counted once per pin).</summary>
    public long TotalPins { get; private set; }

    /// <summary>Raised when a folio goes back to the allocator.</summary>
    public event Action<PageFrame>? PageFreed;

    /// <summary>The live folio holding a physical address, or null (not user memory, or freed).</summary>
    public PageFrame? FrameAt(Hpa address)
    {
        for (int order = 0; order <= BuddyAllocator.MaxOrder; order++)
        {
            if (_liveByOrder[order] == 0) continue;
            ulong head = address.Value & ~(BuddyAllocator.BlockSize(order) - 1);
            if (_live.TryGetValue(head, out var folio) && folio.Order == order) return folio;
        }
        return null;
    }

    public bool Contains(Hpa address) => address.Value >= Start.Value && address.Value - Start.Value < Length;

    /// <summary>A zeroed folio of 2^order pages with one reference (its first mapping or the page cache), or null when no free block is large enough.</summary>
    internal PageFrame? Allocate(int order = 0)
    {
        if (_allocator.TryAllocate(order) is not Hpa head) return null;
        if (!Machine.TryZeroBytes(head, BuddyAllocator.BlockSize(order)))
            throw new InvalidOperationException($"user memory at {head} (order {order}) is not backed by RAM");
        var frame = new PageFrame(head, order) { References = 1 };
        _live.Add(head.Value, frame);
        _liveByOrder[order]++;
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

    /// <summary>Adds pins for <paramref name="pages"/> 4 KiB pages of a folio; false if the count would overflow (ENOMEM for the caller, as Linux's try_grab_folio).</summary>
    internal bool TryPin(PageFrame frame, ulong pages)
    {
        CheckLive(frame);
        if (pages > (ulong)(int.MaxValue - frame.PinCount)) return false;
        frame.PinCount += (int)pages;
        TotalPins += (long)pages;
        return true;
    }

    internal void Unpin(PageFrame frame, ulong pages)
    {
        CheckLive(frame);
        if (pages > (ulong)frame.PinCount) throw new InvalidOperationException($"unpinning {pages} pages of {frame}, which has fewer pins");
        frame.PinCount -= (int)pages;
        TotalPins -= (long)pages;
        FreeIfUnused(frame);
    }

    private void FreeIfUnused(PageFrame frame)
    {
        if (frame.References != 0 || frame.PinCount != 0) return;
        frame.Freed = true;
        _live.Remove(frame.Address.Value);
        _liveByOrder[frame.Order]--;
        _allocator.Free(frame.Address, frame.Order);
        PageFreed?.Invoke(frame);
    }

    private static void CheckLive(PageFrame frame)
    {
        if (frame.Freed) throw new InvalidOperationException($"use of {frame} after it was freed");
    }
}
