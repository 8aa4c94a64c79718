namespace VtdSim.Hardware.Memory;

/// <summary>
/// Says what each page of a <see cref="GuestMemory"/> is: in a VMM, guest-physical page → the VMM process's virtual
/// address → a frame of the machine below. Asked on demand, for one page and one access; the view caches the answer
/// until its owner calls <see cref="GuestMemory.Invalidate"/>.
/// </summary>
public interface IGuestPageResolver
{
    /// <summary>
    /// What page <paramref name="page"/> of the view (its address >> 12, below the view's size in pages) is for a read
    /// or, when <paramref name="write"/> is true, a write. An answer with <see cref="GuestPage.Writable"/> set must hold
    /// for writes as well (the view then writes that page without asking again). Answers must not change until the
    /// owner of the mapping invalidates the view.
    /// </summary>
    GuestPage Resolve(ulong page, bool write);
}

/// <summary>
/// What a page of a guest memory is: <see cref="Unassigned"/> (not RAM: accesses fail as beyond the end of memory do),
/// or page <see cref="BackingPage"/> of <see cref="Backing"/>, the memory of the machine below (or another view),
/// writable or read-only (ROM: reads succeed, writes are refused).
/// </summary>
public readonly record struct GuestPage(MachineMemory? Backing, ulong BackingPage, bool Writable)
{
    /// <summary>Not RAM: reads and writes fail.</summary>
    public static GuestPage Unassigned => default;

    /// <summary>Page <paramref name="page"/> of <paramref name="backing"/>, read-write or (ROM) read-only.</summary>
    public static GuestPage Ram(MachineMemory backing, ulong page, bool writable = true)
    {
        ArgumentNullException.ThrowIfNull(backing);
        return new GuestPage(backing, page, writable);
    }

    public bool IsAssigned => Backing is not null;
}
