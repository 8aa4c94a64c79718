using System.Text;
using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Building;
using VtdSim.Hardware.Caches;
using VtdSim.Hardware.Memory;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Structures;
using VtdSim.Hardware.Translation;

namespace VtdSim.Hardware.Tests.Properties;

/// <summary>
/// A sequence of random choices read one at a time. Every helper maps 0 to the ordinary choice (a valid entry, full
/// rights, no rare event), so when CsCheck shrinks the values toward 0 a failing case shrinks toward plain tables.
/// Once the values run out every further choice is 0.
/// </summary>
internal sealed class Tape(ulong[] values)
{
    private int _next;

    public ulong Next() => _next < values.Length ? values[_next++] : 0;
    public int Pick(int n) => (int)(Next() % (ulong)n);
    /// <summary>True with the given percent probability (0 reads as false).</summary>
    public bool Rare(int percent) => Next() % 100 >= (ulong)(100 - percent);
    public ulong Below(ulong limit) => Next() % limit;
    public bool Coin() => (Next() & 1) != 0;
}

/// <summary>
/// One generated world: a machine with random tables, the context the reference walker gets, and a sequence of
/// requests sent one after the other against the same image without a reset, so the unit's caches (if the scenario's
/// unit has them) answer the later ones.
/// </summary>
internal sealed class Scenario
{
    public required VtdProfile Profile { get; init; }
    public required MachineMemory Memory { get; init; }
    public required VtdUnit Unit { get; init; }
    public required ReferenceContext Context { get; init; }
    public required IReadOnlyList<(DmaRequest Request, ReferenceRequest Reference)> Requests { get; init; }
    /// <summary>Which requests the engine runs with a trace (the memo in front of the caches is skipped then).</summary>
    public required IReadOnlyList<bool> Traced { get; init; }
    /// <summary>"uncached", "cached" (the profile's caches) or "tiny" (caches of one or two entries: constant eviction).</summary>
    public required string Caching { get; init; }

    public override string ToString()
    {
        var c = Context;
        var sb = new StringBuilder();
        sb.Append($"profile {Profile.Name} ({Caching}), mode {c.Mode}");
        if (c.Mode != ReferenceMode.FirstStageOnly) sb.Append($", SS root 0x{c.SecondStageRoot:x} AW={c.SecondStageAddressWidth} SSADE={c.SecondStageAccessedDirty} SSEE={c.SecondStageExecuteEnable}");
        if (c.Mode is ReferenceMode.FirstStageOnly or ReferenceMode.Nested)
            sb.Append($", FS root 0x{c.FirstStageRoot:x} {c.FirstStageLevels}-level SRE={c.SupervisorRequestEnable} ERE={c.ExecuteRequestEnable} WPE={c.WriteProtectEnable} EAFE={c.ExtendedAccessedFlagEnable}");
        if (c.Mode != ReferenceMode.LegacySecondLevel) sb.Append($" PWSNP={c.PageWalkSnoop}");
        sb.Append("; requests:");
        for (int i = 0; i < Requests.Count; i++)
        {
            var r = Requests[i].Reference;
            sb.Append($" [{i}] {r.Access} 0x{r.Address:x}{(r.Privileged ? " PR" : "")}{(r.Execute ? " ER" : "")}{(Traced[i] ? " traced" : "")}");
        }
        return sb.ToString();
    }
}

/// <summary>
/// Builds random paging structures along the paths of a few random addresses, so that walks go deep but meet, at
/// random places, not-present entries, partial rights, large pages (allowed or not), reserved bits, pointers beyond
/// memory, pointers back into tables already built (self references included) and plain 64-bit garbage; then a
/// sequence of requests on those paths — the same page again (so caches answer), other offsets of the same large
/// pages, offsets aimed at the edges of the interrupt range, fresh addresses — reads, writes and atomics, privileged
/// and user mixed. The builder keeps its own notes only to decide where to put things and where to aim; the walkers
/// judge the memory as it finally is.
/// </summary>
internal sealed class ScenarioBuilder
{
    public const ulong MemorySize = 1UL << 38; // 256 GiB: pointers in [2^38, 2^HAW) are well-formed but fail to read
    public const ulong AddressBits = 0x000F_FFFF_FFFF_F000;
    public static readonly SourceId Device = new(0, 3, 0);

    /// <summary>No second-stage large pages, no first-stage 1 GiB pages, 3/4/5-level SAGAW, MGAW 48.</summary>
    public static readonly VtdProfile NoLargePages = BuiltInProfiles.Architectural with
    {
        Name = "test-no-large-pages",
        Cap = BuiltInProfiles.Architectural.Cap.WithSecondStageLargePages(false, false).WithFirstStage1GiBPages(false)
            .WithSupportedAdjustedGuestAddressWidths(0b01110).WithMaximumGuestAddressWidth(48),
    };

    /// <summary>HAW 39, second-stage 2 MiB pages only, erratum 772415 reaching every first-stage level.</summary>
    public static readonly VtdProfile NarrowAllLevelErratum = BuiltInProfiles.SapphireRapids with
    {
        Name = "test-haw39-2m-erratum-all-levels",
        HostAddressWidth = 39,
        Cap = BuiltInProfiles.SapphireRapids.Cap.WithSecondStageLargePages(true, false),
        ErratumReach = ErratumReach.AllLevels,
    };

    private readonly MachineMemory _memory;
    private readonly Tape _t;
    private readonly int _haw;
    private ulong _nextTable = 0x100_0000;       // paging-structure frames: 16 MiB up
    private ulong _nextBacking = 0x10_0000_0000; // frames behind second-stage large pages that map first-stage tables

    private ScenarioBuilder(MachineMemory memory, Tape tape, int haw)
    {
        _memory = memory;
        _t = tape;
        _haw = haw;
        Chaos = new[] { 1, 3, 8, 20 }[tape.Pick(4)];
        PreAccessed = tape.Rare(30);
        ReadOnlyTables = tape.Rare(15);
    }

    /// <summary>How often (percent) an entry is abnormal in this scenario: some worlds are nearly clean, some are a mess.</summary>
    public int Chaos { get; }

    /// <summary>Tables walked before: every entry built has A (and EA) set already, so a write's only update is D.</summary>
    public bool PreAccessed { get; }

    /// <summary>The second stage maps the first stage's table pages read-only (a nested flag update then needs the erratum).</summary>
    public bool ReadOnlyTables { get; }

    public static VtdProfile[] ProfilesFor(ReferenceMode mode) => mode switch
    {
        ReferenceMode.LegacySecondLevel => [BuiltInProfiles.Architectural, BuiltInProfiles.Qemu72Legacy, NoLargePages, NarrowAllLevelErratum],
        ReferenceMode.SecondStageOnly => [BuiltInProfiles.Architectural, BuiltInProfiles.Qemu72Scalable, NoLargePages, NarrowAllLevelErratum],
        ReferenceMode.FirstStageOnly => [BuiltInProfiles.Architectural, NoLargePages, NarrowAllLevelErratum],
        _ => [BuiltInProfiles.Architectural, BuiltInProfiles.SapphireRapids, NoLargePages, NarrowAllLevelErratum],
    };

    /// <summary>Caches of one or two entries: every walk evicts something, so hits, misses and refills interleave.</summary>
    private static readonly CacheSizes Tiny = new(
        Context: new CacheGeometry(1, 1), Pasid: new CacheGeometry(1, 1), Iotlb: new CacheGeometry(2, 1),
        FirstStagePagingStructures: new CacheGeometry(1, 2), SecondStagePagingStructures: new CacheGeometry(1, 2));

    /// <param name="caching">"uncached", "tiny" or "cached" to impose the unit's caches; by default the choices pick them.</param>
    /// <param name="memoryOfSize">The memory the unit reads and the tables are built in (a view onto other memory, say);
    /// by default a <see cref="PhysicalMemory"/> of the given size.</param>
    public static Scenario Build(ReferenceMode mode, ulong[] choices, string? caching = null, Func<ulong, MachineMemory>? memoryOfSize = null)
    {
        var t = new Tape(choices);
        VtdProfile[] profiles = ProfilesFor(mode);
        VtdProfile profile = profiles[t.Pick(profiles.Length)];
        MachineMemory memory = memoryOfSize?.Invoke(MemorySize) ?? new PhysicalMemory(MemorySize);
        string picked = t.Pick(4) switch { 0 => "uncached", 1 => "tiny", _ => "cached" };
        caching ??= picked;
        var unit = new VtdUnit(memory, caching switch
        {
            "uncached" => Support.Uncached.Of(profile),
            "tiny" => profile with { Caches = Tiny },
            _ => profile,
        });
        var frames = new FrameAllocator(memory, new Hpa(0x10_0000), new Hpa(0x100_0000));
        var tables = new RemappingTables(frames, scalable: mode != ReferenceMode.LegacySecondLevel);
        var b = new ScenarioBuilder(memory, t, profile.HostAddressWidth);

        ulong cap = profile.Cap.Raw;
        int sagaw = (int)((cap >> 8) & 0x1F);
        int[] widths = Enumerable.Range(0, 5).Where(aw => ((sagaw >> aw) & 1) != 0).ToArray();
        int aw = widths[t.Pick(widths.Length)];
        int mgaw = (int)((cap >> 16) & 0x3F) + 1;
        bool fiveLevelFs = t.Coin();

        bool usesFirstStage = mode is ReferenceMode.FirstStageOnly or ReferenceMode.Nested;
        var ctx = ReferenceContext.ForUnit(profile, mode) with
        {
            SecondStageAddressWidth = aw,
            FirstStageLevels = fiveLevelFs ? 5 : 4,
            SupervisorRequestEnable = !t.Rare(15),
            WriteProtectEnable = t.Coin(),
            ExtendedAccessedFlagEnable = t.Coin(),
            PageWalkSnoop = !t.Rare(10),
        };
        // SSADE and SSEE where the PASID entry has a second stage and the unit can do them (legacy mode has neither);
        // ERE where it has a first stage.
        bool scalableSecondStage = mode is ReferenceMode.SecondStageOnly or ReferenceMode.Nested;
        ctx = ctx with
        {
            SecondStageAccessedDirty = scalableSecondStage && ctx.SecondStageAccessedDirtySupported && t.Coin(),
            SecondStageExecuteEnable = scalableSecondStage && ctx.ExecuteRequestsSupported && t.Rare(40),
            ExecuteRequestEnable = usesFirstStage && ctx.ExecuteRequestsSupported && !t.Rare(20),
        };

        int inputWidth = Math.Min(30 + 9 * aw, mgaw);
        ulong Input() => usesFirstStage ? b.FirstStageInput(ctx.FirstStageLevels) : b.SecondStageInput(inputWidth);

        ulong ssRoot = b.AllocTable();
        var ss = new SecondStageTree(b, ssRoot, aw + 2);
        FirstStageTree? fs = mode switch
        {
            ReferenceMode.FirstStageOnly => new FirstStageTree(b, null, ctx.FirstStageLevels),
            ReferenceMode.Nested => new FirstStageTree(b, ss, ctx.FirstStageLevels),
            _ => null,
        };
        // A few paths through the same tables, each noting the host address its input should reach (null if unknown).
        var paths = new List<(ulong Input, ulong? Output)>();
        for (int n = 1 + t.Pick(3); n > 0; n--)
        {
            ulong address = Input();
            ulong? output;
            switch (mode)
            {
                case ReferenceMode.LegacySecondLevel:
                case ReferenceMode.SecondStageOnly:
                    output = ss.Map(address, forTable: false);
                    break;
                case ReferenceMode.FirstStageOnly:
                    output = fs!.BuildPath(address) is var (fsFrame, fsSize) ? fsFrame + (address & (fsSize - 1)) : null;
                    break;
                default:
                {
                    var leaf = fs!.BuildPath(address);
                    ulong finalGpa = leaf is var (frame, size) ? frame + (address & (size - 1)) : b.RandomPage(1UL << 39);
                    output = ss.Map(finalGpa, forTable: false);
                    break;
                }
            }
            paths.Add((address, output));
        }
        ulong fsRoot = fs?.Root ?? 0;
        ctx = ctx with { SecondStageRoot = ssRoot, FirstStageRoot = fsRoot };

        switch (mode)
        {
            case ReferenceMode.LegacySecondLevel:
                tables.SetLegacyContext(Device, LegacyContextEntry.Create(new Hpa(ssRoot), aw, 1));
                RegisterProgramming.EnableTranslation(unit, tables.Root, TranslationTableMode.Legacy);
                break;
            case ReferenceMode.SecondStageOnly:
                tables.SetScalableContext(Device, dir => ScalableContextEntry.Create(dir).WithPasidEnable(profile.Ecap.Pasid));
                tables.SetPasidEntry(Device, 0, PasidEntry.SecondStage(new Hpa(ssRoot), aw, 1)
                    .WithSecondStageAccessedDirtyEnable(ctx.SecondStageAccessedDirty).WithSecondStageExecuteEnable(ctx.SecondStageExecuteEnable)
                    .WithPageWalkSnoop(ctx.PageWalkSnoop));
                RegisterProgramming.EnableTranslation(unit, tables.Root, TranslationTableMode.Scalable);
                break;
            default:
            {
                PasidEntry entry = mode == ReferenceMode.FirstStageOnly
                    ? PasidEntry.FirstStage(fsRoot, 1, fiveLevelFs)
                    : PasidEntry.NestedEntry(fsRoot, new Hpa(ssRoot), aw, 1, fiveLevelFs).WithSecondStageAccessedDirtyEnable(ctx.SecondStageAccessedDirty)
                        .WithSecondStageExecuteEnable(ctx.SecondStageExecuteEnable);
                entry = entry.WithSupervisorRequestEnable(ctx.SupervisorRequestEnable).WithExecuteRequestEnable(ctx.ExecuteRequestEnable)
                    .WithWriteProtectEnable(ctx.WriteProtectEnable)
                    .WithExtendedAccessedFlagEnable(ctx.ExtendedAccessedFlagEnable).WithPageWalkSnoop(ctx.PageWalkSnoop);
                tables.SetScalableContext(Device, dir => ScalableContextEntry.Create(dir).WithPasidEnable(true));
                tables.SetPasidEntry(Device, 1, entry);
                RegisterProgramming.EnableTranslation(unit, tables.Root, TranslationTableMode.Scalable);
                break;
            }
        }

        // The requests: the first is the first path's address itself; the others pick a path and aim somewhere on it.
        var requests = new List<(DmaRequest, ReferenceRequest)>();
        var traced = new List<bool>();
        int count = 1 + t.Pick(6);
        for (int i = 0; i < count; i++)
        {
            var (input, output) = paths[i == 0 ? 0 : t.Pick(paths.Count)];
            ulong address = i == 0 ? input : b.Aim(input, output, Input);
            var access = (DmaAccess)t.Pick(3);
            bool privileged = usesFirstStage && t.Coin();
            bool execute = usesFirstStage && access == DmaAccess.Read && t.Rare(30); // ER travels in the PASID prefix, on reads
            var request = mode switch
            {
                ReferenceMode.LegacySecondLevel or ReferenceMode.SecondStageOnly => new DmaRequest(Device, new Iova(address), access), // SS-only: RID_PASID 0
                _ => new DmaRequest(Device, new Iova(address), access, Pasid: 1, Privileged: privileged, Execute: execute),
            };
            requests.Add((request, new ReferenceRequest(address, access, privileged, execute)));
            traced.Add(t.Rare(25));
        }

        return new Scenario
        {
            Profile = profile,
            Memory = memory,
            Unit = unit,
            Context = ctx,
            Requests = requests,
            Traced = traced,
            Caching = caching,
        };
    }

    /// <summary>
    /// Where a later request on a path goes: the same address (the caches answer), another offset in its page, another
    /// 4 KiB page up to 2 MiB away (the same large page, or a neighbour), an address whose output — if the path's
    /// output is known — lands at an edge of the interrupt range 0xFEE00000–0xFEEFFFFF (inside a large page that covers
    /// part of it), or a fresh address.
    /// </summary>
    public ulong Aim(ulong input, ulong? output, Func<ulong> fresh)
    {
        int k = _t.Pick(100);
        if (k < 30) return input;
        if (k < 45) return (input & ~0xFFFUL) | _t.Below(4096);
        if (k < 65) return input + ((_t.Below(1024) - 512) << 12) + _t.Below(4096);
        if (k < 90 && output is ulong o)
        {
            ulong[] edges = [0xFEE0_0000, 0xFEEF_FFF8, 0xFEDF_FFF8, 0xFEF0_0000, 0xFEE8_0000];
            ulong target = edges[_t.Pick(edges.Length)];
            ulong distance = target - o; // wraps if below: the sum wraps back
            if (target - o < 1UL << 30 || o - target < 1UL << 30) return input + distance;
        }
        return fresh();
    }

    // ---------------------------------------------------------------- addresses

    private ulong SecondStageInput(int widthBits)
    {
        ulong offset = _t.Below(4096);
        int k = _t.Pick(100);
        if (k < 92) return (_t.Below(1UL << widthBits) & ~0xFFFUL) | offset;
        if (k < 96) return (1UL << widthBits) + _t.Below(1UL << 20); // just beyond the width
        return _t.Next();
    }

    private ulong FirstStageInput(int levels)
    {
        int width = levels == 5 ? 57 : 48;
        int k = _t.Pick(100);
        if (k < 92)
        {
            ulong low = _t.Below(1UL << width);
            bool upperHalf = ((low >> (width - 1)) & 1) != 0;
            return upperHalf ? low | ~((1UL << width) - 1) : low; // sign-extend: canonical
        }
        if (k < 96) return (1UL << (width - 1)) + _t.Below(1UL << 30); // just past the canonical lower half
        return _t.Next();
    }

    public ulong RandomPage(ulong limit) => _t.Below(limit) & ~0xFFFUL;

    // ---------------------------------------------------------------- frames

    public ulong AllocTable()
    {
        ulong a = _nextTable;
        _nextTable += 4096;
        return a;
    }

    /// <summary>Fresh zeroed host memory of <paramref name="size"/> bytes, aligned to it, for first-stage tables.</summary>
    public ulong AllocBacking(ulong size)
    {
        if (size == 4096) return AllocTable();
        _nextBacking = (_nextBacking + size - 1) & ~(size - 1);
        ulong a = _nextBacking;
        _nextBacking += size;
        return a;
    }

    /// <summary>A leaf frame: mostly ordinary memory, sometimes the interrupt range, beyond memory, or random (reserved) bits.</summary>
    public ulong RandomFrame(ulong size)
    {
        int k = _t.Pick(100);
        ulong frame;
        if (k < 84) frame = _t.Below((1UL << 36) / size) * size;
        else if (k < 91) frame = size == 1UL << 30 ? 0xC000_0000 : 0xFEE0_0000 + (size == 4096 ? _t.Below(256) * 4096 : 0);
        else if (k < 95) frame = (MemorySize + _t.Below(1UL << 40)) & AddressBits & ~(size - 1);
        else frame = _t.Next() & AddressBits & ~(size - 1);
        if (size > 4096 && _t.Rare(5)) frame += 4096; // misaligned large page: reserved frame bits
        return frame;
    }

    /// <summary>A well-formed table pointer that cannot be read: beyond memory (but below HAW where possible).</summary>
    public ulong PointerBeyondMemory()
    {
        ulong span = _haw > 38 ? (1UL << _haw) - MemorySize : 1UL << 30;
        return (MemorySize + _t.Below(span)) & AddressBits;
    }

    public Tape Tape => _t;

    public void Write(ulong hpa, ulong value) => _memory.TryWrite64(new Hpa(hpa), value); // a builder write beyond memory is simply lost

    // ---------------------------------------------------------------- random bits that the rules say are ignored or informational

    public ulong SecondStageExtras()
    {
        ulong x = 0;
        if (_t.Rare(30)) x |= _t.Next() & 0x0000_0000_0000_077C; // X, EMT 5:3, IPAT 6, A 8, D 9, bit 10
        if (_t.Rare(15)) x |= _t.Next() & 0xBFF0_0000_0000_0000; // 61:52 and 63
        return x;
    }

    public ulong FirstStageExtras()
    {
        ulong x = 0;
        if (_t.Rare(50)) x |= _t.Next() & 0x0000_0000_0000_0F78; // PWT, PCD, A, D, G, 9, EA, 11
        if (_t.Rare(20)) x |= _t.Next() & 0xFFF0_0000_0000_0000; // 62:52 ignored, 63 XD
        return x;
    }
}

/// <summary>Random second-stage tables: <see cref="Map"/> lays out the path of one GPA, sharing what is already there.</summary>
internal sealed class SecondStageTree(ScenarioBuilder b, ulong root, int levels)
{
    private readonly Dictionary<ulong, (int Kind, ulong Value, ulong Size)> _slots = new(); // kind 0 table, 1 leaf, 2 broken
    private readonly List<ulong> _tables = [root];

    /// <summary>Builds the path for <paramref name="gpa"/>; returns the HPA it should reach, or null if the path is broken.</summary>
    public ulong? Map(ulong gpa, bool forTable)
    {
        Tape t = b.Tape;
        ulong table = root;
        for (int level = levels; level >= 1; level--)
        {
            ulong slot = table + 8 * ((gpa >> (12 + 9 * (level - 1))) & 511);
            if (_slots.TryGetValue(slot, out var known))
            {
                if (known.Kind == 0) { table = known.Value; continue; }
                if (known.Kind == 1) return known.Value + (gpa & (known.Size - 1));
                return null;
            }

            ulong rights = t.Rare(b.Chaos) ? (ulong)(3 - t.Pick(4)) : 3;
            ulong extras = b.SecondStageExtras() | (b.PreAccessed ? SecondStageEntry.AccessedBit : 0);
            int k = t.Rare(b.Chaos) ? 1 + t.Pick(5) : 0;
            ulong entry;
            (int Kind, ulong Value, ulong Size) note;
            if (k == 0)
            {
                if (level == 1 || (level <= 3 && t.Rare(20)))
                {
                    ulong size = 1UL << (12 + 9 * (level - 1));
                    ulong frame = forTable ? b.AllocBacking(size) : b.RandomFrame(size);
                    if (forTable && b.ReadOnlyTables) rights &= SecondStageEntry.ReadBit;
                    entry = frame | rights | extras | (level > 1 ? SecondStageEntry.PageSizeBit : 0);
                    note = (1, frame, size);
                }
                else
                {
                    ulong next = b.AllocTable();
                    _tables.Add(next);
                    entry = next | rights | extras;
                    note = (0, next, 0);
                }
            }
            else if (k == 1)
            {
                entry = t.Next() & ~3UL; // R=W=0: not present, whatever else is set
                note = (2, 0, 0);
            }
            else if (k == 2)
            {
                ulong existing = _tables[t.Pick(_tables.Count)]; // possibly this very table
                entry = existing | rights | extras;
                note = (0, existing, 0);
            }
            else if (k == 3)
            {
                entry = b.PointerBeyondMemory() | 3;
                note = (2, 0, 0);
            }
            else if (k == 4)
            {
                entry = t.Next();
                note = (2, 0, 0);
            }
            else
            {
                entry = b.AllocTable() | 3 | SecondStageEntry.PageSizeBit; // PS on what was meant as a table pointer
                note = (2, 0, 0);
            }
            if (t.Rare(b.Chaos / 2))
            {
                entry ^= 1UL << t.Pick(64);
                note = (2, 0, 0);
            }
            b.Write(slot, entry);
            _slots[slot] = note;
            if (note.Kind == 2) return null;
            if (note.Kind == 1) return note.Value + (gpa & (note.Size - 1));
            table = note.Value;
        }
        return null;
    }
}

/// <summary>
/// Random first-stage tables along one input address. Without a second stage, table addresses are HPAs; with one
/// (nested), they are GPAs whose pages the second stage maps (randomly, so the 2-D walk can fail anywhere).
/// </summary>
internal sealed class FirstStageTree
{
    private readonly ScenarioBuilder _b;
    private readonly SecondStageTree? _ss;
    private readonly int _levels;
    private readonly Dictionary<ulong, ulong> _backing = new(); // nested: GPA page -> HPA page
    private readonly Dictionary<ulong, (int Kind, ulong Value)> _slots = new();
    private readonly List<ulong> _tables = new();
    private ulong _nextGuestTable;

    public FirstStageTree(ScenarioBuilder b, SecondStageTree? ss, int levels)
    {
        _b = b;
        _ss = ss;
        _levels = levels;
        Tape t = b.Tape;
        _nextGuestTable = b.RandomPage(1UL << 38);
        if (t.Rare(4))
            Root = ss is null ? b.PointerBeyondMemory() : t.Next() & AddressBitsBelow52; // nested: any GPA, maybe beyond the SS width
        else
            Root = AllocTable();
    }

    private const ulong AddressBitsBelow52 = ScenarioBuilder.AddressBits;

    public ulong Root { get; }

    private ulong AllocTable()
    {
        ulong a;
        if (_ss is null)
        {
            a = _b.AllocTable();
        }
        else
        {
            Tape t = _b.Tape;
            a = t.Rare(25) ? _b.RandomPage(1UL << 38) : _nextGuestTable;
            _nextGuestTable = a + 4096;
            ulong hpa = _ss.Map(a, forTable: true) ?? _b.AllocTable(); // a broken path: the content is put somewhere unreachable
            _backing[a] = hpa & ~0xFFFUL;
        }
        _tables.Add(a);
        return a;
    }

    private ulong? ToHpa(ulong slot)
    {
        if (_ss is null) return slot;
        return _backing.TryGetValue(slot & ~0xFFFUL, out ulong page) ? page + (slot & 0xFFF) : null;
    }

    /// <summary>Lays out the path of <paramref name="va"/>; returns the leaf's frame and size if it built an ordinary leaf.</summary>
    public (ulong Frame, ulong Size)? BuildPath(ulong va)
    {
        Tape t = _b.Tape;
        ulong table = Root;
        for (int level = _levels; level >= 1; level--)
        {
            ulong slot = table + 8 * ((va >> (12 + 9 * (level - 1))) & 511);
            if (_slots.TryGetValue(slot, out var known))
            {
                if (known.Kind == 0) { table = known.Value; continue; }
                return null;
            }
            if (ToHpa(slot) is not ulong hpa) return null;

            ulong flags = FirstStageEntry.PresentBit | (t.Rare(10) ? 0 : FirstStageEntry.ReadWriteBit) | (t.Rare(10) ? 0 : FirstStageEntry.UserBit)
                | _b.FirstStageExtras() | (_b.PreAccessed ? FirstStageEntry.AccessedBit | FirstStageEntry.ExtendedAccessedBit : 0);
            int k = t.Rare(_b.Chaos) ? 1 + t.Pick(5) : 0;
            ulong entry;
            (int Kind, ulong Value) note;
            (ulong, ulong)? leaf = null;
            if (k == 0)
            {
                if (level == 1 || (level <= 3 && t.Rare(20)))
                {
                    ulong size = 1UL << (12 + 9 * (level - 1));
                    ulong frame = _ss is null ? _b.RandomFrame(size) : GuestFrame(size);
                    entry = frame | flags;
                    if (level > 1) entry |= FirstStageEntry.PageSizeBit | (t.Rare(20) ? 1UL << 12 : 0); // PAT of a large page is bit 12
                    else if (t.Rare(20)) entry |= 1UL << 7; // PAT of a PTE is bit 7
                    note = (1, frame);
                    leaf = (frame, size);
                }
                else
                {
                    ulong next = AllocTable();
                    entry = next | (flags & ~FirstStageEntry.PageSizeBit);
                    note = (0, next);
                }
            }
            else if (k == 1)
            {
                entry = t.Next() & ~1UL;
                note = (2, 0);
            }
            else if (k == 2 && _tables.Count != 0)
            {
                ulong existing = _tables[t.Pick(_tables.Count)]; // possibly this very table
                entry = existing | (flags & ~FirstStageEntry.PageSizeBit);
                note = (0, existing);
            }
            else if (k <= 3)
            {
                entry = (_ss is null ? _b.PointerBeyondMemory() : _b.RandomPage(t.Coin() ? 1UL << 39 : 1UL << 52)) | flags & ~FirstStageEntry.PageSizeBit;
                note = (2, 0);
            }
            else if (k == 4)
            {
                entry = t.Next();
                note = (2, 0);
            }
            else
            {
                entry = AllocTable() | flags | FirstStageEntry.PageSizeBit; // PS on a table pointer
                note = (2, 0);
            }
            if (t.Rare(_b.Chaos / 2))
            {
                entry ^= 1UL << t.Pick(64);
                note = (2, 0);
                leaf = null;
            }
            _b.Write(hpa, entry);
            _slots[slot] = note;
            if (note.Kind != 0) return leaf;
            table = note.Value;
        }
        return null;
    }

    private ulong GuestFrame(ulong size)
    {
        Tape t = _b.Tape;
        int k = t.Pick(100);
        ulong frame = k < 90 ? t.Below((1UL << 38) / size) * size
            : k < 95 ? ((1UL << 39) + t.Below(1UL << 44)) & ~(size - 1) // beyond a 3-level second stage, maybe above HAW
            : t.Next() & ScenarioBuilder.AddressBits & ~(size - 1);
        if (size > 4096 && t.Rare(5)) frame += 4096;
        return frame;
    }
}
