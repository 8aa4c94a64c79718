using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Profiles;
using VtdSim.Kernel.Intel;
using VtdSim.Machine;

namespace VtdSim.Kernel.Tests;

/// <summary>
/// Caching mode (CAP.CM=1, what a vIOMMU reports): the unit may cache not-present entries, so software must invalidate
/// after making anything present (spec 6.1). The hardware model caches not-present context and PASID entries under CM=1
/// (D25); the driver must flush on attach and on every map, where CM=0 needs no flush for a map.
/// </summary>
public class CachingModeTests
{
    private static VtdProfile WithCachingMode(VtdProfile p) => p with { Name = p.Name + "+cm", Cap = p.Cap.WithCachingMode(true) };

    [Theory]
    [InlineData("sapphire-rapids")]
    [InlineData("qemu-7.2")]
    [InlineData("qemu-7.2-scalable")]
    public void ADeviceThatFaultedBeforeAttachReachesItsPagesAfterIt(string profile)
    {
        var bench = new KernelBench(WithCachingMode(BuiltInProfiles.Find(profile)));
        // Another function on the bus is attached first, so the root entry and the context table exist: the device's
        // own (not present) context entry is then read, and cached, by its first DMA.
        var neighbour = new SourceId(0, 3, 0);
        bench.Machine.AddFunction(new PciFunction(neighbour, "neighbour"));
        Assert.Equal(Errno.Success, bench.Driver.AllocPaging(PagingDomainFlags.None, out var domain));
        Assert.Equal(Errno.Success, bench.Driver.Attach(neighbour, domain!));
        var buffer = new byte[4];
        Assert.NotNull(bench.DmaRead(0x10_0000, buffer).Fault);

        Assert.Equal(Errno.Success, bench.Driver.Attach(KernelBench.Device, domain!));
        bench.Machine.Memory.Write(new Hpa(0x4000_0000), "CM=1"u8);
        Assert.Equal(Errno.Success, domain!.Map(0x10_0000, 0x4000_0000, 0x1000, IommuProt.Read | IommuProt.Write));

        var result = bench.DmaRead(0x10_0000, buffer);
        Assert.Null(result.Fault);
        Assert.Equal("CM=1"u8.ToArray(), buffer);
    }

    [Theory]
    [InlineData(false, 0)]
    [InlineData(true, 1)]
    public void AMapIsFlushedOnlyUnderCachingMode(bool cachingMode, long flushes)
    {
        var profile = cachingMode ? WithCachingMode(BuiltInProfiles.SapphireRapids) : BuiltInProfiles.SapphireRapids;
        var bench = new KernelBench(profile);
        Assert.Equal(Errno.Success, bench.Driver.AllocPaging(PagingDomainFlags.None, out var domain));
        Assert.Equal(Errno.Success, bench.Driver.Attach(KernelBench.Device, domain!));
        long before = bench.Driver.InvalidationsSubmitted;
        Assert.Equal(Errno.Success, domain!.Map(0x10_0000, 0x4000_0000, 0x1000, IommuProt.Read));
        Assert.Equal(flushes, bench.Driver.InvalidationsSubmitted - before);
    }
}
