using VtdSim.Hardware.Addressing;
using VtdSim.Kernel.Intel;
using VtdSim.Machine;

namespace VtdSim.Kernel.Tests;

/// <summary>The flush after a map or unmap walks the domain's (device, PASID) pairs without allocating.</summary>
public class PasidFlushAllocationTests
{
    private static (long Bytes, long Descriptors) MapUnmap1000(bool withPasids)
    {
        var bench = new KernelBench();
        var other = new SourceId(0, 6, 0);
        bench.Machine.AddFunction(new PciFunction(other, "second NIC"));
        Assert.Equal(Errno.Success, bench.Driver.AllocPaging(PagingDomainFlags.None, out var domain));
        Assert.Equal(Errno.Success, bench.Driver.Attach(KernelBench.Device, domain!));
        if (withPasids)
        {
            Assert.Equal(Errno.Success, bench.Driver.SetDevPasid(KernelBench.Device, 5, domain!));
            Assert.Equal(Errno.Success, bench.Driver.SetDevPasid(other, 5, domain!));
            Assert.Equal(Errno.Success, bench.Driver.SetDevPasid(other, 9, domain!));
        }
        // Keep a neighbour mapped so the unmap frees no table pages (steady state).
        Assert.Equal(Errno.Success, domain!.Map(0x20_0000, 0x4000_1000, 0x1000, IommuProt.Read | IommuProt.Write));
        for (int i = 0; i < 100; i++)
        {
            domain.Map(0x20_1000, 0x4000_0000, 0x1000, IommuProt.Read | IommuProt.Write);
            domain.Unmap(0x20_1000, 0x1000);
        }
        long descriptors = bench.Driver.InvalidationsSubmitted;
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1000; i++)
        {
            domain.Map(0x20_1000, 0x4000_0000, 0x1000, IommuProt.Read | IommuProt.Write);
            domain.Unmap(0x20_1000, 0x1000);
        }
        long bytes = GC.GetAllocatedBytesForCurrentThread() - before;
        return (bytes, bench.Driver.InvalidationsSubmitted - descriptors);
    }

    [Fact]
    public void FlushingAFirstStageDomainAtSeveralPasidsAllocatesNothing()
    {
        // One PASID-based flush per unmap for RID_PASID alone; with PASID 5 (two devices: flushed once) and 9, three.
        Assert.Equal((0L, 1000L), MapUnmap1000(withPasids: false));
        Assert.Equal((0L, 3000L), MapUnmap1000(withPasids: true));
    }
}
