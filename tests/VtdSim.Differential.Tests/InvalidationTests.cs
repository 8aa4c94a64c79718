using VtdSim.Differential.Tests.Infrastructure;
using static VtdSim.Differential.Tests.Infrastructure.Layout;

namespace VtdSim.Differential.Tests;

/// <summary>
/// Caches and invalidation: a mapping changed without invalidation keeps serving the old translation from the IOTLB
/// until an invalidation that covers it. Queued invalidation uses 128-bit descriptors and a wait descriptor; the
/// register-based IOTLB invalidation register is at ECAP.IRO×16+8 (0xF8 on QEMU).
/// </summary>
public class InvalidationTests
{
    private static readonly TargetConfig Legacy = TargetConfig.Legacy, Scalable = TargetConfig.Scalable;

    private static void EnableQi(Rig rig) => rig.Driver.EnableQueuedInvalidation();

    private static (Action<Rig>? Prepare, Action<Rig> Invalidate) LegacyInvalidation(string how) => how switch
    {
        "register global" => (null, r => r.Driver.InvalidateIotlbGlobalByRegister()),
        "queued global" => (EnableQi, r => r.Driver.Invalidate(Descriptor.IotlbGlobal())),
        "queued domain" => (EnableQi, r => r.Driver.Invalidate(Descriptor.IotlbDomain(1))),
        "queued page" => (EnableQi, r => r.Driver.Invalidate(Descriptor.IotlbPage(1, IovaA))),
        _ => throw new ArgumentException(how),
    };

    private static void StaleThenFresh((Outcome Before, Outcome Stale, Outcome After) o)
    {
        Assert.Equal(CacheProbe.Old, o.Before.Bytes);
        Assert.Equal(CacheProbe.Old, o.Stale.Bytes); // the IOTLB still maps A to the old page
        Assert.Equal(CacheProbe.New, o.After.Bytes);
        Assert.True(o.Before.NoFaultPending && o.Stale.NoFaultPending && o.After.NoFaultPending);
    }

    [NeedsVtdSimIotlbTheory]
    [InlineData("register global")]
    [InlineData("queued global")]
    [InlineData("queued domain")]
    [InlineData("queued page")]
    public void Legacy_stale_IOTLB_entry_until_an_IOTLB_invalidation(string how)
    {
        var (prepare, invalidate) = LegacyInvalidation(how);
        StaleThenFresh(Both.Run(Legacy, t => CacheProbe.IotlbScenario(t, scalable: false, prepare, invalidate)).Agree());
    }

    /// <summary>QEMU 7.2's side of the legacy scenario, checked whether or not VtdSim's engine uses its IOTLB yet.</summary>
    [QemuTheory]
    [InlineData("register global")]
    [InlineData("queued global")]
    [InlineData("queued domain")]
    [InlineData("queued page")]
    public void Qemu72_serves_a_stale_IOTLB_entry_until_an_IOTLB_invalidation(string how)
    {
        var (prepare, invalidate) = LegacyInvalidation(how);
        using var qemu = new QemuTarget(Legacy);
        StaleThenFresh(CacheProbe.IotlbScenario(qemu, scalable: false, prepare, invalidate));
    }

    /// <summary>
    /// Scalable mode, second-stage-only translation. A PASID-based IOTLB invalidation (type 6) and a PASID-cache
    /// invalidation (type 7) leave the stale entry on both sides, for different reasons: QEMU 7.2 accepts both
    /// descriptors and does nothing (a named departure: 7.2 implements neither); the specification's P_IOTLB covers
    /// first-stage and nested translations, not second-stage-only ones, which the IOTLB descriptor (type 2) covers
    /// (VtdSim: second-stage-only entries carry no PASID tag). An IOTLB domain-selective invalidation then refreshes both.
    /// </summary>
    [NeedsVtdSimIotlbFact]
    public void Scalable_PIOTLB_and_PASID_cache_invalidations_leave_a_second_stage_only_entry_QEMU72_no_ops_spec_not_covered()
    {
        var (before, stale, afterPasidInvalidations, after) = Both.Run(Scalable, ScalablePasidInvalidations).Agree();
        Assert.Equal(CacheProbe.Old, before.Bytes);
        Assert.Equal(CacheProbe.Old, stale.Bytes);
        Assert.Equal(CacheProbe.Old, afterPasidInvalidations.Bytes);
        Assert.Equal(CacheProbe.New, after.Bytes);
    }

    /// <summary>QEMU 7.2's side: PIOTLB and PASID-cache descriptors are no-ops; only the IOTLB descriptor flushes.</summary>
    [QemuFact]
    public void Qemu72_PIOTLB_and_PASID_cache_descriptors_are_no_ops()
    {
        using var qemu = new QemuTarget(Scalable);
        var (before, stale, afterPasidInvalidations, after) = ScalablePasidInvalidations(qemu);
        Assert.Equal(CacheProbe.Old, before.Bytes);
        Assert.Equal(CacheProbe.Old, stale.Bytes);
        Assert.Equal(CacheProbe.Old, afterPasidInvalidations.Bytes);
        Assert.Equal(CacheProbe.New, after.Bytes);
    }

    private static (Outcome, Outcome, Outcome, Outcome) ScalablePasidInvalidations(IVtdTarget t)
    {
        Outcome? afterPasid = null;
        var (before, stale, after) = CacheProbe.IotlbScenario(t, scalable: true, EnableQi, rig =>
        {
            rig.Driver.Invalidate(Descriptor.PasidCachePasid(1, 0), Descriptor.PasidIotlbAll(1, 0));
            rig.ReadThenWriteBack(IovaA, IovaB, CacheProbe.Old.Length);
            afterPasid = rig.Driver.Observe(Dst, CacheProbe.Old.Length);
            rig.Driver.Invalidate(Descriptor.IotlbDomain(1));
        });
        return (before, stale, afterPasid!, after);
    }

    /// <summary>
    /// Named departure: register-based invalidation is legal only in legacy mode (vtd-facts §1.6); VtdSim ignores the
    /// IOTLB register in scalable mode (and reports a warning), so the stale entry stays. QEMU 7.2 carries the command
    /// out in scalable mode too.
    /// </summary>
    [NeedsVtdSimIotlbFact]
    public void Departure_register_based_IOTLB_invalidation_in_scalable_mode_QEMU72_flushes_VtdSim_ignores_it()
    {
        var pair = Both.Run(Scalable, t => CacheProbe.IotlbScenario(t, scalable: true, null, r => r.Driver.InvalidateIotlbGlobalByRegister()));
        pair.AgreeOn(o => (o.Before, o.Stale), "the translations before the invalidation");
        Assert.Equal(CacheProbe.Old, pair.Sim.Stale.Bytes);
        pair.Depart(o => o.After.Data, Pattern.Hex(CacheProbe.New), Pattern.Hex(CacheProbe.Old),
            "IOTLB register write (global) in scalable mode: QEMU 7.2 flushes, VtdSim ignores it (register-based invalidation is legacy-mode only)");
    }

    /// <summary>
    /// Named departure: register-based context-cache invalidation in scalable mode. Register-based invalidation is
    /// legacy-mode only (vtd-facts §1.6; decisions D48): VtdSim ignores the CCMD command, reports CAIG=00 ("not
    /// performed") and a warning, so the cached context entry keeps translating. QEMU 7.2 carries it out (CAIG=01) and
    /// the cleared entry then faults, with its legacy code 2 for a context entry P=0 (ScalableDepartureTests).
    /// </summary>
    [NeedsVtdSimContextCacheFact]
    public void Departure_register_based_context_invalidation_in_scalable_mode_QEMU72_invalidates_VtdSim_ignores_it_D48()
    {
        var pair = Both.Run(Scalable, t =>
        {
            int caig = -1;
            var (before, stale, after) = CacheProbe.ContextScenario(t, r =>
            {
                r.Driver.InvalidateContextGlobalByRegister();
                caig = (int)((t.Read64(Reg.CCMD) >> 59) & 3);
            }, scalable: true);
            return (Before: before, Stale: stale, After: after, Caig: caig);
        });
        pair.AgreeOn(o => (o.Before, o.Stale), "the translations before the invalidation");
        Expect.NoFault(pair.Sim.Before);
        Expect.NoFault(pair.Sim.Stale); // both serve the cached context entry
        pair.Depart(o => o.Caig, 1, 0, "CCMD global in scalable mode: QEMU 7.2 reports CAIG=01, VtdSim CAIG=00 (ignored, legacy-mode only)");
        pair.Depart(o => o.After.Fault.Reason, (byte)0x02, (byte)0x00,
            "after CCMD global in scalable mode: QEMU 7.2 invalidated and faults on the cleared entry, VtdSim still translates");
        Expect.Fault(pair.Qemu.After, 0x02, IovaB, read: true);
        Expect.NoFault(pair.Sim.After);
    }

    [NeedsVtdSimContextCacheFact]
    public void Legacy_stale_context_cache_entry_until_a_context_invalidation()
    {
        var (before, stale, after) = Both.Run(Legacy, t => CacheProbe.ContextScenario(t, r => r.Driver.InvalidateContextGlobalByRegister())).Agree();
        Expect.NoFault(before);
        Expect.NoFault(stale);
        Expect.Fault(after, 0x02, IovaB, read: true);
    }

    /// <summary>QEMU 7.2's side: the cached context entry keeps translating until CCMD invalidates it.</summary>
    [QemuFact]
    public void Qemu72_serves_a_stale_context_entry_until_a_context_invalidation()
    {
        using var qemu = new QemuTarget(Legacy);
        var (before, stale, after) = CacheProbe.ContextScenario(qemu, r => r.Driver.InvalidateContextGlobalByRegister());
        Expect.NoFault(before);
        Expect.NoFault(stale);
        Expect.Fault(after, 0x02, IovaB, read: true);
    }

    /// <summary>
    /// Named departure in what the IOTLB is tagged by. QEMU 7.2 tags legacy IOTLB entries with the source id; the
    /// specification tags them with the domain id (VtdSim). Two devices share domain 1 and the same tables; device 0
    /// fills the IOTLB, the PTE changes without invalidation, and device 1 reads: a miss and fresh data on QEMU, a hit
    /// and stale data on VtdSim. Both are allowed (software skipped the invalidation); the test pins the difference.
    /// </summary>
    [NeedsVtdSimIotlbFact]
    public void Departure_IOTLB_tag_QEMU72_by_source_id_VtdSim_by_domain_id_another_device_of_the_domain_sees_fresh_vs_stale()
    {
        var pair = Both.Run(Legacy.WithTwoDevices(), t =>
        {
            var rig = Rig.Legacy(t); // both devices: DID 1, same second-level tables
            ulong pte = rig.Sl.Map(IovaA, Src, read: true, write: false);
            rig.Sl.Map(IovaB, Dst, read: false, write: true);
            t.WriteMem(Src, CacheProbe.Old);
            t.WriteMem(Src2, CacheProbe.New);
            t.Dma(EduDirection.FromRam, IovaA, 64, device: 0);
            rig.Sl.WriteEntry(pte, Entry.Sl(Src2, read: true, write: false));
            rig.ReadThenWriteBack(IovaA, IovaB, 64, device: 1);
            return rig.Driver.Observe(Dst, 64);
        });
        pair.AgreeOn(o => o.NoFaultPending, "no fault");
        pair.Depart(o => o.Data, Pattern.Hex(CacheProbe.New), Pattern.Hex(CacheProbe.Old),
            "device 1 after device 0 filled the IOTLB for domain 1: QEMU 7.2 misses (tag = source id), VtdSim hits (tag = domain id)");
    }

    /// <summary>
    /// Named departure in when the IOTLB is looked up. QEMU 7.2 looks up a legacy request in the IOTLB by source id
    /// before fetching the context entry; VtdSim (like hardware, whose IOTLB is tagged by domain id) resolves the context
    /// first. After the context entry is cleared and only the context cache is invalidated, QEMU still translates a
    /// cached IOVA; VtdSim reports LCT.2. The specification requires an IOTLB invalidation too, so both are allowed.
    /// </summary>
    [NeedsVtdSimIotlbFact]
    public void Departure_context_cleared_and_context_cache_invalidated_but_not_IOTLB_QEMU72_translates_from_IOTLB_VtdSim_LCT2()
    {
        var pair = Both.Run(Legacy, t =>
        {
            var rig = Rig.Legacy(t);
            rig.Sl.Map(IovaA, Src);
            t.Dma(EduDirection.FromRam, IovaA, 64);
            var (lo, hi) = Entry.ContextLegacy(SlRoot, present: false);
            rig.WriteQwords(ContextTable + Edu.SourceId(0) * 16UL, lo, hi);
            rig.Driver.InvalidateContextGlobalByRegister();
            t.Dma(EduDirection.FromRam, IovaA, 64);
            return rig.Driver.Observe();
        });
        pair.Depart(o => o.Fault.Reason, (byte)0x00, (byte)0x02,
            "cached IOVA after the context entry was cleared and only the context cache invalidated: QEMU 7.2 translates, VtdSim LCT.2");
        Expect.NoFault(pair.Qemu);
        Expect.Fault(pair.Sim, 0x02, IovaA, read: true);
    }

    [QemuFact]
    public void Queued_invalidation_wait_descriptor_writes_status_and_IQH_reaches_IQT()
    {
        var regs = Both.Run(Legacy, t =>
        {
            var rig = Rig.Legacy(t);
            rig.Driver.EnableQueuedInvalidation();
            rig.Driver.Invalidate(Descriptor.ContextGlobal(), Descriptor.IotlbGlobal());
            rig.Driver.Invalidate(Descriptor.IotlbDomain(1));
            return $"GSTS=0x{t.Read32(Reg.GSTS):x} IQH=0x{t.Read64(Reg.IQH):x} IQT=0x{t.Read64(Reg.IQT):x} IQA=0x{t.Read64(Reg.IQA):x} " +
                $"FSTS=0x{t.Read32(Reg.FSTS):x} ICS=0x{t.Read32(Reg.ICS):x} status=0x{BitConverter.ToUInt32(t.ReadMem(QueueStatus, 4)):x}";
        }).Agree();
        // 3 + 2 descriptors of 16 bytes, the last of each batch a wait; TES | QIES | RTPS.
        Assert.Equal($"GSTS=0x{Reg.TE | Reg.QIE | Reg.SRTP:x} IQH=0x50 IQT=0x50 IQA=0x{Queue:x} FSTS=0x0 ICS=0x0 status=0xd1ff0002", regs);
    }

    /// <summary>
    /// The register-based commands complete at once and report the granularity they were carried out at. Only the
    /// command and actual-granularity fields are compared: QEMU 7.2 reads back CCMD's SID field as 0 after a
    /// device-selective invalidation, VtdSim keeps what was written (software does not read it back).
    /// </summary>
    [QemuTheory]
    [InlineData("CCMD global")]
    [InlineData("CCMD device 00:01.0, DID 1")]
    [InlineData("IOTLB global")]
    [InlineData("IOTLB domain 1")]
    public void Register_based_invalidation_completes_and_reports_the_actual_granularity(string what)
    {
        int offset = what.StartsWith("CCMD", StringComparison.Ordinal) ? Reg.CCMD : -1;
        ulong command = what switch
        {
            "CCMD global" => (1UL << 63) | (1UL << 61),
            "CCMD device 00:01.0, DID 1" => (1UL << 63) | (3UL << 61) | (0x0008UL << 16) | 1,
            "IOTLB global" => (1UL << 63) | (1UL << 60),
            _ => (1UL << 63) | (2UL << 60) | (1UL << 32),
        };
        var (busy, actual) = Both.Run(Legacy, t =>
        {
            var rig = Rig.Legacy(t);
            int reg = offset >= 0 ? offset : rig.Driver.IotlbOffset;
            t.Write64(reg, command);
            ulong value = t.Read64(reg);
            return (Busy: value >> 63 != 0, Actual: offset == Reg.CCMD ? (int)((value >> 59) & 3) : (int)((value >> 57) & 3));
        }).Agree();
        Assert.False(busy, $"{what}: the command bit must read 0 once done");
        Assert.Equal(offset == Reg.CCMD ? (int)((command >> 61) & 3) : (int)((command >> 60) & 3), actual);
    }
}
