using static VtdSim.Differential.Tests.Infrastructure.Layout;

namespace VtdSim.Differential.Tests.Infrastructure;

/// <summary>
/// Scenarios that show whether a unit serves translations from its caches after the tables changed underneath, and
/// probes that run them on VtdSim alone. The lead is wiring VtdSim's caches into its translation engine; until the
/// engine consults a cache, the differential tests that need it are skipped (the probe says so), and they start running
/// by themselves once it does. QEMU's side of the same scenarios is checked on its own, unconditionally.
/// </summary>
public static class CacheProbe
{
    public static readonly byte[] Old = Pattern.Bytes(50, 64), New = Pattern.Bytes(51, 64);

    /// <summary>
    /// IOVA A → Src (holding <see cref="Old"/>); DMA through A (the translation is now cached); point A's PTE at Src2
    /// (holding <see cref="New"/>) without invalidating; DMA again; <paramref name="invalidate"/>; DMA again. Each DMA
    /// reads through A and writes the bytes back through B into Dst, which is observed.
    /// </summary>
    public static (Outcome Before, Outcome Stale, Outcome After) IotlbScenario(IVtdTarget t, bool scalable, Action<Rig>? prepare, Action<Rig> invalidate)
    {
        var rig = scalable ? Rig.Scalable(t) : Rig.Legacy(t);
        prepare?.Invoke(rig);
        ulong pte = rig.Sl.Map(IovaA, Src, read: true, write: false);
        rig.Sl.Map(IovaB, Dst, read: false, write: true);
        t.WriteMem(Src, Old);
        t.WriteMem(Src2, New);
        Outcome Pass()
        {
            rig.ReadThenWriteBack(IovaA, IovaB, Old.Length);
            return rig.Driver.Observe(Dst, Old.Length);
        }
        Outcome before = Pass();
        rig.Sl.WriteEntry(pte, Entry.Sl(Src2, read: true, write: false));
        Outcome stale = Pass();
        invalidate(rig);
        return (before, stale, Pass());
    }

    /// <summary>
    /// DMA through A (context entry now cached); make the context entry not present without invalidating; DMA through
    /// C (not in the IOTLB); invalidate the context cache globally; DMA through B (not in the IOTLB either). Legacy
    /// mode, or scalable mode (the 32-byte entry cleared) when <paramref name="scalable"/>.
    /// </summary>
    public static (Outcome Before, Outcome Stale, Outcome After) ContextScenario(IVtdTarget t, Action<Rig> invalidate, bool scalable = false)
    {
        var rig = scalable ? Rig.Scalable(t) : Rig.Legacy(t);
        rig.Sl.Map(IovaA, Src);
        rig.Sl.Map(IovaB, Src);
        rig.Sl.Map(IovaC, Src);
        t.Dma(EduDirection.FromRam, IovaA, 64);
        Outcome before = rig.Driver.Observe();
        if (scalable)
        {
            rig.WriteQwords(ContextTable + (Edu.SourceId(0) & 0x7FUL) * 32, 0, 0, 0, 0);
        }
        else
        {
            var (lo, hi) = Entry.ContextLegacy(Layout.SlRoot, present: false);
            rig.WriteQwords(ContextTable + Edu.SourceId(0) * 16UL, lo, hi);
        }
        t.Dma(EduDirection.FromRam, IovaC, 64);
        Outcome stale = rig.Driver.Observe();
        invalidate(rig);
        t.Dma(EduDirection.FromRam, IovaB, 64);
        return (before, stale, rig.Driver.Observe());
    }

    private static readonly Lazy<string?> IotlbSkip = new(() => Probe(() =>
    {
        using var sim = new VtdSimTarget(TargetConfig.Legacy);
        var (_, stale, _) = IotlbScenario(sim, scalable: false, null, rig => rig.Driver.InvalidateIotlbGlobalByRegister());
        return stale.Bytes.SequenceEqual(Old) ? null
            : "VtdSim engine does not consult its IOTLB yet (probe: a PTE changed without invalidation took effect at once); "
              + "QEMU 7.2's side is checked by the Qemu72_* tests in this class";
    }));

    private static readonly Lazy<string?> ContextSkip = new(() => Probe(() =>
    {
        using var sim = new VtdSimTarget(TargetConfig.Legacy);
        var (_, stale, _) = ContextScenario(sim, rig => rig.Driver.InvalidateContextGlobalByRegister());
        return !stale.Fault.Pending ? null
            : "VtdSim engine does not consult its context cache yet (probe: a context entry cleared without invalidation took effect at once); "
              + "QEMU 7.2's side is checked by the Qemu72_* tests in this class";
    }));

    /// <summary>A probe that throws does not skip anything: the tests then run and show the error themselves.</summary>
    private static string? Probe(Func<string?> probe)
    {
        try
        {
            return probe();
        }
        catch (Exception)
        {
            return null;
        }
    }

    /// <summary>Null when VtdSim serves stale IOTLB entries (its engine uses the IOTLB); else the skip reason.</summary>
    public static string? VtdSimIotlbSkipReason => IotlbSkip.Value;
    public static string? VtdSimContextCacheSkipReason => ContextSkip.Value;
}

/// <summary>A differential fact that needs QEMU 7.2 and a VtdSim engine that consults its IOTLB (see <see cref="CacheProbe"/>).</summary>
public sealed class NeedsVtdSimIotlbFactAttribute : FactAttribute
{
    public NeedsVtdSimIotlbFactAttribute()
    {
        Skip = QemuLocator.SkipReason ?? CacheProbe.VtdSimIotlbSkipReason;
    }
}

/// <summary>A differential theory that needs QEMU 7.2 and a VtdSim engine that consults its IOTLB.</summary>
public sealed class NeedsVtdSimIotlbTheoryAttribute : TheoryAttribute
{
    public NeedsVtdSimIotlbTheoryAttribute()
    {
        Skip = QemuLocator.SkipReason ?? CacheProbe.VtdSimIotlbSkipReason;
    }
}

/// <summary>A differential fact that needs QEMU 7.2 and a VtdSim engine that consults its context cache.</summary>
public sealed class NeedsVtdSimContextCacheFactAttribute : FactAttribute
{
    public NeedsVtdSimContextCacheFactAttribute()
    {
        Skip = QemuLocator.SkipReason ?? CacheProbe.VtdSimContextCacheSkipReason;
    }
}
