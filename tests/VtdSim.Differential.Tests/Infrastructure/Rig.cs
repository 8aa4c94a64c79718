using System.Buffers.Binary;

namespace VtdSim.Differential.Tests.Infrastructure;

/// <summary>Legacy-mode set-up: the root entry of bus 0 and the context entries of the edu devices.</summary>
public sealed record LegacySetup
{
    public bool RootPresent { get; init; } = true;
    public ulong RootExtraLo { get; init; }
    public ulong RootHi { get; init; }
    public bool ContextPresent { get; init; } = true;
    public bool ContextFpd { get; init; }
    public int TranslationType { get; init; }
    public int AddressWidth { get; init; } = 1; // 39-bit, 3-level: QEMU 7.2's only SAGAW with aw-bits=39
    public ushort DomainId { get; init; } = 1;
    public ulong ContextExtraLo { get; init; }
    public ulong ContextExtraHi { get; init; }
}

/// <summary>Scalable-mode set-up: root, context, PASID directory and the RID_PASID (0) PASID entry of the edu devices.</summary>
public sealed record ScalableSetup
{
    public bool RootPresent { get; init; } = true;
    public bool ContextPresent { get; init; } = true;
    public bool ContextFpd { get; init; }
    public ulong ContextExtraQ0 { get; init; }
    public bool DirectoryPresent { get; init; } = true;
    public bool DirectoryFpd { get; init; }
    public bool PasidPresent { get; init; } = true;
    public bool PasidFpd { get; init; }
    public int Pgtt { get; init; } = 2; // second stage only
    public int AddressWidth { get; init; } = 1;
    public ushort DomainId { get; init; } = 1;
}

/// <summary>A target with its driver and second-stage tables, brought up in legacy or scalable mode.</summary>
public sealed class Rig
{
    private Rig(IVtdTarget target)
    {
        Target = target;
        Driver = new VtdDriver(target);
        Sl = new SlTables(target);
        target.WriteMem(Layout.SlRoot, new byte[4096]);
    }

    public IVtdTarget Target { get; }
    public VtdDriver Driver { get; }
    public SlTables Sl { get; }
    public int Devices => Target is QtestTarget q ? q.Config.Devices : 1;

    /// <summary>Legacy mode: root → context table → <see cref="Sl"/> for every edu device; SRTP; TE unless <paramref name="enable"/> is false.</summary>
    public static Rig Legacy(IVtdTarget target, LegacySetup? setup = null, bool enable = true)
    {
        setup ??= new LegacySetup();
        var rig = new Rig(target);
        var (rlo, _) = Entry.RootLegacy(Layout.ContextTable, setup.RootPresent);
        rig.WriteQwords(Layout.Root, rlo | setup.RootExtraLo, setup.RootHi);
        var (clo, chi) = Entry.ContextLegacy(rig.Sl.Root, setup.AddressWidth, setup.DomainId, setup.TranslationType, setup.ContextFpd, setup.ContextPresent);
        for (int d = 0; d < rig.Devices; d++)
            rig.WriteQwords(Layout.ContextTable + Edu.SourceId(d) * 16UL, clo | setup.ContextExtraLo, chi | setup.ContextExtraHi);
        rig.Driver.SetRootTable(Layout.Root, scalable: false);
        if (enable) rig.Driver.EnableTranslation();
        return rig;
    }

    /// <summary>Scalable mode: root (LP) → 32-byte context entries → PASID directory → PASID table entry 0 (RID_PASID) → <see cref="Sl"/>.</summary>
    public static Rig Scalable(IVtdTarget target, ScalableSetup? setup = null, bool enable = true)
    {
        setup ??= new ScalableSetup();
        var rig = new Rig(target);
        var (rlo, rhi) = Entry.RootScalable(Layout.ContextTable, setup.RootPresent);
        rig.WriteQwords(Layout.Root, rlo, rhi);
        ulong[] ctx = Entry.ContextScalable(Layout.PasidDirectory, fpd: setup.ContextFpd, present: setup.ContextPresent);
        ctx[0] |= setup.ContextExtraQ0;
        for (int d = 0; d < rig.Devices; d++)
            rig.WriteQwords(Layout.ContextTable + (Edu.SourceId(d) & 0x7FUL) * 32, ctx);
        rig.WriteQwords(Layout.PasidDirectory, Entry.PasidDirectory(Layout.PasidTable, setup.DirectoryFpd, setup.DirectoryPresent));
        rig.WriteQwords(Layout.PasidTable, Entry.Pasid(rig.Sl.Root, setup.Pgtt, setup.AddressWidth, setup.DomainId, setup.PasidFpd, setup.PasidPresent));
        rig.Driver.SetRootTable(Layout.Root, scalable: true);
        if (enable) rig.Driver.EnableTranslation();
        return rig;
    }

    public void WriteQwords(ulong address, params ulong[] values)
    {
        var bytes = new byte[values.Length * 8];
        for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(8 * i), values[i]);
        Target.WriteMem(address, bytes);
    }

    /// <summary>Puts <paramref name="data"/> at <paramref name="address"/>, reads it through <paramref name="readIova"/> into the
    /// device buffer and writes the buffer back out through <paramref name="writeIova"/>.</summary>
    public void ReadThenWriteBack(ulong readIova, ulong writeIova, int length, int device = 0)
    {
        Target.Dma(EduDirection.FromRam, readIova, length, device: device);
        Target.Dma(EduDirection.ToRam, writeIova, length, device: device);
    }
}
