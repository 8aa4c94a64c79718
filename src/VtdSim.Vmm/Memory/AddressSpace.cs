namespace VtdSim.Vmm.Memory;

/// <summary>
/// An address space (QEMU's AddressSpace): a name, a root region, and the flat view rendered from it. Listeners
/// registered here hear every change of the view.
/// </summary>
public sealed class AddressSpace
{
    private readonly List<IMemoryListener> listeners = [];
    private List<MemorySection> view = [];

    internal AddressSpace(MemorySystem system, string name, MemoryRegion root)
    {
        System = system;
        Name = name;
        Root = root;
    }

    public MemorySystem System { get; }

    public string Name { get; }

    public MemoryRegion Root { get; }

    /// <summary>The region the flat view is rendered from (QEMU skips down through a lone full-size alias or subregion), or none.</summary>
    public MemoryRegion? FlatViewRoot => FlatViewRenderer.FlatViewRoot(Root);

    /// <summary>The current flat view: sections in address order, none overlapping.</summary>
    public IReadOnlyList<MemorySection> Sections => view;

    /// <summary>The section that holds <paramref name="address"/>, if any.</summary>
    public MemorySection? Find(ulong address)
    {
        int lo = 0, hi = view.Count - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            MemorySection s = view[mid];
            if (address < s.Start) hi = mid - 1;
            else if ((UInt128)address >= s.Start + s.Size) lo = mid + 1;
            else return s;
        }
        return null;
    }

    /// <summary>Subscribes <paramref name="listener"/>; it gets the current view as additions at once (as QEMU's memory_listener_register).</summary>
    /// <summary>
    /// What a read of an address that no device answers returns: 0 in a memory address space (QEMU's unassigned memory
    /// ops), all ones in a port I/O space (its unassigned I/O ops, what a read of an empty ISA port gives).
    /// </summary>
    public ulong UnassignedRead => IsPortIo ? ulong.MaxValue : 0;

    /// <summary>Whether this is a port I/O address space (root "io"), whose unassigned reads are all ones.</summary>
    public bool IsPortIo { get; init; }

    /// <summary>
    /// A load of <paramref name="size"/> (1, 2, 4 or 8) bytes at <paramref name="address"/> when it reaches a device:
    /// false when the section there is memory (RAM, ROM, a RAM device or a ROM device in ROMD mode: the caller reads the
    /// memory behind it). Otherwise true, with the device's answer, or <see cref="UnassignedRead"/> (masked to the size)
    /// where no region lies, the region emulates nothing, or the device refuses the access (decision V20).
    /// </summary>
    public bool TryReadDevice(ulong address, int size, out ulong value)
    {
        CheckAccessSize(size);
        MemorySection? section = Find(address);
        if (section is { } s && s.IsMemory)
        {
            value = 0;
            return false;
        }
        if (section is { Region.Ops: { } ops } io && ops.TryRead(io.OffsetInRegion + (address - io.Start), size, out value))
            return true;
        value = size == 8 ? UnassignedRead : UnassignedRead & ((1UL << (size * 8)) - 1);
        return true;
    }

    /// <summary>
    /// A store that reaches a device: false when the section at <paramref name="address"/> is memory (the caller writes
    /// it); otherwise true, the store given to the device, or dropped where nothing answers it (decision V20).
    /// </summary>
    public bool TryWriteDevice(ulong address, int size, ulong value)
    {
        CheckAccessSize(size);
        MemorySection? section = Find(address);
        if (section is { } s && s.IsMemory) return false;
        if (section is { Region.Ops: { } ops } io) ops.TryWrite(io.OffsetInRegion + (address - io.Start), size, value);
        return true;
    }

    private static void CheckAccessSize(int size)
    {
        if (size is not (1 or 2 or 4 or 8)) throw new ArgumentException($"an access of {size} bytes: accesses are 1, 2, 4 or 8 bytes");
    }

    public void AddListener(IMemoryListener listener)
    {
        ArgumentNullException.ThrowIfNull(listener);
        if (listeners.Contains(listener)) return;
        listeners.Add(listener);
        listener.Begin();
        foreach (MemorySection s in view) listener.RegionAdd(s);
        listener.Commit();
    }

    /// <summary>Unsubscribes <paramref name="listener"/>; it gets every current section as a deletion (memory_listener_unregister).</summary>
    public void RemoveListener(IMemoryListener listener)
    {
        if (!listeners.Remove(listener)) return;
        listener.Begin();
        foreach (MemorySection s in view) listener.RegionDel(s);
        listener.Commit();
    }

    public override string ToString() => Name;

    internal void Update(List<MemorySection> next)
    {
        List<MemorySection> old = view;
        view = next;
        if (listeners.Count == 0 || ReferenceEquals(old, next)) return;
        foreach (IMemoryListener listener in listeners)
        {
            listener.Begin();
            Diff(old, next, listener, adding: false);
            Diff(old, next, listener, adding: true);
            listener.Commit();
        }
    }

    /// <summary>
    /// QEMU's two passes over the old and the new view in address order: the first sends the deletions, the second
    /// the additions; a section present in both, unchanged, is neither.
    /// </summary>
    private static void Diff(List<MemorySection> old, List<MemorySection> next, IMemoryListener listener, bool adding)
    {
        int i = 0, j = 0;
        while (i < old.Count || j < next.Count)
        {
            bool hasOld = i < old.Count, hasNew = j < next.Count;
            if (hasOld && (!hasNew || old[i].Start < next[j].Start || (old[i].Start == next[j].Start && old[i] != next[j])))
            {
                if (!adding) listener.RegionDel(old[i]);
                i++;
            }
            else if (hasOld && old[i] == next[j])
            {
                i++;
                j++;
            }
            else
            {
                if (adding) listener.RegionAdd(next[j]);
                j++;
            }
        }
    }
}
