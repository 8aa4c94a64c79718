namespace VtdSim.Vmm.Memory;

/// <summary>
/// A subscriber to an address space's flat view, as QEMU's MemoryListener: when the view changes, the listener gets
/// the difference between the old and the new view — every section that went away (<see cref="RegionDel"/>, in
/// address order) first, then every section that came (<see cref="RegionAdd"/>, in address order). A section that
/// changed at all (moved, resized, its read-only flag or its offset) is one deletion and one addition. Subscribing
/// replays the current view as additions; unsubscribing deletes every section.
/// </summary>
public interface IMemoryListener
{
    /// <summary>A commit starts (before any deletion or addition of this change).</summary>
    void Begin()
    {
    }

    /// <summary>A section left the view.</summary>
    void RegionDel(in MemorySection section);

    /// <summary>A section entered the view.</summary>
    void RegionAdd(in MemorySection section);

    /// <summary>A commit ends (after the last addition of this change).</summary>
    void Commit()
    {
    }
}
