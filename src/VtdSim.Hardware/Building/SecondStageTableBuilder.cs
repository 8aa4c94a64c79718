using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Structures;

namespace VtdSim.Hardware.Building;

/// <summary>Builds second-stage (or legacy second-level) tables in memory, the way a driver would: GPA → HPA with R/W/X.</summary>
public sealed class SecondStageTableBuilder
{
    private readonly FrameAllocator _frames;

    public SecondStageTableBuilder(FrameAllocator frames, int levels = 4)
    {
        if (levels is < 2 or > 5) throw new ArgumentOutOfRangeException(nameof(levels), levels, "second-stage tables have 2..5 levels");
        _frames = frames;
        Levels = levels;
        Root = frames.Allocate();
    }

    public Hpa Root { get; }
    public int Levels { get; }
    /// <summary>The AW encoding for these tables (levels - 2).</summary>
    public int AddressWidth => Levels - 2;

    /// <summary>Maps one page of <paramref name="pageSize"/> bytes (4 KiB, 2 MiB or 1 GiB). Non-leaf entries grant R/W/X.</summary>
    public SecondStageTableBuilder Map(Gpa gpa, Hpa hpa, ulong pageSize = 4096, bool read = true, bool write = true, bool execute = false)
    {
        int leafLevel = PageLevel(pageSize);
        if ((gpa.Value | hpa.Value) % pageSize != 0) throw new ArgumentException($"{gpa} and {hpa} must be aligned to 0x{pageSize:x}");
        Hpa entry = WalkToLevel(gpa.Value, leafLevel);
        _frames.Memory.Write64(entry, SecondStageEntry.Page(hpa.Value, leafLevel, read, write, execute).Raw);
        return this;
    }

    /// <summary>Maps [gpa, gpa+length) to [hpa, hpa+length) with 4 KiB pages.</summary>
    public SecondStageTableBuilder MapRange(Gpa gpa, Hpa hpa, ulong length, bool read = true, bool write = true, bool execute = false)
    {
        for (ulong off = 0; off < length; off += 4096) Map(gpa + off, hpa + off, 4096, read, write, execute);
        return this;
    }

    /// <summary>The host address of the entry that maps <paramref name="gpa"/> at <paramref name="level"/> (creating tables above it).</summary>
    public Hpa EntryAddress(Gpa gpa, int level) => WalkToLevel(gpa.Value, level);

    private Hpa WalkToLevel(ulong gpa, int target)
    {
        Hpa table = Root;
        for (int level = Levels; ; level--)
        {
            Hpa entry = table + (((gpa >> (12 + 9 * (level - 1))) & 0x1FF) << 3);
            if (level == target) return entry;
            var e = new SecondStageEntry(_frames.Memory.Read64(entry));
            if (!e.Read && !e.Write)
            {
                Hpa next = _frames.Allocate();
                _frames.Memory.Write64(entry, SecondStageEntry.Table(next.Value, true, true, true).Raw);
                table = next;
            }
            else
            {
                if (e.PageSize) throw new InvalidOperationException($"{new Gpa(gpa)} is already covered by a large page at level {level}");
                table = new Hpa(e.Address);
            }
        }
    }

    internal static int PageLevel(ulong pageSize) => pageSize switch
    {
        4096 => 1,
        2UL << 20 => 2,
        1UL << 30 => 3,
        _ => throw new ArgumentException($"page size 0x{pageSize:x} is not 4 KiB, 2 MiB or 1 GiB", nameof(pageSize)),
    };
}
