using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using VtdSim.Hardware.Addressing;

namespace VtdSim.Hardware.Memory;

/// <summary>
/// The physical memory of a machine as the code running on that machine sees it: [0, <see cref="Size"/>), read and
/// written in 8-byte words and byte spans, with write observers and injected errors for test benches. Addresses are
/// this machine's own physical addresses (<see cref="Hpa"/>: "physical address of the machine I run on").
/// <para>
/// Two kinds exist. <see cref="PhysicalMemory"/> is the bottom: a sparse store of 4 KiB frames. <see cref="GuestMemory"/>
/// is a view: each of its pages is a page of another memory (resolved on demand through an
/// <see cref="IGuestPageResolver"/>), so a write through any level is the same bytes at every level. Accesses that
/// cannot complete (beyond <see cref="Size"/>, an injected error, a page that is not RAM, a write to a read-only page)
/// fail: the Try* methods return false and the walker turns that into the specification's access-error fault.
/// </para>
/// <para>
/// The hot paths (<see cref="TryRead64"/>, <see cref="ReadEntry"/> on a cache hit) are the same non-virtual code for
/// every kind: a tag compare and a load in this class's inline frame cache, which holds only frames the memory may
/// read and write. Only the slow paths (a cache miss, frame creation, a page check) are virtual.
/// </para>
/// </summary>
public abstract class MachineMemory
{
    public const int PageShift = 12;
    public const int PageSize = 1 << PageShift;
    private protected const int WordsPerPage = PageSize / 8;
    private protected const int CacheSlots = 1024; // direct-mapped frame lookup: walks touch few frames

    // Frames of pages this memory may read and write, by page number. A host never invalidates it (its frames are
    // never freed or replaced); a view clears it when its mapping changes. Inline in this object: one less
    // indirection, and the JIT drops the slot bounds check.
    private protected FrameCache _cache;
    private readonly List<(ulong Start, ulong End, InjectedErrorKind Kind)> _errors = new();
    private readonly List<Observer> _observers = new();

    // Observers on this memory plus those on the memories below it that its pages resolved to (a view's backings): a
    // write notifies only when this is not zero, so nobody pays for observation unless someone observes.
    private int _watchers;
    // Views whose pages resolved to this memory: they are told when this memory's own mapping changes (a view over a
    // view caches the frames at the bottom) and when observers come and go below them. Weak: a view that is no longer
    // used must not be kept alive by the memory under it.
    private List<WeakReference<GuestMemory>>? _dependents;

    // 8-byte reads below this address need no range or error check: Size while no error is injected, else 0 (every
    // read then takes the checked path). Lets the hot read path test one field instead of Size and the error list.
    private ulong _uncheckedReadLimit;
    // True for a memory whose pages may refuse an access (a view: unassigned or read-only pages): range checks then ask
    // the pages too. False for a host, whose range checks stay what they were.
    private readonly bool _pagesMayRefuse;
    private protected long _generation;

    private protected MachineMemory(ulong size, bool pagesMayRefuse)
    {
        if (!BitConverter.IsLittleEndian)
            throw new PlatformNotSupportedException("VtdSim models little-endian x86 memory and needs a little-endian host");
        if (size == 0 || (size & (PageSize - 1)) != 0)
            throw new ArgumentOutOfRangeException(nameof(size), size, "memory size must be a non-zero multiple of 4 KiB");
        Size = size;
        _uncheckedReadLimit = size;
        _pagesMayRefuse = pagesMayRefuse;
    }

    /// <summary>One past the highest valid address.</summary>
    public ulong Size { get; }

    /// <summary>
    /// How many 4 KiB frames writes through this memory have materialised (at the bottom, in the host's store). A frame
    /// exists only once something writes to it; untouched memory reads as zero and costs nothing.
    /// </summary>
    public abstract int MaterializedFrames { get; }

    /// <summary>
    /// Changes whenever a page of this memory may have come to stand for other bytes (a view's mapping changed).
    /// Whoever keeps frames of this memory across accesses (a translation engine's frame hints) compares it and drops
    /// them when it changed. A host's never changes.
    /// </summary>
    public long Generation => _generation;

    /// <summary>Makes accesses to [start, start+length) fail, as a test bench's memory fault.</summary>
    public void InjectError(Hpa start, ulong length, InjectedErrorKind kind = InjectedErrorKind.ReadsAndWrites)
    {
        if (length == 0) throw new ArgumentOutOfRangeException(nameof(length), "an error range must not be empty");
        _errors.Add((start.Value, EndOf(start.Value, length), kind));
        _uncheckedReadLimit = 0;
    }

    /// <summary>The exclusive end of [start, start+length), saturating at the top of the address space instead of wrapping.</summary>
    private static ulong EndOf(ulong start, ulong length) => length > ulong.MaxValue - start ? ulong.MaxValue : start + length;

    public void ClearInjectedErrors()
    {
        _errors.Clear();
        _uncheckedReadLimit = Size;
    }

    /// <summary>
    /// Calls <paramref name="observer"/> for every write that overlaps [start, start+length), whether it is made through
    /// this memory or through a view whose page is this memory's page (the observer then sees this memory's address).
    /// Dispose to stop.
    /// </summary>
    public IDisposable ObserveWrites(Hpa start, ulong length, Action<MemoryWrite> observer)
    {
        ArgumentNullException.ThrowIfNull(observer);
        var o = new Observer(this, start.Value, EndOf(start.Value, length), observer);
        _observers.Add(o);
        AddWatchers(1);
        return o;
    }

    // ---- 8-byte aligned accesses (the walker's and the driver's) ----

    /// <summary>
    /// Reads an aligned 8-byte word; false if the address is beyond <see cref="Size"/>, in an injected error range, or in
    /// a page that is not RAM. The common case (aligned, no injected errors, frame in the cache) is inlined at the call
    /// site: a tag compare and a load. Everything else goes to <see cref="TryRead64Checked"/>, which does the full checks.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryRead64(Hpa address, out ulong value)
    {
        ulong a = address.Value;
        if ((a & 7) == 0 && a < _uncheckedReadLimit)
        {
            ulong pfn = a >> PageShift;
            ref CachedFrame slot = ref _cache[SlotOf(pfn)];
            if (slot.Tag == pfn + 1)
            {
                value = slot.Frame.Words[WordIndex(a)];
                return true;
            }
        }
        return TryRead64Checked(address, out value);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool TryRead64Checked(Hpa address, out ulong value)
    {
        ulong a = address.Value;
        if ((a & 7) != 0) ThrowMisaligned(address);
        if (a >= Size || (_errors.Count != 0 && HitsError(a, 8, write: false)) || !TryFindFrame(a >> PageShift, out Frame? frame))
        {
            value = 0;
            return false;
        }
        value = frame is null ? 0 : frame.Words[WordIndex(a)];
        return true;
    }

    /// <summary>
    /// Reads entry <paramref name="index"/> (0..511) of the 4 KiB table at <paramref name="table"/>: the walkers' read.
    /// Same result and same checks as <see cref="TryRead64(Hpa, out ulong)"/> at table + 8 * index. The caller keeps,
    /// per place it reads from (a walk level), the frame it found there last time in <paramref name="hint"/>. When the
    /// hint holds the table's page, where the word lives depends only on the hint and the index, not on the table
    /// address the previous entry supplied, so the CPU need not wait for that entry before loading this one (the hint
    /// is checked, and the branch is predicted). Value and success come back together, in registers. The caller must
    /// drop its hints when <see cref="Generation"/> changes.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal EntryRead ReadEntry(ulong table, int index, ref FrameHint hint)
    {
        if ((table & (PageSize - 1)) == 0 && table < _uncheckedReadLimit && hint.Tag == (table >> PageShift) + 1)
            return new EntryRead(hint.Frame.Words[index], true);
        return ReadEntryAndHint(new Hpa(table + ((ulong)index << 3)), ref hint);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private EntryRead ReadEntryAndHint(Hpa address, ref FrameHint hint)
    {
        bool readable = TryRead64(address, out ulong value);
        ulong pfn = address.Value >> PageShift;
        if (readable && TryFindFrame(pfn, out Frame? frame) && frame is not null) // absent frames are not remembered: a write may create them
        {
            hint.Tag = pfn + 1;
            hint.Frame = frame;
        }
        return new EntryRead(value, readable);
    }

    /// <summary>The result of <see cref="ReadEntry"/>: the entry, and false if it could not be read (then Value is 0).</summary>
    internal readonly record struct EntryRead(ulong Value, bool Readable);

    public bool TryWrite64(Hpa address, ulong value, WriteOrigin origin = WriteOrigin.Software)
    {
        ulong a = address.Value;
        if ((a & 7) != 0) ThrowMisaligned(address);
        if (a >= Size || (_errors.Count != 0 && HitsError(a, 8, write: true))) return false;
        Frame? frame = GetOrCreateFrame(a >> PageShift);
        if (frame is null) return false; // a page that refuses writes
        frame.Words[WordIndex(a)] = value;
        if (_watchers != 0) Notify(new MemoryWrite(address, 8, origin));
        return true;
    }

    /// <summary>
    /// A locked read-modify-write: stores <paramref name="desired"/> only if memory still holds
    /// <paramref name="expected"/>. Returns false on an access error (a page that refuses writes refuses the locked
    /// access whatever it holds); <paramref name="actual"/> is what memory held.
    /// </summary>
    public bool TryCompareExchange64(Hpa address, ulong expected, ulong desired, out ulong actual, WriteOrigin origin)
    {
        ulong a = address.Value;
        if ((a & 7) != 0) ThrowMisaligned(address);
        if (a >= Size || (_errors.Count != 0 && HitsError(a, 8, write: true))
            || (_pagesMayRefuse && !PagesAccessible(a >> PageShift, a >> PageShift, write: true)))
        {
            actual = 0;
            return false;
        }
        // Compare first: a compare that stores nothing must not materialise a frame of zeros.
        if (!TryRead64(address, out actual) || actual != expected) return true;
        Frame? frame = GetOrCreateFrame(a >> PageShift);
        if (frame is null)
        {
            actual = 0;
            return false;
        }
        actual = Interlocked.CompareExchange(ref frame.Words[WordIndex(a)], desired, expected);
        if (actual == expected && _watchers != 0) Notify(new MemoryWrite(address, 8, origin));
        return true;
    }

    public ulong Read64(Hpa address) =>
        TryRead64(address, out ulong v) ? v : throw new MemoryAccessException(address, 8, DescribeFailure(address.Value, 8, write: false));

    public void Write64(Hpa address, ulong value, WriteOrigin origin = WriteOrigin.Software)
    {
        if (!TryWrite64(address, value, origin)) throw new MemoryAccessException(address, 8, DescribeFailure(address.Value, 8, write: true));
    }

    // ---- byte spans (DMA data, bulk loads, dumps) ----

    /// <summary>Reads bytes at any alignment. Fails as a whole, reading nothing, if any byte is inaccessible.</summary>
    public bool TryRead(Hpa address, Span<byte> destination)
    {
        if (!RangeAccessible(address.Value, (ulong)destination.Length, write: false)) return false;
        ulong a = address.Value;
        int done = 0;
        while (done < destination.Length)
        {
            int offset = (int)(a & (PageSize - 1));
            int chunk = Math.Min(PageSize - offset, destination.Length - done);
            if (!TryFindFrame(a >> PageShift, out Frame? frame)) return false; // only if a view's pages changed under it
            if (frame is null) destination.Slice(done, chunk).Clear();
            else frame.Bytes.Slice(offset, chunk).CopyTo(destination.Slice(done, chunk));
            done += chunk;
            a += (ulong)chunk;
        }
        return true;
    }

    /// <summary>Writes bytes at any alignment. Fails as a whole, writing nothing, if any byte is inaccessible.</summary>
    public bool TryWrite(Hpa address, ReadOnlySpan<byte> source, WriteOrigin origin = WriteOrigin.Software)
    {
        if (!RangeAccessible(address.Value, (ulong)source.Length, write: true)) return false;
        ulong a = address.Value;
        int done = 0;
        while (done < source.Length)
        {
            int offset = (int)(a & (PageSize - 1));
            int chunk = Math.Min(PageSize - offset, source.Length - done);
            Frame? frame = GetOrCreateFrame(a >> PageShift);
            if (frame is null) return false; // only if a view's pages changed under it
            source.Slice(done, chunk).CopyTo(frame.Bytes.Slice(offset, chunk));
            done += chunk;
            a += (ulong)chunk;
        }
        if (_watchers != 0 && source.Length != 0) Notify(new MemoryWrite(address, source.Length, origin));
        return true;
    }

    /// <summary>
    /// Zeroes [address, address+length), failing as a whole like <see cref="TryWrite"/>. Untouched memory already
    /// reads as zero, so only frames that exist in the range are cleared: on a host the cost follows the materialised
    /// frames (at most min(range pages, all frames)), not the length, and a fresh 1 GiB page costs nothing. The frames
    /// are cleared in place rather than dropped, because frame hints and the frame cache rely on a frame never being
    /// replaced. Observers see the zeroing as writes of at most 1 GiB each.
    /// </summary>
    public bool TryZero(Hpa address, ulong length, WriteOrigin origin = WriteOrigin.Software)
    {
        if (!RangeAccessible(address.Value, length, write: true)) return false;
        if (length == 0) return true;
        ulong start = address.Value, end = start + length;
        ZeroExistingFrames(start, end);
        if (_watchers != 0)
        {
            const ulong chunk = 1UL << 30; // MemoryWrite.Length is an int
            for (ulong at = start; at < end; at += Math.Min(chunk, end - at))
                Notify(new MemoryWrite(new Hpa(at), (int)Math.Min(chunk, end - at), origin));
        }
        return true;
    }

    /// <summary>Clears the part of a frame that lies in [start, end); <paramref name="pfn"/> is the page the frame stands for.</summary>
    private protected static void ZeroPart(Frame frame, ulong pfn, ulong start, ulong end)
    {
        ulong frameStart = pfn << PageShift;
        int from = (int)(Math.Max(start, frameStart) - frameStart);
        int to = (int)(Math.Min(end, frameStart + PageSize) - frameStart);
        frame.Bytes[from..to].Clear();
    }

    public void Read(Hpa address, Span<byte> destination)
    {
        if (!TryRead(address, destination))
            throw new MemoryAccessException(address, destination.Length, DescribeFailure(address.Value, (ulong)destination.Length, write: false));
    }

    public void Write(Hpa address, ReadOnlySpan<byte> source, WriteOrigin origin = WriteOrigin.Software)
    {
        if (!TryWrite(address, source, origin))
            throw new MemoryAccessException(address, source.Length, DescribeFailure(address.Value, (ulong)source.Length, write: true));
    }

    // ---- what a kind of memory supplies (slow paths only) ----

    /// <summary>
    /// The frame of page <paramref name="pfn"/> (below Size) on a frame-cache miss, for reading. False if the page is
    /// not readable (a view's unassigned page). <paramref name="frame"/> is null for a readable page that no write has
    /// materialised (it reads as zero); <paramref name="writable"/> says whether a write to the page would go to that
    /// frame. An implementation caches a frame in <see cref="_cache"/> only if the page is writable.
    /// </summary>
    private protected abstract bool TryFindFrameSlow(ulong pfn, out Frame? frame, out bool writable);

    /// <summary>The frame of page <paramref name="pfn"/> (below Size) for writing, materialised if needed; null if the page refuses writes.</summary>
    private protected abstract Frame? GetOrCreateFrameSlow(ulong pfn);

    /// <summary>
    /// Whether every page in [firstPfn, lastPfn] accepts the access, without materialising anything. Only called when
    /// the memory was created with pagesMayRefuse.
    /// </summary>
    private protected virtual bool PagesAccessible(ulong firstPfn, ulong lastPfn, bool write) => true;

    /// <summary>Clears the existing frames' bytes in [start, end) (already checked).</summary>
    private protected abstract void ZeroExistingFrames(ulong start, ulong end);

    /// <summary>Passes a write made through this memory on to the memories its pages belong to (a view's backings).</summary>
    private protected virtual void NotifyBelow(in MemoryWrite write) { }

    /// <summary>Why an access this memory's pages refused failed, or null if they did not refuse it.</summary>
    private protected virtual string? DescribePageFailure(ulong start, ulong length, bool write) => null;

    // ---- internals ----

    /// <summary>
    /// The cache slot of a page frame number: its low bits, XOR-folded with the bits above them. Folding keeps frames
    /// at the same small offset from different large aligned bases (host tables at 1 MiB, guest tables at 4 GiB + 1 MiB)
    /// from sharing a slot and evicting each other on every walk; contiguous frames still get distinct slots.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private protected static int SlotOf(ulong pfn) => (int)((pfn ^ (pfn >> 11) ^ (pfn >> 22)) & (CacheSlots - 1));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int WordIndex(ulong address) => (int)(address >> 3) & (WordsPerPage - 1); // mask last: the JIT then drops the bounds check

    /// <summary>
    /// The frame of a page below Size for reading: false if the page is not readable, else the frame (null: never
    /// written, reads as zero). Views call it on the memory below them.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool TryFindFrame(ulong pfn, out Frame? frame)
    {
        ref CachedFrame slot = ref _cache[SlotOf(pfn)];
        if (slot.Tag == pfn + 1)
        {
            frame = slot.Frame;
            return true;
        }
        return TryFindFrameSlow(pfn, out frame, out _);
    }

    /// <summary>As <see cref="TryFindFrame(ulong, out Frame?)"/>, also saying whether a write would go to that frame.</summary>
    internal bool TryFindFrame(ulong pfn, out Frame? frame, out bool writable)
    {
        ref CachedFrame slot = ref _cache[SlotOf(pfn)];
        if (slot.Tag == pfn + 1)
        {
            frame = slot.Frame;
            writable = true;
            return true;
        }
        return TryFindFrameSlow(pfn, out frame, out writable);
    }

    /// <summary>The frame of a page below Size for writing, materialised if needed; null if the page refuses writes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal Frame? GetOrCreateFrame(ulong pfn)
    {
        ref CachedFrame slot = ref _cache[SlotOf(pfn)];
        if (slot.Tag == pfn + 1) return slot.Frame;
        return GetOrCreateFrameSlow(pfn);
    }

    /// <summary>Whether a write to page <paramref name="pfn"/> (below Size) would be accepted, materialising nothing.</summary>
    internal bool AcceptsWrite(ulong pfn)
    {
        if (_cache[SlotOf(pfn)].Tag == pfn + 1) return true;
        return !_pagesMayRefuse || PagesAccessible(pfn, pfn, write: true);
    }

    private protected void Cache(ulong pfn, Frame frame)
    {
        ref CachedFrame slot = ref _cache[SlotOf(pfn)];
        slot.Tag = pfn + 1;
        slot.Frame = frame;
    }

    /// <summary>Forgets every cached frame (a view whose mapping changed).</summary>
    private protected void ClearFrameCache() => _cache = default;

    private bool RangeAccessible(ulong start, ulong length, bool write)
    {
        if (length == 0) return start <= Size;
        if (start >= Size || length > Size - start) return false;
        if (_errors.Count != 0 && HitsError(start, length, write)) return false;
        return !_pagesMayRefuse || PagesAccessible(start >> PageShift, (start + length - 1) >> PageShift, write);
    }

    private bool HitsError(ulong start, ulong length, bool write)
    {
        ulong end = start + length;
        foreach (var (s, e, kind) in _errors)
        {
            if (start < e && s < end && (write || kind == InjectedErrorKind.ReadsAndWrites)) return true;
        }
        return false;
    }

    private string DescribeFailure(ulong start, ulong length, bool write)
    {
        if (start >= Size || length > Size - start)
            return $"beyond the end of physical memory (size 0x{Size:x})";
        if (_errors.Count != 0 && HitsError(start, length, write))
            return "the range holds an injected memory error";
        return DescribePageFailure(start, length, write) ?? "the memory refused the access";
    }

    /// <summary>Tells this memory's observers, then the memories below it, about a write made through this memory.</summary>
    internal void Notify(in MemoryWrite write)
    {
        if (_observers.Count != 0)
        {
            ulong s = write.Address.Value, e = s + (ulong)write.Length;
            // Copy: an observer may dispose itself (or add another) while being notified.
            foreach (var o in _observers.ToArray())
            {
                if (s < o.End && o.Start < e) o.Callback(write);
            }
        }
        NotifyBelow(in write);
    }

    /// <summary>Whether anyone observes writes to this memory or to the memories below it.</summary>
    internal bool Watched => _watchers != 0;

    /// <summary>A view's page resolved to this memory: the view now hears of this memory's mapping changes and observers.</summary>
    internal void AddDependent(GuestMemory view)
    {
        _dependents ??= new();
        _dependents.RemoveAll(static w => !w.TryGetTarget(out _));
        _dependents.Add(new WeakReference<GuestMemory>(view));
        view.AddWatchers(_watchers);
    }

    /// <summary>Whether <paramref name="memory"/> is this memory or lies below it (a view's backing, recursively).</summary>
    internal virtual bool RestsOn(MachineMemory memory) => ReferenceEquals(memory, this);

    private protected void ForEachDependent(Action<GuestMemory> action)
    {
        if (_dependents is null) return;
        foreach (var w in _dependents.ToArray())
        {
            if (w.TryGetTarget(out GuestMemory? view)) action(view);
        }
    }

    internal void AddWatchers(int count)
    {
        if (count == 0) return;
        _watchers += count;
        ForEachDependent(v => v.AddWatchers(count));
    }

    private static void ThrowMisaligned(Hpa address) =>
        throw new ArgumentException($"8-byte memory access at {address} is not 8-byte aligned", nameof(address));

    /// <summary>
    /// A caller's memo of the frame behind one page (see <see cref="ReadEntry"/>). Tag is the page frame number + 1
    /// (0: empty). It holds no memory contents, so a walk that uses it still reads every entry, and every read still
    /// checks the address range and injected errors. On a host it never goes stale (frames are never freed or
    /// replaced); a view's page may come to stand for another frame, which <see cref="Generation"/> announces.
    /// </summary>
    internal struct FrameHint
    {
        internal ulong Tag;
        internal Frame Frame;
    }

    /// <summary>
    /// One materialised 4 KiB frame, owned by the <see cref="PhysicalMemory"/> at the bottom; views hand out the very
    /// same objects. Fixed-size words, so an index masked to the page needs no bounds check.
    /// </summary>
    internal sealed class Frame
    {
        public FrameWords Words;
        public Span<byte> Bytes => MemoryMarshal.AsBytes((Span<ulong>)Words);
    }

    [InlineArray(WordsPerPage)]
    internal struct FrameWords
    {
        private ulong _word0;
    }

    /// <summary>A cache slot: the frame of page <c>Tag - 1</c>; Tag 0 means empty.</summary>
    private protected struct CachedFrame
    {
        public ulong Tag;
        public Frame Frame;
    }

    [InlineArray(CacheSlots)]
    private protected struct FrameCache
    {
        private CachedFrame _slot0;
    }

    private sealed class Observer(MachineMemory owner, ulong start, ulong end, Action<MemoryWrite> callback) : IDisposable
    {
        private bool _disposed;
        public ulong Start { get; } = start;
        public ulong End { get; } = end;
        public Action<MemoryWrite> Callback { get; } = callback;

        public void Dispose()
        {
            if (_disposed) return;
            _disposed = true;
            owner._observers.Remove(this);
            owner.AddWatchers(-1);
        }
    }
}
