using VtdSim.Differential.Tests.Infrastructure;
using static VtdSim.Differential.Tests.Infrastructure.Layout;

namespace VtdSim.Differential.Tests;

/// <summary>
/// Legacy-mode cases where QEMU 7.2 and VtdSim (following the specification, or a documented decision where the
/// specification leaves a choice) behave differently. Each test asserts both sides' actual values and names the
/// difference, so it fails if either side changes.
/// </summary>
public class LegacyDepartureTests
{
    private static readonly TargetConfig Legacy = TargetConfig.Legacy;

    /// <summary>
    /// QEMU checks the access right at each level before the reserved bits, so a read-only entry with a reserved bit
    /// reports a write fault (LGN.2). The specification's reserved-bit fault concerns any present entry (R=1 here) and
    /// the permission fault concerns the finished translation, so VtdSim reports LSL.2 (decisions D9a).
    /// </summary>
    [QemuFact]
    public void Departure_write_to_read_only_entry_with_reserved_bit_QEMU72_LGN2_0x5_VtdSim_LSL2_0xC()
    {
        var pair = Both.Run(Legacy, t =>
        {
            var rig = Rig.Legacy(t);
            rig.Sl.Map(IovaB, Dst, read: true, write: false, extraBits: 1UL << 11);
            t.Dma(EduDirection.ToRam, IovaB, 64);
            return rig.Driver.Observe();
        });
        pair.AgreeOn(o => o.Fault with { Reason = 0 }, "the fault record apart from FR");
        pair.Depart(o => o.Fault.Reason, qemu: (byte)0x05, sim: (byte)0x0C, "reserved bit in a read-only entry, write: QEMU 7.2 LGN.2, VtdSim LSL.2");
    }

    /// <summary>
    /// QEMU 7.2 takes FPD from the context entry it read even when P=0, so a not-present context entry with FPD=1
    /// hides LCT.2. VtdSim honours FPD only in present entries (decisions D12): a not-present entry's fields mean nothing.
    /// </summary>
    [QemuFact]
    public void Departure_context_not_present_with_FPD_QEMU72_suppresses_VtdSim_records_LCT2_D12()
    {
        var pair = Both.Run(Legacy, t =>
        {
            var rig = Rig.Legacy(t, new LegacySetup { ContextPresent = false, ContextFpd = true });
            t.Dma(EduDirection.FromRam, IovaA, 64);
            return rig.Driver.Observe();
        });
        pair.Depart(o => o.Fault.Pending, qemu: false, sim: true, "P=0 context entry with FPD=1: QEMU 7.2 suppresses LCT.2, VtdSim records it (D12)");
        Expect.Fault(pair.Sim, 0x02, IovaA, read: true);
    }

    /// <summary>
    /// QEMU 7.2 checks whether a 2 MiB leaf's whole range overlaps 0xFEE00000–0xFEEFFFFF; VtdSim checks the translated
    /// address (decisions D8). An access to the half of the page above the interrupt range is LGN.4 on QEMU and a
    /// translation to 0xFEF…, which no memory answers, on VtdSim.
    /// </summary>
    [QemuFact]
    public void Departure_2MiB_leaf_overlapping_the_interrupt_range_QEMU72_LGN4_for_the_whole_page_VtdSim_only_inside_D8()
    {
        const ulong iova = 0x4060_0000;
        var pair = Both.Run(Legacy, t =>
        {
            var rig = Rig.Legacy(t);
            rig.Sl.Map(iova, 0xFEE0_0000, level: 2);
            t.Dma(EduDirection.FromRam, iova + 0x10_0000, 64); // → 0xFEF00000, outside the interrupt range
            return rig.Driver.Observe();
        });
        pair.Depart(o => o.Fault.Reason, qemu: (byte)0x0E, sim: (byte)0x00, "2 MiB leaf at 0xFEE00000, access at +1 MiB: QEMU 7.2 LGN.4, VtdSim no fault (D8)");
        Expect.Fault(pair.Qemu, 0x0E, iova + 0x10_0000, read: true);
        Expect.NoFault(pair.Sim);
    }

    /// <summary>
    /// Pass-through (TT=10) in QEMU 7.2 switches the device to the untranslated address space without a width check, so
    /// an address at or above 2^39 just misses memory. VtdSim still checks pass-through addresses against HAW and reports
    /// LGN.1 (decisions D9).
    /// </summary>
    [QemuFact]
    public void Departure_pass_through_above_the_host_address_width_QEMU72_no_fault_VtdSim_LGN1_0x4_D9()
    {
        const ulong address = (1UL << 39) | Src;
        var pair = Both.Run(Legacy, t =>
        {
            var rig = Rig.Legacy(t, new LegacySetup { TranslationType = 2 });
            t.Dma(EduDirection.FromRam, address, 64);
            return rig.Driver.Observe();
        });
        pair.Depart(o => o.Fault.Reason, qemu: (byte)0x00, sim: (byte)0x04, "pass-through at 2^39: QEMU 7.2 no fault, VtdSim LGN.1 (D9)");
        Expect.NoFault(pair.Qemu);
        Expect.Fault(pair.Sim, 0x04, address, read: true);
    }

    /// <summary>
    /// A pass-through context must still carry a supported AGAW: it bounds the addresses the device may use (D9). Both
    /// QEMU 7.2 and VtdSim record LCT.4 for TT=10 with AW=0 (30-bit, not in SAGAW).
    /// </summary>
    [QemuFact]
    public void Pass_through_context_with_AW_not_in_SAGAW_is_LCT4_0x3_on_both()
    {
        var o = Both.Run(Legacy, t =>
        {
            var rig = Rig.Legacy(t, new LegacySetup { TranslationType = 2, AddressWidth = 0 });
            t.WriteMem(Src, Pattern.Bytes(8, 64));
            t.Dma(EduDirection.FromRam, Src, 64);
            return rig.Driver.Observe();
        }).Agree();
        Expect.Fault(o, 0x03, Src, read: true);
    }
}
