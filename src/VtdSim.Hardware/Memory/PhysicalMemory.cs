namespace VtdSim.Hardware.Memory;

/// <summary>
/// A machine's own sparse physical memory: the bottom of every stack of views. A 4 KiB frame exists only once
/// something writes to it; untouched memory reads as zero and costs nothing, so a machine of many TiB costs only what is
/// touched. Accesses at or above <see cref="MachineMemory.Size"/>, or inside an injected error range, fail: the Try*
/// methods return false and the walker turns that into the specification's access-error fault.
/// </summary>
public sealed class PhysicalMemory : MachineMemory
{
    // Pages per chunk of the frame index: 1 GiB, the largest folio a kernel allocates (and zeroes) at once.
    private const int ChunkShift = 30 - PageShift;
    private readonly Dictionary<ulong, Frame> _frames = new();
    // The frames again, by 1 GiB chunk of the address space (frames are never removed): zeroing a range much larger
    // than the materialised frames visits the chunks it covers that hold any, not every frame of the memory.
    private readonly Dictionary<ulong, List<(ulong Pfn, Frame Frame)>> _chunks = new();

    /// <summary>Creates a memory whose valid addresses are [0, <paramref name="size"/>).</summary>
    public PhysicalMemory(ulong size) : base(size, pagesMayRefuse: false)
    {
    }

    /// <summary>Creates a memory covering a whole physical address width (e.g. 46 bits = 64 TiB).</summary>
    public static PhysicalMemory WithAddressWidth(int bits)
    {
        if (bits is < 13 or > 63) throw new ArgumentOutOfRangeException(nameof(bits), bits, "address width must be 13..63 bits");
        return new PhysicalMemory(1UL << bits);
    }

    /// <summary>How many 4 KiB frames have been materialised by writes (through this memory or any view onto it).</summary>
    public override int MaterializedFrames => _frames.Count;

    private protected override bool TryFindFrameSlow(ulong pfn, out Frame? frame, out bool writable)
    {
        writable = true;
        if (!_frames.TryGetValue(pfn, out frame)) return true; // absent frames are not cached: a write may create them
        Cache(pfn, frame);
        return true;
    }

    private protected override Frame? GetOrCreateFrameSlow(ulong pfn)
    {
        if (!_frames.TryGetValue(pfn, out Frame? frame))
        {
            frame = new Frame();
            _frames.Add(pfn, frame);
            if (!_chunks.TryGetValue(pfn >> ChunkShift, out var chunk)) _chunks.Add(pfn >> ChunkShift, chunk = []);
            chunk.Add((pfn, frame));
        }
        Cache(pfn, frame);
        return frame;
    }

    private protected override void ZeroExistingFrames(ulong start, ulong end)
    {
        ulong firstPfn = start >> PageShift, lastPfn = (end - 1) >> PageShift;
        if (lastPfn - firstPfn < (ulong)_frames.Count)
        {
            // Fewer pages than frames: look each page up.
            for (ulong pfn = firstPfn; pfn <= lastPfn; pfn++)
            {
                if (TryFindFrame(pfn, out Frame? frame) && frame is not null) ZeroPart(frame, pfn, start, end);
            }
            return;
        }
        // Otherwise visit the frames of the chunks the range covers: by chunk number when the range spans fewer chunks
        // than hold frames, else every chunk that holds any.
        ulong firstChunk = firstPfn >> ChunkShift, lastChunk = lastPfn >> ChunkShift;
        if (lastChunk - firstChunk < (ulong)_chunks.Count)
        {
            for (ulong c = firstChunk; ; c++)
            {
                if (_chunks.TryGetValue(c, out var chunk)) ZeroChunk(chunk, firstPfn, lastPfn, start, end);
                if (c == lastChunk) return;
            }
        }
        foreach (var (c, chunk) in _chunks)
        {
            if (c >= firstChunk && c <= lastChunk) ZeroChunk(chunk, firstPfn, lastPfn, start, end);
        }
    }

    private static void ZeroChunk(List<(ulong Pfn, Frame Frame)> chunk, ulong firstPfn, ulong lastPfn, ulong start, ulong end)
    {
        foreach (var (pfn, frame) in chunk)
        {
            if (pfn >= firstPfn && pfn <= lastPfn) ZeroPart(frame, pfn, start, end);
        }
    }
}
