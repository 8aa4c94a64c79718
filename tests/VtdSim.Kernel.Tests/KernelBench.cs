using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Translation;
using VtdSim.Kernel.Intel;
using VtdSim.Kernel.Memory;
using VtdSim.Machine;

namespace VtdSim.Kernel.Tests;

/// <summary>A host machine with the Intel driver probed: the kernel owns [1 MiB, 64 MiB) for its own pages.</summary>
public sealed class KernelBench
{
    public static readonly SourceId Device = new(0, 2, 0);

    public PhysicalMachine Machine { get; }
    public KernelLog Log { get; } = new();
    public PageAllocator Pages { get; }
    public IntelIommuDriver Driver { get; }

    public KernelBench(VtdProfile? profile = null, IntelIommuOptions? options = null)
    {
        Machine = PhysicalMachine.Host(profile ?? BuiltInProfiles.SapphireRapids, 1UL << 36);
        Machine.AddFunction(new PciFunction(Device, "test NIC"));
        Pages = new PageAllocator(Machine, new Hpa(0x10_0000), 63UL << 20);
        Driver = new IntelIommuDriver(Machine, Pages, Log, options);
        Assert.Equal(Errno.Success, Driver.Probe());
    }

    public DmaTransferResult DmaRead(ulong iova, byte[] into) =>
        Machine.Dma.Read(new DmaRequest(Device, new Iova(iova), DmaAccess.Read), into);

    public DmaTransferResult DmaWrite(ulong iova, byte[] from) =>
        Machine.Dma.Write(new DmaRequest(Device, new Iova(iova), DmaAccess.Write), from);
}
