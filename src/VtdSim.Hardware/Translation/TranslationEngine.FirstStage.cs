using System.Runtime.CompilerServices;
using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Caches;
using VtdSim.Hardware.Faults;
using VtdSim.Hardware.Memory;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Structures;
using VtdSim.Hardware.Tracing;

namespace VtdSim.Hardware.Translation;

/// <summary>
/// The first-stage walk (spec 3.6), and the nested two-dimensional walk (spec 3.8) when every first-stage table address
/// is a GPA translated through the second stage. A/EA are set in each entry as it is used; D in the leaf once the whole
/// translation has succeeded. In nested mode each flag update needs second-stage write permission on the table page
/// (else SFS.8) — unless erratum 772415 is on, when the update is written anyway and reported.
/// </summary>
internal sealed partial class TranslationEngine
{
    private int _topFsLevel;

    /// <summary>
    /// <paramref name="rights"/> are the page's rights as the walk found them, for any request; <paramref name="supervisorRights"/>
    /// those of a privileged request under WPE=0, which may also write where the first stage says R/W=0.
    /// </summary>
    private FaultReason WalkFirstStage(in DmaRequest request, in ResolvedContext ctx, WalkTrace? trace,
        out Hpa output, out ulong pageSize, out AccessRights rights, out AccessRights supervisorRights)
    {
        // Hot path, like WalkSecondStage: faults and trace records are built in NoInlining helpers.
        output = default;
        pageSize = 0;
        rights = AccessRights.None;
        supervisorRights = AccessRights.None;
        ulong input = request.Address.Value;
        int levels = ctx.FsLevels;
        _topFsLevel = levels;
        int width = levels == 5 ? 57 : 48;
        ulong upper = input >> (width - 1); // bits 63:width-1 must be all zeros or all ones
        if (upper != 0 && upper != (ulong.MaxValue >> (width - 1)))
            return FsNonCanonical(input, levels, width);

        bool nested = ctx.Kind == TranslationKind.Nested;
        ulong flags = FirstStageEntry.AccessedBit | (ctx.ExtendedAccessedEnable ? FirstStageEntry.ExtendedAccessedBit : 0);
        ulong mustBeSet = FirstStageEntry.PresentBit | flags;
        ulong table = ctx.FsRoot;
        ulong pathAnd = ulong.MaxValue, pathOr = 0; // R/W and U/S of the path are the AND over its entries, XD the OR
        ulong entryAddress, entryGpa, raw;
        MachineMemory memory = _memory;
        bool tableWritableInSs = true;
        SecondStageWalk tablePage = default; // the second-stage mapping of the current table page (nested)
        int level = levels;
        bool psc = _fsPscOn;
        // A paging-structure-cache hit gives the table below the cached entry already translated to a host page.
        ulong cachedTableHost = 0;
        bool tableHostKnown = false;
        if (psc)
        {
            // Returned by value, not through refs: the loop's locals must not be address-taken or they leave registers.
            FsPscHit hit = FsPscLookup(in ctx, input, trace);
            if (hit.Level != 0)
            {
                (level, table, cachedTableHost, pathAnd, pathOr) = (hit.Level, hit.TableGpa, hit.TableHost, hit.PathAnd, hit.PathOr);
                (tablePage, tableWritableInSs, tableHostKnown) = (hit.TablePage, hit.TableWritable, true);
            }
        }
        for (; ; level--)
        {
            int index = Index(input, level);
            entryGpa = table + ((ulong)index << 3);
            if (tableHostKnown)
            {
                entryAddress = cachedTableHost + ((ulong)index << 3);
                tableHostKnown = false;
            }
            else if (nested)
            {
                FaultReason r = WalkSecondStage(in ctx, entryGpa, AccessRights.Read, false, SsRole.FirstStageTable, level, trace, out tablePage);
                if (r != FaultReason.None) return r;
                entryAddress = tablePage.Output;
                tableWritableInSs = (tablePage.Rights & AccessRights.Write) != 0;
            }
            else
            {
                entryAddress = entryGpa;
            }

            // The table is 4 KiB aligned in both address spaces, so its host page is entryAddress with the index cleared.
            MachineMemory.EntryRead read = memory.ReadEntry(entryAddress & ~(ulong)(MachineMemory.PageSize - 1), index, ref _fsHints[level]);
            raw = read.Value;
            if (!read.Readable)
                return FsReadError(level == levels, level, entryAddress, nested, entryGpa);
            if (trace is not null) TraceRead(trace, TraceStage.FirstStage, level, entryAddress, raw, GpaIf(nested, entryGpa), 0);

            bool leaf = level == 1 || ((raw & FirstStageEntry.PageSizeBit) != 0 && (level == 2 || (level == 3 && _fs1G)));
            // One test passes the usual entry: present, no reserved bit, no PS where PS is not a page size, A (and EA)
            // already set. Any other entry goes through every check, in order, in FsCheckEntry.
            ulong mustBeClear = leaf ? _fsLeaf[level] : _fsNonLeaf[level] | FirstStageEntry.PageSizeBit;
            if (((raw & mustBeClear) | (~raw & mustBeSet)) != 0)
            {
                FaultReason r = FsCheckEntry(in ctx, in tablePage, tableWritableInSs, leaf, level, entryAddress, entryGpa, raw, flags, input, trace, out raw);
                if (r != FaultReason.None) return r;
            }
            pathAnd &= raw;
            pathOr |= raw;
            if (leaf) break;
            table = raw & FirstStageEntry.AddressMask;
            if (psc)
            {
                FsPscFilled filled = FsPscFill(in ctx, input, level, table, pathAnd, pathOr, trace);
                if (filled.Fault != FaultReason.None) return filled.Fault;
                cachedTableHost = filled.TableHost;
                tableHostKnown = true;
                if (nested) (tablePage, tableWritableInSs) = (filled.TablePage, filled.TableWritable);
            }
        }

        // Permissions of the whole first-stage path (spec 3.6.1).
        bool writable = (pathAnd & FirstStageEntry.ReadWriteBit) != 0;
        bool user = (pathAnd & FirstStageEntry.UserBit) != 0;
        bool executeDisable = (pathOr & FirstStageEntry.ExecuteDisableBit) != 0;
        if (!ctx.Privileged && !user)
            return FsUserDenied(level, entryAddress, raw, nested, entryGpa, input);
        bool writeAllowed = writable || (ctx.Privileged && !ctx.WriteProtectEnable);
        if (request.IsWrite && !writeAllowed)
            return FsWriteDenied(level, entryAddress, raw, nested, entryGpa, input, ctx.Privileged);
        if (request.Execute && executeDisable)
            return FsExecuteDenied(level, entryAddress, raw, nested, entryGpa, input);

        ulong fsPageSize = 1UL << (12 + 9 * (level - 1));
        ulong fsOutput = (raw & FirstStageEntry.AddressMask & ~(fsPageSize - 1)) | (input & (fsPageSize - 1));
        rights = AccessRights.Read | (writable ? AccessRights.Write : 0) | (executeDisable ? 0 : AccessRights.Execute) | (user ? AccessRights.User : 0);
        supervisorRights = rights | AccessRights.Write;
        pageSize = fsPageSize;
        SecondStageWalk final = default;
        if (nested)
        {
            // The data page's second-stage D waits for the first stage's D below: a write refused there is never made.
            FaultReason r = WalkSecondStage(in ctx, fsOutput, Need(in request), false, SsRole.Final, 0, trace, out final);
            if (r != FaultReason.None) return r;
            output = new Hpa(final.Output);
            pageSize = Math.Min(fsPageSize, final.PageSize);
            rights &= final.Rights | AccessRights.User;
            supervisorRights &= final.Rights | AccessRights.User;
        }
        else
        {
            if (InInterruptRange(fsOutput))
                return FsInterruptAddress(level, entryAddress, raw, input, fsOutput);
            output = new Hpa(fsOutput);
        }

        // D goes in the first-stage leaf only once the access is known to be allowed all the way through, and in the
        // data page's second-stage leaf only after that (decisions D3): a refused D update leaves both pages clean.
        if (request.IsWrite && request.AddressType == AddressType.Untranslated)
        {
            if ((raw & FirstStageEntry.DirtyBit) == 0)
            {
                FaultReason d = UpdateFirstStageFlags(in ctx, in tablePage, tableWritableInSs, entryAddress, entryGpa, raw, FirstStageEntry.DirtyBit, level, trace, out _);
                if (d != FaultReason.None) return d;
            }
            if (nested && ctx.SsAccessedDirty)
            {
                FaultReason d = SetDataPageDirty(in ctx, in final, fsOutput, trace);
                if (d != FaultReason.None) return d;
            }
        }
        return FaultReason.None;
    }

    /// <summary>
    /// Sets D in the second-stage leaf that maps a nested write's data page, as read now (the first stage's D update may
    /// have dirtied the same leaf, D4). Needs a snooped walk, else SSS.5.
    /// </summary>
    private FaultReason SetDataPageDirty(in ResolvedContext ctx, in SecondStageWalk final, ulong gpa, WalkTrace? trace)
    {
        bool readable = _memory.TryRead64(new Hpa(final.LeafEntry), out ulong ssRaw);
        if (readable && (ssRaw & SecondStageEntry.DirtyBit) != 0) return FaultReason.None;
        // An unreadable leaf fails the locked update below: SSS.6.
        return UpdateSecondStageFlags(in ctx, final.LeafEntry, ssRaw, SecondStageEntry.DirtyBit, final.LeafLevel, gpa, 0, trace);
    }

    /// <summary>
    /// The checks of one first-stage entry, in the specification's order: not present (SFS.2), reserved bits or a PS
    /// the unit does not support (SFS.3), then the A/EA update. <paramref name="updated"/> is the entry after the update.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private FaultReason FsCheckEntry(in ResolvedContext ctx, in SecondStageWalk tablePage, bool tableWritableInSs, bool leaf, int level,
        ulong entryAddress, ulong entryGpa, ulong raw, ulong flags, ulong input, WalkTrace? trace, out ulong updated)
    {
        updated = raw;
        bool nested = ctx.Kind == TranslationKind.Nested;
        if ((raw & FirstStageEntry.PresentBit) == 0)
            return FsNotPresent(level, entryAddress, raw, nested, entryGpa, input);
        bool ps = (raw & FirstStageEntry.PageSizeBit) != 0 && level is 2 or 3;
        ulong reserved = raw & (leaf ? _fsLeaf[level] : _fsNonLeaf[level]);
        if (reserved != 0 || (ps && !leaf))
            return FsEntryReserved(level, entryAddress, raw, nested, entryGpa, reserved);
        if ((raw & flags) != flags)
            return UpdateFirstStageFlags(in ctx, in tablePage, tableWritableInSs, entryAddress, entryGpa, raw, flags, level, trace, out updated);
        return FaultReason.None;
    }

    // ---- first-stage faults, out of line (spec condition names: SGN.x, SFS.x) ----

    [MethodImpl(MethodImplOptions.NoInlining)]
    private FaultReason FsNonCanonical(ulong input, int levels, int width) =>
        Fail(FaultReason.SGN1_NonCanonical, 0, null, 0, null, $"address 0x{input:x} is not canonical for {levels}-level ({width}-bit) first-stage paging");

    [MethodImpl(MethodImplOptions.NoInlining)]
    private FaultReason FsReadError(bool topLevel, int level, ulong entryAddress, bool nested, ulong entryGpa) =>
        Fail(topLevel ? FaultReason.SFS4_TopLevelAccessError : FaultReason.SFS1_EntryAccessError, level, new Hpa(entryAddress), 0, GpaIf(nested, entryGpa),
            $"the first-stage L{level} entry at 0x{entryAddress:x} cannot be read");

    [MethodImpl(MethodImplOptions.NoInlining)]
    private FaultReason FsNotPresent(int level, ulong entryAddress, ulong raw, bool nested, ulong entryGpa, ulong input) =>
        Fail(FaultReason.SFS2_EntryNotPresent, level, new Hpa(entryAddress), raw, GpaIf(nested, entryGpa),
            $"address 0x{input:x} is not mapped: the first-stage L{level} entry at 0x{entryAddress:x} is not present");

    [MethodImpl(MethodImplOptions.NoInlining)]
    private FaultReason FsEntryReserved(int level, ulong entryAddress, ulong raw, bool nested, ulong entryGpa, ulong reserved) =>
        Fail(FaultReason.SFS3_EntryReserved, level, new Hpa(entryAddress), raw, GpaIf(nested, entryGpa),
            reserved != 0 ? $"the first-stage L{level} entry at 0x{entryAddress:x} has reserved bits 0x{reserved:x} set"
                          : $"the first-stage L{level} entry at 0x{entryAddress:x} maps a 1 GiB page but CAP.FS1GP=0");

    [MethodImpl(MethodImplOptions.NoInlining)]
    private FaultReason FsUserDenied(int level, ulong entryAddress, ulong raw, bool nested, ulong entryGpa, ulong input) =>
        Fail(FaultReason.SGN2_UserAccessToSupervisorPage, level, new Hpa(entryAddress), raw, GpaIf(nested, entryGpa),
            $"user request to 0x{input:x}, but its first-stage path has U/S=0 (supervisor only)");

    [MethodImpl(MethodImplOptions.NoInlining)]
    private FaultReason FsWriteDenied(int level, ulong entryAddress, ulong raw, bool nested, ulong entryGpa, ulong input, bool privileged) =>
        Fail(FaultReason.SGN6_WriteDenied, level, new Hpa(entryAddress), raw, GpaIf(nested, entryGpa),
            $"write to 0x{input:x}, which the first stage maps read-only (R/W=0 on its path{(privileged ? ", WPE=1" : "")})");

    [MethodImpl(MethodImplOptions.NoInlining)]
    private FaultReason FsExecuteDenied(int level, ulong entryAddress, ulong raw, bool nested, ulong entryGpa, ulong input) =>
        Fail(FaultReason.SGN3_ExecuteDenied, level, new Hpa(entryAddress), raw, GpaIf(nested, entryGpa),
            $"execute request to 0x{input:x}, which the first stage marks XD");

    [MethodImpl(MethodImplOptions.NoInlining)]
    private FaultReason FsInterruptAddress(int level, ulong entryAddress, ulong raw, ulong input, ulong fsOutput) =>
        Fail(FaultReason.SGN8_InterruptAddress, level, new Hpa(entryAddress), raw, null,
            $"0x{input:x} translates to 0x{fsOutput:x}, inside the interrupt range 0xFEE00000-0xFEEFFFFF");

    /// <summary>
    /// The first-stage paging-structure cache: the lowest cached non-leaf entry on the input's path lets the walk start at
    /// the level below it. In a nested walk the cached entry also holds the second-stage translation of the next table
    /// page (its host address, its write permission and its SS leaf), so those SS walks are skipped too (D28).
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private FsPscHit FsPscLookup(in ResolvedContext ctx, ulong input, WalkTrace? trace)
    {
        var cache = _caches.FirstStage;
        uint pasid = ctx.Pasid ?? 0;
        for (int l = 2; l <= ctx.FsLevels; l++)
        {
            var key = new FirstStagePscKey(ctx.DomainId, pasid, (byte)l, input >> (12 + 9 * (l - 1)));
            if (!cache.Probe(in key, CacheTag.PagingStructure(ctx.DomainId, pasid, key.Level, key.InputTag), out FirstStagePscEntry hit)) continue;
            cache.Statistics.Hits++;
            trace?.NoteCacheHit($"first-stage paging-structure cache (L{l})");
            return new FsPscHit(
                l - 1, hit.NextTableGpa, hit.NextTable,
                (hit.Writable ? FirstStageEntry.ReadWriteBit : 0) | (hit.User ? FirstStageEntry.UserBit : 0) | ~(FirstStageEntry.ReadWriteBit | FirstStageEntry.UserBit),
                hit.ExecuteDisable ? FirstStageEntry.ExecuteDisableBit : 0,
                new SecondStageWalk { LeafEntry = hit.NextTableSsLeaf, LeafLevel = hit.NextTableSsLeafLevel,
                    Rights = hit.NextTableWritable ? AccessRights.Read | AccessRights.Write : AccessRights.Read },
                hit.NextTableWritable);
        }
        cache.Statistics.Misses++;
        return default;
    }

    /// <summary>A first-stage PSC hit: the level to continue at (0: miss), the next table (GPA and host), the path's rights so far, and in a nested walk the table page's second-stage mapping.</summary>
    private readonly record struct FsPscHit(int Level, ulong TableGpa, ulong TableHost, ulong PathAnd, ulong PathOr, SecondStageWalk TablePage, bool TableWritable);

    /// <summary>What a PSC fill learned: a fault of the next table's second-stage walk, or that table's host page and mapping.</summary>
    private readonly record struct FsPscFilled(FaultReason Fault, ulong TableHost, SecondStageWalk TablePage, bool TableWritable);

    /// <summary>
    /// Caches the non-leaf entry just used at <paramref name="level"/>. Nested: the next table page is translated
    /// through the second stage first (exactly as the next iteration would, so the walk reuses it through
    /// the returned host page); a failure there is the walk's fault, reported as the next level's.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private FsPscFilled FsPscFill(in ResolvedContext ctx, ulong input, int level, ulong nextTable, ulong pathAnd, ulong pathOr, WalkTrace? trace)
    {
        ulong host = nextTable, gpa = nextTable;
        bool writable = true;
        SecondStageWalk page = default;
        if (ctx.Kind == TranslationKind.Nested)
        {
            // Translate the entry the next iteration will read (same GPA, same role and level as it would use).
            ulong entryGpa = nextTable + ((ulong)Index(input, level - 1) << 3);
            FaultReason fault = WalkSecondStage(in ctx, entryGpa, AccessRights.Read, false, SsRole.FirstStageTable, level - 1, trace, out page);
            if (fault != FaultReason.None) return new FsPscFilled(fault, 0, default, false);
            host = page.Output & ~(ulong)(MachineMemory.PageSize - 1);
            writable = (page.Rights & AccessRights.Write) != 0;
        }
        var key = new FirstStagePscKey(ctx.DomainId, ctx.Pasid ?? 0, (byte)level, input >> (12 + 9 * (level - 1)));
        _caches.FirstStage.Add(in key, CacheTag.PagingStructure(ctx.DomainId, ctx.Pasid ?? 0, key.Level, key.InputTag), new FirstStagePscEntry(
            host, gpa, writable, page.LeafEntry, (byte)page.LeafLevel,
            (pathAnd & FirstStageEntry.ReadWriteBit) != 0, (pathAnd & FirstStageEntry.UserBit) != 0, (pathOr & FirstStageEntry.ExecuteDisableBit) != 0));
        return new FsPscFilled(FaultReason.None, host, page, writable);
    }

    /// <summary>
    /// Sets A/EA/D in a first-stage entry with a locked RMW. Needs a snooped walk (SFS.9). In nested mode the entry's
    /// page must be writable in the second stage (SFS.8), except where erratum 772415 reaches.
    /// </summary>
    private FaultReason UpdateFirstStageFlags(in ResolvedContext ctx, in SecondStageWalk tablePage, bool tableWritableInSs, ulong entryAddress, ulong entryGpa,
        ulong raw, ulong flags, int level, WalkTrace? trace, out ulong updated)
    {
        updated = raw;
        bool nested = ctx.Kind == TranslationKind.Nested;
        string name = FlagNames(flags);
        if (!ctx.PageWalkSnoop)
            return Fail(FaultReason.SFS9_FlagUpdateNotSnooped, level, new Hpa(entryAddress), raw, GpaIf(nested, entryGpa),
                $"the first-stage L{level} entry at 0x{entryAddress:x} needs {name} set but the walk is not snooped (PWSNP=0)");
        bool erratum = false;
        if (nested && !tableWritableInSs)
        {
            erratum = _profile.Erratum772415 && (_profile.ErratumReach == ErratumReach.AllLevels || level == _topFsLevel);
            if (!erratum)
                return Fail(FaultReason.SFS8_EntryNotWritable, level, new Hpa(entryAddress), raw, new Gpa(entryGpa),
                    $"the first-stage L{level} entry at GPA 0x{entryGpa:x} needs {name} set, but the second stage maps that table page read-only");
        }
        ulong desired = raw | flags;
        if (!_memory.TryCompareExchange64(new Hpa(entryAddress), raw, desired, out ulong actual, WriteOrigin.IommuFlagUpdate) || actual != raw)
            return Fail(FaultReason.SFS10_FlagUpdateFailed, level, new Hpa(entryAddress), raw, GpaIf(nested, entryGpa),
                $"the atomic update setting {name} in the first-stage L{level} entry at 0x{entryAddress:x} failed");
        updated = desired;
        trace?.Add(new MemoryReference(TraceStage.FirstStage, level, new Hpa(entryAddress), raw,
            erratum ? ReferenceKind.ErratumFlagUpdate : ReferenceKind.FlagUpdate, desired, GpaIf(nested, entryGpa)));
        if (erratum)
        {
            _erratumWrites.Add(new ErratumWrite(new Gpa(entryGpa), new Hpa(entryAddress), level, raw, desired));
        }
        else if (nested && ctx.SsAccessedDirty)
        {
            // The flag update is a write to the table page through the second stage: mark that page dirty too (decisions.md).
            ulong leaf = tablePage.LeafEntry;
            if (_memory.TryRead64(new Hpa(leaf), out ulong ssRaw) && (ssRaw & SecondStageEntry.DirtyBit) == 0)
            {
                FaultReason r = UpdateSecondStageFlags(in ctx, leaf, ssRaw, SecondStageEntry.DirtyBit, tablePage.LeafLevel, entryGpa, level, trace);
                if (r != FaultReason.None) return r;
            }
        }
        return FaultReason.None;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Gpa? GpaIf(bool nested, ulong gpa) => nested ? new Gpa(gpa) : null;

    private static string FlagNames(ulong flags) => flags switch
    {
        FirstStageEntry.AccessedBit => "A",
        FirstStageEntry.AccessedBit | FirstStageEntry.ExtendedAccessedBit => "A/EA",
        FirstStageEntry.DirtyBit => "D",
        _ => $"flags 0x{flags:x}",
    };
}
