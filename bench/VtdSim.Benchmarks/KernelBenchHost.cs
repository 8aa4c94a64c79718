using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Profiles;
using VtdSim.Kernel;
using VtdSim.Kernel.Intel;
using VtdSim.Kernel.Iommufd;
using VtdSim.Kernel.Process;
using VtdSim.Machine;

namespace VtdSim.Benchmarks;

/// <summary>
/// The host the kernel benchmarks share: a sapphire-rapids machine with two NICs, a nest-parent paging domain with
/// NIC 00:03.0 attached (so every unmap is flushed through queued invalidation; map needs none: CM=0, no RWBF), and a
/// process whose iommufd has one IOAS with NIC 00:04.0 attached (its automatic domain).
/// </summary>
internal sealed class KernelBenchHost
{
    public static readonly SourceId DomainDevice = new(0, 3, 0), IoasDevice = new(0, 4, 0);

    public KernelBenchHost(ulong memorySize, KernelMemoryLayout? layout = null)
    {
        var machine = PhysicalMachine.Host(BuiltInProfiles.SapphireRapids, memorySize);
        machine.AddFunction(new PciFunction(DomainDevice, "bench NIC"));
        machine.AddFunction(new PciFunction(IoasDevice, "bench NIC 2"));
        Kernel = layout is null ? LinuxKernel.Boot(machine) : LinuxKernel.Boot(machine, layout);
        Check(Kernel.Iommu.AllocPaging(PagingDomainFlags.NestParent, out var domain), "alloc");
        Domain = domain!;
        Check(Kernel.Iommu.Attach(DomainDevice, Domain), "attach");

        Process = Kernel.CreateProcess("bench");
        Iommufd = Kernel.OpenIommufd(Process);
        Ioas = Iommufd.IoasAlloc();
        Check(Iommufd.DeviceBind(IoasDevice, out uint dev), "bind");
        uint pt = Ioas;
        Check(Iommufd.DeviceAttach(dev, ref pt), "attach ioas");
    }

    public LinuxKernel Kernel { get; }
    public PagingDomain Domain { get; }
    public ProcessAddressSpace Process { get; }
    public IommufdContext Iommufd { get; }
    public uint Ioas { get; }

    public static void Check(Errno e, string what)
    {
        if (e != Errno.Success) throw new InvalidOperationException($"{what} failed: {e}");
    }
}
