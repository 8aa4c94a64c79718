using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Memory;
using VtdSim.Hardware.Structures;

namespace VtdSim.Hardware.Building;

/// <summary>
/// Builds first-stage tables. Table addresses live in the first stage's own address space: HPAs for first-stage-only,
/// GPAs for nested; <c>allocateTable</c> returns such an address and <c>toHpa</c> says where its bytes are.
/// </summary>
public sealed class FirstStageTableBuilder
{
    private readonly MachineMemory _memory;
    private readonly Func<ulong> _allocateTable;
    private readonly Func<ulong, Hpa> _toHpa;

    public FirstStageTableBuilder(MachineMemory memory, Func<ulong> allocateTable, Func<ulong, Hpa> toHpa, int levels = 4)
    {
        if (levels is not (4 or 5)) throw new ArgumentOutOfRangeException(nameof(levels), levels, "first-stage tables have 4 or 5 levels");
        _memory = memory;
        _allocateTable = allocateTable;
        _toHpa = toHpa;
        Levels = levels;
        Root = allocateTable();
    }

    /// <summary>For first-stage-only tables: table addresses are HPAs from <paramref name="frames"/>.</summary>
    public static FirstStageTableBuilder InHostMemory(FrameAllocator frames, int levels = 4) =>
        new(frames.Memory, () => frames.Allocate().Value, a => new Hpa(a), levels);

    /// <summary>The FSPTPTR value: an HPA or a GPA, depending on how the builder was made.</summary>
    public ulong Root { get; }
    public int Levels { get; }

    public FirstStageTableBuilder Map(Iova va, ulong output, ulong pageSize = 4096, bool writable = true, bool user = true, bool executeDisable = false)
    {
        int leafLevel = SecondStageTableBuilder.PageLevel(pageSize);
        if ((va.Value | output) % pageSize != 0) throw new ArgumentException($"{va} and 0x{output:x} must be aligned to 0x{pageSize:x}");
        Hpa entry = EntryHpa(va, leafLevel);
        _memory.Write64(entry, FirstStageEntry.Page(output, leafLevel, writable, user).WithExecuteDisable(executeDisable).Raw);
        return this;
    }

    /// <summary>The address (in table space) of the entry that maps <paramref name="va"/> at <paramref name="level"/>.</summary>
    public ulong EntryAddress(Iova va, int level) => Walk(va.Value, level, out _);

    /// <summary>The host address of that entry.</summary>
    public Hpa EntryHpa(Iova va, int level)
    {
        Walk(va.Value, level, out Hpa hpa);
        return hpa;
    }

    private ulong Walk(ulong va, int target, out Hpa entryHpa)
    {
        ulong table = Root;
        for (int level = Levels; ; level--)
        {
            ulong entry = table + (((va >> (12 + 9 * (level - 1))) & 0x1FF) << 3);
            entryHpa = _toHpa(entry);
            if (level == target) return entry;
            var e = new FirstStageEntry(_memory.Read64(entryHpa));
            if (!e.Present)
            {
                ulong next = _allocateTable();
                _memory.Write64(entryHpa, FirstStageEntry.Table(next).Raw);
                table = next;
            }
            else
            {
                if (e.PageSize) throw new InvalidOperationException($"{new Iova(va)} is already covered by a large page at level {level}");
                table = e.Address;
            }
        }
    }
}
