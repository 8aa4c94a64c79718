using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using VtdSim.Hardware.Addressing;

namespace VtdSim.Hardware.Memory;

/// <summary>
/// A sparse physical address space. A 4 KiB frame exists only once something writes to it; untouched memory reads as
/// zero and costs nothing, so a machine of many TiB costs only what is touched. Accesses at or above <see cref="Size"/>,
/// or inside an injected error range, fail: the Try* methods return false and the walker turns that into the
/// specification's access-error fault.
/// </summary>
public sealed class PhysicalMemory
{
    public const int PageShift = 12;
    public const int PageSize = 1 << PageShift;
    private const int WordsPerPage = PageSize / 8;
    private const int CacheSlots = 1024; // direct-mapped frame lookup in front of the dictionary: walks touch few frames

    private readonly Dictionary<ulong, Frame> _frames = new();
    private FrameCache _cache; // inline in this object: one less indirection, and the JIT drops the slot bounds check
    private readonly List<(ulong Start, ulong End, InjectedErrorKind Kind)> _errors = new();
    private readonly List<Observer> _observers = new();

    // 8-byte reads below this address need no range or error check: Size while no error is injected, else 0 (every
    // read then takes the checked path). Lets the hot read path test one field instead of Size and the error list.
    private ulong _uncheckedReadLimit;

    /// <summary>Creates a memory whose valid addresses are [0, <paramref name="size"/>).</summary>
    public PhysicalMemory(ulong size)
    {
        if (!BitConverter.IsLittleEndian)
            throw new PlatformNotSupportedException("VtdSim models little-endian x86 memory and needs a little-endian host");
        if (size == 0 || (size & (PageSize - 1)) != 0)
            throw new ArgumentOutOfRangeException(nameof(size), size, "memory size must be a non-zero multiple of 4 KiB");
        Size = size;
        _uncheckedReadLimit = size;
    }

    /// <summary>Creates a memory covering a whole physical address width (e.g. 46 bits = 64 TiB).</summary>
    public static PhysicalMemory WithAddressWidth(int bits)
    {
        if (bits is < 13 or > 63) throw new ArgumentOutOfRangeException(nameof(bits), bits, "address width must be 13..63 bits");
        return new PhysicalMemory(1UL << bits);
    }

    /// <summary>One past the highest valid address.</summary>
    public ulong Size { get; }

    /// <summary>How many 4 KiB frames have been materialised by writes.</summary>
    public int MaterializedFrames => _frames.Count;

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

    /// <summary>Calls <paramref name="observer"/> for every write that overlaps [start, start+length). Dispose to stop.</summary>
    public IDisposable ObserveWrites(Hpa start, ulong length, Action<MemoryWrite> observer)
    {
        ArgumentNullException.ThrowIfNull(observer);
        var o = new Observer(this, start.Value, EndOf(start.Value, length), observer);
        _observers.Add(o);
        return o;
    }

    // ---- 8-byte aligned accesses (the walker's and the driver's) ----

    /// <summary>
    /// Reads an aligned 8-byte word; false if the address is beyond <see cref="Size"/> or in an injected error range.
    /// The common case (aligned, no injected errors, frame in the cache) is inlined at the call site: a tag compare and
    /// a load. Everything else goes to <see cref="TryRead64Checked"/>, which does the full checks.
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
        if (a >= Size || (_errors.Count != 0 && HitsError(a, 8, write: false)))
        {
            value = 0;
            return false;
        }
        Frame? frame = FindFrame(a >> PageShift);
        value = frame is null ? 0 : frame.Words[WordIndex(a)];
        return true;
    }

    /// <summary>
    /// Reads entry <paramref name="index"/> (0..511) of the 4 KiB table at <paramref name="table"/>: the walkers' read.
    /// Same result and same checks as <see cref="TryRead64(Hpa, out ulong)"/> at table + 8 * index. The caller keeps,
    /// per place it reads from (a walk level), the frame it found there last time in <paramref name="hint"/>. When the
    /// hint holds the table's page, where the word lives depends only on the hint and the index, not on the table
    /// address the previous entry supplied, so the CPU need not wait for that entry before loading this one (the hint
    /// is checked, and the branch is predicted). Value and success come back together, in registers.
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
        Frame? frame = readable ? FindFrame(pfn) : null;
        if (frame is not null) // absent frames are not remembered: a write may create them
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
        GetOrCreateFrame(a >> PageShift).Words[WordIndex(a)] = value;
        if (_observers.Count != 0) Notify(new MemoryWrite(address, 8, origin));
        return true;
    }

    /// <summary>
    /// A locked read-modify-write: stores <paramref name="desired"/> only if memory still holds
    /// <paramref name="expected"/>. Returns false on an access error; <paramref name="actual"/> is what memory held.
    /// </summary>
    public bool TryCompareExchange64(Hpa address, ulong expected, ulong desired, out ulong actual, WriteOrigin origin)
    {
        ulong a = address.Value;
        if ((a & 7) != 0) ThrowMisaligned(address);
        if (a >= Size || (_errors.Count != 0 && HitsError(a, 8, write: true)))
        {
            actual = 0;
            return false;
        }
        // Compare first: a compare that stores nothing must not materialise a frame of zeros.
        if (!TryRead64(address, out actual) || actual != expected) return true;
        ref ulong slot = ref GetOrCreateFrame(a >> PageShift).Words[WordIndex(a)];
        actual = Interlocked.CompareExchange(ref slot, desired, expected);
        if (actual == expected && _observers.Count != 0) Notify(new MemoryWrite(address, 8, origin));
        return true;
    }

    public ulong Read64(Hpa address) =>
        TryRead64(address, out ulong v) ? v : throw new MemoryAccessException(address, 8, DescribeFailure(address.Value, 8));

    public void Write64(Hpa address, ulong value, WriteOrigin origin = WriteOrigin.Software)
    {
        if (!TryWrite64(address, value, origin)) throw new MemoryAccessException(address, 8, DescribeFailure(address.Value, 8));
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
            Frame? frame = FindFrame(a >> PageShift);
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
            source.Slice(done, chunk).CopyTo(GetOrCreateFrame(a >> PageShift).Bytes.Slice(offset, chunk));
            done += chunk;
            a += (ulong)chunk;
        }
        if (_observers.Count != 0 && source.Length != 0) Notify(new MemoryWrite(address, source.Length, origin));
        return true;
    }

    /// <summary>
    /// Zeroes [address, address+length), failing as a whole like <see cref="TryWrite"/>. Untouched memory already
    /// reads as zero, so only frames that exist in the range are cleared: the cost follows the materialised frames
    /// (at most min(range pages, all frames)), not the length, and a fresh 1 GiB page costs nothing. The frames are
    /// cleared in place rather than dropped, because frame hints and the frame cache rely on a frame never being
    /// replaced. Observers see the zeroing as writes of at most 1 GiB each.
    /// </summary>
    public bool TryZero(Hpa address, ulong length, WriteOrigin origin = WriteOrigin.Software)
    {
        if (!RangeAccessible(address.Value, length, write: true)) return false;
        if (length == 0) return true;
        ulong start = address.Value, end = start + length;
        ulong firstPfn = start >> PageShift, lastPfn = (end - 1) >> PageShift;
        if (lastPfn - firstPfn < (ulong)_frames.Count)
        {
            for (ulong pfn = firstPfn; pfn <= lastPfn; pfn++)
            {
                if (FindFrame(pfn) is Frame frame) ZeroPart(frame, pfn, start, end);
            }
        }
        else
        {
            foreach (var (pfn, frame) in _frames)
            {
                if (pfn >= firstPfn && pfn <= lastPfn) ZeroPart(frame, pfn, start, end);
            }
        }
        if (_observers.Count != 0)
        {
            const ulong chunk = 1UL << 30; // MemoryWrite.Length is an int
            for (ulong at = start; at < end; at += Math.Min(chunk, end - at))
                Notify(new MemoryWrite(new Hpa(at), (int)Math.Min(chunk, end - at), origin));
        }
        return true;
    }

    /// <summary>Clears the part of a frame that lies in [start, end).</summary>
    private static void ZeroPart(Frame frame, ulong pfn, ulong start, ulong end)
    {
        ulong frameStart = pfn << PageShift;
        int from = (int)(Math.Max(start, frameStart) - frameStart);
        int to = (int)(Math.Min(end, frameStart + PageSize) - frameStart);
        frame.Bytes[from..to].Clear();
    }

    public void Read(Hpa address, Span<byte> destination)
    {
        if (!TryRead(address, destination))
            throw new MemoryAccessException(address, destination.Length, DescribeFailure(address.Value, (ulong)destination.Length));
    }

    public void Write(Hpa address, ReadOnlySpan<byte> source, WriteOrigin origin = WriteOrigin.Software)
    {
        if (!TryWrite(address, source, origin))
            throw new MemoryAccessException(address, source.Length, DescribeFailure(address.Value, (ulong)source.Length));
    }

    // ---- internals ----

    /// <summary>
    /// The cache slot of a page frame number: its low bits, XOR-folded with the bits above them. Folding keeps frames
    /// at the same small offset from different large aligned bases (host tables at 1 MiB, guest tables at 4 GiB + 1 MiB)
    /// from sharing a slot and evicting each other on every walk; contiguous frames still get distinct slots.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int SlotOf(ulong pfn) => (int)((pfn ^ (pfn >> 11) ^ (pfn >> 22)) & (CacheSlots - 1));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int WordIndex(ulong address) => (int)(address >> 3) & (WordsPerPage - 1); // mask last: the JIT then drops the bounds check

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private Frame? FindFrame(ulong pfn)
    {
        ref CachedFrame slot = ref _cache[SlotOf(pfn)];
        if (slot.Tag == pfn + 1) return slot.Frame;
        return FindFrameSlow(pfn);
    }

    [MethodImpl(MethodImplOptions.NoInlining)] // keeps the dictionary lookup out of the inlined read path
    private Frame? FindFrameSlow(ulong pfn)
    {
        if (!_frames.TryGetValue(pfn, out Frame? frame)) return null; // absent frames are not cached: a write may create them
        Cache(pfn, frame);
        return frame;
    }

    private Frame GetOrCreateFrame(ulong pfn)
    {
        Frame? frame = FindFrame(pfn);
        if (frame is not null) return frame;
        frame = new Frame();
        _frames.Add(pfn, frame);
        Cache(pfn, frame);
        return frame;
    }

    private void Cache(ulong pfn, Frame frame)
    {
        ref CachedFrame slot = ref _cache[SlotOf(pfn)];
        slot.Tag = pfn + 1;
        slot.Frame = frame;
    }

    private bool RangeAccessible(ulong start, ulong length, bool write)
    {
        if (length == 0) return start <= Size;
        if (start >= Size || length > Size - start) return false;
        return _errors.Count == 0 || !HitsError(start, length, write);
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

    private string DescribeFailure(ulong start, ulong length)
    {
        if (start >= Size || length > Size - start)
            return $"beyond the end of physical memory (size 0x{Size:x})";
        return "the range holds an injected memory error";
    }

    private void Notify(MemoryWrite write)
    {
        ulong s = write.Address.Value, e = s + (ulong)write.Length;
        // Copy: an observer may dispose itself (or add another) while being notified.
        foreach (var o in _observers.ToArray())
        {
            if (s < o.End && o.Start < e) o.Callback(write);
        }
    }

    private static void ThrowMisaligned(Hpa address) =>
        throw new ArgumentException($"8-byte memory access at {address} is not 8-byte aligned", nameof(address));

    /// <summary>
    /// A caller's memo of the frame behind one page (see <see cref="ReadEntry"/>). Tag is the page frame number + 1
    /// (0: empty). It never goes stale: frames are never freed or replaced, and every read still checks the address
    /// range and injected errors. It holds no memory contents, so a walk that uses it still reads every entry.
    /// </summary>
    internal struct FrameHint
    {
        internal ulong Tag;
        internal Frame Frame;
    }

    /// <summary>One materialised 4 KiB frame. Fixed-size words, so an index masked to the page needs no bounds check.</summary>
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

    /// <summary>A cache slot: the frame of page <c>Tag - 1</c>; Tag 0 means empty. Frames are never freed, so no invalidation.</summary>
    private struct CachedFrame
    {
        public ulong Tag;
        public Frame Frame;
    }

    [InlineArray(CacheSlots)]
    private struct FrameCache
    {
        private CachedFrame _slot0;
    }

    private sealed class Observer(PhysicalMemory owner, ulong start, ulong end, Action<MemoryWrite> callback) : IDisposable
    {
        public ulong Start { get; } = start;
        public ulong End { get; } = end;
        public Action<MemoryWrite> Callback { get; } = callback;
        public void Dispose() => owner._observers.Remove(this);
    }
}
