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
    private const int CacheSlots = 256; // direct-mapped frame lookup in front of the dictionary: walks touch few frames

    private readonly Dictionary<ulong, ulong[]> _frames = new();
    private readonly ulong[] _cacheTags = new ulong[CacheSlots]; // pfn + 1; 0 means empty
    private readonly ulong[][] _cacheFrames = new ulong[CacheSlots][];
    private readonly List<(ulong Start, ulong End, InjectedErrorKind Kind)> _errors = new();
    private readonly List<Observer> _observers = new();

    /// <summary>Creates a memory whose valid addresses are [0, <paramref name="size"/>).</summary>
    public PhysicalMemory(ulong size)
    {
        if (!BitConverter.IsLittleEndian)
            throw new PlatformNotSupportedException("VtdSim models little-endian x86 memory and needs a little-endian host");
        if (size == 0 || (size & (PageSize - 1)) != 0)
            throw new ArgumentOutOfRangeException(nameof(size), size, "memory size must be a non-zero multiple of 4 KiB");
        Size = size;
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
        _errors.Add((start.Value, start.Value + length, kind));
    }

    public void ClearInjectedErrors() => _errors.Clear();

    /// <summary>Calls <paramref name="observer"/> for every write that overlaps [start, start+length). Dispose to stop.</summary>
    public IDisposable ObserveWrites(Hpa start, ulong length, Action<MemoryWrite> observer)
    {
        ArgumentNullException.ThrowIfNull(observer);
        var o = new Observer(this, start.Value, start.Value + length, observer);
        _observers.Add(o);
        return o;
    }

    // ---- 8-byte aligned accesses (the walker's and the driver's) ----

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryRead64(Hpa address, out ulong value)
    {
        ulong a = address.Value;
        if ((a & 7) != 0) ThrowMisaligned(address);
        if (a >= Size || (_errors.Count != 0 && HitsError(a, 8, write: false)))
        {
            value = 0;
            return false;
        }
        ulong[]? frame = FindFrame(a >> PageShift);
        value = frame is null ? 0 : frame[(a & (PageSize - 1)) >> 3];
        return true;
    }

    public bool TryWrite64(Hpa address, ulong value, WriteOrigin origin = WriteOrigin.Software)
    {
        ulong a = address.Value;
        if ((a & 7) != 0) ThrowMisaligned(address);
        if (a >= Size || (_errors.Count != 0 && HitsError(a, 8, write: true))) return false;
        GetOrCreateFrame(a >> PageShift)[(a & (PageSize - 1)) >> 3] = value;
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
        ref ulong slot = ref GetOrCreateFrame(a >> PageShift)[(a & (PageSize - 1)) >> 3];
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
            ulong[]? frame = FindFrame(a >> PageShift);
            if (frame is null) destination.Slice(done, chunk).Clear();
            else MemoryMarshal.AsBytes(frame.AsSpan()).Slice(offset, chunk).CopyTo(destination.Slice(done, chunk));
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
            source.Slice(done, chunk).CopyTo(MemoryMarshal.AsBytes(GetOrCreateFrame(a >> PageShift).AsSpan()).Slice(offset, chunk));
            done += chunk;
            a += (ulong)chunk;
        }
        if (_observers.Count != 0 && source.Length != 0) Notify(new MemoryWrite(address, source.Length, origin));
        return true;
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

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ulong[]? FindFrame(ulong pfn)
    {
        int slot = (int)(pfn & (CacheSlots - 1));
        if (_cacheTags[slot] == pfn + 1) return _cacheFrames[slot];
        return FindFrameSlow(pfn, slot);
    }

    private ulong[]? FindFrameSlow(ulong pfn, int slot)
    {
        if (!_frames.TryGetValue(pfn, out ulong[]? frame)) return null; // absent frames are not cached: a write may create them
        _cacheTags[slot] = pfn + 1;
        _cacheFrames[slot] = frame;
        return frame;
    }

    private ulong[] GetOrCreateFrame(ulong pfn)
    {
        ulong[]? frame = FindFrame(pfn);
        if (frame is not null) return frame;
        frame = new ulong[WordsPerPage];
        _frames.Add(pfn, frame);
        int slot = (int)(pfn & (CacheSlots - 1));
        _cacheTags[slot] = pfn + 1;
        _cacheFrames[slot] = frame;
        return frame;
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

    private sealed class Observer(PhysicalMemory owner, ulong start, ulong end, Action<MemoryWrite> callback) : IDisposable
    {
        public ulong Start { get; } = start;
        public ulong End { get; } = end;
        public Action<MemoryWrite> Callback { get; } = callback;
        public void Dispose() => owner._observers.Remove(this);
    }
}
