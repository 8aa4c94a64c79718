using VtdSim.Differential.Tests.Infrastructure;
using static VtdSim.Differential.Tests.Infrastructure.Layout;

namespace VtdSim.Differential.Tests;

/// <summary>Legacy mode (root → context → 3-level second-level tables, aw-bits=39): translations that succeed.</summary>
public class LegacyTranslationTests
{
    private static readonly TargetConfig Legacy = TargetConfig.Legacy;

    [QemuFact]
    public void FourKiB_pages_read_then_write_back_at_page_offsets()
    {
        byte[] data = Pattern.Bytes(2, 256);
        var outcome = Both.Run(Legacy, t =>
        {
            var rig = Rig.Legacy(t);
            rig.Sl.Map(IovaA, Src, read: true, write: false);
            rig.Sl.Map(IovaB, Dst, read: false, write: true);
            t.WriteMem(Src + 0x123, data);
            t.Dma(EduDirection.FromRam, IovaA + 0x123, data.Length);
            t.Dma(EduDirection.ToRam, IovaB + 0x456, data.Length);
            return rig.Driver.Observe(Dst + 0x456, data.Length);
        }).Agree();
        Assert.Equal(data, outcome.Bytes);
        Assert.True(outcome.NoFaultPending);
    }

    [QemuFact]
    public void A_transfer_across_two_pages_translates_each_page()
    {
        byte[] data = Pattern.Bytes(3, 4000); // edu 7.2 moves at most 4095 bytes (see Edu.BufferBase)
        var outcome = Both.Run(Legacy, t =>
        {
            var rig = Rig.Legacy(t);
            // IOVA pages A and A+0x1000 map to pages far apart; the write-back goes to two other pages.
            rig.Sl.Map(IovaA, Src + 0x7000);
            rig.Sl.Map(IovaA + 0x1000, Src2 + 0x3000);
            rig.Sl.Map(IovaC, Dst + 0x1000);
            rig.Sl.Map(IovaC + 0x1000, Dst);
            t.WriteMem(Src + 0x7800, data.AsSpan(0, 0x800));
            t.WriteMem(Src2 + 0x3000, data.AsSpan(0x800));
            t.Dma(EduDirection.FromRam, IovaA + 0x800, data.Length);
            t.Dma(EduDirection.ToRam, IovaC + 0x100, data.Length);
            return rig.Driver.Observe(Dst, 0x2000);
        }).Agree();
        // IOVA C+0x100.. lands at Dst+0x1100..Dst+0x2000, then C+0x1000.. at Dst..
        Assert.Equal(data.AsSpan(0, 0xF00).ToArray(), outcome.Bytes[0x1100..]);
        Assert.Equal(data.AsSpan(0xF00).ToArray(), outcome.Bytes[..(4000 - 0xF00)]);
        Assert.True(outcome.NoFaultPending);
    }

    [QemuFact]
    public void Two_MiB_leaf_at_level_2()
    {
        byte[] data = Pattern.Bytes(4, 128);
        const ulong iova = 0x4060_0000; // 2 MiB aligned
        var outcome = Both.Run(Legacy, t =>
        {
            var rig = Rig.Legacy(t);
            rig.Sl.Map(iova, Src, level: 2);
            rig.Sl.Map(iova + 0x20_0000, Dst, level: 2);
            t.WriteMem(Src + 0x1_2340, data);
            rig.ReadThenWriteBack(iova + 0x1_2340, iova + 0x20_0000 + 0x1F_F000, data.Length);
            return rig.Driver.Observe(Dst + 0x1F_F000, data.Length);
        }).Agree();
        Assert.Equal(data, outcome.Bytes);
        Assert.True(outcome.NoFaultPending);
    }

    [QemuFact]
    public void One_GiB_leaf_at_level_3()
    {
        byte[] data = Pattern.Bytes(5, 128);
        const ulong iova = 0x8000_0000; // 2 GiB, mapped to HPA 0 by one 1 GiB page
        var outcome = Both.Run(Legacy, t =>
        {
            var rig = Rig.Legacy(t);
            rig.Sl.Map(iova, 0, level: 3);
            t.WriteMem(Src + 0xABC, data);
            rig.ReadThenWriteBack(iova + Src + 0xABC, iova + Dst2 + 0x10, data.Length);
            return rig.Driver.Observe(Dst2 + 0x10, data.Length);
        }).Agree();
        Assert.Equal(data, outcome.Bytes);
        Assert.True(outcome.NoFaultPending);
    }

    [QemuFact]
    public void Ignored_bits_of_a_leaf_do_not_matter()
    {
        // Bits 10:2 (legacy leaves have no X, EMT, A/D), 61:52 and 63 are ignored; only 11 and 62 and address bits >= HAW are reserved.
        const ulong ignored = 0x7FCUL | (0x3FFUL << 52) | (1UL << 63);
        byte[] data = Pattern.Bytes(6, 64);
        var outcome = Both.Run(Legacy, t =>
        {
            var rig = Rig.Legacy(t);
            rig.Sl.Map(IovaA, Src, extraBits: ignored);
            rig.Sl.Map(IovaB, Dst, extraBits: ignored);
            t.WriteMem(Src, data);
            rig.ReadThenWriteBack(IovaA, IovaB, data.Length);
            return rig.Driver.Observe(Dst, data.Length);
        }).Agree();
        Assert.Equal(data, outcome.Bytes);
        Assert.True(outcome.NoFaultPending);
    }

    [QemuFact]
    public void Pass_through_context_TT2_is_identity()
    {
        byte[] data = Pattern.Bytes(7, 100);
        var outcome = Both.Run(Legacy, t =>
        {
            var rig = Rig.Legacy(t, new LegacySetup { TranslationType = 2 });
            t.WriteMem(Src + 0x40, data);
            rig.ReadThenWriteBack(Src + 0x40, Dst + 0x80, data.Length);
            return rig.Driver.Observe(Dst + 0x80, data.Length);
        }).Agree();
        Assert.Equal(data, outcome.Bytes);
        Assert.True(outcome.NoFaultPending);
    }
}
