using VtdSim.Differential.Tests.Infrastructure;
using static VtdSim.Differential.Tests.Infrastructure.Layout;

namespace VtdSim.Differential.Tests;

/// <summary>
/// Scalable mode where QEMU 7.2 departs from the specification, which VtdSim follows: 7.2's second-stage walk reports
/// the legacy codes (5, 6, 0xC, 4) instead of SSS.x/SGN.x, its root/context lookups report legacy codes too, and every
/// PASID-directory or PASID-entry problem is the single, non-qualified 0x58 (qemu-facts §2.2, §2.6, §4). Each row
/// asserts both sides' actual FR and PP and that the rest (F, SID, FI, T, FSTS) agrees.
/// </summary>
public class ScalableDepartureTests
{
    private static readonly TargetConfig Scalable = TargetConfig.Scalable;

    private static Pair<Outcome> Run(ScalableSetup setup, Action<Rig> arrange, EduDirection direction, ulong iova) =>
        Both.Run(Scalable, t =>
        {
            var rig = Rig.Scalable(t, setup);
            arrange(rig);
            t.Dma(direction, iova, 64);
            return rig.Driver.Observe();
        });

    private static void Check(Pair<Outcome> pair, byte qemuFr, bool qemuPp, byte simFr, bool simPp, string departure)
    {
        pair.AgreeOn(o => (o.Fault.Pending, o.Fault.SourceId, o.Fault.FaultAddress, o.Fault.Read, o.Fsts), "F, SID, FI, T and FSTS");
        pair.Depart(o => o.Fault.Reason, qemuFr, simFr, departure);
        pair.Depart(o => o.Fault.PasidPresent, qemuPp, simPp, departure + " (FRCD.PP)");
        Assert.True(pair.Sim.Fault.Pending, "a fault must have been recorded");
        Assert.Equal(Reg.FstsPpf, pair.Sim.Fsts);
    }

    /// <summary>
    /// Second-stage walk faults: QEMU 7.2 reuses the legacy codes; the specification has scalable-mode ones (decisions
    /// D6). Both record PP=1 with the RID_PASID, 0.
    /// </summary>
    [QemuTheory]
    [InlineData("unmapped read: QEMU LGN.3 0x06 vs SSS.2 0x79 (not present)", EduDirection.FromRam, 0x06, 0x79)]
    [InlineData("unmapped write: QEMU LGN.2 0x05 vs SSS.2 0x79 (not present)", EduDirection.ToRam, 0x05, 0x79)]
    [InlineData("write to read-only: QEMU LGN.2 0x05 vs SGN.6 0x85", EduDirection.ToRam, 0x05, 0x85)]
    [InlineData("read of write-only: QEMU LGN.3 0x06 vs SGN.7 0x86", EduDirection.FromRam, 0x06, 0x86)]
    [InlineData("bit 62 in a leaf: QEMU LSL.2 0x0C vs SSS.3 0x7A", EduDirection.FromRam, 0x0C, 0x7A)]
    [InlineData("bit 45 in a PDE: QEMU LSL.2 0x0C vs SSS.3 0x7A", EduDirection.FromRam, 0x0C, 0x7A)]
    [InlineData("IOVA at 2^39: QEMU LGN.1 0x04 vs SGN.5 0x84", EduDirection.FromRam, 0x04, 0x84)]
    [InlineData("SSPTPTR table unreadable: QEMU LCT.4 0x03 vs SSS.4 0x7B", EduDirection.FromRam, 0x03, 0x7B)]
    [InlineData("L2 table unreadable: QEMU LSL.1 0x07 vs SSS.1 0x78", EduDirection.FromRam, 0x07, 0x78)]
    public void Departure_second_stage_walk_fault_codes(string departure, EduDirection direction, byte qemuFr, byte simFr)
    {
        string which = departure.Split(':')[0];
        ulong iova = which switch
        {
            "unmapped read" or "unmapped write" => IovaC,
            "IOVA at 2^39" => (1UL << 39) | IovaA,
            _ => IovaA,
        };
        var pair = Run(new ScalableSetup(), rig =>
        {
            switch (which)
            {
                case "write to read-only": rig.Sl.Map(IovaA, Src, read: true, write: false); break;
                case "read of write-only": rig.Sl.Map(IovaA, Src, read: false, write: true); break;
                case "bit 62 in a leaf": rig.Sl.Map(IovaA, Src, extraBits: 1UL << 62); break;
                case "bit 45 in a PDE":
                    rig.Sl.Map(IovaA, Src);
                    rig.Sl.SetBits(rig.Sl.EntryAddress(IovaA, 2), 1UL << 45);
                    break;
                case "IOVA at 2^39": rig.Sl.Map(IovaA, Src); break;
                case "SSPTPTR table unreadable": rig.WriteQwords(PasidTable, Entry.Pasid(NoMemory)); break;
                case "L2 table unreadable":
                    rig.Sl.Map(IovaA, Src);
                    rig.Sl.WriteEntry(rig.Sl.EntryAddress(IovaA, 3), Entry.Sl(NoMemory));
                    break;
            }
        }, direction, iova);
        Check(pair, qemuFr, qemuPp: true, simFr, simPp: false, departure); // VtdSim: PP only for PASID requests (D27)
        Assert.Equal((uint?)0, pair.Qemu.Fault.Pasid);
        Assert.Null(pair.Sim.Fault.Pasid); // PP=0: no PASID value is reported
        Assert.Equal(iova & ~0xFFFUL, pair.Sim.Fault.FaultAddress);
    }

    /// <summary>
    /// SNP (bit 11) in a second-stage leaf is reserved without ECAP.SC, and QEMU 7.2 with x-scalable-mode=on does not
    /// advertise SC; but QEMU stops treating bit 11 as reserved whenever scalable mode is on, and translates.
    /// </summary>
    [QemuFact]
    public void Departure_SNP_bit_in_a_leaf_without_ECAP_SC_QEMU72_translates_VtdSim_SSS3_0x7A()
    {
        var pair = Run(new ScalableSetup(), rig => rig.Sl.Map(IovaA, Src, extraBits: 1UL << 11), EduDirection.FromRam, IovaA);
        pair.Depart(o => o.Fault.Reason, (byte)0x00, (byte)0x7A, "SNP=1 in a leaf while ECAP.SC=0: QEMU 7.2 ignores it, VtdSim SSS.3");
        Expect.NoFault(pair.Qemu);
        Assert.Equal(Reg.FstsPpf, pair.Sim.Fsts);
    }

    /// <summary>
    /// Root, context, PASID-directory and PASID-entry problems. QEMU 7.2 reports the legacy root/context codes and 0x58
    /// for anything about PASID structures, with PP=0; VtdSim reports the specification's SRT/SCT/SPD/SPT codes, also
    /// with PP=0 (the request carried no PASID, D27).
    /// </summary>
    [QemuTheory]
    [InlineData("root LP=0: QEMU LRT.2 0x01 vs SRT.2 0x39", 0x01, 0x39, false)]
    [InlineData("context P=0: QEMU LCT.2 0x02 vs SCT.2 0x41", 0x02, 0x41, false)]
    [InlineData("context reserved bit 5: QEMU LCT.3 0x0B vs SCT.3 0x42", 0x0B, 0x42, false)]
    [InlineData("PASID directory entry P=0: QEMU 0x58 vs SPD.2 0x51", 0x58, 0x51, false)]
    [InlineData("PASID entry P=0: QEMU 0x58 vs SPT.2 0x59", 0x58, 0x59, false)]
    [InlineData("PGTT=000 (reserved): QEMU 0x58 vs SPT.4 0x5B", 0x58, 0x5B, false)]
    [InlineData("PGTT=101 (reserved): QEMU 0x58 vs SPT.4 0x5B", 0x58, 0x5B, false)]
    [InlineData("PASID entry AW=2 not in SAGAW: QEMU 0x58 vs SPT.4 0x5B", 0x58, 0x5B, false)]
    public void Departure_lookup_fault_codes(string departure, byte qemuFr, byte simFr, bool simPp)
    {
        ScalableSetup setup = departure.Split(':')[0] switch
        {
            "root LP=0" => new() { RootPresent = false },
            "context P=0" => new() { ContextPresent = false },
            "context reserved bit 5" => new() { ContextExtraQ0 = 1UL << 5 },
            "PASID directory entry P=0" => new() { DirectoryPresent = false },
            "PASID entry P=0" => new() { PasidPresent = false },
            "PGTT=000 (reserved)" => new() { Pgtt = 0 },
            "PGTT=101 (reserved)" => new() { Pgtt = 5 },
            "PASID entry AW=2 not in SAGAW" => new() { AddressWidth = 2 },
            _ => throw new ArgumentException(departure),
        };
        var pair = Run(setup, rig => rig.Sl.Map(IovaA, Src), EduDirection.FromRam, IovaA);
        Check(pair, qemuFr, qemuPp: false, simFr, simPp, departure);
    }

    /// <summary>
    /// QEMU 7.2 accepts PGTT=001 (first stage) and 011 (nested) without ECAP.FSTS/NEST and walks the second-stage
    /// tables instead; the specification (and VtdSim) refuses a PGTT the unit does not support with SPT.4.
    /// </summary>
    [QemuTheory]
    [InlineData(1)]
    [InlineData(3)]
    public void Departure_PGTT_first_stage_or_nested_on_an_SS_only_unit_QEMU72_walks_the_second_stage_VtdSim_SPT4_0x5B(int pgtt)
    {
        byte[] data = Pattern.Bytes(13, 64);
        var pair = Both.Run(Scalable, t =>
        {
            var rig = Rig.Scalable(t, new ScalableSetup { Pgtt = pgtt });
            rig.Sl.Map(IovaA, Src);
            rig.Sl.Map(IovaB, Dst);
            t.WriteMem(Src, data);
            rig.ReadThenWriteBack(IovaA, IovaB, data.Length);
            return rig.Driver.Observe(Dst, data.Length);
        });
        pair.Depart(o => o.Fault.Reason, (byte)0x00, (byte)0x5B, $"PGTT={pgtt} without ECAP.FSTS/NEST: QEMU 7.2 walks the SS tables, VtdSim SPT.4");
        Assert.Equal(data, pair.Qemu.Bytes);
        Expect.NoFault(pair.Qemu);
        Assert.Equal(IovaA, pair.Sim.Fault.FaultAddress);
    }

    /// <summary>
    /// PASIDE=1 in the context entry of a unit without ECAP.PASID (QEMU 7.2 with x-scalable-mode=on reports none). The
    /// specification treats a field for a feature the unit lacks as Reserved(0), and a reserved field set in a present
    /// context entry is SCT.3 — not qualified, so context FPD does not hide it (decisions D47). QEMU 7.2 ignores the bit
    /// and translates the request without PASID.
    /// </summary>
    [QemuTheory]
    [InlineData(false)]
    [InlineData(true)]
    public void Departure_PASIDE_without_ECAP_PASID_QEMU72_translates_VtdSim_SCT3_0x42_reserved_D47(bool contextFpd)
    {
        byte[] data = Pattern.Bytes(15, 64);
        var pair = Both.Run(Scalable, t =>
        {
            var rig = Rig.Scalable(t, new ScalableSetup { ContextExtraQ0 = 1UL << 3, ContextFpd = contextFpd });
            rig.Sl.Map(IovaA, Src);
            rig.Sl.Map(IovaB, Dst);
            t.WriteMem(Src, data);
            rig.ReadThenWriteBack(IovaA, IovaB, data.Length);
            return rig.Driver.Observe(Dst, data.Length);
        });
        pair.Depart(o => o.Fault.Reason, (byte)0x00, (byte)0x42, "PASIDE=1 while ECAP.PASID=0: QEMU 7.2 ignores it, VtdSim SCT.3 (a reserved field)");
        Expect.NoFault(pair.Qemu);
        Assert.Equal(data, pair.Qemu.Bytes);
        Expect.Fault(pair.Sim, 0x42, IovaA, read: true);
        Assert.Equal(new byte[data.Length], pair.Sim.Bytes); // nothing read, nothing written
    }

    /// <summary>
    /// QEMU 7.2's 0x58 is not qualified, so context FPD does not hide a not-present PASID entry; in the specification
    /// SPT.2 is qualified and FPD suppresses it (VtdSim, decisions D12/D13).
    /// </summary>
    [QemuFact]
    public void Departure_context_FPD_with_PASID_entry_not_present_QEMU72_records_0x58_VtdSim_suppresses_SPT2()
    {
        var pair = Run(new ScalableSetup { ContextFpd = true, PasidPresent = false }, _ => { }, EduDirection.FromRam, IovaA);
        pair.Depart(o => o.Fault.Reason, (byte)0x58, (byte)0x00, "context FPD=1, PASID entry P=0: QEMU 7.2 records 0x58 (not qualified), VtdSim suppresses SPT.2");
        Expect.Fault(pair.Qemu, 0x58, IovaA, read: true);
        Expect.NoFault(pair.Sim);
    }
}
