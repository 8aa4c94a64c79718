using VtdSim.Hardware.Memory;

namespace VtdSim.Hardware.Tests.Support;

/// <summary>
/// A guest page resolver for tests: by default page g of the view is page g + <see cref="Offset"/> of
/// <see cref="Backing"/> (read-write; none at all without a backing), and any page can be set to something else
/// (another backing page, read-only, or unassigned). Changing a page does not invalidate the view: the test does that,
/// as the owner of a real mapping must.
/// </summary>
public sealed class PageMap(MachineMemory? backing = null, ulong offset = 0) : IGuestPageResolver
{
    private readonly Dictionary<ulong, GuestPage> _pages = new();

    public MachineMemory? Backing { get; } = backing;
    public ulong Offset { get; } = offset;
    /// <summary>How many times the view asked.</summary>
    public int Resolutions { get; private set; }

    public GuestPage this[ulong page]
    {
        get => _pages.TryGetValue(page, out GuestPage p) ? p
            : Backing is null ? GuestPage.Unassigned : GuestPage.Ram(Backing, page + Offset);
        set => _pages[page] = value;
    }

    public GuestPage Resolve(ulong page, bool write)
    {
        Resolutions++;
        return this[page];
    }

    /// <summary>A view of <paramref name="size"/> bytes whose page g is page g + <paramref name="offset"/> of <paramref name="backing"/>.</summary>
    public static GuestMemory Window(MachineMemory backing, ulong size, ulong offset, out PageMap map)
    {
        map = new PageMap(backing, offset);
        return new GuestMemory(size, map);
    }
}
