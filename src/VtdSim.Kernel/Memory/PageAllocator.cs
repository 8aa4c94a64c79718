using VtdSim.Hardware.Addressing;
using VtdSim.Machine;

namespace VtdSim.Kernel.Memory;

/// <summary>
/// The kernel's allocator of 4 KiB physical pages, from the range firmware gave it. Pages come back zeroed; freed
/// pages are reused lowest first, so runs are deterministic.
/// </summary>
public sealed class PageAllocator
{
    private const int PageSize = 4096;
    private static readonly byte[] ZeroPage = new byte[PageSize]; // written into each page handed out; never modified
    private readonly PhysicalMachine _machine;
    private readonly ulong _end;
    private readonly SortedSet<ulong> _free = new();
    private ulong _next;

    public PageAllocator(PhysicalMachine machine, Hpa start, ulong length)
    {
        if ((start.Value & (PageSize - 1)) != 0 || length % PageSize != 0 || length == 0)
            throw new ArgumentException($"the kernel's page range {start}+0x{length:x} must be whole, non-empty 4 KiB pages");
        _machine = machine;
        _next = start.Value;
        _end = start.Value + length;
        Start = start;
    }

    public Hpa Start { get; }
    public int PagesInUse { get; private set; }

    /// <summary>A zeroed page, or null when the range is exhausted (the caller reports ENOMEM).</summary>
    public Hpa? TryAllocate()
    {
        ulong page;
        if (_free.Count != 0)
        {
            page = _free.Min;
            _free.Remove(page);
        }
        else if (_next < _end)
        {
            page = _next;
            _next += PageSize;
        }
        else
        {
            return null;
        }
        if (!_machine.TryWriteBytes(new Hpa(page), ZeroPage))
            throw new InvalidOperationException($"kernel page {new Hpa(page)} is not backed by memory");
        PagesInUse++;
        return new Hpa(page);
    }

    /// <summary>
    /// <paramref name="count"/> physically contiguous zeroed pages (a table larger than a page, such as a PASID
    /// directory), taken from the never-used part of the range; null when it has no room left.
    /// </summary>
    public Hpa? TryAllocateContiguous(int count)
    {
        if (count == 1) return TryAllocate();
        if (count < 1 || (ulong)count * PageSize > _end - _next) return null;
        ulong first = _next;
        for (int i = 0; i < count; i++)
        {
            if (!_machine.TryWriteBytes(new Hpa(_next), ZeroPage))
                throw new InvalidOperationException($"kernel page {new Hpa(_next)} is not backed by memory");
            _next += PageSize;
        }
        PagesInUse += count;
        return new Hpa(first);
    }

    public void Free(Hpa page)
    {
        if (page.Value < Start.Value || page.Value >= _next || (page.Value & (PageSize - 1)) != 0 || !_free.Add(page.Value))
            throw new InvalidOperationException($"freeing {page}, which this allocator did not hand out (or already freed)");
        PagesInUse--;
    }
}
