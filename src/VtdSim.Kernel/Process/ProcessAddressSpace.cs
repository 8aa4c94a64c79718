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

/// <summary>
/// One mapping (a VMA): [Start, End), its protection, what backs it, and the size of the pages that map it (4 KiB, or
/// the huge page size of a MAP_HUGETLB mapping).
/// </summary>
public sealed record VirtualMemoryArea(ulong Start, ulong End, MemoryProtection Protection, SharedFile? File, ulong FileOffset, ulong PageSize = ProcessAddressSpace.PageSize)
{
    public ulong Length => End - Start;
    public bool Anonymous => File is null;
    /// <summary>A MAP_HUGETLB mapping (is_vm_hugetlb_page).</summary>
    public bool Hugetlb => PageSize != ProcessAddressSpace.PageSize;
}

/// <summary>
/// A process's virtual address space (Linux's mm_struct): mappings of anonymous private memory (4 KiB pages, or huge
/// pages with MAP_HUGETLB) and of shared files, a page table filled on demand (a page is allocated, or looked up in the
/// page cache, on first touch; a huge page is allocated and mapped whole, by one entry), CPU reads/writes that honour
/// the protection (EFAULT otherwise, as a copy_to/from_user would), and pinning for DMA (pin_user_pages with
/// FOLL_LONGTERM): a pin faults the pages in, fails with EFAULT for a write pin of a mapping without PROT_WRITE, and
/// keeps the folios alive after munmap until they are unpinned.
/// </summary>
public sealed class ProcessAddressSpace
{
    public const ulong PageSize = 4096;
    /// <summary>Where mmap starts looking for room (mmap_base; bottom-up here, for readable addresses).</summary>
    public const ulong MmapBase = 0x1_0000_0000;
    /// <summary>The top of the user address space (TASK_SIZE of 4-level x86-64).</summary>
    public const ulong TaskSize = 0x7FFF_FFFF_F000;
    /// <summary>The huge page size MAP_HUGETLB gets without a MAP_HUGE_* size (default_hugepagesz).</summary>
    public const ulong DefaultHugePageSize = 2UL << 20;

    private const int PageShift = 12;
    private readonly List<VirtualMemoryArea> _vmas = new(); // sorted by Start, never overlapping
    // Virtual page number of the first 4 KiB of a mapped page → its folio: one entry per page, huge or not.
    private readonly Dictionary<ulong, PageFrame> _pageTable = new();
    private readonly List<PinnedRun> _pinScratch = new();

    public ProcessAddressSpace(UserMemory memory, string name)
    {
        Memory = memory;
        Name = name;
    }

    public UserMemory Memory { get; }
    public string Name { get; }
    public IReadOnlyCollection<VirtualMemoryArea> Mappings => _vmas;
    /// <summary>Entries in this process's page table: present pages, a huge page counting once.</summary>
    public int ResidentPages => _pageTable.Count;

    /// <summary>
    /// mmap(MAP_PRIVATE|MAP_ANONYMOUS [|MAP_HUGETLB|MAP_HUGE_*]): zero-filled memory, allocated page by page on first
    /// touch. With MAP_HUGETLB the pages are huge (2 MiB by default, or 1 GiB), the length is rounded up to whole huge
    /// pages, and the address is aligned to one (a fixed address that is not is EINVAL); a huge page size other than
    /// 2 MiB or 1 GiB is EINVAL. Memory running out shows at fault time, as ENOMEM.
    /// </summary>
    public Errno Mmap(ulong length, MemoryProtection protection, out Uva address, Uva? fixedAddress = null, MapFlags flags = MapFlags.None)
    {
        address = default;
        Errno e = PageSizeOf(flags, out ulong pageSize);
        if (e != Errno.Success) return e;
        e = Map(length, protection, null, 0, fixedAddress?.Value, pageSize, out ulong va);
        address = new Uva(va);
        return e;
    }

    /// <summary>
    /// mmap(MAP_SHARED) of a file: every process that maps the same file page maps the same physical page. The file is
    /// tmpfs-like, not on hugetlbfs, so MAP_HUGETLB is EINVAL (as Linux answers for such a file).
    /// </summary>
    public Errno MmapShared(SharedFile file, ulong offset, ulong length, MemoryProtection protection, out Uva address, Uva? fixedAddress = null, MapFlags flags = MapFlags.None)
    {
        address = default;
        Errno e = PageSizeOf(flags, out ulong pageSize);
        if (e != Errno.Success) return e;
        if (pageSize != PageSize || offset % PageSize != 0) return Errno.EINVAL;
        e = Map(length, protection, file, offset, fixedAddress?.Value, PageSize, out ulong va);
        address = new Uva(va);
        return e;
    }

    /// <summary>The page size the flags ask for; flags the model does not know are EINVAL.</summary>
    private static Errno PageSizeOf(MapFlags flags, out ulong pageSize)
    {
        pageSize = PageSize;
        if ((flags & ~(MapFlags.Hugetlb | MapFlags.HugeSizeMask)) != 0) return Errno.EINVAL;
        if ((flags & MapFlags.Hugetlb) == 0) return Errno.Success; // MAP_HUGE_* alone is ignored, as in Linux
        int shift = (int)((uint)(flags & MapFlags.HugeSizeMask) >> 26);
        if (shift == 0) shift = System.Numerics.BitOperations.Log2(DefaultHugePageSize);
        if (shift is not (21 or 30)) return Errno.EINVAL; // no hstate of that size
        pageSize = 1UL << shift;
        return Errno.Success;
    }

    private Errno Map(ulong length, MemoryProtection protection, SharedFile? file, ulong offset, ulong? fixedAddress, ulong pageSize, out ulong address)
    {
        address = 0;
        if (length == 0 || length > TaskSize) return Errno.EINVAL;
        if ((protection & ~MemoryProtection.ReadWrite) != 0) return Errno.EINVAL;
        length = RoundUp(length, pageSize);
        if (length > TaskSize) return Errno.ENOMEM; // whole huge pages no longer fit
        if (fixedAddress is ulong fixedVa)
        {
            // MAP_FIXED_NOREPLACE
            if (fixedVa % pageSize != 0 || fixedVa > TaskSize - length) return Errno.EINVAL;
            if (Overlaps(fixedVa, fixedVa + length)) return Errno.EEXIST;
            address = fixedVa;
        }
        else if (FindRoom(length, pageSize) is ulong room)
        {
            address = room;
        }
        else
        {
            return Errno.ENOMEM;
        }
        _vmas.Insert(FirstEndingAfter(address), new VirtualMemoryArea(address, address + length, protection, file, offset, pageSize));
        return Errno.Success;
    }

    /// <summary>
    /// munmap: removes whatever is mapped in [address, address+length) (splitting mappings), dropping the page-table
    /// references. A hugetlb mapping can only be split at a boundary of its huge pages: a range that would cut one is
    /// EINVAL and changes nothing.
    /// </summary>
    public Errno Munmap(Uva start, ulong length)
    {
        ulong address = start.Value;
        if (address % PageSize != 0 || length == 0 || length > TaskSize || address > TaskSize - RoundUp(length, PageSize)) return Errno.EINVAL;
        ulong end = address + RoundUp(length, PageSize);
        int first = FirstEndingAfter(address);
        for (int i = first; i < _vmas.Count && _vmas[i].Start < end; i++)
        {
            var v = _vmas[i];
            if (v.Hugetlb && ((address > v.Start && address % v.PageSize != 0) || (end < v.End && end % v.PageSize != 0))) return Errno.EINVAL;
        }
        while (first < _vmas.Count && _vmas[first].Start < end)
        {
            var vma = _vmas[first];
            _vmas.RemoveAt(first);
            DropPages(vma, Math.Max(vma.Start, address), Math.Min(vma.End, end));
            if (vma.Start < address) _vmas.Insert(first++, vma with { End = address });
            if (end < vma.End) _vmas.Insert(first++, vma with { Start = end, FileOffset = vma.FileOffset + (end - vma.Start) });
        }
        return Errno.Success;
    }

    /// <summary>Drops the page-table entries of a mapping in [from, to), visiting whichever is fewer: its pages or the present ones.</summary>
    private void DropPages(VirtualMemoryArea vma, ulong from, ulong to)
    {
        if ((to - from) / vma.PageSize <= (ulong)_pageTable.Count)
        {
            for (ulong va = from; va < to; va += vma.PageSize)
            {
                if (_pageTable.Remove(va >> PageShift, out var frame)) Memory.Put(frame);
            }
            return;
        }
        ulong firstVpn = from >> PageShift, endVpn = to >> PageShift;
        foreach (var (vpn, frame) in _pageTable) // removing during enumeration is allowed for Dictionary
        {
            if (vpn < firstVpn || vpn >= endVpn) continue;
            _pageTable.Remove(vpn);
            Memory.Put(frame);
        }
    }

    /// <summary>Unmaps everything (process exit).</summary>
    public void Exit()
    {
        foreach (var frame in _pageTable.Values) Memory.Put(frame);
        _pageTable.Clear();
        _vmas.Clear();
    }

    /// <summary>
    /// A CPU load from user memory (copy_from_user): EFAULT on an unmapped page or one mapped PROT_NONE. A PROT_WRITE-only
    /// page is readable, as on x86, whose page tables cannot express write-only (decision K32).
    /// </summary>
    public Errno Read(Uva start, Span<byte> destination)
    {
        ulong address = start.Value;
        while (!destination.IsEmpty)
        {
            Errno e = Fault(address, write: false, cpu: true, out var frame, out ulong pageStart);
            if (e != Errno.Success) return e;
            ulong offset = address - pageStart;
            int n = (int)Math.Min((ulong)destination.Length, frame!.Size - offset);
            if (!Memory.Machine.TryReadBytes(frame.Address + offset, destination[..n])) return Errno.EFAULT;
            destination = destination[n..];
            address += (ulong)n;
        }
        return Errno.Success;
    }

    /// <summary>A CPU store to user memory (copy_to_user): EFAULT on an unmapped page or one mapped without PROT_WRITE.</summary>
    public Errno Write(Uva start, ReadOnlySpan<byte> source)
    {
        ulong address = start.Value;
        while (!source.IsEmpty)
        {
            Errno e = Fault(address, write: true, cpu: true, out var frame, out ulong pageStart);
            if (e != Errno.Success) return e;
            ulong offset = address - pageStart;
            int n = (int)Math.Min((ulong)source.Length, frame!.Size - offset);
            if (!Memory.Machine.TryWriteBytes(frame.Address + offset, source[..n])) return Errno.EFAULT;
            source = source[n..];
            address += (ulong)n;
        }
        return Errno.Success;
    }

    public Errno Read64(Uva address, out ulong value)
    {
        Span<byte> b = stackalloc byte[8];
        Errno e = Read(address, b);
        value = BitConverter.ToUInt64(b);
        return e;
    }

    public Errno Write64(Uva address, ulong value) => Write(address, BitConverter.GetBytes(value));

    /// <summary>The physical address behind a virtual address if its page is present (what /proc/PID/pagemap tells), else null.</summary>
    public Hpa? Translate(Uva va)
    {
        ulong address = va.Value;
        // The entry that could hold it starts at the address rounded down to 4 KiB, 2 MiB or 1 GiB.
        for (int shift = PageShift; shift <= 30; shift += 9)
        {
            ulong start = address & ~((1UL << shift) - 1);
            if (_pageTable.TryGetValue(start >> PageShift, out var frame) && address - start < frame.Size) return frame.Address + (address - start);
        }
        return null;
    }

    /// <summary>
    /// What a CPU touch of <paramref name="va"/> does to the page table (handle_mm_fault): faults the page in as a load
    /// or, with <paramref name="write"/>, a store would — an anonymous page is allocated zeroed on first touch, a
    /// hugetlb page whole, a shared file's page comes from the page cache — and gives the physical address of the
    /// byte (the machine's own address). EFAULT where the access is not allowed (unmapped, beyond the file, or a store
    /// to a mapping without PROT_WRITE), ENOMEM when no page is left; the page table is then unchanged.
    /// </summary>
    public Errno TryFault(Uva va, bool write, out Hpa address)
    {
        Errno e = Fault(va.Value, write, cpu: true, out var frame, out ulong pageStart);
        address = e == Errno.Success ? frame!.Address + (va.Value - pageStart) : default;
        return e;
    }

    /// <summary>The mapping containing an address, or null.</summary>
    public VirtualMemoryArea? FindMapping(Uva address) => FindMapping(address.Value);

    private VirtualMemoryArea? FindMapping(ulong address)
    {
        int i = FirstEndingAfter(address);
        return i < _vmas.Count && _vmas[i].Start <= address ? _vmas[i] : null;
    }

    /// <summary>
    /// pin_user_pages(FOLL_LONGTERM [| FOLL_WRITE]): faults in and pins whole pages from a page-aligned address, and
    /// returns them as runs, one per folio met (a 1 GiB huge page is one run). Any page that is unmapped, beyond its
    /// file, or (for a write pin) mapped without PROT_WRITE fails the whole call with EFAULT; memory running out while
    /// faulting in is ENOMEM; either way nothing stays pinned.
    /// </summary>
    internal Errno PinPages(Uva start, ulong pages, bool write, out PinnedRun[] runs)
    {
        ulong address = start.Value;
        runs = [];
        if (address % PageSize != 0) throw new ArgumentException("pins start on a page boundary", nameof(address));
        if (pages > (TaskSize - Math.Min(address, TaskSize)) / PageSize) return Errno.EFAULT;
        var pinned = _pinScratch;
        ulong va = address, end = address + pages * PageSize;
        Errno e = Errno.Success;
        while (va < end)
        {
            e = Fault(va, write, cpu: false, out var frame, out ulong pageStart);
            if (e != Errno.Success) break;
            ulong first = (va - pageStart) / PageSize;
            ulong count = Math.Min(frame!.PageCount - first, (end - va) / PageSize);
            if (!Memory.TryPin(frame, count))
            {
                e = Errno.ENOMEM;
                break;
            }
            pinned.Add(new PinnedRun(frame, (uint)first, (uint)count));
            va += count * PageSize;
        }
        if (e == Errno.Success) runs = pinned.ToArray();
        else UnpinPages(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(pinned));
        pinned.Clear();
        return e;
    }

    /// <summary>unpin_user_pages for runs <see cref="PinPages"/> returned.</summary>
    internal void UnpinPages(ReadOnlySpan<PinnedRun> runs)
    {
        foreach (var run in runs) Memory.Unpin(run.Folio, run.PageCount);
    }

    /// <summary>
    /// handle_mm_fault: the folio behind an address and where its page starts, faulting it in; EFAULT where the access is
    /// not allowed. A store needs PROT_WRITE. A load by the CPU (<paramref name="cpu"/>) needs only an accessible
    /// mapping (x86's access_error: PROT_WRITE alone will do); a read pin (get_user_pages without FOLL_FORCE) needs
    /// PROT_READ (check_vma_flags).
    /// </summary>
    private Errno Fault(ulong address, bool write, bool cpu, out PageFrame? frame, out ulong pageStart)
    {
        frame = null;
        pageStart = 0;
        if (FindMapping(address) is not VirtualMemoryArea vma) return Errno.EFAULT;
        MemoryProtection needed = write ? MemoryProtection.Write : cpu ? MemoryProtection.ReadWrite : MemoryProtection.Read;
        if ((vma.Protection & needed) == 0) return Errno.EFAULT;
        pageStart = address & ~(vma.PageSize - 1);
        ulong vpn = pageStart >> PageShift;
        if (_pageTable.TryGetValue(vpn, out frame)) return Errno.Success;
        if (vma.File is SharedFile file)
        {
            frame = file.GetPage((vma.FileOffset + (pageStart - vma.Start)) / PageSize);
            if (frame is null) return Errno.EFAULT; // beyond EOF or deleted: SIGBUS for the CPU, EFAULT for gup
            Memory.Get(frame);
        }
        else
        {
            // A huge page is allocated and mapped whole (hugetlb_no_page); none left is ENOMEM.
            frame = Memory.Allocate(System.Numerics.BitOperations.Log2(vma.PageSize) - PageShift);
            if (frame is null) return Errno.ENOMEM;
        }
        _pageTable.Add(vpn, frame);
        return Errno.Success;
    }

    /// <summary>The index of the first mapping ending above an address (the one containing it, or the next one).</summary>
    private int FirstEndingAfter(ulong address)
    {
        int lo = 0, hi = _vmas.Count;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (_vmas[mid].End > address) hi = mid;
            else lo = mid + 1;
        }
        return lo;
    }

    private bool Overlaps(ulong start, ulong end)
    {
        int i = FirstEndingAfter(start);
        return i < _vmas.Count && _vmas[i].Start < end;
    }

    /// <summary>The lowest address from mmap_base, aligned to the mapping's page size, with room for it.</summary>
    private ulong? FindRoom(ulong length, ulong alignment)
    {
        ulong candidate = RoundUp(MmapBase, alignment);
        foreach (var vma in _vmas)
        {
            if (vma.End <= candidate) continue;
            if (vma.Start >= candidate && vma.Start - candidate >= length) break;
            candidate = RoundUp(vma.End, alignment);
        }
        return candidate <= TaskSize - length ? candidate : null;
    }

    private static ulong RoundUp(ulong length, ulong pageSize) => (length + pageSize - 1) & ~(pageSize - 1);

    public override string ToString() => $"process {Name}";
}
