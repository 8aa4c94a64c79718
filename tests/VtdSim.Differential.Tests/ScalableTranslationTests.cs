using VtdSim.Differential.Tests.Infrastructure;
using static VtdSim.Differential.Tests.Infrastructure.Layout;

namespace VtdSim.Differential.Tests;

/// <summary>
/// Scalable mode (x-scalable-mode=on; RTADDR.TTM=01, 32-byte context entries, PASID directory and table) with requests
/// without PASID, which take RID_PASID = 0: second-stage-only (PGTT=010) and pass-through (PGTT=100) cases on which
/// QEMU 7.2 and VtdSim agree.
/// </summary>
public class ScalableTranslationTests
{
    private static readonly TargetConfig Scalable = TargetConfig.Scalable;

    [QemuFact]
    public void Second_stage_only_4KiB_read_then_write_back()
    {
        byte[] data = Pattern.Bytes(10, 200);
        var o = Both.Run(Scalable, t =>
        {
            var rig = Rig.Scalable(t);
            rig.Sl.Map(IovaA, Src, read: true, write: false);
            rig.Sl.Map(IovaB, Dst, read: false, write: true);
            t.WriteMem(Src + 0x321, data);
            rig.ReadThenWriteBack(IovaA + 0x321, IovaB + 0x10, data.Length);
            return rig.Driver.Observe(Dst + 0x10, data.Length);
        }).Agree();
        Assert.Equal(data, o.Bytes);
        Assert.True(o.NoFaultPending);
    }

    [QemuFact]
    public void Second_stage_only_2MiB_and_1GiB_leaves()
    {
        byte[] data = Pattern.Bytes(11, 128);
        var o = Both.Run(Scalable, t =>
        {
            var rig = Rig.Scalable(t);
            rig.Sl.Map(0x4060_0000, Src, level: 2);
            rig.Sl.Map(0x8000_0000, 0, level: 3);
            t.WriteMem(Src + 0x1_FF00, data);
            rig.ReadThenWriteBack(0x4060_0000 + 0x1_FF00, 0x8000_0000 + Dst + 0x40, data.Length);
            return rig.Driver.Observe(Dst + 0x40, data.Length);
        }).Agree();
        Assert.Equal(data, o.Bytes);
        Assert.True(o.NoFaultPending);
    }

    [QemuFact]
    public void Pass_through_PGTT_100_is_identity()
    {
        byte[] data = Pattern.Bytes(12, 100);
        var o = Both.Run(Scalable, t =>
        {
            var rig = Rig.Scalable(t, new ScalableSetup { Pgtt = 4 });
            t.WriteMem(Src + 0x77, data);
            rig.ReadThenWriteBack(Src + 0x77, Dst + 0x99, data.Length);
            return rig.Driver.Observe(Dst + 0x99, data.Length);
        }).Agree();
        Assert.Equal(data, o.Bytes);
        Assert.True(o.NoFaultPending);
    }

    /// <summary>SGN.8 (0x87): QEMU 7.2 uses the scalable code here, and records PP=1 with the RID_PASID (0), as VtdSim does.</summary>
    [QemuFact]
    public void Output_in_the_interrupt_range_is_SGN8_0x87_on_both_PP_differs()
    {
        var pair = Both.Run(Scalable, t =>
        {
            var rig = Rig.Scalable(t);
            rig.Sl.Map(IovaA, 0xFEE0_0000);
            t.Dma(EduDirection.FromRam, IovaA, 64);
            return rig.Driver.Observe();
        });
        Assert.Equal(pair.Qemu.Fault.Reason, pair.Sim.Fault.Reason);
        Assert.Equal((byte)0x87, pair.Sim.Fault.Reason);
        // Departure: QEMU 7.2 sets PP=1 with PV=RID_PASID for a request without PASID; VtdSim records PP=0 (D27).
        pair.Depart(o => o.Fault.PasidPresent, qemu: true, sim: false, "FRCD.PP for a request without PASID (D27)");
        Assert.Equal(Reg.FstsPpf, pair.Sim.Fsts);
    }

    /// <summary>FPD in the PASID entry or the PASID-directory entry suppresses a qualified walk fault (vtd-facts §5).</summary>
    [QemuTheory]
    [InlineData("pasid-entry")]
    [InlineData("pasid-directory-entry")]
    [InlineData("context-entry")]
    public void FPD_on_the_lookup_path_suppresses_a_walk_fault(string where)
    {
        var setup = where switch
        {
            "pasid-entry" => new ScalableSetup { PasidFpd = true },
            "pasid-directory-entry" => new ScalableSetup { DirectoryFpd = true },
            _ => new ScalableSetup { ContextFpd = true },
        };
        var o = Both.Run(Scalable, t =>
        {
            var rig = Rig.Scalable(t, setup);
            t.Dma(EduDirection.FromRam, IovaC, 64); // unmapped
            return rig.Driver.Observe();
        }).Agree();
        Expect.NoFault(o);
    }
}
