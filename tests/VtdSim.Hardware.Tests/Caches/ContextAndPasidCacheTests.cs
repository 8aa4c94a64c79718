using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Building;
using VtdSim.Hardware.Faults;
using VtdSim.Hardware.Invalidation;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Registers;
using VtdSim.Hardware.Structures;
using VtdSim.Hardware.Translation;

namespace VtdSim.Hardware.Tests.Caches;

/// <summary>Context- and PASID-cache staleness and the invalidations that end it (vtd-facts §6.2, §7.2).</summary>
public class ContextAndPasidCacheTests
{
    private const ulong Iova = 0x40_0000, PageA = 0x1_0000_0000, PageB = 0x2_0000_0000;

    /// <summary>Two SS domains (DID 5 → page A, DID 6 → page B); the device starts on DID 5 and the PASID entry is then switched to DID 6 without flushing.</summary>
    private static CacheBench SwitchedWithoutFlush()
    {
        var bench = new CacheBench();
        var a = bench.SecondStageDomain(5);
        a.Map(new Gpa(Iova), new Hpa(PageA));
        Assert.Equal(new Hpa(PageA), bench.Translate(Iova));
        var b = new SecondStageTableBuilder(bench.Frames, 4);
        b.Map(new Gpa(Iova), new Hpa(PageB));
        bench.Tables.SetPasidEntry(CacheBench.Device, 0, PasidEntry.SecondStage(b.Root, b.AddressWidth, 6));
        return bench;
    }

    [Fact]
    public void AChangedPasidEntryIsUsedOnlyAfterAPasidCacheInvalidation()
    {
        var bench = SwitchedWithoutFlush();
        Assert.Equal(new Hpa(PageA), bench.Translate(Iova)); // cached PASID entry and IOTLB: both stale

        bench.Submit(InvalidationDescriptor.PasidCachePasid(5, 0));
        Assert.Equal(new Hpa(PageB), bench.Translate(Iova)); // new entry, DID 6: no IOTLB entry under it yet
    }

    [Fact]
    public void APasidCacheInvalidationForAnotherDomainLeavesTheEntry()
    {
        var bench = SwitchedWithoutFlush();
        bench.Submit(InvalidationDescriptor.PasidCacheDomain(9));
        Assert.Equal(new Hpa(PageA), bench.Translate(Iova));
        bench.Submit(InvalidationDescriptor.PasidCacheDomain(5));
        Assert.Equal(new Hpa(PageB), bench.Translate(Iova));
    }

    [Fact]
    public void AnIotlbFlushAloneDoesNotRefreshAStalePasidEntry()
    {
        var bench = SwitchedWithoutFlush();
        bench.Submit(InvalidationDescriptor.IotlbGlobal());
        // The PASID cache still says DID 5 over table A; the walk re-reads table A (still mapping page A).
        Assert.Equal(new Hpa(PageA), bench.Translate(Iova));
    }

    [Fact]
    public void AClearedContextEntryKeepsTranslatingUntilTheContextCacheIsFlushed()
    {
        var bench = new CacheBench();
        var a = bench.SecondStageDomain(5);
        a.Map(new Gpa(Iova), new Hpa(PageA));
        bench.Translate(Iova);
        bench.Tables.SetScalableContext(CacheBench.Device, dir => ScalableContextEntry.Create(dir).WithPresent(false));
        bench.Submit(InvalidationDescriptor.PasidCacheGlobal(), InvalidationDescriptor.IotlbGlobal());

        Assert.Equal(new Hpa(PageA), bench.Translate(Iova)); // the context entry is still cached

        bench.Submit(InvalidationDescriptor.ContextDevice(0, CacheBench.Device.Value));
        var r = bench.Unit.Translate(new DmaRequest(CacheBench.Device, new Iova(Iova), DmaAccess.Read));
        Assert.Equal(FaultReason.SCT2_ContextNotPresent, r.Fault?.Reason);
    }

    [Theory]
    [InlineData(0, 0x08, true)]  // FM=0: exactly 00:01.0 (SID 0x08)
    [InlineData(0, 0x09, false)] // FM=0: 00:01.1 is another function
    [InlineData(1, 0x0C, true)]  // FM=1 ignores SID bit 2: 0x0C also covers 0x08
    [InlineData(3, 0x0F, true)]  // FM=3 ignores bits 2:0
    public void DeviceSelectiveContextInvalidationHonoursTheFunctionMask(int functionMask, ushort sid, bool covers)
    {
        var bench = new CacheBench();
        var a = bench.SecondStageDomain(5);
        a.Map(new Gpa(Iova), new Hpa(PageA));
        bench.Translate(Iova);
        bench.Tables.SetScalableContext(CacheBench.Device, dir => ScalableContextEntry.Create(dir).WithPresent(false));
        bench.Submit(InvalidationDescriptor.PasidCacheGlobal(), InvalidationDescriptor.IotlbGlobal());

        bench.Submit(InvalidationDescriptor.ContextDevice(0, sid, functionMask));

        Assert.Equal(covers, bench.Translate(Iova) is null);
    }

    [Fact]
    public void WithCachingModeANotPresentContextEntryIsCachedUntilInvalidated()
    {
        var cm = BuiltInProfiles.Architectural with { Cap = BuiltInProfiles.Architectural.Cap.WithCachingMode(true) };
        var bench = new CacheBench(cm);
        var ss = new SecondStageTableBuilder(bench.Frames, 4);
        ss.Map(new Gpa(Iova), new Hpa(PageA));
        bench.Tables.SetScalableContext(CacheBench.Device, dir => ScalableContextEntry.Create(dir).WithPresent(false));
        Assert.Null(bench.Translate(Iova)); // SCT.2, and the not-present entry is now cached

        bench.Tables.SetPasidEntry(CacheBench.Device, 0, PasidEntry.SecondStage(ss.Root, ss.AddressWidth, 5));
        bench.Tables.SetScalableContext(CacheBench.Device, dir => ScalableContextEntry.Create(dir));
        Assert.Null(bench.Translate(Iova)); // still the cached not-present entry

        bench.Submit(InvalidationDescriptor.ContextDevice(0, CacheBench.Device.Value));
        Assert.Equal(new Hpa(PageA), bench.Translate(Iova));
    }

    [Fact]
    public void WithoutCachingModeANotPresentEntryIsNeverCached()
    {
        var bench = new CacheBench();
        var ss = new SecondStageTableBuilder(bench.Frames, 4);
        ss.Map(new Gpa(Iova), new Hpa(PageA));
        bench.Tables.SetScalableContext(CacheBench.Device, dir => ScalableContextEntry.Create(dir).WithPresent(false));
        Assert.Null(bench.Translate(Iova));

        bench.Tables.SetPasidEntry(CacheBench.Device, 0, PasidEntry.SecondStage(ss.Root, ss.AddressWidth, 5));
        bench.Tables.SetScalableContext(CacheBench.Device, dir => ScalableContextEntry.Create(dir));

        Assert.Equal(new Hpa(PageA), bench.Translate(Iova)); // no invalidation needed: CM=0
    }

    [Fact]
    public void SrtpFlushesEveryCacheWhenTheUnitHasEsrtps()
    {
        var (bench, ss) = (new CacheBench(), (SecondStageTableBuilder?)null);
        ss = bench.SecondStageDomain(5);
        ss.Map(new Gpa(Iova), new Hpa(PageA));
        bench.Translate(Iova);
        ss.Map(new Gpa(Iova), new Hpa(PageB));
        Assert.True(bench.Unit.Profile.Cap.EnhancedSetRootTablePointer);

        bench.Unit.WriteRegister32(RegisterOffset.GCMD, (uint)(GlobalCommand.QueuedInvalidationEnable | GlobalCommand.TranslationEnable | GlobalCommand.SetRootTablePointer));

        Assert.Equal(new Hpa(PageB), bench.Translate(Iova));
    }
}
