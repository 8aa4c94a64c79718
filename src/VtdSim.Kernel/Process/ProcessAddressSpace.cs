using VtdSim.Hardware.Addressing;

namespace VtdSim.Kernel.Process;

/// <summary>PROT_READ / PROT_WRITE of a mapping.</summary>
[Flags]
public enum MemoryProtection
{
    None = 0,
    Read = 1,
    Write = 2,
    ReadWrite = Read | Write,
}

/// <summary>One mapping (a VMA): [Start, End), its protection and what backs it.</summary>
public sealed record VirtualMemoryArea(ulong Start, ulong End, MemoryProtection Protection, SharedFile? File, ulong FileOffset)
{
    public ulong Length => End - Start;
    public bool Anonymous => File is null;
}

/// <summary>
/// A process's virtual address space (Linux's mm_struct): mappings of anonymous private memory and of shared files,
/// a page table filled on demand (a page is allocated, or looked up in the page cache, on first touch), CPU
/// reads/writes that honour the protection (EFAULT otherwise, as a copy_to/from_user would), and pinning for DMA
/// (pin_user_pages with FOLL_LONGTERM): a pin faults the page in, fails with EFAULT for a write pin of a mapping
/// without PROT_WRITE, and keeps the page alive after munmap until it is unpinned.
/// </summary>
public sealed class ProcessAddressSpace
{
    public const ulong PageSize = 4096;
    /// <summary>Where mmap starts looking for room (mmap_base; bottom-up here, for readable addresses).</summary>
    public const ulong MmapBase = 0x1_0000_0000;
    /// <summary>The top of the user address space (TASK_SIZE of 4-level x86-64).</summary>
    public const ulong TaskSize = 0x7FFF_FFFF_F000;

    private readonly SortedDictionary<ulong, VirtualMemoryArea> _vmas = new();
    private readonly Dictionary<ulong, PageFrame> _pageTable = new(); // virtual page number → page

    public ProcessAddressSpace(UserMemory memory, string name)
    {
        Memory = memory;
        Name = name;
    }

    public UserMemory Memory { get; }
    public string Name { get; }
    public IReadOnlyCollection<VirtualMemoryArea> Mappings => _vmas.Values;
    /// <summary>Pages currently present in this process's page table.</summary>
    public int ResidentPages => _pageTable.Count;

    /// <summary>mmap(MAP_PRIVATE|MAP_ANONYMOUS): zero-filled memory, allocated page by page on first touch.</summary>
    public Errno Mmap(ulong length, MemoryProtection protection, out ulong address, ulong? fixedAddress = null) =>
        Map(length, protection, null, 0, fixedAddress, out address);

    /// <summary>mmap(MAP_SHARED) of a file: every process that maps the same file page maps the same physical page.</summary>
    public Errno MmapShared(SharedFile file, ulong offset, ulong length, MemoryProtection protection, out ulong address, ulong? fixedAddress = null)
    {
        address = 0;
        if (offset % PageSize != 0) return Errno.EINVAL;
        return Map(length, protection, file, offset, fixedAddress, out address);
    }

    private Errno Map(ulong length, MemoryProtection protection, SharedFile? file, ulong offset, ulong? fixedAddress, out ulong address)
    {
        address = 0;
        if (length == 0 || length > TaskSize) return Errno.EINVAL;
        if ((protection & ~MemoryProtection.ReadWrite) != 0) return Errno.EINVAL;
        length = RoundUp(length);
        if (fixedAddress is ulong fixedVa)
        {
            // MAP_FIXED_NOREPLACE
            if (fixedVa % PageSize != 0 || fixedVa > TaskSize - length) return Errno.EINVAL;
            if (Overlaps(fixedVa, fixedVa + length)) return Errno.EEXIST;
            address = fixedVa;
        }
        else if (FindRoom(length) is ulong room)
        {
            address = room;
        }
        else
        {
            return Errno.ENOMEM;
        }
        _vmas.Add(address, new VirtualMemoryArea(address, address + length, protection, file, offset));
        return Errno.Success;
    }

    /// <summary>munmap: removes whatever is mapped in [address, address+length) (splitting mappings), dropping the page-table references.</summary>
    public Errno Munmap(ulong address, ulong length)
    {
        if (address % PageSize != 0 || length == 0 || length > TaskSize || address > TaskSize - RoundUp(length)) return Errno.EINVAL;
        ulong end = address + RoundUp(length);
        foreach (var vma in _vmas.Values.Where(v => v.Start < end && address < v.End).ToList())
        {
            _vmas.Remove(vma.Start);
            if (vma.Start < address) _vmas.Add(vma.Start, vma with { End = address });
            if (end < vma.End) _vmas.Add(end, vma with { Start = end, FileOffset = vma.FileOffset + (end - vma.Start) });
            for (ulong va = Math.Max(vma.Start, address); va < Math.Min(vma.End, end); va += PageSize)
            {
                if (_pageTable.Remove(va / PageSize, out var frame)) Memory.Put(frame);
            }
        }
        return Errno.Success;
    }

    /// <summary>Unmaps everything (process exit).</summary>
    public void Exit()
    {
        foreach (var frame in _pageTable.Values) Memory.Put(frame);
        _pageTable.Clear();
        _vmas.Clear();
    }

    /// <summary>A CPU load from user memory (copy_from_user): EFAULT on an unmapped or unreadable page.</summary>
    public Errno Read(ulong address, Span<byte> destination)
    {
        while (!destination.IsEmpty)
        {
            Errno e = Fault(address, write: false, out var frame);
            if (e != Errno.Success) return e;
            int n = BytesInPage(address, destination.Length);
            if (!Memory.Machine.TryReadBytes(frame!.Address + address % PageSize, destination[..n])) return Errno.EFAULT;
            destination = destination[n..];
            address += (ulong)n;
        }
        return Errno.Success;
    }

    /// <summary>A CPU store to user memory (copy_to_user): EFAULT on an unmapped page or one mapped without PROT_WRITE.</summary>
    public Errno Write(ulong address, ReadOnlySpan<byte> source)
    {
        while (!source.IsEmpty)
        {
            Errno e = Fault(address, write: true, out var frame);
            if (e != Errno.Success) return e;
            int n = BytesInPage(address, source.Length);
            if (!Memory.Machine.TryWriteBytes(frame!.Address + address % PageSize, source[..n])) return Errno.EFAULT;
            source = source[n..];
            address += (ulong)n;
        }
        return Errno.Success;
    }

    public Errno Read64(ulong address, out ulong value)
    {
        Span<byte> b = stackalloc byte[8];
        Errno e = Read(address, b);
        value = BitConverter.ToUInt64(b);
        return e;
    }

    public Errno Write64(ulong address, ulong value) => Write(address, BitConverter.GetBytes(value));

    /// <summary>The physical page behind a virtual address if it is present (what /proc/PID/pagemap tells), else null.</summary>
    public Hpa? Translate(ulong address) =>
        _pageTable.TryGetValue(address / PageSize, out var frame) ? frame.Address + address % PageSize : null;

    /// <summary>The mapping containing an address, or null.</summary>
    public VirtualMemoryArea? FindMapping(ulong address)
    {
        foreach (var vma in _vmas.Values)
        {
            if (vma.Start > address) break;
            if (address < vma.End) return vma;
        }
        return null;
    }

    /// <summary>
    /// pin_user_pages(FOLL_LONGTERM [| FOLL_WRITE]): faults in and pins whole pages from a page-aligned address. Any
    /// page that is unmapped, beyond its file, or (for a write pin) mapped without PROT_WRITE fails the whole call with
    /// EFAULT, and nothing stays pinned.
    /// </summary>
    internal Errno PinPages(ulong address, ulong pages, bool write, out PageFrame[] frames)
    {
        frames = [];
        if (address % PageSize != 0) throw new ArgumentException("pins start on a page boundary", nameof(address));
        if (pages > (TaskSize - Math.Min(address, TaskSize)) / PageSize) return Errno.EFAULT;
        var pinned = new PageFrame[pages];
        for (ulong i = 0; i < pages; i++)
        {
            Errno e = Fault(address + i * PageSize, write, out var frame);
            if (e != Errno.Success)
            {
                for (ulong j = 0; j < i; j++) Memory.Unpin(pinned[j]);
                return e;
            }
            Memory.Pin(frame!);
            pinned[i] = frame!;
        }
        frames = pinned;
        return Errno.Success;
    }

    internal void UnpinPages(IEnumerable<PageFrame> frames)
    {
        foreach (var frame in frames) Memory.Unpin(frame);
    }

    /// <summary>handle_mm_fault: the page behind an address, faulting it in; EFAULT where the access is not allowed.</summary>
    private Errno Fault(ulong address, bool write, out PageFrame? frame)
    {
        frame = null;
        if (FindMapping(address) is not VirtualMemoryArea vma) return Errno.EFAULT;
        if (write ? (vma.Protection & MemoryProtection.Write) == 0 : (vma.Protection & MemoryProtection.Read) == 0) return Errno.EFAULT;
        ulong vpn = address / PageSize;
        if (_pageTable.TryGetValue(vpn, out frame)) return Errno.Success;
        if (vma.File is SharedFile file)
        {
            frame = file.GetPage((vma.FileOffset + (address - vma.Start)) / PageSize);
            if (frame is null) return Errno.EFAULT; // beyond EOF or deleted: SIGBUS for the CPU, EFAULT for gup
            Memory.Get(frame);
        }
        else
        {
            frame = Memory.Allocate();
            if (frame is null) return Errno.ENOMEM;
        }
        _pageTable.Add(vpn, frame);
        return Errno.Success;
    }

    private bool Overlaps(ulong start, ulong end) => _vmas.Values.Any(v => v.Start < end && start < v.End);

    private ulong? FindRoom(ulong length)
    {
        ulong candidate = MmapBase;
        foreach (var vma in _vmas.Values)
        {
            if (vma.End <= candidate) continue;
            if (vma.Start >= candidate && vma.Start - candidate >= length) break;
            candidate = vma.End;
        }
        return candidate <= TaskSize - length ? candidate : null;
    }

    private static ulong RoundUp(ulong length) => (length + PageSize - 1) & ~(PageSize - 1);
    private static int BytesInPage(ulong address, int remaining) => (int)Math.Min((ulong)remaining, PageSize - address % PageSize);

    public override string ToString() => $"process {Name}";
}
