using VtdSim.Hardware.Addressing;

namespace VtdSim.Kernel.Memory;

/// <summary>
/// A buddy allocator of naturally aligned blocks of 2^order 4 KiB pages (order 0 = 4 KiB, 9 = 2 MiB, 18 = 1 GiB) over
/// one physical range, as Linux's page allocator hands out compound pages. It only keeps addresses; the caller zeroes.
/// A request takes the lowest-addressed free block that can hold it (whatever that block's order) and splits it, so
/// runs are deterministic and small allocations stay at the bottom, leaving large blocks above them whole; a freed
/// block merges with its free buddy, so freed memory serves any size again (docs/decisions.md, K14).
/// </summary>
public sealed class BuddyAllocator
{
    public const int PageShift = 12;
    /// <summary>The largest block: 1 GiB, the largest huge page.</summary>
    public const int MaxOrder = 18;

    private readonly SortedSet<ulong>[] _free = new SortedSet<ulong>[MaxOrder + 1];
    private readonly Dictionary<ulong, int> _allocated = new(); // block address → order
    private readonly ulong _start, _end;

    public BuddyAllocator(Hpa start, ulong length)
    {
        const ulong page = 1UL << PageShift;
        if ((start.Value & (page - 1)) != 0 || length % page != 0 || length == 0 || length > ulong.MaxValue - start.Value)
            throw new ArgumentException($"the page range {start}+0x{length:x} must be whole, non-empty 4 KiB pages");
        for (int i = 0; i <= MaxOrder; i++) _free[i] = new SortedSet<ulong>();
        _start = start.Value;
        _end = start.Value + length;
        // Cut the range into the largest aligned blocks that fit.
        for (ulong at = _start; at < _end;)
        {
            int order = MaxOrder;
            while (order > 0 && ((at & (BlockSize(order) - 1)) != 0 || BlockSize(order) > _end - at)) order--;
            _free[order].Add(at);
            at += BlockSize(order);
        }
    }

    /// <summary>Bytes currently handed out.</summary>
    public ulong BytesInUse { get; private set; }
    /// <summary>Blocks currently handed out.</summary>
    public int BlocksInUse => _allocated.Count;

    public static ulong BlockSize(int order) => 1UL << (PageShift + order);

    /// <summary>A block of 2^order pages, aligned to its size; null when no free block is large enough.</summary>
    public Hpa? TryAllocate(int order)
    {
        if (order is < 0 or > MaxOrder) throw new ArgumentOutOfRangeException(nameof(order), order, $"orders are 0..{MaxOrder}");
        int from = -1;
        ulong lowest = ulong.MaxValue;
        for (int o = order; o <= MaxOrder; o++)
        {
            if (_free[o].Count != 0 && _free[o].Min < lowest)
            {
                lowest = _free[o].Min;
                from = o;
            }
        }
        if (from < 0) return null;
        _free[from].Remove(lowest);
        // Split: keep the lower half, free the upper one, down to the asked order.
        while (from > order)
        {
            from--;
            _free[from].Add(lowest + BlockSize(from));
        }
        _allocated.Add(lowest, order);
        BytesInUse += BlockSize(order);
        return new Hpa(lowest);
    }

    /// <summary>Gives a block back, merging it with its buddy while the buddy is free.</summary>
    public void Free(Hpa block, int order)
    {
        ulong at = block.Value;
        if (!_allocated.TryGetValue(at, out int allocatedOrder) || allocatedOrder != order)
            throw new InvalidOperationException($"freeing {block} (order {order}), which this allocator did not hand out as such (or already freed)");
        _allocated.Remove(at);
        BytesInUse -= BlockSize(order);
        while (order < MaxOrder)
        {
            ulong buddy = at ^ BlockSize(order);
            // The buddy is free as a whole block of this order only if it is on this order's list.
            if (buddy < _start || buddy >= _end || !_free[order].Remove(buddy)) break;
            at = Math.Min(at, buddy);
            order++;
        }
        _free[order].Add(at);
    }
}
