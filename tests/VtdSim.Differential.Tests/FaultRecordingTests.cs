using VtdSim.Differential.Tests.Infrastructure;
using static VtdSim.Differential.Tests.Infrastructure.Layout;

namespace VtdSim.Differential.Tests;

/// <summary>
/// Fault processing disable and the fault-recording machinery (one FRCD in QEMU 7.2, compression by source id,
/// overflow), in legacy mode.
/// </summary>
public class FaultRecordingTests
{
    private static readonly TargetConfig Legacy = TargetConfig.Legacy;

    [QemuFact]
    public void Context_FPD_suppresses_a_qualified_fault_but_root_not_present_is_still_recorded()
    {
        var pair = Both.Run(Legacy, t =>
        {
            var rig = Rig.Legacy(t, new LegacySetup { ContextFpd = true });
            t.Dma(EduDirection.FromRam, IovaC, 64); // unmapped: LGN.3, qualified → suppressed
            Outcome suppressed = rig.Driver.Observe();
            // Now take bus 0's root entry away; the context cache must forget the context entry for the change to be seen.
            rig.WriteQwords(Root, 0, 0);
            rig.Driver.InvalidateContextGlobalByRegister();
            t.Dma(EduDirection.FromRam, IovaC, 64); // LRT.2: not qualified, and no context (so no FPD) was reached
            return (suppressed, rootMissing: rig.Driver.Observe());
        });
        var (suppressed, rootMissing) = pair.Agree();
        Expect.NoFault(suppressed);
        Expect.Fault(rootMissing, 0x01, IovaC, read: true);
    }

    [QemuFact]
    public void Context_FPD_does_not_suppress_a_context_reserved_bit_fault_LCT3_which_is_not_qualified()
    {
        var o = Both.Run(Legacy, t =>
        {
            var rig = Rig.Legacy(t, new LegacySetup { ContextFpd = true, ContextExtraHi = 1UL << 30 });
            t.Dma(EduDirection.FromRam, IovaA, 64);
            return rig.Driver.Observe();
        }).Agree();
        Expect.Fault(o, 0x0B, IovaA, read: true);
    }

    [QemuFact]
    public void Context_FPD_suppresses_an_invalid_context_fault_LCT4_which_is_qualified()
    {
        var o = Both.Run(Legacy, t =>
        {
            var rig = Rig.Legacy(t, new LegacySetup { ContextFpd = true, TranslationType = 3 });
            t.Dma(EduDirection.FromRam, IovaA, 64);
            return rig.Driver.Observe();
        }).Agree();
        Expect.NoFault(o);
    }

    [QemuFact]
    public void Faults_from_the_same_source_are_compressed_until_F_is_cleared()
    {
        var (first, whilePending, afterClear, second) = Both.Run(Legacy, t =>
        {
            var rig = Rig.Legacy(t);
            rig.Sl.Map(IovaB, Dst, read: true, write: false);
            t.Dma(EduDirection.FromRam, IovaC, 64);         // LGN.3 at C: recorded
            Outcome first = rig.Driver.Observe();
            t.Dma(EduDirection.ToRam, IovaB, 64);           // LGN.2 at B, same SID: dropped, the record keeps fault 1
            Outcome whilePending = rig.Driver.Observe();
            rig.Driver.ClearFault();
            var afterClear = (rig.Driver.ReadFault(), rig.Driver.FaultStatus); // F=0, PPF=0; FR/SID/FI stay readable (FECTL: see below)
            t.Dma(EduDirection.ToRam, IovaB, 64);           // recorded now
            return (first, whilePending, afterClear, rig.Driver.Observe());
        }).Agree();
        Expect.Fault(first, 0x06, IovaC, read: true);
        Assert.Equal(first, whilePending);
        Assert.Equal((first.Fault with { Pending = false }, 0u), afterClear);
        Expect.Fault(second, 0x05, IovaB, read: false);
    }

    /// <summary>
    /// Named departure (decisions D17): the specification clears FECTL.IP once software has cleared every pending
    /// condition, including by clearing the last FRCD.F; QEMU 7.2 re-evaluates IP only on a write to FSTS, so IP stays
    /// set after F is cleared until FSTS is written.
    /// </summary>
    [QemuFact]
    public void Departure_clearing_the_last_F_leaves_FECTL_IP_set_in_QEMU72_until_FSTS_is_written_VtdSim_clears_it_D17()
    {
        var pair = Both.Run(Legacy, t =>
        {
            var rig = Rig.Legacy(t);
            t.Dma(EduDirection.FromRam, IovaC, 64);
            uint pending = t.Read32(Reg.FECTL);
            rig.Driver.ClearFault();
            uint afterClear = t.Read32(Reg.FECTL);
            rig.Driver.ClearFaultStatus(0); // a write to FSTS that clears nothing
            return (pending, afterClear, afterFstsWrite: t.Read32(Reg.FECTL));
        });
        pair.AgreeOn(o => o.pending, "FECTL while the fault is pending");
        pair.AgreeOn(o => o.afterFstsWrite, "FECTL after a write to FSTS");
        pair.Depart(o => o.afterClear, Reg.FectlIm | Reg.FectlIp, Reg.FectlIm, "FECTL.IP after clearing the only F: QEMU 7.2 keeps it, VtdSim clears it (D17)");
        Assert.Equal(Reg.FectlIm | Reg.FectlIp, pair.Sim.pending);
        Assert.Equal(Reg.FectlIm, pair.Sim.afterFstsWrite);
    }

    [QemuFact]
    public void A_fault_from_another_source_while_the_only_record_is_pending_sets_PFO()
    {
        var (first, overflow) = Both.Run(Legacy.WithTwoDevices(), t =>
        {
            var rig = Rig.Legacy(t);
            t.Dma(EduDirection.FromRam, IovaC, 64, device: 0); // recorded (SID 0x0008)
            Outcome first = rig.Driver.Observe();
            t.Dma(EduDirection.ToRam, IovaA, 64, device: 1);   // SID 0x0010: FRCD[0] still has F=1 → PFO, dropped
            return (first, rig.Driver.Observe());
        }).Agree();
        Expect.Fault(first, 0x06, IovaC, read: true);
        Assert.Equal(first.Fault, overflow.Fault);
        Assert.Equal(Reg.FstsPpf | Reg.FstsPfo, overflow.Fsts);
    }

    /// <summary>
    /// Named departure (decisions D16): once PFO is set QEMU 7.2 drops every fault until software clears PFO, even
    /// into a free record; VtdSim follows the specification's rule, which is about the target record only, and records.
    /// </summary>
    [QemuFact]
    public void Departure_QEMU72_drops_faults_while_PFO_is_set_even_into_a_free_record_VtdSim_records_them_D16()
    {
        var pair = Both.Run(Legacy.WithTwoDevices(), t =>
        {
            var rig = Rig.Legacy(t);
            t.Dma(EduDirection.FromRam, IovaC, 64, device: 0);
            t.Dma(EduDirection.ToRam, IovaA, 64, device: 1); // PFO
            rig.Driver.ClearFault();                         // FRCD[0] free again, PFO still set
            t.Dma(EduDirection.ToRam, IovaA, 64, device: 1);
            return rig.Driver.Observe();
        });
        pair.AgreeOn(o => o.Fsts & Reg.FstsPfo, "FSTS.PFO");
        pair.Depart(o => o.Fault.Pending, qemu: false, sim: true, "a fault while PFO=1 with a free record: QEMU 7.2 drops it, VtdSim records it (D16)");
        Assert.Equal(new FaultRecord(true, 0x05, 0x0010, IovaA, false, false, null), pair.Sim.Fault);
    }
}
