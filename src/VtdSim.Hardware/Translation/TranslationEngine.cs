using System.Runtime.CompilerServices;
using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Caches;
using VtdSim.Hardware.Faults;
using VtdSim.Hardware.Memory;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Registers;
using VtdSim.Hardware.Structures;
using VtdSim.Hardware.Tracing;

namespace VtdSim.Hardware.Translation;

/// <summary>
/// The translation engine of one remapping unit: resolves a request's context (TranslationEngine.Context.cs), then runs
/// the second-stage (…SecondStage.cs), first-stage or nested (…FirstStage.cs) walk. It reads and updates only the memory
/// of its machine (a host's, or a guest's view). Not thread-safe: the model is single-threaded and deterministic. The
/// successful path does not allocate.
/// </summary>
internal sealed partial class TranslationEngine
{
    private const ulong InterruptRangeBase = 0xFEE0_0000;
    private const ulong InterruptRangeEnd = 0xFEF0_0000;

    private readonly MachineMemory _memory;
    private readonly VtdProfile _profile;
    private readonly Capability _cap;
    private readonly ExtendedCapability _ecap;
    private readonly int _haw;
    private readonly ulong _hawLimit;
    private readonly List<ErratumWrite> _erratumWrites = new();

    // Reserved-bit masks, indexed [level] (1..5), for non-leaf and leaf entries: computed once per unit.
    private LevelMasks _fsNonLeaf, _fsLeaf, _ssNonLeaf, _ssLeaf;
    private readonly bool _fs1G;
    private readonly int _ssLargePageLevels; // bit n set: PS=1 at level n maps a page (CAP.SSLPS: n = 2 for 2 MiB, 3 for 1 GiB)

    // Frame hints (see MachineMemory.FrameHint), one per place in the walk grid, so each read finds its table's frame
    // without a lookup that depends on the address: second stage at [forFsLevel * HintRow + level] (forFsLevel 0: the
    // final, legacy or SS-only walk), first stage at [level]. They hold no entry values: every read still reads memory.
    private const int HintRow = 6;
    private SsFrameHints _ssHints; // inline arrays: no array object to load, and a constant length to check against
    private FsFrameHints _fsHints;
    private MachineMemory.FrameHint _rootHint, _contextHint, _pasidDirectoryHint, _pasidTableHint;
    private long _hintGeneration; // the memory's Generation the hints were taken under

    private WalkFault _fault;
    private readonly RemappingCaches _caches;
    private PasidCacheEntry _pendingPasidFill; // the PASID entry just read, cached once it has passed its checks
    private bool _answeredByCaches;             // the last context resolution read no memory
    private readonly bool _iotlbOn, _ssPscOn, _fsPscOn; // which caches this unit has (a profile may leave any out)
    private ContextMemo _contextMemo = new();
    private bool _iotlbAnswered;                 // the last translation was an IOTLB hit
    private (int Context, int Pasid) _lastContextSlots = (-1, -1);

    public TranslationEngine(MachineMemory memory, VtdProfile profile, RemappingCaches caches)
    {
        _memory = memory;
        _caches = caches;
        _iotlbOn = caches.Iotlb.Capacity != 0;
        _ssPscOn = caches.SecondStage.Capacity != 0;
        _fsPscOn = caches.FirstStage.Capacity != 0;
        _profile = profile;
        _cap = profile.Cap;
        _ecap = profile.Ecap;
        _haw = profile.HostAddressWidth;
        _hawLimit = 1UL << _haw;
        _fs1G = _cap.FirstStage1GiBPages;
        _ssLargePageLevels = (_cap.SecondStage2MiBPages ? 1 << 2 : 0) | (_cap.SecondStage1GiBPages ? 1 << 3 : 0);
        for (int level = 1; level <= 5; level++)
        {
            _fsNonLeaf[level] = FirstStageEntry.ReservedMask(level, leaf: false, _haw);
            _fsLeaf[level] = FirstStageEntry.ReservedMask(level, leaf: true, _haw);
            _ssNonLeaf[level] = SecondStageEntry.ReservedMask(level, leaf: false, _haw, _ecap.SnoopControl, _ecap.DeviceTlb);
            _ssLeaf[level] = SecondStageEntry.ReservedMask(level, leaf: true, _haw, _ecap.SnoopControl, _ecap.DeviceTlb);
        }
    }

    /// <summary>
    /// Whether the last translation was answered entirely by the caches (context, PASID if used, and IOTLB), and which
    /// context/PASID cache slots answered it.
    /// </summary>
    internal bool LastAnsweredByCaches(out (int Context, int Pasid) slots)
    {
        slots = _lastContextSlots;
        return _iotlbAnswered && _answeredByCaches && slots.Context >= 0;
    }

    /// <summary>The fault of the last failed translation.</summary>
    public ref readonly WalkFault LastFault => ref _fault;

    /// <summary>First-stage entries written despite a read-only second stage during the last translation (erratum 772415).</summary>
    /// <remarks>Typed as the list itself (callers must not modify it) so that a foreach over it, on every translation,
    /// uses List's struct enumerator instead of an interface enumerator.</remarks>
    public List<ErratumWrite> ErratumWrites => _erratumWrites;

    /// <summary>
    /// Translates one request. On success returns <see cref="FaultReason.None"/> and fills the outputs; on failure
    /// returns the reason and leaves details in <see cref="LastFault"/>. <paramref name="context"/> is filled as far as
    /// the lookups got (for FPD and the PASID of the fault record).
    /// </summary>
    public FaultReason Translate(in DmaRequest request, in RootTableState root, WalkTrace? trace,
        out ResolvedContext context, out Hpa output, out ulong pageSize, out AccessRights rights)
    {
        if (_erratumWrites.Count != 0) _erratumWrites.Clear();
        _iotlbAnswered = false;
        _answeredByCaches = false;
        output = default;
        pageSize = 0;
        rights = AccessRights.None;
        FaultReason reason = ResolveContext(in request, in root, trace, out context);
        if (reason != FaultReason.None) return reason;
        return Walk(in request, in context, trace, out output, out pageSize, out rights);
    }

    /// <summary>The paging walk alone, for a context already resolved (benchmarks measure this part separately).</summary>
    internal FaultReason Walk(in DmaRequest request, in ResolvedContext context, WalkTrace? trace,
        out Hpa output, out ulong pageSize, out AccessRights rights)
    {
        output = default;
        pageSize = 0;
        rights = AccessRights.None;
        ulong address = request.Address.Value;
        FaultReason reason;
        switch (context.Kind)
        {
            case TranslationKind.Disabled:
            case TranslationKind.PreTranslated:
                output = new Hpa(address);
                pageSize = MachineMemory.PageSize;
                rights = AccessRights.Read | AccessRights.Write | AccessRights.Execute | AccessRights.User;
                return FaultReason.None;
            case TranslationKind.LegacyPassThrough:
            case TranslationKind.PassThrough:
                return PassThrough(in request, in context, out output, out pageSize, out rights);
            case TranslationKind.Legacy:
            case TranslationKind.SecondStage:
            {
                if (_iotlbOn && IotlbLookup(in request, in context, trace, out output, out pageSize, out rights)) return FaultReason.None;
                DropStaleHints();
                var role = context.Kind == TranslationKind.Legacy ? SsRole.Legacy : SsRole.Final;
                reason = WalkSecondStage(in context, address, Need(in request), request.IsWrite && request.AddressType == AddressType.Untranslated,
                    role, 0, trace, out var ss);
                if (reason != FaultReason.None) return reason;
                output = new Hpa(ss.Output);
                pageSize = ss.PageSize;
                rights = ss.Rights;
                if (_iotlbOn) IotlbFill(in request, in context, output, pageSize, rights, rights);
                return FaultReason.None;
            }
            case TranslationKind.FirstStage:
            case TranslationKind.Nested:
            {
                if (_iotlbOn && IotlbLookup(in request, in context, trace, out output, out pageSize, out rights)) return FaultReason.None;
                DropStaleHints();
                reason = WalkFirstStage(in request, in context, trace, out output, out pageSize, out rights, out AccessRights supervisorRights);
                if (reason != FaultReason.None) return reason;
                if (_iotlbOn) IotlbFill(in request, in context, output, pageSize, rights, supervisorRights);
                if (SupervisorWritesIgnoreReadOnly(in context)) rights = supervisorRights;
                return FaultReason.None;
            }
            default:
                throw new InvalidOperationException($"unhandled translation kind {context.Kind}");
        }
    }

    /// <summary>
    /// Once per walk (and per context resolution that misses the memo), never on a cache hit: the hints name frames
    /// of the memory's pages, and a view whose mapping changed (its Generation moved) may now put other frames behind
    /// those pages, or none. A host's generation never moves, so this is one compare that always holds.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void DropStaleHints()
    {
        if (_memory.Generation != _hintGeneration) ForgetHints();
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ForgetHints()
    {
        _ssHints = default;
        _fsHints = default;
        _rootHint = _contextHint = _pasidDirectoryHint = _pasidTableHint = default;
        _hintGeneration = _memory.Generation;
    }

    /// <summary>
    /// An IOTLB hit: a cached translation for (DID, PASID or none, page) that grants what this request needs. The entry
    /// holds what the walk found about the page; everything the walk checks that depends on the request is checked again
    /// here: the input address (canonical for the first stage's paging mode, within the second stage's width), the
    /// request's rights under its own privilege (U/S, R/W with WPE, XD, second-stage R/W/X), and the output address
    /// against the interrupt range (D8), which varies within a large page. A hit that fails any of them (or a write
    /// through an entry whose D is not known to be set, where the walk keeps D) counts as a miss, and the walk decides.
    /// </summary>
    private bool IotlbLookup(in DmaRequest request, in ResolvedContext context, WalkTrace? trace, out Hpa output, out ulong pageSize, out AccessRights rights)
    {
        var iotlb = _caches.Iotlb;
        ulong address = request.Address.Value;
        if (InputAccepted(in context, address))
        {
            uint tag = IotlbPasidTag(in context);
            bool supervisorWrite = SupervisorWritesIgnoreReadOnly(in context);
            AccessRights need = Need(in request) | (context.Privileged || !UsesFirstStage(context.Kind) ? 0 : AccessRights.User);
            for (byte level = 1; level <= 3; level++)
            {
                int shift = 12 + 9 * (level - 1);
                var key = new IotlbKey(context.DomainId, tag, address >> shift, level);
                if (!iotlb.Probe(in key, CacheTag.Iotlb(in key), out IotlbEntry hit) || hit.Kind != context.Kind) continue;
                AccessRights granted = supervisorWrite ? hit.SupervisorRights : hit.Rights;
                if ((need & ~granted) != 0 || (request.IsWrite && !hit.DirtySet && request.AddressType == AddressType.Untranslated)) break;
                ulong size = 1UL << shift;
                ulong hpa = hit.OutputBase | (address & (size - 1));
                if (InInterruptRange(hpa)) break;
                iotlb.Statistics.Hits++;
                _iotlbAnswered = true;
                pageSize = size;
                output = new Hpa(hpa);
                rights = granted;
                trace?.NoteCacheHit("IOTLB");
                return true;
            }
        }
        iotlb.Statistics.Misses++;
        output = default;
        pageSize = 0;
        rights = AccessRights.None;
        return false;
    }

    /// <summary>The walk's checks of the input address alone: canonical for the first stage, within the width for the second.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool InputAccepted(in ResolvedContext context, ulong address)
    {
        if (!UsesFirstStage(context.Kind)) return address <= context.SsMaxInput;
        int topBit = context.FsLevels == 5 ? 56 : 47;
        ulong upper = address >> topBit; // bits 63:width-1 all zeros or all ones
        return upper == 0 || upper == ulong.MaxValue >> topBit;
    }

    /// <summary>A privileged request under WPE=0 may write through a first-stage R/W=0 (spec 3.6.1, vtd-facts 4.6).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool SupervisorWritesIgnoreReadOnly(in ResolvedContext context) => context.Privileged && !context.WriteProtectEnable;

    /// <summary>
    /// Caches a successful translation: the page's rights as the walk found them and a privileged request's under WPE=0,
    /// not this request's. D counts as set when this access set it, or when the walk keeps no D.
    /// </summary>
    private void IotlbFill(in DmaRequest request, in ResolvedContext context, Hpa output, ulong pageSize, AccessRights rights, AccessRights supervisorRights)
    {
        byte level = (byte)(1 + (System.Numerics.BitOperations.Log2(pageSize) - 12) / 9);
        var key = new IotlbKey(context.DomainId, IotlbPasidTag(in context), request.Address.Value >> (12 + 9 * (level - 1)), level);
        bool keepsDirty = context.Kind is TranslationKind.FirstStage or TranslationKind.Nested || context.SsAccessedDirty;
        bool dirtySet = !keepsDirty || (request.IsWrite && request.AddressType == AddressType.Untranslated);
        _caches.FillIotlb(in key, new IotlbEntry(output.Value & ~(pageSize - 1), rights, supervisorRights, context.Kind, dirtySet));
    }

    /// <summary>Legacy and second-stage-only translations are tagged by domain only; first-stage and nested ones by PASID too.</summary>
    private static uint IotlbPasidTag(in ResolvedContext context) =>
        UsesFirstStage(context.Kind) ? context.Pasid ?? 0 : CacheTag.NoPasid;

    private static bool UsesFirstStage(TranslationKind kind) => kind is TranslationKind.FirstStage or TranslationKind.Nested;

    private FaultReason PassThrough(in DmaRequest request, in ResolvedContext context, out Hpa output, out ulong pageSize, out AccessRights rights)
    {
        ulong address = request.Address.Value;
        output = default;
        pageSize = 0;
        rights = AccessRights.None;
        bool legacy = context.Kind == TranslationKind.LegacyPassThrough;
        if (legacy && address > context.SsMaxInput)
            return Fail(FaultReason.LGN1_AddressBeyondWidth, 0, null, 0, null,
                $"pass-through address 0x{address:x} is above the context's AGAW limit 0x{context.SsMaxInput:x}");
        if (address >= _hawLimit)
            return Fail(legacy ? FaultReason.LGN1_AddressBeyondWidth : FaultReason.SGN4_AddressBeyondHostWidth, 0, null, 0, null,
                $"pass-through address 0x{address:x} is beyond the host address width ({_haw} bits)");
        if (InInterruptRange(address))
            return Fail(legacy ? FaultReason.LGN4_InterruptAddress : FaultReason.SGN8_InterruptAddress, 0, null, 0, null,
                $"pass-through address 0x{address:x} lies in the interrupt range 0xFEE00000-0xFEEFFFFF");
        output = new Hpa(address);
        pageSize = MachineMemory.PageSize;
        rights = AccessRights.Read | AccessRights.Write | AccessRights.Execute | AccessRights.User;
        return FaultReason.None;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static AccessRights Need(in DmaRequest request) =>
        (request.IsRead ? AccessRights.Read : 0) | (request.IsWrite ? AccessRights.Write : 0) | (request.Execute ? AccessRights.Execute : 0);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool InInterruptRange(ulong address) => address - InterruptRangeBase < InterruptRangeEnd - InterruptRangeBase;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong EntryAddress(ulong table, int index) => table + ((ulong)index << 3);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Index(ulong address, int level) => (int)((address >> (12 + 9 * (level - 1))) & 0x1FF);

    /// <summary>Records a paging-entry read in the trace; out of line so the walkers do not carry the record on their stack.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void TraceRead(WalkTrace trace, TraceStage stage, int level, ulong entryAddress, ulong raw, Gpa? gpa, int forFsLevel) =>
        trace.Add(new MemoryReference(stage, level, new Hpa(entryAddress), raw, Gpa: gpa, ForFirstStageLevel: forFsLevel));

    /// <summary>
    /// <see cref="Fail(FaultReason, int, Hpa?, ulong, Gpa?, string)"/> for a message with values in it: a static lambda
    /// formats <paramref name="state"/>. The message stays next to its check, but the formatting code, and the stack
    /// space it needs, live in the lambda; the resolvers' happy path then does not zero a slot for every message it
    /// could have built. Nothing is allocated until a fault happens (static lambdas are cached).
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private FaultReason Fail<TState>(FaultReason reason, int level, Hpa? entry, ulong value, Gpa? gpa, TState state, Func<TState, string> detail) =>
        Fail(reason, level, entry, value, gpa, detail(state));

    [MethodImpl(MethodImplOptions.NoInlining)]
    private FaultReason Fail(FaultReason reason, int level, Hpa? entry, ulong value, Gpa? gpa, string detail)
    {
        _fault = new WalkFault { Reason = reason, Level = level, Entry = entry, Value = value, Gpa = gpa, Detail = detail };
        return reason;
    }
}

/// <summary>One mask per paging level (index 1..5), inline in the engine so that a lookup is a single load.</summary>
[InlineArray(6)]
internal struct LevelMasks
{
    private ulong _level0;
}

[InlineArray(6 * 6)]
internal struct SsFrameHints
{
    private MachineMemory.FrameHint _hint0;
}

[InlineArray(6)]
internal struct FsFrameHints
{
    private MachineMemory.FrameHint _hint0;
}

/// <summary>A first-stage entry written despite a read-only second stage (erratum 772415).</summary>
internal readonly record struct ErratumWrite(Gpa EntryGpa, Hpa EntryHpa, int Level, ulong OldValue, ulong NewValue);
