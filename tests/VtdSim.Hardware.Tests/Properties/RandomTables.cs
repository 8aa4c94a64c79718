using System.Text;
using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Building;
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

/// <summary>One generated world: a machine with random tables, the context the reference walker gets, and the request.</summary>
internal sealed class Scenario
{
    public required VtdProfile Profile { get; init; }
    public required PhysicalMemory Memory { get; init; }
    public required VtdUnit Unit { get; init; }
    public required ReferenceContext Context { get; init; }
    public required DmaRequest Request { get; init; }
    public required ReferenceRequest ReferenceRequest { get; init; }

    public override string ToString()
    {
        var c = Context;
        var sb = new StringBuilder();
        sb.Append($"profile {Profile.Name}, mode {c.Mode}, request {ReferenceRequest.Access} 0x{ReferenceRequest.Address:x} PR={ReferenceRequest.Privileged}");
        if (c.Mode != ReferenceMode.FirstStageOnly) sb.Append($", SS root 0x{c.SecondStageRoot:x} AW={c.SecondStageAddressWidth}");
        if (c.Mode is ReferenceMode.FirstStageOnly or ReferenceMode.Nested)
            sb.Append($", FS root 0x{c.FirstStageRoot:x} {c.FirstStageLevels}-level SRE={c.SupervisorRequestEnable} WPE={c.WriteProtectEnable} EAFE={c.ExtendedAccessedFlagEnable} PWSNP={c.PageWalkSnoop}");
        return sb.ToString();
    }
}

/// <summary>
/// Builds random paging structures along the path of a random request, so that walks go deep but meet, at random
/// places, not-present entries, partial rights, large pages (allowed or not), reserved bits, pointers beyond memory,
/// pointers back into tables already built (self references included) and plain 64-bit garbage. The builder keeps
/// its own notes only to decide where to put things; the walkers judge the memory as it finally is.
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

    private readonly PhysicalMemory _memory;
    private readonly Tape _t;
    private readonly int _haw;
    private ulong _nextTable = 0x100_0000;       // paging-structure frames: 16 MiB up
    private ulong _nextBacking = 0x10_0000_0000; // frames behind second-stage large pages that map first-stage tables

    private ScenarioBuilder(PhysicalMemory memory, Tape tape, int haw)
    {
        _memory = memory;
        _t = tape;
        _haw = haw;
        Chaos = new[] { 1, 3, 8, 20 }[tape.Pick(4)];
    }

    /// <summary>How often (percent) an entry is abnormal in this scenario: some worlds are nearly clean, some are a mess.</summary>
    public int Chaos { get; }

    public static VtdProfile[] ProfilesFor(ReferenceMode mode) => mode switch
    {
        ReferenceMode.LegacySecondLevel => [BuiltInProfiles.Architectural, BuiltInProfiles.Qemu72Legacy, NoLargePages, NarrowAllLevelErratum],
        ReferenceMode.SecondStageOnly => [BuiltInProfiles.Architectural, BuiltInProfiles.Qemu72Scalable, NoLargePages, NarrowAllLevelErratum],
        ReferenceMode.FirstStageOnly => [BuiltInProfiles.Architectural, NoLargePages, NarrowAllLevelErratum],
        _ => [BuiltInProfiles.Architectural, BuiltInProfiles.SapphireRapids, NoLargePages, NarrowAllLevelErratum],
    };

    public static Scenario Build(ReferenceMode mode, ulong[] choices)
    {
        var t = new Tape(choices);
        VtdProfile[] profiles = ProfilesFor(mode);
        VtdProfile profile = profiles[t.Pick(profiles.Length)];
        var memory = new PhysicalMemory(MemorySize);
        var unit = new VtdUnit(memory, Support.Uncached.Of(profile));
        var frames = new FrameAllocator(memory, new Hpa(0x10_0000), new Hpa(0x100_0000));
        var tables = new RemappingTables(frames, scalable: mode != ReferenceMode.LegacySecondLevel);
        var b = new ScenarioBuilder(memory, t, profile.HostAddressWidth);

        ulong cap = profile.Cap.Raw;
        int sagaw = (int)((cap >> 8) & 0x1F);
        int[] widths = Enumerable.Range(0, 5).Where(aw => ((sagaw >> aw) & 1) != 0).ToArray();
        int aw = widths[t.Pick(widths.Length)];
        int mgaw = (int)((cap >> 16) & 0x3F) + 1;
        bool fiveLevelFs = t.Coin();

        var ctx = ReferenceContext.ForUnit(profile, mode) with
        {
            SecondStageAddressWidth = aw,
            FirstStageLevels = fiveLevelFs ? 5 : 4,
            SupervisorRequestEnable = !t.Rare(15),
            WriteProtectEnable = t.Coin(),
            ExtendedAccessedFlagEnable = t.Coin(),
            PageWalkSnoop = !t.Rare(10),
        };

        var access = (DmaAccess)t.Pick(3);
        bool usesFirstStage = mode is ReferenceMode.FirstStageOnly or ReferenceMode.Nested;
        bool privileged = usesFirstStage && t.Coin();
        ulong address = usesFirstStage ? b.FirstStageInput(ctx.FirstStageLevels) : b.SecondStageInput(Math.Min(30 + 9 * aw, mgaw));

        ulong ssRoot = b.AllocTable();
        var ss = new SecondStageTree(b, ssRoot, aw + 2);
        ulong fsRoot = 0;
        switch (mode)
        {
            case ReferenceMode.LegacySecondLevel:
            case ReferenceMode.SecondStageOnly:
                ss.Map(address, forTable: false);
                break;
            case ReferenceMode.FirstStageOnly:
            {
                var fs = new FirstStageTree(b, null, ctx.FirstStageLevels);
                fsRoot = fs.Root;
                fs.BuildPath(address);
                break;
            }
            case ReferenceMode.Nested:
            {
                var fs = new FirstStageTree(b, ss, ctx.FirstStageLevels);
                fsRoot = fs.Root;
                var leaf = fs.BuildPath(address);
                ulong finalGpa = leaf is var (frame, size) ? frame + (address & (size - 1)) : b.RandomPage(1UL << 39);
                ss.Map(finalGpa, forTable: false);
                break;
            }
        }
        ctx = ctx with { SecondStageRoot = ssRoot, FirstStageRoot = fsRoot };

        DmaRequest request;
        switch (mode)
        {
            case ReferenceMode.LegacySecondLevel:
                tables.SetLegacyContext(Device, LegacyContextEntry.Create(new Hpa(ssRoot), aw, 1));
                RegisterProgramming.EnableTranslation(unit, tables.Root, TranslationTableMode.Legacy);
                request = new DmaRequest(Device, new Iova(address), access);
                break;
            case ReferenceMode.SecondStageOnly:
                tables.SetScalableContext(Device, dir => ScalableContextEntry.Create(dir).WithPasidEnable(profile.Ecap.Pasid));
                tables.SetPasidEntry(Device, 0, PasidEntry.SecondStage(new Hpa(ssRoot), aw, 1));
                RegisterProgramming.EnableTranslation(unit, tables.Root, TranslationTableMode.Scalable);
                request = new DmaRequest(Device, new Iova(address), access); // no PASID: RID_PASID 0
                break;
            default:
            {
                PasidEntry entry = mode == ReferenceMode.FirstStageOnly
                    ? PasidEntry.FirstStage(fsRoot, 1, fiveLevelFs)
                    : PasidEntry.NestedEntry(fsRoot, new Hpa(ssRoot), aw, 1, fiveLevelFs);
                entry = entry.WithSupervisorRequestEnable(ctx.SupervisorRequestEnable).WithWriteProtectEnable(ctx.WriteProtectEnable)
                    .WithExtendedAccessedFlagEnable(ctx.ExtendedAccessedFlagEnable).WithPageWalkSnoop(ctx.PageWalkSnoop);
                tables.SetScalableContext(Device, dir => ScalableContextEntry.Create(dir).WithPasidEnable(true));
                tables.SetPasidEntry(Device, 1, entry);
                RegisterProgramming.EnableTranslation(unit, tables.Root, TranslationTableMode.Scalable);
                request = new DmaRequest(Device, new Iova(address), access, Pasid: 1, Privileged: privileged);
                break;
            }
        }

        return new Scenario
        {
            Profile = profile,
            Memory = memory,
            Unit = unit,
            Context = ctx,
            Request = request,
            ReferenceRequest = new ReferenceRequest(address, access, privileged),
        };
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
            ulong extras = b.SecondStageExtras();
            int k = t.Rare(b.Chaos) ? 1 + t.Pick(5) : 0;
            ulong entry;
            (int Kind, ulong Value, ulong Size) note;
            if (k == 0)
            {
                if (level == 1 || (level <= 3 && t.Rare(20)))
                {
                    ulong size = 1UL << (12 + 9 * (level - 1));
                    ulong frame = forTable ? b.AllocBacking(size) : b.RandomFrame(size);
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
                | _b.FirstStageExtras();
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
