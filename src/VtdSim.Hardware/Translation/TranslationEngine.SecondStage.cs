using System.Runtime.CompilerServices;
using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Caches;
using VtdSim.Hardware.Faults;
using VtdSim.Hardware.Memory;
using VtdSim.Hardware.Structures;
using VtdSim.Hardware.Tracing;

namespace VtdSim.Hardware.Translation;

/// <summary>
/// The second-stage walk (spec 3.7; legacy second-level walks use the same format). Rights are the AND over the levels;
/// A is set in each entry as it is used (SSADE), D in the leaf for writes. Which fault a failure reports depends on the
/// <see cref="SsRole"/>: see docs/decisions.md for the nested cases.
/// </summary>
internal sealed partial class TranslationEngine
{
    // Inlined into its three callers (most of a nested walk's time is here): each copy then gets its own registers
    // and constant role/need, which measured a few percent faster than one shared copy.
    // setDirty: set D in the leaf (SSADE) once the access is allowed — only for an untranslated write that this walk
    // ends; a nested walk's final GPA sets it itself, after the first stage's D (decisions D3).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private FaultReason WalkSecondStage(in ResolvedContext ctx, ulong gpa, AccessRights need, bool setDirty, SsRole role, int forFsLevel,
        WalkTrace? trace, out SecondStageWalk result)
    {
        // Hot path: a nested walk runs this five times. Everything that builds a message or a trace record lives in
        // NoInlining helpers, so the inlined copies stay small and the callers' prologues have no buffers to zero.
        result = default;
        if (gpa > ctx.SsMaxInput)
            return SsWidthFault(in ctx, gpa, role, forFsLevel);

        bool useX = ctx.SsExecuteEnable;
        AccessRights xIgnored = useX ? 0 : AccessRights.Execute; // without SSEE, X never limits the rights
        AccessRights present = useX ? AccessRights.Read | AccessRights.Write | AccessRights.Execute : AccessRights.Read | AccessRights.Write;
        ulong mustBeSet = ctx.SsAccessedDirty ? SecondStageEntry.AccessedBit : 0; // else SsCheckEntry sets it
        ulong table = ctx.SsRoot.Value;
        AccessRights rights = AccessRights.Read | AccessRights.Write | AccessRights.Execute;
        ulong raw;
        int level = ctx.SsLevels, index;
        int hintRow = forFsLevel * HintRow;
        MachineMemory memory = _memory;
        bool psc = _ssPscOn;
        if (psc)
        {
            // Returned by value, not through refs: the loop's locals must not be address-taken or they leave registers.
            SsPscHit hit = SsPscLookup(in ctx, gpa, trace);
            if (hit.Level != 0) (table, rights, level) = (hit.Table, hit.Rights, hit.Level);
        }
        for (int shift = 12 + 9 * (level - 1); ; level--, shift -= 9)
        {
            index = (int)(gpa >> shift) & 0x1FF;
            MachineMemory.EntryRead read = memory.ReadEntry(table, index, ref _ssHints[hintRow + level]);
            raw = read.Value;
            if (!read.Readable)
                return SsReadError(role, level == ctx.SsLevels, level, EntryAddress(table, index), gpa, forFsLevel);
            if (trace is not null) TraceRead(trace, TraceStage.SecondStage, level, EntryAddress(table, index), raw, null, forFsLevel);

            // R, W and X are bits 0..2 of the entry, as they are of AccessRights.
            rights &= (AccessRights)(raw & (SecondStageEntry.ReadBit | SecondStageEntry.WriteBit | SecondStageEntry.ExecuteBit)) | xIgnored;
            bool leaf = level == 1 || ((raw & SecondStageEntry.PageSizeBit) != 0 && (_ssLargePageLevels & (1 << level)) != 0);
            // One test passes the usual entry: present, no reserved bit, no PS where PS is not a page size, A already
            // set when SSADE needs it. Any other entry goes through every check, in order, in SsCheckEntry.
            ulong mustBeClear = leaf ? _ssLeaf[level] : _ssNonLeaf[level] | SecondStageEntry.PageSizeBit;
            if ((rights & present) == 0 || ((raw & mustBeClear) | (~raw & mustBeSet)) != 0)
            {
                FaultReason r = SsCheckEntry(in ctx, role, need, rights, present, leaf, level, EntryAddress(table, index), ref raw, gpa, forFsLevel, trace);
                if (r != FaultReason.None) return r;
            }
            if (leaf) break;
            table = raw & SecondStageEntry.AddressMask;
            if (psc) SsPscFill(in ctx, gpa, level, shift, table, rights);
        }

        ulong entryAddress = EntryAddress(table, index); // the leaf's
        ulong pageSize = 1UL << (12 + 9 * (level - 1));
        AccessRights missing = need & ~rights;
        if (!useX) missing &= ~AccessRights.Execute;
        if (missing != 0)
            return SsPermissionFault(role, missing, level, entryAddress, raw, gpa, forFsLevel);

        ulong output = (raw & SecondStageEntry.AddressMask & ~(pageSize - 1)) | (gpa & (pageSize - 1));
        if (InInterruptRange(output))
            return SsInterruptAddress(role, level, entryAddress, raw, gpa, output);

        if (setDirty && ctx.SsAccessedDirty && (raw & SecondStageEntry.DirtyBit) == 0)
        {
            FaultReason r = UpdateSecondStageFlags(in ctx, entryAddress, raw, SecondStageEntry.DirtyBit, level, gpa, forFsLevel, trace);
            if (r != FaultReason.None) return r;
        }

        result.Output = output;
        result.PageSize = pageSize;
        result.Rights = rights | xIgnored;
        result.LeafEntry = entryAddress;
        result.LeafLevel = level;
        return FaultReason.None;
    }

    /// <summary>
    /// The second-stage paging-structure cache: the lowest cached non-leaf entry on the GPA's path lets the walk start
    /// at the level below it, with the rights accumulated down to it (D28).
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private SsPscHit SsPscLookup(in ResolvedContext ctx, ulong gpa, WalkTrace? trace)
    {
        var cache = _caches.SecondStage;
        for (int l = 2; l <= ctx.SsLevels; l++)
        {
            var key = new SecondStagePscKey(ctx.DomainId, (byte)l, gpa >> (12 + 9 * (l - 1)));
            if (!cache.Probe(in key, CacheTag.PagingStructure(key.DomainId, 0, key.Level, key.InputTag), out SecondStagePscEntry hit)) continue;
            cache.Statistics.Hits++;
            trace?.NoteCacheHit($"second-stage paging-structure cache (L{l})");
            return new SsPscHit(l - 1, hit.NextTable, hit.Rights);
        }
        cache.Statistics.Misses++;
        return default;
    }

    /// <summary>A paging-structure-cache hit: the level to continue at (0: miss), its table and the rights so far.</summary>
    private readonly record struct SsPscHit(int Level, ulong Table, AccessRights Rights);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void SsPscFill(in ResolvedContext ctx, ulong gpa, int level, int shift, ulong nextTable, AccessRights rights)
    {
        var key = new SecondStagePscKey(ctx.DomainId, (byte)level, gpa >> shift);
        _caches.SecondStage.Add(in key, CacheTag.PagingStructure(key.DomainId, 0, key.Level, key.InputTag), new SecondStagePscEntry(nextTable, rights));
    }

    /// <summary>
    /// The checks of one second-stage entry, in the order the specification lists them: not present (SSS.2/LGN.2-3/
    /// SFS.6-7), reserved bits or an unsupported PS (SSS.3/LSL.2), then the A update (SSADE).
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private FaultReason SsCheckEntry(in ResolvedContext ctx, SsRole role, AccessRights need, AccessRights rights, AccessRights present, bool leaf,
        int level, ulong entryAddress, ref ulong raw, ulong gpa, int forFsLevel, WalkTrace? trace)
    {
        if ((rights & present) == 0)
            return SsNotPresent(role, need, level, entryAddress, raw, gpa, forFsLevel);
        bool ps = (raw & SecondStageEntry.PageSizeBit) != 0;
        ulong reserved = raw & (leaf ? _ssLeaf[level] : _ssNonLeaf[level]);
        if (reserved != 0 || (ps && !leaf && level <= 3))
            return SsEntryReserved(role, level, entryAddress, raw, reserved, gpa, forFsLevel);
        if (ctx.SsAccessedDirty && (raw & SecondStageEntry.AccessedBit) == 0)
        {
            FaultReason r = UpdateSecondStageFlags(in ctx, entryAddress, raw, SecondStageEntry.AccessedBit, level, gpa, forFsLevel, trace);
            if (r != FaultReason.None) return r;
            raw |= SecondStageEntry.AccessedBit; // what memory now holds: a later D update compares against it
        }
        return FaultReason.None;
    }

    /// <summary>Sets A or D in a second-stage entry with a locked RMW; needs a snooped walk (PWSNP), else SSS.5.</summary>
    private FaultReason UpdateSecondStageFlags(in ResolvedContext ctx, ulong entryAddress, ulong raw, ulong flag, int level, ulong gpa, int forFsLevel, WalkTrace? trace)
    {
        if (!ctx.PageWalkSnoop)
            return Fail(FaultReason.SSS5_FlagUpdateNotSnooped, level, new Hpa(entryAddress), raw, new Gpa(gpa),
                $"the second-stage L{level} entry needs its {(flag == SecondStageEntry.AccessedBit ? "A" : "D")} flag set but the walk is not snooped (PWSNP=0)");
        ulong desired = raw | flag;
        if (!_memory.TryCompareExchange64(new Hpa(entryAddress), raw, desired, out ulong actual, WriteOrigin.IommuFlagUpdate) || actual != raw)
            return Fail(FaultReason.SSS6_FlagUpdateFailed, level, new Hpa(entryAddress), raw, new Gpa(gpa),
                $"the atomic update of the second-stage L{level} entry at 0x{entryAddress:x} failed");
        trace?.Add(new MemoryReference(TraceStage.SecondStage, level, new Hpa(entryAddress), raw, ReferenceKind.FlagUpdate, desired, ForFirstStageLevel: forFsLevel));
        return FaultReason.None;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private FaultReason SsWidthFault(in ResolvedContext ctx, ulong gpa, SsRole role, int forFsLevel)
    {
        string detail = $"GPA 0x{gpa:x} is beyond the second stage's input limit 0x{ctx.SsMaxInput:x}";
        return role switch
        {
            SsRole.Legacy => Fail(FaultReason.LGN1_AddressBeyondWidth, 0, null, 0, new Gpa(gpa), $"address 0x{gpa:x} is beyond the domain's limit 0x{ctx.SsMaxInput:x}"),
            SsRole.FirstStageTable => Fail(FaultReason.SFS5_TableGpaBeyondWidth, forFsLevel, null, 0, new Gpa(gpa), $"the first-stage L{forFsLevel} table at {detail}"),
            _ => Fail(FaultReason.SGN5_AddressBeyondGuestWidth, 0, null, 0, new Gpa(gpa), detail),
        };
    }

    // The table the context's SLPTPTR (SSPTPTR) points to is not reached through an entry's ADDR: legacy LCT.4.3 (reported
    // as LCT.4), scalable SSS.4; LSL.1/SSS.1 are for the tables below it (decisions D46).
    [MethodImpl(MethodImplOptions.NoInlining)]
    private FaultReason SsReadError(SsRole role, bool topLevel, int level, ulong entry, ulong gpa, int forFsLevel) =>
        SsEntryFault(role, topLevel ? FaultReason.SSS4_RootAccessError : FaultReason.SSS1_EntryAccessError,
            topLevel ? FaultReason.LCT4_ContextInvalid : FaultReason.LSL1_PagingEntryAccessError, level, entry, 0, gpa, forFsLevel, "cannot be read");

    [MethodImpl(MethodImplOptions.NoInlining)]
    private FaultReason SsEntryReserved(SsRole role, int level, ulong entry, ulong raw, ulong reserved, ulong gpa, int forFsLevel) =>
        SsEntryFault(role, FaultReason.SSS3_EntryReserved, FaultReason.LSL2_PagingEntryReserved, level, entry, raw, gpa, forFsLevel,
            reserved != 0 ? $"has reserved bits 0x{reserved:x} set" : $"has PS=1 at level {level}, a page size CAP.SSLPS does not offer");

    [MethodImpl(MethodImplOptions.NoInlining)]
    private FaultReason SsInterruptAddress(SsRole role, int level, ulong entry, ulong raw, ulong gpa, ulong output) =>
        Fail(role == SsRole.Legacy ? FaultReason.LGN4_InterruptAddress : FaultReason.SGN8_InterruptAddress, level, new Hpa(entry), raw, new Gpa(gpa),
            $"GPA 0x{gpa:x} translates to 0x{output:x}, inside the interrupt range 0xFEE00000-0xFEEFFFFF");

    [MethodImpl(MethodImplOptions.NoInlining)]
    private FaultReason SsEntryFault(SsRole role, FaultReason scalable, FaultReason legacy, int level, ulong entry, ulong raw, ulong gpa, int forFsLevel, string what)
    {
        string subject = role == SsRole.FirstStageTable
            ? $"while translating the first-stage L{forFsLevel} table GPA 0x{gpa:x}, the second-stage L{level} entry at 0x{entry:x}"
            : $"the second-stage L{level} entry at 0x{entry:x} for GPA 0x{gpa:x}";
        return Fail(role == SsRole.Legacy ? legacy : scalable, level, new Hpa(entry), raw, new Gpa(gpa), $"{subject} {what}");
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private FaultReason SsNotPresent(SsRole role, AccessRights need, int level, ulong entry, ulong raw, ulong gpa, int forFsLevel) => role switch
    {
        SsRole.Legacy => Fail((need & AccessRights.Write) != 0 ? FaultReason.LGN2_WriteDenied : FaultReason.LGN3_ReadDenied, level, new Hpa(entry), raw, new Gpa(gpa),
            $"address 0x{gpa:x} is not mapped: the second-level L{level} entry at 0x{entry:x} grants neither read nor write"),
        SsRole.FirstStageTable => NestedTableNotReadable(level, entry, raw, gpa, forFsLevel, "is not present (R=W=0)"),
        _ => Fail(FaultReason.SSS2_EntryNotPresent, level, new Hpa(entry), raw, new Gpa(gpa),
            $"GPA 0x{gpa:x} is not mapped: the second-stage L{level} entry at 0x{entry:x} is not present (R=W=0)"),
    };

    [MethodImpl(MethodImplOptions.NoInlining)]
    private FaultReason SsPermissionFault(SsRole role, AccessRights missing, int level, ulong entry, ulong raw, ulong gpa, int forFsLevel)
    {
        if (role == SsRole.FirstStageTable)
            return NestedTableNotReadable(level, entry, raw, gpa, forFsLevel, "denies read");
        // The request's access (write, then read) before its execute attribute: an execute request is a read with ER=1,
        // and a page it may not read reports SGN.7 whether or not SSEE makes X count (decisions D32).
        bool legacy = role == SsRole.Legacy;
        if ((missing & AccessRights.Write) != 0)
            return Fail(legacy ? FaultReason.LGN2_WriteDenied : FaultReason.SGN6_WriteDenied, level, new Hpa(entry), raw, new Gpa(gpa),
                $"write to 0x{gpa:x}, which the second stage maps read-only");
        if ((missing & AccessRights.Read) != 0)
            return Fail(legacy ? FaultReason.LGN3_ReadDenied : FaultReason.SGN7_ReadDenied, level, new Hpa(entry), raw, new Gpa(gpa),
                $"read of 0x{gpa:x}, which the second stage maps without read permission");
        return Fail(FaultReason.SGN3_ExecuteDenied, level, new Hpa(entry), raw, new Gpa(gpa), $"execute request to GPA 0x{gpa:x}, which the second stage maps without X (SSEE=1)");
    }

    private FaultReason NestedTableNotReadable(int level, ulong entry, ulong raw, ulong gpa, int forFsLevel, string what) =>
        Fail(forFsLevel == _topFsLevel ? FaultReason.SFS6_TopLevelNotReadable : FaultReason.SFS7_EntryNotReadable, forFsLevel, new Hpa(entry), raw, new Gpa(gpa),
            $"the first-stage L{forFsLevel} table at GPA 0x{gpa:x} cannot be read: its second-stage L{level} entry at 0x{entry:x} {what}");
}
