using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Profiles;
using VtdSim.Kernel.Intel;

namespace VtdSim.Kernel.Tests;

/// <summary>A replace either happens or does not: when the new domain cannot get a domain id, the old translation stays.</summary>
public class AttachReplaceTests
{
    [Fact]
    public void ReplaceWithNoFreeDomainIdKeepsTheOldTranslation()
    {
        // ND=0: 16 domain ids, of which 0 and 1 are reserved, so 14 domains can be attached at once.
        var tiny = BuiltInProfiles.SapphireRapids with { Cap = BuiltInProfiles.SapphireRapids.Cap.WithNumberOfDomains(0) };
        var bench = new KernelBench(tiny);
        bench.Driver.AllocPaging(PagingDomainFlags.None, out var mine);
        Assert.Equal(Errno.Success, bench.Driver.Attach(KernelBench.Device, mine!));
        mine!.Map(0, 0x4000_0000, 0x1000, IommuProt.Read);
        for (int i = 0; i < 13; i++)
        {
            bench.Driver.AllocPaging(PagingDomainFlags.None, out var other);
            Assert.Equal(Errno.Success, bench.Driver.Attach(new SourceId(1, i, 0), other!));
        }
        bench.Driver.AllocPaging(PagingDomainFlags.None, out var oneTooMany);

        Assert.Equal(Errno.ENOSPC, bench.Driver.Attach(KernelBench.Device, oneTooMany!));

        Assert.Same(mine, bench.Driver.DomainOf(KernelBench.Device));
        Assert.True(bench.DmaRead(0, new byte[8]).Completed);
    }
}
