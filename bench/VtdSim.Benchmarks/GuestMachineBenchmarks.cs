using BenchmarkDotNet.Attributes;
using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Translation;
using VtdSim.Kernel;
using VtdSim.Kernel.Iommufd;
using VtdSim.Kernel.Process;
using VtdSim.Machine;
using VtdSim.Vmm;
using VtdSim.Vmm.Devices;
using VtdSim.Vmm.Machines;
using VtdSim.Vmm.Vfio;

namespace VtdSim.Benchmarks;

/// <summary>
/// Issue 9's guest-machine targets. A 64-byte DMA by an emulated function in a guest, through the vIOMMU (the guest
/// kernel's tables in guest memory, which is the VMM process's pages), with a hot IOTLB, beside the same DMA by a host
/// function through the host unit (target: at most 3×). And starting a VM with 1 TiB of guest RAM on 1 GiB hugetlb
/// pages and one passthrough device — mmap, the machine's map, the listener mapping everything (pinning included),
/// SeaBIOS's changes — then quitting it (target: under 1 ms).
/// </summary>
[MemoryDiagnoser]
public class GuestMachineBenchmarks
{
    private const ulong Tebibyte = 1UL << 40;
    private static readonly SourceId HostNic = new(0, 4, 0), Passthrough = new(0, 5, 0), Edu = new(0, 4, 0);
    private readonly byte[] _buffer = new byte[64];
    private IDmaPort _hostPort = null!, _guestPort = null!;
    private DmaRequest _hostRead, _guestRead;
    private LinuxKernel _bigHost = null!;
    private VmmOptions _bigVm = null!;

    [GlobalSetup]
    public void Setup()
    {
        // A host function with a buffer of a host process mapped at IOVA 0x10_0000.
        var machine = PhysicalMachine.Host(BuiltInProfiles.SapphireRapids, 8UL << 30);
        machine.AddFunction(new PciFunction(HostNic, "bench NIC"));
        LinuxKernel host = LinuxKernel.Boot(machine);
        MapBuffer(host, HostNic);
        _hostPort = machine.Dma;
        _hostRead = new DmaRequest(HostNic, new Iova(0x10_0040), DmaAccess.Read);

        // A VM with intel-iommu (scalable), its kernel booted, an emulated function with a guest process's buffer mapped.
        if (!IntelIommuProperties.TryParse(QemuVersion.Qemu11, "x-scalable-mode=on", out IntelIommuProperties scalable, out string error))
            throw new InvalidOperationException(error);
        var vmm = VtdSim.Vmm.Vmm.Start(host, new VmmOptions
        {
            Machine = new MachineOptions { RamSize = 256UL << 20, Booted = true, Defaults = false },
        }.WithIntelIommu(scalable));
        vmm.GuestMachine.AddFunction(new PciFunction(Edu, "edu"));
        LinuxKernel guest = LinuxKernel.Boot(vmm.GuestMachine, "intel_iommu=on", vmm.GuestKernelLayout());
        MapBuffer(guest, Edu);
        _guestPort = vmm.GuestMachine.Dma;
        _guestRead = new DmaRequest(Edu, new Iova(0x10_0040), DmaAccess.Read);
        if (!_guestPort.Read(in _guestRead, _buffer).Completed || !_hostPort.Read(in _hostRead, _buffer).Completed)
            throw new InvalidOperationException("the DMA set-up does not work");

        // The 1 TiB VM's host: user memory above the MMIO hole, 1 GiB aligned, room for 1 TiB of 1 GiB pages and the ROMs.
        var layout = new KernelMemoryLayout(new Hpa(0x10_0000), 63UL << 20, new Hpa(4UL << 30), Tebibyte + (2UL << 30));
        var big = PhysicalMachine.Host(BuiltInProfiles.SapphireRapids, 1UL << 42);
        big.AddFunction(new PciFunction(Passthrough, "passthrough NIC"));
        _bigHost = LinuxKernel.Boot(big, layout);
        _bigVm = new VmmOptions
        {
            Machine = new MachineOptions { RamSize = Tebibyte, Booted = true, Defaults = false },
            RamBackend = GuestRamBackend.Hugetlb1G,
            ErratumPolicy = ErratumPolicy.Qemu72,
            Passthrough = [Passthrough],
        };
        if (StartAndQuit1T() != 1) throw new InvalidOperationException("the 1 TiB VM does not start");
    }

    internal static void MapBuffer(LinuxKernel kernel, SourceId function)
    {
        ProcessAddressSpace process = kernel.CreateProcess("bench");
        IommufdContext fd = kernel.OpenIommufd(process);
        KernelBenchHost.Check(fd.DeviceBind(function, out uint dev), "bind");
        KernelBenchHost.Check(fd.IoasAlloc(0, out uint ioas), "ioas");
        uint pt = ioas;
        KernelBenchHost.Check(fd.DeviceAttach(dev, ref pt), "attach");
        KernelBenchHost.Check(process.Mmap(0x1000, MemoryProtection.ReadWrite, out Uva va), "mmap");
        KernelBenchHost.Check(process.Write64(va + 0x40, 0x5eed), "touch");
        ulong iova = 0x10_0000;
        KernelBenchHost.Check(fd.IoasMap(ioas, IoasMapFlags.ReadWrite | IoasMapFlags.FixedIova, va, 0x1000, ref iova), "map");
    }

    [Benchmark(Description = "DmaRead 64 B, host function, hot IOTLB", Baseline = true)]
    public int HostDma64() => _hostPort.Read(in _hostRead, _buffer).BytesTransferred + _buffer[0];

    [Benchmark(Description = "DmaRead 64 B, guest function through the vIOMMU, hot IOTLB")]
    public int GuestDma64() => _guestPort.Read(in _guestRead, _buffer).BytesTransferred + _buffer[0];

    [Benchmark(Description = "VM start+quit, 1 TiB on 1 GiB hugetlb, one passthrough device")]
    public int StartAndQuit1T()
    {
        var vmm = VtdSim.Vmm.Vmm.Start(_bigHost, _bigVm);
        int running = vmm.State == VmmState.Running ? 1 : 0;
        vmm.Quit();
        return running;
    }
}
