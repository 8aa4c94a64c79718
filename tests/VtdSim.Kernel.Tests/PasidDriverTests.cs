using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Structures;
using VtdSim.Hardware.Translation;
using VtdSim.Kernel.Intel;
using VtdSim.Machine;

namespace VtdSim.Kernel.Tests;

/// <summary>The Intel driver's set_dev_pasid: the PASID-table entry it writes, domain ids, and what it refuses.</summary>
public class PasidDriverTests
{
    private static readonly SourceId Other = new(0, 6, 0);

    private static KernelBench Bench(VtdProfile? profile = null)
    {
        var bench = new KernelBench(profile);
        bench.Machine.AddFunction(new PciFunction(Other, "second NIC"));
        return bench;
    }

    private static PasidEntry Entry(KernelBench bench, SourceId device, uint pasid) => bench.Driver.Unit.ReadPasidEntry(device, pasid);

    [Fact]
    public void ADomainHasOneDomainIdPerUnitForAllItsDevicePasidPairs()
    {
        var bench = Bench();
        var d = bench.Driver;
        Assert.Equal(Errno.Success, d.AllocPaging(PagingDomainFlags.None, out var domain));
        Assert.Equal(Errno.Success, d.Attach(KernelBench.Device, domain!));
        Assert.Equal(Errno.Success, d.SetDevPasid(KernelBench.Device, 5, domain!));
        Assert.Equal(Errno.Success, d.SetDevPasid(Other, 5, domain!));
        Assert.Equal(Errno.Success, d.SetDevPasid(Other, 6, domain!));

        ushort did = Entry(bench, KernelBench.Device, IntelIommuDriver.RidPasid).DomainId;
        Assert.All(new[] { (KernelBench.Device, 5u), (Other, 5u), (Other, 6u) }, p => Assert.Equal(did, Entry(bench, p.Item1, p.Item2).DomainId));
        Assert.Equal(4, domain!.PasidAttachments.Count);
        Assert.Equal(2, domain.Devices.Count);

        // The id stays while any pair uses it and is free again after the last one leaves.
        Assert.Equal(Errno.Success, d.Attach(KernelBench.Device, d.Blocked));
        Assert.Equal(Errno.Success, d.SetDevPasid(KernelBench.Device, 5, d.Blocked));
        Assert.Equal(Errno.Success, d.SetDevPasid(Other, 5, d.Blocked));
        Assert.Equal(did, domain.DomainIdOn(d.Unit));
        Assert.Equal(Errno.Success, d.SetDevPasid(Other, 6, d.Blocked));
        Assert.Null(domain.DomainIdOn(d.Unit));
        Assert.False(Entry(bench, Other, 6).Present);
        Assert.Equal(Errno.Success, d.AllocPaging(PagingDomainFlags.None, out var next));
        Assert.Equal(Errno.Success, d.SetDevPasid(Other, 6, next!));
        Assert.Equal(did, Entry(bench, Other, 6).DomainId); // reused
    }

    [Fact]
    public void ThePasidEntryFollowsTheDomain()
    {
        var bench = Bench();
        var d = bench.Driver;
        d.AllocPaging(PagingDomainFlags.None, out var first);
        d.AllocPaging(PagingDomainFlags.NestParent, out var parent);
        Assert.Equal(Errno.Success, d.AllocNested(parent!, new VtdS1Config(VtdS1Flags.None, 0x1000, 48), out var nested));

        (IntelDomain Domain, PasidGranularTranslationType Pgtt)[] cases =
        [
            (first!, PasidGranularTranslationType.FirstStageOnly),
            (parent!, PasidGranularTranslationType.SecondStageOnly),
            (nested!, PasidGranularTranslationType.Nested),
            (d.Identity, PasidGranularTranslationType.PassThrough),
        ];
        foreach (var (domain, pgtt) in cases)
        {
            Assert.Equal(Errno.Success, d.SetDevPasid(KernelBench.Device, 9, domain)); // each one replaces the last
            var entry = Entry(bench, KernelBench.Device, 9);
            Assert.True(entry.Present);
            Assert.Equal(pgtt, entry.Pgtt);
            Assert.Same(domain, d.DomainOf(KernelBench.Device, 9));
        }
        Assert.Same(d.Blocked, d.DomainOf(KernelBench.Device)); // the RID untouched throughout

        // A first-stage entry carries AW too, the unit's largest SAGAW width, as pasid_pte_config_first_level writes it.
        Assert.Equal(Errno.Success, d.SetDevPasid(KernelBench.Device, 9, first!));
        int largest = Enumerable.Range(1, 3).Last(aw => d.Unit.Cap.SupportsAddressWidth(aw));
        Assert.Equal(largest, Entry(bench, KernelBench.Device, 9).AddressWidth);
        Assert.Equal(Errno.Success, d.SetDevPasid(KernelBench.Device, 9, d.Blocked));
        Assert.False(Entry(bench, KernelBench.Device, 9).Present);
    }

    [Fact]
    public void AnIdentityDomainAtAPasidPassesThatPasidsRequestsThrough()
    {
        var bench = Bench();
        bench.Machine.Memory.Write(new Hpa(0x4000_0000), "pass-through"u8);
        Assert.Equal(Errno.Success, bench.Driver.SetDevPasid(KernelBench.Device, 2, bench.Driver.Identity));
        var buffer = new byte[12];
        Assert.True(bench.Machine.Dma.Read(new DmaRequest(KernelBench.Device, new Iova(0x4000_0000), DmaAccess.Read, Pasid: 2), buffer).Completed);
        Assert.Equal("pass-through"u8.ToArray(), buffer);
        Assert.NotNull(bench.DmaRead(0x4000_0000, buffer).Fault); // requests without PASID stay blocked
    }

    [Fact]
    public void SetDevPasidRefusesWhatLinuxRefuses()
    {
        var bench = Bench();
        var d = bench.Driver;
        d.AllocPaging(PagingDomainFlags.None, out var domain);
        d.AllocPaging(PagingDomainFlags.DirtyTracking, out var dirty);
        Assert.Equal(Errno.EINVAL, d.SetDevPasid(KernelBench.Device, IntelIommuDriver.RidPasid, domain!)); // the RID's path
        Assert.Equal(Errno.EINVAL, d.SetDevPasid(KernelBench.Device, d.MaxPasids(KernelBench.Device), domain!));
        Assert.Equal(Errno.EINVAL, d.SetDevPasid(KernelBench.Device, 1, dirty!)); // dirty_ops
        Assert.Equal(Errno.Success, d.SetDevPasid(KernelBench.Device, d.MaxPasids(KernelBench.Device) - 1, domain!));

        foreach (var profile in new[] { BuiltInProfiles.Qemu72Legacy, BuiltInProfiles.Qemu72Scalable })
        {
            var q = Bench(profile);
            q.Driver.AllocPaging(PagingDomainFlags.None, out var qd);
            Assert.False(q.Driver.PasidSupported);
            Assert.Equal(0u, q.Driver.MaxPasids(KernelBench.Device));
            Assert.Equal(Errno.EOPNOTSUPP, q.Driver.SetDevPasid(KernelBench.Device, 1, qd!));
        }
    }
}
