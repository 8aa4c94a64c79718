using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Faults;
using VtdSim.Hardware.Memory;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Translation;

namespace VtdSim.Hardware.Tests.Properties;

/// <summary>Which paging walk a context selects.</summary>
public enum ReferenceMode
{
    /// <summary>Legacy mode (RTADDR.TTM=00), context TT=00: the second-level tables from SLPTPTR.</summary>
    LegacySecondLevel,
    /// <summary>Scalable mode, PASID entry PGTT=010.</summary>
    SecondStageOnly,
    /// <summary>Scalable mode, PASID entry PGTT=001: FSPTPTR and every table pointer are HPAs.</summary>
    FirstStageOnly,
    /// <summary>Scalable mode, PASID entry PGTT=011: FSPTPTR and every first-stage table pointer are GPAs.</summary>
    Nested,
}

/// <summary>
/// Everything the reference walker needs to know: the unit's capabilities that matter to a paging walk, and the
/// context the root/context/PASID lookups selected (the walker does not look at those structures itself).
/// </summary>
public sealed record ReferenceContext
{
    public required ReferenceMode Mode { get; init; }

    // ---- the unit ----
    /// <summary>HAW: address bits HAW..51 are reserved in every paging entry.</summary>
    public required int HostAddressWidth { get; init; }
    /// <summary>MGAW in bits (CAP.MGAW + 1).</summary>
    public required int MaxGuestAddressWidth { get; init; }
    /// <summary>CAP.SSLPS bit 34 / bit 35.</summary>
    public bool SecondStage2MiB { get; init; }
    public bool SecondStage1GiB { get; init; }
    /// <summary>CAP.FS1GP.</summary>
    public bool FirstStage1GiB { get; init; }
    /// <summary>ECAP.SC: without it the SNP bit (11) of a second-stage leaf is reserved.</summary>
    public bool SnoopControl { get; init; }
    /// <summary>ECAP.DT: without it the TM bit (62) of a second-stage leaf is reserved.</summary>
    public bool DeviceTlb { get; init; }
    /// <summary>ECAP.SSADS: the unit can set second-stage A/D (a PASID entry may then ask for it with SSADE).</summary>
    public bool SecondStageAccessedDirtySupported { get; init; }
    /// <summary>ECAP.ERS: execute requests (a PASID entry may then set ERE and SSEE).</summary>
    public bool ExecuteRequestsSupported { get; init; }
    /// <summary>Erratum 772415: nested A/EA/D updates go through despite a read-only second stage...</summary>
    public bool Erratum772415 { get; init; }
    /// <summary>...for the top-level first-stage entry only (true), or for every level (false).</summary>
    public bool ErratumTopLevelOnly { get; init; } = true;

    // ---- the context ----
    /// <summary>SLPTPTR / SSPTPTR (an HPA).</summary>
    public ulong SecondStageRoot { get; init; }
    /// <summary>AW encoding: 1 = 39-bit/3-level, 2 = 48-bit/4-level, 3 = 57-bit/5-level.</summary>
    public int SecondStageAddressWidth { get; init; }
    /// <summary>FSPTPTR: an HPA (first-stage only) or a GPA (nested).</summary>
    public ulong FirstStageRoot { get; init; }
    /// <summary>4 (FSPM=00) or 5 (FSPM=01).</summary>
    public int FirstStageLevels { get; init; } = 4;
    public bool SupervisorRequestEnable { get; init; }
    public bool WriteProtectEnable { get; init; }
    public bool ExtendedAccessedFlagEnable { get; init; }
    public bool PageWalkSnoop { get; init; } = true;
    /// <summary>SSADE (scalable second stage and nested only): A in every second-stage entry used, D in the leaf of a write.</summary>
    public bool SecondStageAccessedDirty { get; init; }
    /// <summary>ERE: execute requests allowed on a first-stage or nested PASID (else SPT.5).</summary>
    public bool ExecuteRequestEnable { get; init; }
    /// <summary>SSEE: the second stage's X bit counts — for execute requests, and in what "not present" means (R=W=X=0).</summary>
    public bool SecondStageExecuteEnable { get; init; }

    /// <summary>The unit-level fields, decoded from a profile's CAP/ECAP bits (positions from vtd-facts 1.2/1.3).</summary>
    public static ReferenceContext ForUnit(VtdProfile profile, ReferenceMode mode)
    {
        ulong cap = profile.Cap.Raw, ecap = profile.Ecap.Raw;
        return new ReferenceContext
        {
            Mode = mode,
            HostAddressWidth = profile.HostAddressWidth,
            MaxGuestAddressWidth = (int)((cap >> 16) & 0x3F) + 1,
            SecondStage2MiB = ((cap >> 34) & 1) != 0,
            SecondStage1GiB = ((cap >> 35) & 1) != 0,
            FirstStage1GiB = ((cap >> 56) & 1) != 0,
            SnoopControl = ((ecap >> 7) & 1) != 0,
            DeviceTlb = ((ecap >> 2) & 1) != 0,
            SecondStageAccessedDirtySupported = ((ecap >> 45) & 1) != 0,
            ExecuteRequestsSupported = ((ecap >> 30) & 1) != 0,
            Erratum772415 = profile.Erratum772415,
            ErratumTopLevelOnly = profile.ErratumReach == ErratumReach.TopLevelOnly,
        };
    }
}

/// <summary>A request as the walker sees it: where, what, whether it is privileged (PR), and whether it asks to execute (ER, reads only).</summary>
public readonly record struct ReferenceRequest(ulong Address, DmaAccess Access, bool Privileged, bool Execute = false)
{
    public bool NeedsRead => Access != DmaAccess.Write;
    public bool NeedsWrite => Access != DmaAccess.Read;
}

/// <summary>
/// What the reference walker expects: a fault reason, or an HPA with its write permission; the A/EA/D writes of both
/// stages (final values by host address), how many of those entries are second-stage ones, and the erratum writes.
/// </summary>
public sealed record ReferenceOutcome(FaultReason Fault, ulong Hpa, bool Writable, IReadOnlyDictionary<ulong, ulong> FlagWrites, int ErratumWrites,
    int SecondStageFlagWrites)
{
    public bool Success => Fault == FaultReason.None;

    public override string ToString() =>
        (Success ? $"HPA 0x{Hpa:x} W={Writable}" : $"fault {FaultReasonInfo.Of(Fault).Condition} (0x{(byte)Fault:x2})") +
        $", flag writes [{string.Join(", ", FlagWrites.OrderBy(kv => kv.Key).Select(kv => $"0x{kv.Key:x}=0x{kv.Value:x}"))}] ({SecondStageFlagWrites} second-stage), erratum writes {ErratumWrites}";
}

/// <summary>
/// A deliberately plain second implementation of the VT-d paging walks, written from docs (vtd-facts.md sections 3-5
/// and the project's recorded decisions), used as the oracle for the engine's property tests. It never changes
/// memory: the A/EA/D writes it would make go into an overlay that later reads in the same walk see, and are returned
/// so the test can compare them with what the engine wrote.
///
/// The rules it follows, in the order it applies them:
///
/// Second stage (legacy second level, scalable SS-only, and every SS walk of a nested translation):
///   - input above 2^min(30+9*AW, MGAW)-1: LGN.1 (legacy), SGN.5 (SS-only, nested final GPA), SFS.5 (nested table GPA).
///   - per level: the entry cannot be read: LSL.1 (legacy), SSS.4 (scalable, top level), SSS.1 (scalable, lower).
///   - an entry with R=W=0, or R=W=0 in the AND of the rights so far, is not present: LGN.2 (write)/LGN.3 (read) in
///     legacy, SSS.2 for SS-only and the nested final GPA, SFS.6 (top-level first-stage table) / SFS.7 (other table)
///     when translating a first-stage table GPA. With SSEE=1, X counts too: not present is R=W=X=0; without it X is
///     ignored.
///   - reserved bits of a present entry: LSL.2 (legacy), SSS.3 (scalable, also when translating a table GPA).
///     Reserved: address bits HAW..51 everywhere; non-leaf: bit 11 and bit 62; PS (bit 7) at levels 4 and 5; PS at
///     level 2/3 where CAP.SSLPS lacks that size; leaf: SNP (11) without ECAP.SC, TM (62) without ECAP.DT, and the
///     frame bits below the page size (20:12 for 2 MiB, 29:12 for 1 GiB).
///   - after the leaf: a missing W for a write: LGN.2 / SGN.6; a missing R for a read (an execute request is a read):
///     LGN.3 / SGN.7; then, with SSEE=1, a missing X for an execute request: SGN.3 (decisions D32). Table GPAs need
///     R only: SFS.6/SFS.7.
///   - the output in 0xFEE0_0000..0xFEEF_FFFF: LGN.4 (legacy) / SGN.8.
///   - with SSADE (scalable only): every entry that passed the present and reserved checks gets A before the walk
///     goes on (a walk that later fails keeps it); a write that got past the permission and interrupt checks gets D
///     in the leaf — for a nested translation's data page only after the first stage's D (below). Each update needs a
///     snooped walk (PWSNP=1), else SSS.5.
///
/// First stage (first-stage only and nested):
///   - a privileged request needs SRE=1, else SPT.6; then an execute request needs ERE=1, else SPT.5 (PASID-entry
///     checks, made before any paging structure is read, but they depend on controls varied here).
///   - the input must be canonical for 48 (4-level) or 57 (5-level) bits, else SGN.1.
///   - per level: (nested: the table GPA goes through the second stage first, see above); the entry cannot be read:
///     SFS.4 (top level) / SFS.1; P=0: SFS.2; reserved bits: SFS.3 (HAW..51; PS at levels 4/5; PS at level 3 without
///     CAP.FS1GP; 2 MiB leaf bits 20:13; 1 GiB leaf bits 29:13; bits 63:52 are ignored).
///   - each entry without A (or without EA when EAFE=1) gets A (and EA) before the walk descends. The update needs a
///     snooped walk (PWSNP=1), else SFS.9; in nested mode it needs second-stage W on the table page, else SFS.8 and
///     no write, unless erratum 772415 covers the entry, in which case it is written anyway.
///   - after the walk: a user request (PR=0) with U/S=0 anywhere: SGN.2; then a write with R/W=0 anywhere, unless
///     the request is privileged and WPE=0: SGN.6; then an execute request with XD=1 anywhere: SGN.3.
///   - first-stage only: the output in the interrupt range: SGN.8. Nested: the output GPA goes through the second
///     stage with the request's rights (SGN.5, SSS.x, SGN.6/7, SGN.8 as above).
///   - a write (or AtomicOp) that got this far sets D in the leaf, under the same rules as A (SFS.9, SFS.8).
///   - nested with SSADE: a first-stage A/EA/D update that was allowed (not one the erratum forced through a read-only
///     page) is a write to the table page, so the second-stage leaf mapping that page gets D; after the first stage's
///     D, the data page's second-stage leaf gets D (SSS.5 if the walk is not snooped).
///   - effective W = (AND of R/W, or PR=1 with WPE=0) AND (nested: second-stage W of the output GPA).
///
/// It has no caches: the engine's caches must be invisible, so a sequence of requests against one image (where only
/// the walks' own A/D updates change memory) must give, request by request, what this walker gives on memory as it is.
/// </summary>
public sealed class ReferenceWalker
{
    private const ulong AddressBits = 0x000F_FFFF_FFFF_F000; // bits 51:12
    private const ulong InterruptBase = 0xFEE0_0000, InterruptEnd = 0xFEF0_0000;

    private readonly MachineMemory _memory;
    private readonly ReferenceContext _ctx;
    private readonly Dictionary<ulong, ulong> _writes = new();
    private readonly HashSet<ulong> _secondStageWrites = new();
    private int _erratumWrites;

    private ReferenceWalker(MachineMemory memory, ReferenceContext ctx)
    {
        _memory = memory;
        _ctx = ctx;
    }

    public static ReferenceOutcome Translate(MachineMemory memory, ReferenceContext ctx, ReferenceRequest request)
    {
        var walker = new ReferenceWalker(memory, ctx);
        var (fault, hpa, writable) = walker.Run(request);
        return new ReferenceOutcome(fault, fault == FaultReason.None ? hpa : 0, fault == FaultReason.None && writable, walker._writes, walker._erratumWrites,
            walker._secondStageWrites.Count);
    }

    private (FaultReason, ulong, bool) Run(ReferenceRequest request)
    {
        switch (_ctx.Mode)
        {
            case ReferenceMode.LegacySecondLevel:
            case ReferenceMode.SecondStageOnly:
            {
                var why = _ctx.Mode == ReferenceMode.LegacySecondLevel ? Why.Legacy : Why.FinalGpa;
                var ss = SecondStage(request.Address, why, request.NeedsRead, request.NeedsWrite, 0, request.Execute);
                if (ss.Fault == FaultReason.None && request.NeedsWrite)
                {
                    FaultReason dirty = SetSecondStageDirty(ss.LeafSlot);
                    if (dirty != FaultReason.None) return (dirty, 0, false);
                }
                return (ss.Fault, ss.Output, ss.Write);
            }
            default:
                return FirstStage(request);
        }
    }

    // ------------------------------------------------------------------ memory with the walk's own writes on top

    private bool Read(ulong address, out ulong value)
    {
        if (_writes.TryGetValue(address, out value)) return true;
        return _memory.TryRead64(new Hpa(address), out value);
    }

    private static bool Bit(ulong value, int bit) => ((value >> bit) & 1) != 0;

    private static ulong BitRange(int hi, int lo) => ((1UL << (hi - lo + 1)) - 1) << lo;

    private static int IndexAt(ulong address, int level) => (int)((address >> (12 + 9 * (level - 1))) & 511);

    private static ulong PageSizeAt(int level) => 1UL << (12 + 9 * (level - 1));

    private ulong AboveHaw => _ctx.HostAddressWidth >= 52 ? 0 : BitRange(51, _ctx.HostAddressWidth);

    // ------------------------------------------------------------------ second stage

    private enum Why { Legacy, FinalGpa, FirstStageTable }

    /// <summary>A second-stage walk's result; <paramref name="LeafSlot"/> is the host address of its leaf entry.</summary>
    private readonly record struct SsResult(FaultReason Fault, ulong Output, bool Read, bool Write, ulong LeafSlot);

    private static SsResult SsFault(FaultReason reason) => new(reason, 0, false, false, 0);

    private const ulong SsAccessed = 1UL << 8, SsDirty = 1UL << 9;

    /// <summary>SSADE: D in a second-stage leaf as it is now (a locked update, so it needs a snooped walk: SSS.5).</summary>
    private FaultReason SetSecondStageDirty(ulong leafSlot)
    {
        if (!_ctx.SecondStageAccessedDirty) return FaultReason.None;
        Read(leafSlot, out ulong e);
        if (Bit(e, 9)) return FaultReason.None;
        if (!_ctx.PageWalkSnoop) return FaultReason.SSS5_FlagUpdateNotSnooped;
        _writes[leafSlot] = e | SsDirty;
        _secondStageWrites.Add(leafSlot);
        return FaultReason.None;
    }

    /// <param name="fsLevel">For <see cref="Why.FirstStageTable"/>: the first-stage level whose table is being read.</param>
    private SsResult SecondStage(ulong gpa, Why why, bool needRead, bool needWrite, int fsLevel, bool needExecute = false)
    {
        bool useX = _ctx.SecondStageExecuteEnable && why != Why.Legacy;
        int aw = _ctx.SecondStageAddressWidth;
        int levels = aw + 2;
        int widthBits = Math.Min(30 + 9 * aw, _ctx.MaxGuestAddressWidth);
        if (widthBits < 64 && gpa >= 1UL << widthBits)
        {
            return SsFault(why switch
            {
                Why.Legacy => FaultReason.LGN1_AddressBeyondWidth,
                Why.FirstStageTable => FaultReason.SFS5_TableGpaBeyondWidth,
                _ => FaultReason.SGN5_AddressBeyondGuestWidth,
            });
        }

        FaultReason notPresent = why switch
        {
            Why.Legacy => needWrite ? FaultReason.LGN2_WriteDenied : FaultReason.LGN3_ReadDenied,
            Why.FirstStageTable => fsLevel == _ctx.FirstStageLevels ? FaultReason.SFS6_TopLevelNotReadable : FaultReason.SFS7_EntryNotReadable,
            _ => FaultReason.SSS2_EntryNotPresent,
        };
        FaultReason reservedFault = why == Why.Legacy ? FaultReason.LSL2_PagingEntryReserved : FaultReason.SSS3_EntryReserved;

        ulong table = _ctx.SecondStageRoot;
        bool canRead = true, canWrite = true, canExecute = true;
        for (int level = levels; level >= 1; level--)
        {
            ulong slot = table + 8UL * (ulong)IndexAt(gpa, level);
            if (!Read(slot, out ulong e))
            {
                if (why == Why.Legacy) return SsFault(level == levels ? FaultReason.LCT4_ContextInvalid : FaultReason.LSL1_PagingEntryAccessError); // D46
                return SsFault(level == levels ? FaultReason.SSS4_RootAccessError : FaultReason.SSS1_EntryAccessError);
            }

            bool r = Bit(e, 0), w = Bit(e, 1), x = useX && Bit(e, 2);
            if (!r && !w && !x) return SsFault(notPresent);
            canRead &= r;
            canWrite &= w;
            canExecute &= x;
            if (!canRead && !canWrite && !canExecute) return SsFault(notPresent);

            bool ps = Bit(e, 7);
            bool psAllowedHere = (level == 2 && _ctx.SecondStage2MiB) || (level == 3 && _ctx.SecondStage1GiB);
            bool leaf = level == 1 || (ps && psAllowedHere);

            ulong reserved = AboveHaw;
            if (leaf)
            {
                if (!_ctx.SnoopControl) reserved |= 1UL << 11;
                if (!_ctx.DeviceTlb) reserved |= 1UL << 62;
                if (level == 2) reserved |= BitRange(20, 12);
                if (level == 3) reserved |= BitRange(29, 12);
            }
            else
            {
                reserved |= 1UL << 11 | 1UL << 62;
                if (level >= 4) reserved |= 1UL << 7; // PS is reserved in PML5E/PML4E
            }
            bool unsupportedLargePage = ps && !leaf && (level == 2 || level == 3);
            if ((e & reserved) != 0 || unsupportedLargePage) return SsFault(reservedFault);

            if (_ctx.SecondStageAccessedDirty && !Bit(e, 8))
            {
                if (!_ctx.PageWalkSnoop) return SsFault(FaultReason.SSS5_FlagUpdateNotSnooped);
                e |= SsAccessed;
                _writes[slot] = e;
                _secondStageWrites.Add(slot);
            }

            if (leaf)
            {
                ulong size = PageSizeAt(level);
                if (why == Why.FirstStageTable)
                {
                    if (!canRead) return SsFault(notPresent);
                }
                else
                {
                    if (needWrite && !canWrite)
                        return SsFault(why == Why.Legacy ? FaultReason.LGN2_WriteDenied : FaultReason.SGN6_WriteDenied);
                    if (needRead && !canRead)
                        return SsFault(why == Why.Legacy ? FaultReason.LGN3_ReadDenied : FaultReason.SGN7_ReadDenied);
                    if (needExecute && useX && !canExecute)
                        return SsFault(FaultReason.SGN3_ExecuteDenied);
                }
                ulong output = (e & AddressBits & ~(size - 1)) + (gpa & (size - 1));
                if (output >= InterruptBase && output < InterruptEnd)
                    return SsFault(why == Why.Legacy ? FaultReason.LGN4_InterruptAddress : FaultReason.SGN8_InterruptAddress);
                return new SsResult(FaultReason.None, output, canRead, canWrite, slot);
            }
            table = e & AddressBits;
        }
        throw new InvalidOperationException("unreachable: level 1 is always a leaf");
    }

    // ------------------------------------------------------------------ first stage (and nested)

    private (FaultReason, ulong, bool) FirstStage(ReferenceRequest request)
    {
        bool nested = _ctx.Mode == ReferenceMode.Nested;
        int levels = _ctx.FirstStageLevels;
        ulong va = request.Address;

        // The PASID entry is checked before any paging structure (walk order, vtd-facts 2.6).
        if (request.Privileged && !_ctx.SupervisorRequestEnable) return (FaultReason.SPT6_SupervisorRequestDisabled, 0, false);
        if (request.Execute && !_ctx.ExecuteRequestEnable) return (FaultReason.SPT5_ExecuteRequestDisabled, 0, false);

        // Canonical: bits 63..(width-1) all equal.
        int width = levels == 5 ? 57 : 48;
        ulong top = va >> (width - 1);
        if (top != 0 && top != (ulong.MaxValue >> (width - 1))) return (FaultReason.SGN1_NonCanonical, 0, false);

        ulong table = _ctx.FirstStageRoot;
        bool allWritable = true, allUser = true, anyExecuteDisable = false;
        ulong leafEntry = 0, leafSlotHpa = 0, leafSize = 0, leafTableSsLeaf = 0;
        bool leafTableWritableInSs = true;
        int leafLevel = 0;

        for (int level = levels; level >= 1; level--)
        {
            ulong slot = table + 8UL * (ulong)IndexAt(va, level); // an HPA, or a GPA when nested
            ulong slotHpa = slot, tableSsLeaf = 0;
            bool tableWritableInSs = true;
            if (nested)
            {
                var ss = SecondStage(slot, Why.FirstStageTable, needRead: true, needWrite: false, fsLevel: level);
                if (ss.Fault != FaultReason.None) return (ss.Fault, 0, false);
                slotHpa = ss.Output;
                tableWritableInSs = ss.Write;
                tableSsLeaf = ss.LeafSlot;
            }

            if (!Read(slotHpa, out ulong e))
                return (level == levels ? FaultReason.SFS4_TopLevelAccessError : FaultReason.SFS1_EntryAccessError, 0, false);
            if (!Bit(e, 0)) return (FaultReason.SFS2_EntryNotPresent, 0, false);

            bool ps = Bit(e, 7);
            bool leaf = level == 1 || (ps && (level == 2 || (level == 3 && _ctx.FirstStage1GiB)));
            ulong reserved = AboveHaw;
            if (level >= 4) reserved |= 1UL << 7;
            if (leaf && level == 2) reserved |= BitRange(20, 13);
            if (leaf && level == 3) reserved |= BitRange(29, 13);
            bool unsupportedLargePage = ps && !leaf && level == 3;
            if ((e & reserved) != 0 || unsupportedLargePage) return (FaultReason.SFS3_EntryReserved, 0, false);

            allWritable &= Bit(e, 1);
            allUser &= Bit(e, 2);
            anyExecuteDisable |= Bit(e, 63);

            ulong wanted = 1UL << 5; // A
            if (_ctx.ExtendedAccessedFlagEnable) wanted |= 1UL << 10; // EA
            if ((e & wanted) != wanted)
            {
                FaultReason why = SetFlags(slotHpa, e, wanted, level, tableWritableInSs, tableSsLeaf, nested);
                if (why != FaultReason.None) return (why, 0, false);
                e |= wanted;
            }

            if (leaf)
            {
                leafEntry = e;
                leafSlotHpa = slotHpa;
                leafSize = PageSizeAt(level);
                leafLevel = level;
                leafTableWritableInSs = tableWritableInSs;
                leafTableSsLeaf = tableSsLeaf;
                break;
            }
            table = e & AddressBits;
        }

        if (!request.Privileged && !allUser) return (FaultReason.SGN2_UserAccessToSupervisorPage, 0, false);
        bool fsWritable = allWritable || (request.Privileged && !_ctx.WriteProtectEnable);
        if (request.NeedsWrite && !fsWritable) return (FaultReason.SGN6_WriteDenied, 0, false);
        if (request.Execute && anyExecuteDisable) return (FaultReason.SGN3_ExecuteDenied, 0, false);

        ulong fsOutput = (leafEntry & AddressBits & ~(leafSize - 1)) + (va & (leafSize - 1));
        ulong hpa, dataSsLeaf = 0;
        bool writable;
        if (nested)
        {
            var final = SecondStage(fsOutput, Why.FinalGpa, request.NeedsRead, request.NeedsWrite, 0, request.Execute);
            if (final.Fault != FaultReason.None) return (final.Fault, 0, false);
            hpa = final.Output;
            writable = fsWritable && final.Write;
            dataSsLeaf = final.LeafSlot;
        }
        else
        {
            if (fsOutput >= InterruptBase && fsOutput < InterruptEnd) return (FaultReason.SGN8_InterruptAddress, 0, false);
            hpa = fsOutput;
            writable = fsWritable;
        }

        if (request.NeedsWrite)
        {
            ulong current = leafEntry;
            if (_writes.TryGetValue(leafSlotHpa, out ulong latest)) current = latest;
            if (!Bit(current, 6))
            {
                FaultReason why = SetFlags(leafSlotHpa, current, 1UL << 6, leafLevel, leafTableWritableInSs, leafTableSsLeaf, nested);
                if (why != FaultReason.None) return (why, 0, false);
            }
            if (nested)
            {
                FaultReason why = SetSecondStageDirty(dataSsLeaf); // only now: a refused first-stage D leaves the page clean
                if (why != FaultReason.None) return (why, 0, false);
            }
        }
        return (FaultReason.None, hpa, writable);
    }

    /// <summary>
    /// A locked update of A/EA/D in a first-stage entry, with the snoop and (nested) second-stage-write rules; in a nested
    /// walk with SSADE an allowed update also dirties the second-stage leaf of the table page it wrote.
    /// </summary>
    private FaultReason SetFlags(ulong slotHpa, ulong oldValue, ulong flags, int level, bool tableWritableInSs, ulong tableSsLeaf, bool nested)
    {
        if (!_ctx.PageWalkSnoop) return FaultReason.SFS9_FlagUpdateNotSnooped;
        bool forced = false;
        if (nested && !tableWritableInSs)
        {
            bool erratumCovers = _ctx.Erratum772415 && (!_ctx.ErratumTopLevelOnly || level == _ctx.FirstStageLevels);
            if (!erratumCovers) return FaultReason.SFS8_EntryNotWritable;
            _erratumWrites++;
            forced = true;
        }
        _writes[slotHpa] = oldValue | flags;
        return nested && !forced ? SetSecondStageDirty(tableSsLeaf) : FaultReason.None;
    }
}
