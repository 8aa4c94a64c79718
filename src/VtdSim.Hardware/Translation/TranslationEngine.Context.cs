using System.Runtime.CompilerServices;
using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Caches;
using VtdSim.Hardware.Faults;
using VtdSim.Hardware.Memory;
using VtdSim.Hardware.Structures;
using VtdSim.Hardware.Tracing;
using P = VtdSim.Hardware.Structures.PasidGranularTranslationType;

namespace VtdSim.Hardware.Translation;

/// <summary>Root, context, PASID-directory and PASID-table lookups (spec 3.4, 3.4.3; walk order in vtd-facts 2.6).</summary>
internal sealed partial class TranslationEngine
{
    internal FaultReason ResolveContext(in DmaRequest request, in RootTableState root, WalkTrace? trace, out ResolvedContext context)
    {
        context = default;
        if (!root.TranslationEnabled)
        {
            context.Kind = TranslationKind.Disabled;
            return FaultReason.None;
        }
        switch (root.Mode)
        {
            case TranslationTableMode.Legacy:
            case TranslationTableMode.Scalable when _ecap.ScalableModeTranslation:
                return ResolveThroughCaches(in request, in root, trace, ref context);
            case TranslationTableMode.AbortDma when _ecap.AbortDmaMode:
                return Fail(FaultReason.RTA4_AbortDmaMode, 0, null, 0, null, "the root table is in abort-DMA mode (RTADDR.TTM=11): every request is blocked");
            default:
                return Fail(FaultReason.RTA1_InvalidTtm, 0, null, 0, null, (root.Mode, _ecap),
                    static s => $"RTADDR.TTM={(int)s.Mode} is reserved or not supported by this unit (SMTS={s._ecap.ScalableModeTranslation}, ADMS={s._ecap.AbortDmaMode})");
        }
    }

    /// <summary>
    /// Context resolution for legacy and scalable mode. When the context (and PASID) caches answered a request, the
    /// outcome is kept in a small memo until those caches next change: a later request with the same attributes then
    /// gets the same answer without decoding the cached entries again (counted as the cache hits it stands for).
    /// </summary>
    private FaultReason ResolveThroughCaches(in DmaRequest request, in RootTableState root, WalkTrace? trace, ref ResolvedContext context)
    {
        var key = new ContextMemoKey(request.Source.Value, request.Pasid ?? CacheTag.NoPasid, root.Mode, request.AddressType,
            request.Privileged, request.Execute);
        long generation = _caches.ContextGeneration;
        if (trace is null && _contextMemo.TryGet(in key, generation, out context, out var slots))
        {
            _answeredByCaches = true;
            _lastContextSlots = slots;
            // The caches answered this: count it and refresh the entries' recency exactly as the hits would have.
            _caches.Context.Statistics.Hits++;
            _caches.Context.Touch(slots.Context);
            if (slots.Pasid >= 0)
            {
                _caches.Pasid.Statistics.Hits++;
                _caches.Pasid.Touch(slots.Pasid);
            }
            return FaultReason.None;
        }
        DropStaleHints();
        FaultReason reason = root.Mode == TranslationTableMode.Legacy
            ? ResolveLegacy(in request, root.RootTable, trace, ref context)
            : ResolveScalable(in request, root.RootTable, trace, ref context);
        if (reason == FaultReason.None && _answeredByCaches && _caches.ContextGeneration == generation)
        {
            bool pasidUsed = root.Mode == TranslationTableMode.Scalable && context.Pasid is not null;
            _lastContextSlots = (_caches.Context.LastSlot, pasidUsed ? _caches.Pasid.LastSlot : -1);
            _contextMemo.Set(in key, generation, in context, _lastContextSlots);
        }
        else
        {
            _lastContextSlots = (-1, -1);
        }
        if (trace is not null && _answeredByCaches) trace.NoteCacheHit(root.Mode == TranslationTableMode.Legacy ? "context cache" : "context and PASID caches");
        return reason;
    }

    private FaultReason ResolveLegacy(in DmaRequest request, Hpa rootTable, WalkTrace? trace, ref ResolvedContext context)
    {
        if (request.Pasid is not null)
            return Fail(FaultReason.RTA2_PasidInLegacyMode, 0, null, 0, null, "a request with PASID arrived while the root table is in legacy mode");

        SourceId sid = request.Source;
        var cacheKey = new ContextCacheKey(sid.Value);
        int cacheHash = CacheTag.Hash(sid.Value, 0);
        ulong lo, hi;
        Hpa contextAddress;
        bool cached = _caches.Context.TryGet(in cacheKey, cacheHash, out ContextCacheEntry hit) && !hit.Scalable;
        _answeredByCaches = cached;
        if (cached)
        {
            (lo, hi, contextAddress) = (hit.Q0, hit.Q1, new Hpa(hit.Address));
        }
        else
        {
            Hpa rootAddress = rootTable + (ulong)sid.Bus * RootEntry.Size;
            if (!ReadPair(rootAddress, ref _rootHint, out lo, out hi))
                return Fail(FaultReason.LRT1_RootAccessError, 0, rootAddress, 0, null, (sid, rootAddress), static s => $"the root entry for bus {s.sid.Bus:x2} at {s.rootAddress} cannot be read");
            trace?.Add(new MemoryReference(TraceStage.RootTable, 0, rootAddress, lo));
            var rootEntry = new RootEntry(lo, hi);
            if (!rootEntry.Present)
                return Fail(FaultReason.LRT2_RootNotPresent, 0, rootAddress, lo, null, sid, static sid => $"the root entry for bus {sid.Bus:x2} is not present");
            if (rootEntry.LegacyReservedBitsSet(_haw))
                return Fail(FaultReason.LRT3_RootReserved, 0, rootAddress, lo, null, (sid, hi, lo), static s => $"the root entry for bus {s.sid.Bus:x2} has reserved bits set (0x{s.hi:x16}_{s.lo:x16})");

            contextAddress = rootEntry.ContextTablePointer + (ulong)sid.DevFn * LegacyContextEntry.Size;
            if (!ReadPair(contextAddress, ref _contextHint, out lo, out hi))
                return Fail(FaultReason.LCT1_ContextAccessError, 0, contextAddress, 0, null, (sid, contextAddress), static s => $"the context entry for {s.sid} at {s.contextAddress} cannot be read");
            trace?.Add(new MemoryReference(TraceStage.ContextTable, 0, contextAddress, lo));
            // Caching mode lets hardware cache not-present and invalid entries too (tagged with DID 0): software must
            // invalidate after making them present (spec 6.1).
            if (_cap.CachingMode)
                _caches.Context.Add(in cacheKey, cacheHash, new ContextCacheEntry(lo, hi, 0, 0, false, (lo & 1) != 0 ? new LegacyContextEntry(lo, hi).DomainId : (ushort)0, contextAddress.Value));
        }
        var ctx = new LegacyContextEntry(lo, hi);
        if (!ctx.Present)
            return Fail(FaultReason.LCT2_ContextNotPresent, 0, contextAddress, lo, null, sid, static sid => $"the context entry for {sid} is not present: the device has no domain");
        if (ctx.ReservedBitsSet(_haw))
            return Fail(FaultReason.LCT3_ContextReserved, 0, contextAddress, lo, null, (sid, hi, lo), static s => $"the context entry for {s.sid} has reserved bits set (0x{s.hi:x16}_{s.lo:x16})");
        context.FaultProcessingDisabled = ctx.FaultProcessingDisable;
        context.DomainId = ctx.DomainId;

        TranslationType tt = ctx.TranslationType;
        string? invalid = tt switch
        {
            TranslationType.Reserved => "TT=11 is reserved",
            TranslationType.PassThrough when !_ecap.PassThrough => "TT=10 (pass-through) but ECAP.PT=0",
            TranslationType.AllRequests when !_ecap.DeviceTlb => "TT=01 (device-TLB) but ECAP.DT=0",
            _ when !_cap.SupportsAddressWidth(ctx.AddressWidth) => UnsupportedWidth(ctx.AddressWidth), // TT=10 too: AW bounds its addresses
            _ => null,
        };
        if (invalid is not null)
            return Fail(FaultReason.LCT4_ContextInvalid, 0, contextAddress, lo, null, (sid, invalid), static s => $"the context entry for {s.sid} is invalid: {s.invalid}");
        if (!cached && !_cap.CachingMode)
            _caches.Context.Add(in cacheKey, cacheHash, new ContextCacheEntry(lo, hi, 0, 0, false, ctx.DomainId, contextAddress.Value));

        if (request.AddressType != AddressType.Untranslated)
        {
            if (tt != TranslationType.AllRequests)
                return Fail(FaultReason.LCT5_TranslationTypeBlocked, 0, contextAddress, lo, null, (request.AddressType, sid, tt),
                    static s => $"{s.AddressType} request from {s.sid} but its context TT={(int)s.tt} allows only untranslated requests");
            if (request.AddressType == AddressType.Translated)
            {
                context.Kind = TranslationKind.PreTranslated;
                return FaultReason.None;
            }
        }
        if (tt == TranslationType.PassThrough)
        {
            context.Kind = TranslationKind.LegacyPassThrough;
            SetSecondStage(ref context, default, ctx.AddressWidth); // only the input limit: addresses above 2^AGAW are blocked
            return FaultReason.None;
        }
        context.Kind = TranslationKind.Legacy;
        SetSecondStage(ref context, ctx.SecondLevelPageTablePointer, ctx.AddressWidth);
        return FaultReason.None;
    }

    private FaultReason ResolveScalable(in DmaRequest request, Hpa rootTable, WalkTrace? trace, ref ResolvedContext context)
    {
        SourceId sid = request.Source;
        bool upper = sid.DevFn >= 0x80;
        var cacheKey = new ContextCacheKey(sid.Value);
        int cacheHash = CacheTag.Hash(sid.Value, 0);
        ulong q0, q1, q2, q3;
        Hpa contextAddress;
        bool cached = _caches.Context.TryGet(in cacheKey, cacheHash, out ContextCacheEntry hit) && hit.Scalable;
        _answeredByCaches = cached;
        if (cached)
        {
            (q0, q1, q2, q3, contextAddress) = (hit.Q0, hit.Q1, hit.Q2, hit.Q3, new Hpa(hit.Address));
        }
        else
        {
            Hpa rootAddress = rootTable + (ulong)sid.Bus * RootEntry.Size;
            if (!ReadPair(rootAddress, ref _rootHint, out ulong lo, out ulong hi))
                return Fail(FaultReason.SRT1_RootAccessError, 0, rootAddress, 0, null, (sid, rootAddress), static s => $"the scalable root entry for bus {s.sid.Bus:x2} at {s.rootAddress} cannot be read");
            trace?.Add(new MemoryReference(TraceStage.RootTable, 0, rootAddress, upper ? hi : lo));
            var rootEntry = new RootEntry(lo, hi);
            if (!(upper ? rootEntry.UpperPresent : rootEntry.LowerPresent))
                return Fail(FaultReason.SRT2_RootNotPresent, 0, rootAddress, upper ? hi : lo, null, (sid, upper),
                    static s => $"the root entry for bus {s.sid.Bus:x2} has {(s.upper ? "UP" : "LP")}=0: no context table for devfn {s.sid.DevFn:x2}");
            if (rootEntry.ScalableReservedBitsSet(upper, _haw))
                return Fail(FaultReason.SRT3_RootReserved, 0, rootAddress, upper ? hi : lo, null, sid, static sid => $"the root entry for bus {sid.Bus:x2} has reserved bits set");

            Hpa contextTable = upper ? rootEntry.UpperContextTablePointer : rootEntry.LowerContextTablePointer;
            contextAddress = contextTable + (ulong)(sid.DevFn & 0x7F) * ScalableContextEntry.Size;
            if (!ReadQuad(contextAddress, ref _contextHint, out q0, out q1, out q2, out q3))
                return Fail(FaultReason.SCT1_ContextAccessError, 0, contextAddress, 0, null, (sid, contextAddress), static s => $"the context entry for {s.sid} at {s.contextAddress} cannot be read");
            trace?.Add(new MemoryReference(TraceStage.ContextTable, 0, contextAddress, q0));
            if (_cap.CachingMode) // CM=1: not-present and invalid entries may be cached too
                _caches.Context.Add(in cacheKey, cacheHash, new ContextCacheEntry(q0, q1, q2, q3, true, 0, contextAddress.Value));
        }
        var ctx = new ScalableContextEntry(q0, q1, q2, q3);
        if (!ctx.Present)
            return Fail(FaultReason.SCT2_ContextNotPresent, 0, contextAddress, q0, null, sid, static sid => $"the context entry for {sid} is not present: the device has no domain");
        if (ctx.ReservedBitsSet(_haw))
            return Fail(FaultReason.SCT3_ContextReserved, 0, contextAddress, q0, null, sid, static sid => $"the context entry for {sid} has reserved bits set");
        // A field for a feature the unit does not report is Reserved(0) (spec 9.4): SCT.3 like any reserved bit (D47).
        string? unsupported =
            ctx.DeviceTlbEnable && !_ecap.DeviceTlb ? "DTE=1 but ECAP.DT=0" :
            ctx.PasidEnable && !_ecap.Pasid ? "PASIDE=1 but ECAP.PASID=0" :
            ctx.PageRequestEnable && !_ecap.PageRequests ? "PRE=1 but ECAP.PRS=0" :
            ctx.RidPasid != 0 && !_ecap.RidPasid ? RidPasidWithoutRps(ctx.RidPasid) :
            ctx.RidPrivilege && !_ecap.RidPrivilege ? "RID_PRIV=1 but ECAP.RPRIVS=0" : null;
        if (unsupported is not null)
            return Fail(FaultReason.SCT3_ContextReserved, 0, contextAddress, q0, null, (sid, unsupported),
                static s => $"the context entry for {s.sid} sets a field this unit reserves: {s.unsupported}");
        context.FaultProcessingDisabled = ctx.FaultProcessingDisable;
        if (!cached && !_cap.CachingMode)
            _caches.Context.Add(in cacheKey, cacheHash, new ContextCacheEntry(q0, q1, q2, q3, true, 0, contextAddress.Value));

        if (request.AddressType != AddressType.Untranslated)
        {
            if (!ctx.DeviceTlbEnable)
                return Fail(FaultReason.SCT5_DeviceTlbDisabled, 0, contextAddress, q0, null, (request.AddressType, sid),
                    static s => $"{s.AddressType} request from {s.sid} but its context has DTE=0");
            if (request.AddressType == AddressType.Translated)
            {
                context.Kind = TranslationKind.PreTranslated;
                return FaultReason.None;
            }
        }

        uint pasid;
        if (request.Pasid is uint requested)
        {
            if (!ctx.PasidEnable)
                return Fail(FaultReason.SCT6_PasidDisabled, 0, contextAddress, q0, null, (requested, sid),
                    static s => $"request with PASID 0x{s.requested:x} from {s.sid} but its context has PASIDE=0");
            if (requested > ctx.MaxPasid || requested >= 1u << _ecap.PasidWidth)
                return Fail(FaultReason.SCT7_PasidBeyondDirectory, 0, contextAddress, q0, null, (requested, ctx, _ecap.PasidWidth),
                    static s => $"PASID 0x{s.requested:x} is beyond the directory (PDTS={s.ctx.PasidDirectorySize} covers up to 0x{s.ctx.MaxPasid:x}; unit width {s.PasidWidth} bits)");
            pasid = requested;
            context.Privileged = request.Privileged;
        }
        else
        {
            pasid = _ecap.RidPasid ? ctx.RidPasid : 0;
            if (pasid > ctx.MaxPasid)
                return Fail(FaultReason.SCT9_RidPasidInvalid, 0, contextAddress, q0, null, (pasid, ctx),
                    static s => $"RID_PASID 0x{s.pasid:x} is beyond the directory (PDTS={s.ctx.PasidDirectorySize} covers up to 0x{s.ctx.MaxPasid:x})");
            context.Privileged = _ecap.RidPrivilege && ctx.RidPrivilege;
        }
        context.Pasid = pasid;

        var pasidKey = new PasidCacheKey(sid.Value, pasid);
        int pasidHash = CacheTag.Hash(sid.Value, pasid);
        PasidEntry pe;
        Hpa entryAddress;
        bool pasidCached = _caches.Pasid.TryGet(in pasidKey, pasidHash, out PasidCacheEntry pasidHit);
        _answeredByCaches &= pasidCached;
        if (pasidCached)
        {
            pe = new PasidEntry(pasidHit.Q0, pasidHit.Q1, pasidHit.Q2);
            entryAddress = new Hpa(pasidHit.Address);
            context.FaultProcessingDisabled |= pasidHit.DirectoryFpd;
        }
        else
        {
            Hpa directoryAddress = ctx.PasidDirectoryPointer + (ulong)(pasid >> 6) * PasidDirectoryEntry.Size;
            if (!TryReadWord(directoryAddress, ref _pasidDirectoryHint, out ulong d))
                return Fail(FaultReason.SPD1_DirectoryAccessError, 0, directoryAddress, 0, null, (pasid, directoryAddress),
                    static s => $"the PASID directory entry for PASID 0x{s.pasid:x} at {s.directoryAddress} cannot be read");
            trace?.Add(new MemoryReference(TraceStage.PasidDirectory, 0, directoryAddress, d));
            var dir = new PasidDirectoryEntry(d);
            if (!dir.Present)
                return Fail(FaultReason.SPD2_DirectoryNotPresent, 0, directoryAddress, d, null, pasid, static pasid => $"the PASID directory entry for PASID 0x{pasid:x} is not present");
            context.FaultProcessingDisabled |= dir.FaultProcessingDisable;
            if (dir.ReservedBitsSet(_haw))
                return Fail(FaultReason.SPD3_DirectoryReserved, 0, directoryAddress, d, null, (pasid, d),
                    static s => $"the PASID directory entry for PASID 0x{s.pasid:x} has reserved bits set (0x{s.d:x16})");

            entryAddress = dir.PasidTablePointer + (ulong)(pasid & 0x3F) * PasidEntry.Size;
            if (!ReadPasidEntry(entryAddress, ref _pasidTableHint, out pe))
                return Fail(FaultReason.SPT1_PasidEntryAccessError, 0, entryAddress, 0, null, (pasid, entryAddress),
                    static s => $"the PASID entry for PASID 0x{s.pasid:x} at {s.entryAddress} cannot be read");
            trace?.Add(new MemoryReference(TraceStage.PasidTable, 0, entryAddress, pe.Q0));
            _pendingPasidFill = new PasidCacheEntry(pe.Q0, pe.Q1, pe.Q2, dir.FaultProcessingDisable, pe.DomainId, entryAddress.Value);
            // CM=1: a not-present or invalid PASID entry may be cached as read (the upper words are reserved, so only
            // an entry whose Q3..Q7 are zero is kept: a cached copy must fault exactly as the memory copy does).
            if (_cap.CachingMode && (pe.Q3 | pe.Q4 | pe.Q5 | pe.Q6 | pe.Q7) == 0)
                _caches.Pasid.Add(in pasidKey, pasidHash, in _pendingPasidFill);
        }
        if (!pe.Present)
            return Fail(FaultReason.SPT2_PasidEntryNotPresent, 0, entryAddress, pe.Q0, null, pasid, static pasid => $"the PASID entry for PASID 0x{pasid:x} is not present");
        context.FaultProcessingDisabled |= pe.FaultProcessingDisable;
        if (pe.ReservedBitsSet(_haw, _ecap.MemoryTypeSupport))
            return Fail(FaultReason.SPT3_PasidEntryReserved, 0, entryAddress, pe.Q0, null, pasid, static pasid => $"the PASID entry for PASID 0x{pasid:x} has reserved bits set");
        string? unsupportedField = UnsupportedPasidEntryField(in pe);
        if (unsupportedField is not null)
            return Fail(FaultReason.SPT3_PasidEntryReserved, 0, entryAddress, pe.Q0, null, (pasid, unsupported: unsupportedField),
                static s => $"the PASID entry for PASID 0x{s.pasid:x} sets a field this unit reserves: {s.unsupported}");
        string? bad = InvalidPasidEntry(in pe);
        if (bad is not null)
            return Fail(FaultReason.SPT4_PasidEntryInvalid, 0, entryAddress, pe.Q0, null, (pasid, bad), static s => $"the PASID entry for PASID 0x{s.pasid:x} is invalid: {s.bad}");
        if (!pasidCached && !_cap.CachingMode)
            _caches.Pasid.Add(in pasidKey, pasidHash, in _pendingPasidFill);
        context.DomainId = pe.DomainId;
        context.PageWalkSnoop = pe.PageWalkSnoop;

        P pgtt = pe.Pgtt;
        bool usesFirstStage = pgtt is P.FirstStageOnly or P.Nested;
        if (usesFirstStage && context.Privileged && !pe.SupervisorRequestEnable)
            return Fail(FaultReason.SPT6_SupervisorRequestDisabled, 0, entryAddress, pe.Q0, null, pasid, static pasid => $"supervisor request on PASID 0x{pasid:x} whose entry has SRE=0");
        if (usesFirstStage && request.Execute && !pe.ExecuteRequestEnable)
            return Fail(FaultReason.SPT5_ExecuteRequestDisabled, 0, entryAddress, pe.Q0, null, pasid, static pasid => $"execute request on PASID 0x{pasid:x} whose entry has ERE=0");

        switch (pgtt)
        {
            case P.PassThrough:
                context.Kind = TranslationKind.PassThrough;
                break;
            case P.SecondStageOnly:
                context.Kind = TranslationKind.SecondStage;
                SetSecondStage(ref context, pe.SecondStagePageTablePointer, pe.AddressWidth);
                context.SsExecuteEnable = pe.SecondStageExecuteEnable;
                context.SsAccessedDirty = pe.SecondStageAccessedDirtyEnable;
                break;
            default: // FS-only or nested: InvalidPasidEntry has refused everything else
                context.Kind = pgtt == P.Nested ? TranslationKind.Nested : TranslationKind.FirstStage;
                context.FsRoot = pe.FirstStagePageTablePointer;
                context.FsLevels = pe.FirstStagePagingMode == 1 ? 5 : 4;
                context.WriteProtectEnable = pe.WriteProtectEnable;
                context.ExtendedAccessedEnable = pe.ExtendedAccessedFlagEnable;
                if (pgtt == P.Nested)
                {
                    SetSecondStage(ref context, pe.SecondStagePageTablePointer, pe.AddressWidth);
                    context.SsExecuteEnable = pe.SecondStageExecuteEnable;
                    context.SsAccessedDirty = pe.SecondStageAccessedDirtyEnable;
                }
                break;
        }
        return FaultReason.None;
    }

    /// <summary>
    /// SPT.3 for fields of features the unit does not report: the specification treats each as Reserved(0) on such a
    /// unit, whatever the PGTT (spec 9.6; decisions D47).
    /// </summary>
    private string? UnsupportedPasidEntryField(in PasidEntry pe)
    {
        if (pe.SecondStageAccessedDirtyEnable && !_ecap.SecondStageAccessedDirty) return "SSADE=1 but ECAP.SSADS=0";
        if (pe.ExtendedAccessedFlagEnable && !_ecap.ExtendedAccessedFlag) return "EAFE=1 but ECAP.EAFS=0";
        if (pe.SupervisorRequestEnable && !_ecap.SupervisorRequests) return "SRE=1 but ECAP.SRS=0";
        if (pe.ExecuteRequestEnable && !_ecap.ExecuteRequests) return "ERE=1 but ECAP.ERS=0";
        if (pe.PageSnoop && !_ecap.SnoopControl) return "PGSNP=1 but ECAP.SC=0";
        if (pe.SecondStageExecuteEnable && !_ecap.ExecuteRequests) return "SSEE=1 but ECAP.ERS=0";
        return null;
    }

    /// <summary>SPT.4 checks: a PGTT the unit does not support, or an encoding (AW, FSPM) it does not offer.</summary>
    private string? InvalidPasidEntry(in PasidEntry pe)
    {
        P pgtt = pe.Pgtt;
        string? pgttProblem = pgtt switch
        {
            P.FirstStageOnly when !_ecap.FirstStageTranslation => "PGTT=001 (first stage) but ECAP.FSTS=0",
            P.SecondStageOnly when !_ecap.SecondStageTranslation => "PGTT=010 (second stage) but ECAP.SSTS=0",
            P.Nested when !_ecap.NestedTranslation => "PGTT=011 (nested) but ECAP.NEST=0",
            P.PassThrough when !_ecap.PassThrough => "PGTT=100 (pass-through) but ECAP.PT=0",
            P.FirstStageOnly or P.SecondStageOnly or P.Nested or P.PassThrough => null,
            _ => ReservedPgtt(pgtt),
        };
        if (pgttProblem is not null) return pgttProblem;
        bool ss = pgtt is P.SecondStageOnly or P.Nested, fs = pgtt is P.FirstStageOnly or P.Nested;
        if (ss && !_cap.SupportsAddressWidth(pe.AddressWidth))
            return UnsupportedWidth(pe.AddressWidth);
        if (fs && pe.FirstStagePagingMode > 1) return ReservedFspm(pe.FirstStagePagingMode);
        if (fs && pe.FirstStagePagingMode == 1 && !_cap.FirstStage5LevelPaging) return "FSPM=01 (5-level) but CAP.FS5LP=0";
        return null;
    }

    // Messages with values in them, built out of line (see Fail<TState>).
    [MethodImpl(MethodImplOptions.NoInlining)]
    private string UnsupportedWidth(int aw) => $"AW={aw} ({30 + 9 * aw}-bit) is not in CAP.SAGAW=0x{_cap.SupportedAdjustedGuestAddressWidths:x}";

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static string RidPasidWithoutRps(uint ridPasid) => $"RID_PASID=0x{ridPasid:x} but ECAP.RPS=0";

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static string ReservedPgtt(P pgtt) => $"PGTT={(int)pgtt} is reserved";

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static string ReservedFspm(int fspm) => $"FSPM={fspm} is reserved";

    private void SetSecondStage(ref ResolvedContext context, Hpa root, int addressWidth)
    {
        context.SsRoot = root;
        context.SsLevels = addressWidth + 2;
        int bits = Math.Min(30 + 9 * addressWidth, _cap.MaximumGuestAddressWidth);
        context.SsMaxInput = bits >= 64 ? ulong.MaxValue : (1UL << bits) - 1;
    }

    // Context-structure reads go through frame hints too (one per structure), which saves the frame-cache lookup.

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool TryReadWord(Hpa address, ref MachineMemory.FrameHint hint, out ulong value)
    {
        ulong a = address.Value;
        if ((a & 7) != 0) return _memory.TryRead64(address, out value); // throws, as a misaligned read always has
        MachineMemory.EntryRead read = _memory.ReadEntry(a & ~(ulong)(MachineMemory.PageSize - 1), (int)(a >> 3) & 0x1FF, ref hint);
        value = read.Value;
        return read.Readable;
    }

    private bool ReadPair(Hpa address, ref MachineMemory.FrameHint hint, out ulong lo, out ulong hi)
    {
        hi = 0;
        return TryReadWord(address, ref hint, out lo) && TryReadWord(address + 8, ref hint, out hi);
    }

    private bool ReadQuad(Hpa address, ref MachineMemory.FrameHint hint, out ulong q0, out ulong q1, out ulong q2, out ulong q3)
    {
        q1 = q2 = q3 = 0;
        return TryReadWord(address, ref hint, out q0) && TryReadWord(address + 8, ref hint, out q1)
            && TryReadWord(address + 16, ref hint, out q2) && TryReadWord(address + 24, ref hint, out q3);
    }

    private bool ReadPasidEntry(Hpa address, ref MachineMemory.FrameHint hint, out PasidEntry entry)
    {
        // Word by word, stopping at the first that cannot be read, like ReadQuad (no stackalloc: it costs a zeroed
        // buffer and a stack-cookie check on every translation).
        entry = default;
        if (!(TryReadWord(address, ref hint, out ulong q0) && TryReadWord(address + 8, ref hint, out ulong q1)
            && TryReadWord(address + 16, ref hint, out ulong q2) && TryReadWord(address + 24, ref hint, out ulong q3)
            && TryReadWord(address + 32, ref hint, out ulong q4) && TryReadWord(address + 40, ref hint, out ulong q5)
            && TryReadWord(address + 48, ref hint, out ulong q6) && TryReadWord(address + 56, ref hint, out ulong q7)))
            return false;
        entry = new PasidEntry(q0, q1, q2, q3, q4, q5, q6, q7);
        return true;
    }
}
