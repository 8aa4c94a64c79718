using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Translation;
using VtdSim.Kernel.Intel;

namespace VtdSim.Kernel.Tests;

/// <summary>
/// Caching mode and PASID-table entries: under CM=1 the unit may cache a PASID's not-present entry (tagged with the DID
/// field it read, D25), so making (device, PASID) present must be followed by a PASID-cache invalidation that reaches
/// that cached copy (K25), and each map by a flush for every PASID the domain is attached at.
/// </summary>
public class PasidCachingModeTests
{
    private static KernelBench CachingModeBench() =>
        new(BuiltInProfiles.SapphireRapids with { Name = "sapphire-rapids+cm", Cap = BuiltInProfiles.SapphireRapids.Cap.WithCachingMode(true) });

    [Fact]
    public void APasidThatFaultedBeforeItsAttachReachesItsPagesAfterIt()
    {
        var bench = CachingModeBench();
        var d = bench.Driver;
        Assert.Equal(Errno.Success, d.AllocPaging(PagingDomainFlags.None, out var domain));
        Assert.Equal(Errno.Success, d.Attach(KernelBench.Device, domain!)); // the PASID table holding PASID 5 exists now
        var buffer = new byte[4];
        DmaTransferResult Read() => bench.Machine.Dma.Read(new DmaRequest(KernelBench.Device, new Iova(0x10_0000), DmaAccess.Read, Pasid: 5), buffer);
        Assert.NotNull(Read().Fault); // PASID 5's entry, not present, may now be cached

        Assert.Equal(Errno.Success, d.SetDevPasid(KernelBench.Device, 5, domain!));
        bench.Machine.Memory.Write(new Hpa(0x4000_0000), "CM=1"u8);
        long before = d.InvalidationsSubmitted;
        Assert.Equal(Errno.Success, domain!.Map(0x10_0000, 0x4000_0000, 0x1000, IommuProt.Read | IommuProt.Write));
        Assert.Equal(2, d.InvalidationsSubmitted - before); // one PASID-based flush for RID_PASID, one for PASID 5

        Assert.Null(Read().Fault);
        Assert.Equal("CM=1"u8.ToArray(), buffer);
    }

    [Fact]
    public void ARidThatFaultedWhileBlockedReachesItsPagesAgainAfterReattach()
    {
        var bench = CachingModeBench();
        var d = bench.Driver;
        Assert.Equal(Errno.Success, d.AllocPaging(PagingDomainFlags.None, out var domain));
        Assert.Equal(Errno.Success, d.Attach(KernelBench.Device, domain!));
        Assert.Equal(Errno.Success, domain!.Map(0x10_0000, 0x4000_0000, 0x1000, IommuProt.Read | IommuProt.Write));
        Assert.Equal(Errno.Success, d.Attach(KernelBench.Device, d.Blocked)); // the RID_PASID entry is zeroed (DID 0)
        var buffer = new byte[4];
        Assert.NotNull(bench.DmaRead(0x10_0000, buffer).Fault); // and cached as read, not present, under DID 0

        Assert.Equal(Errno.Success, d.Attach(KernelBench.Device, domain));
        Assert.Null(bench.DmaRead(0x10_0000, buffer).Fault);
    }
}
