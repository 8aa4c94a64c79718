using System.Runtime.CompilerServices;
using VtdSim.Hardware.Addressing;

namespace VtdSim.Hardware.Memory;

/// <summary>
/// A guest machine's physical memory: not a memory of its own but a view whose every page is a page of the memory
/// below it, resolved on demand by an <see cref="IGuestPageResolver"/> (in a VMM: guest-physical page → the VMM's
/// virtual address → a frame of the machine below). One byte, one truth: the view reads and writes the very frames of
/// the <see cref="PhysicalMemory"/> at the bottom, so a write through any level is the same bytes at every level, and a
/// view over a view (L2 over L1 over the host) ends in the host's frames too.
/// <para>
/// A page the resolver calls unassigned is not RAM: reads and writes of it fail as beyond the end of memory does (the
/// walker reports its access-error fault). A read-only page (ROM) refuses writes. Resolved frames are cached; when the
/// mapping changes, its owner calls <see cref="Invalidate"/>, which drops them and advances
/// <see cref="MachineMemory.Generation"/> (views over this one are invalidated with it). Injected errors belong to the
/// memory they are injected into (decisions M5). Writes through the view are reported to its observers at the view's
/// address and to the observers of the memory below at that memory's address, recursively, with the same origin.
/// </para>
/// </summary>
public sealed class GuestMemory : MachineMemory
{
    private const int ReadOnlySlots = 64;

    private readonly IGuestPageResolver _resolver;
    private readonly List<MachineMemory> _backings = new(); // every memory a page resolved to, each registered once
    private MachineMemory? _lastBacking;
    private ReadOnlyFrameCache _readOnly; // frames of read-only pages: the main cache holds only pages that take writes
    private int _materialized;

    /// <summary>A view of <paramref name="size"/> bytes (a non-zero multiple of 4 KiB) whose pages <paramref name="resolver"/> resolves.</summary>
    public GuestMemory(ulong size, IGuestPageResolver resolver) : base(size, pagesMayRefuse: true)
    {
        ArgumentNullException.ThrowIfNull(resolver);
        _resolver = resolver;
    }

    /// <summary>How many frames of the memory at the bottom writes through this view have materialised.</summary>
    public override int MaterializedFrames => _materialized;

    /// <summary>
    /// The mapping of pages [<paramref name="firstPage"/>, +<paramref name="pageCount"/>) changed (remapped, unmapped,
    /// a BAR moved): the view forgets the frames it resolved, advances <see cref="MachineMemory.Generation"/> so
    /// that nobody keeps using a frame the page no longer stands for, and does the same to every view over it. The whole
    /// cache is dropped (a remap is rare; the next accesses resolve again).
    /// </summary>
    public void Invalidate(ulong firstPage, ulong pageCount)
    {
        if (pageCount == 0) return;
        InvalidateAll();
    }

    internal void InvalidateAll()
    {
        ClearFrameCache();
        _readOnly = default;
        _generation++;
        ForEachDependent(static v => v.InvalidateAll());
    }

    internal override bool RestsOn(MachineMemory memory)
    {
        if (ReferenceEquals(memory, this)) return true;
        foreach (var b in _backings)
        {
            if (b.RestsOn(memory)) return true;
        }
        return false;
    }

    /// <summary>The resolver's answer, with a page beyond the backing's end counted as not RAM.</summary>
    private GuestPage Resolve(ulong page, bool write)
    {
        GuestPage p = _resolver.Resolve(page, write);
        MachineMemory? backing = p.Backing;
        if (backing is null || p.BackingPage >= backing.Size >> PageShift) return GuestPage.Unassigned;
        if (!ReferenceEquals(backing, _lastBacking)) Register(backing);
        return p;
    }

    private void Register(MachineMemory backing)
    {
        _lastBacking = backing;
        foreach (var b in _backings)
        {
            if (ReferenceEquals(b, backing)) return;
        }
        if (backing.RestsOn(this))
            throw new InvalidOperationException("a guest memory's page cannot be a page of the memory itself or of a view over it");
        _backings.Add(backing);
        backing.AddDependent(this);
    }

    private protected override bool TryFindFrameSlow(ulong pfn, out Frame? frame, out bool writable)
    {
        ref CachedFrame ro = ref _readOnly[(int)(pfn & (ReadOnlySlots - 1))];
        if (ro.Tag == pfn + 1)
        {
            frame = ro.Frame;
            writable = false;
            return true;
        }
        GuestPage p = Resolve(pfn, write: false);
        if (p.Backing is null || !p.Backing.TryFindFrame(p.BackingPage, out frame, out bool backingWritable))
        {
            frame = null;
            writable = false;
            return false;
        }
        writable = p.Writable && backingWritable;
        if (frame is not null) // a frame not yet written is not cached: a write may create it
        {
            if (writable)
            {
                Cache(pfn, frame);
            }
            else
            {
                ro.Tag = pfn + 1;
                ro.Frame = frame;
            }
        }
        return true;
    }

    private protected override Frame? GetOrCreateFrameSlow(ulong pfn)
    {
        GuestPage p = Resolve(pfn, write: true);
        if (p.Backing is null || !p.Writable) return null;
        int before = p.Backing.MaterializedFrames;
        Frame? frame = p.Backing.GetOrCreateFrame(p.BackingPage);
        if (frame is null) return null;
        if (p.Backing.MaterializedFrames != before) _materialized++;
        ref CachedFrame ro = ref _readOnly[(int)(pfn & (ReadOnlySlots - 1))];
        if (ro.Tag == pfn + 1 && !ReferenceEquals(ro.Frame, frame))
            InvalidateAll(); // the page read from one frame and writes to another (copy on write): it changed
        Cache(pfn, frame);
        return frame;
    }

    private protected override bool PagesAccessible(ulong firstPfn, ulong lastPfn, bool write)
    {
        for (ulong pfn = firstPfn; ; pfn++)
        {
            if (write)
            {
                if (!AcceptsWriteHere(pfn)) return false;
            }
            else if (!TryFindFrame(pfn, out _))
            {
                return false;
            }
            if (pfn == lastPfn) return true;
        }
    }

    private bool AcceptsWriteHere(ulong pfn)
    {
        if (_cache[SlotOf(pfn)].Tag == pfn + 1) return true;
        GuestPage p = Resolve(pfn, write: true);
        return p.Backing is not null && p.Writable && p.Backing.AcceptsWrite(p.BackingPage);
    }

    private protected override void ZeroExistingFrames(ulong start, ulong end)
    {
        for (ulong pfn = start >> PageShift, last = (end - 1) >> PageShift; ; pfn++)
        {
            if (TryFindFrame(pfn, out Frame? frame) && frame is not null) ZeroPart(frame, pfn, start, end);
            if (pfn == last) return;
        }
    }

    /// <summary>Reports a write made through this view to the memories below, at their addresses, page run by page run.</summary>
    private protected override void NotifyBelow(in MemoryWrite write)
    {
        ulong s = write.Address.Value, e = s + (ulong)write.Length;
        MachineMemory? runMemory = null;
        ulong runStart = 0, runEnd = 0;
        for (ulong at = s; at < e;)
        {
            ulong pageEnd = Math.Min(e, ((at >> PageShift) + 1) << PageShift);
            GuestPage p = Resolve(at >> PageShift, write: true);
            if (p.Backing is not null)
            {
                ulong below = (p.BackingPage << PageShift) | (at & (PageSize - 1));
                if (ReferenceEquals(p.Backing, runMemory) && below == runEnd)
                {
                    runEnd += pageEnd - at;
                }
                else
                {
                    NotifyRun(runMemory, runStart, runEnd, write.Origin);
                    (runMemory, runStart, runEnd) = (p.Backing, below, below + (pageEnd - at));
                }
            }
            at = pageEnd;
        }
        NotifyRun(runMemory, runStart, runEnd, write.Origin);
    }

    private static void NotifyRun(MachineMemory? memory, ulong start, ulong end, WriteOrigin origin)
    {
        if (memory is not null && memory.Watched) memory.Notify(new MemoryWrite(new Hpa(start), (int)(end - start), origin));
    }

    private protected override string? DescribePageFailure(ulong start, ulong length, bool write)
    {
        for (ulong pfn = start >> PageShift, last = (start + length - 1) >> PageShift; ; pfn++)
        {
            GuestPage p = Resolve(pfn, write);
            if (p.Backing is null) return $"page 0x{pfn << PageShift:x} is not RAM";
            if (write && !p.Writable) return $"page 0x{pfn << PageShift:x} is read-only";
            if (!PagesAccessible(pfn, pfn, write)) return $"page 0x{pfn << PageShift:x} is refused by the memory below";
            if (pfn == last) return null;
        }
    }

    [InlineArray(ReadOnlySlots)]
    private struct ReadOnlyFrameCache
    {
        private CachedFrame _slot0;
    }
}
