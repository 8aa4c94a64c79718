using BenchmarkDotNet.Attributes;
using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Translation;
using VtdSim.Kernel;
using VtdSim.Machine;
using VtdSim.Vmm;
using VtdSim.Vmm.Devices;
using VtdSim.Vmm.Machines;
using VtdSim.Vmm.Vfio;

namespace VtdSim.Benchmarks;

/// <summary>
/// Issue 10's L0 / L1 / L2 target: a 64-byte DMA by a passthrough device in L1 (its guest kernel's buffer, L1's first
/// stage nested by the host on the nest parent) and in L2 (L1's VMM's map of L2 RAM, the same nesting one level down,
/// the request forwarded by two guest machines' ports), each with a hot IOTLB, beside the same DMA by a host function
/// through the host unit. The host hardware walks nothing on a hit, so the target is at most 1.2×.
/// </summary>
[MemoryDiagnoser]
public class ThreeLevelBenchmarks
{
    private static readonly SourceId HostFunction = new(0, 4, 0), ToL1 = new(0, 5, 0), ToL2 = new(0, 6, 0);
    private readonly byte[] _buffer = new byte[64];
    private IDmaPort _hostPort = null!, _l1Port = null!, _l2Port = null!;
    private DmaRequest _hostRead, _l1Read, _l2Read;

    [GlobalSetup]
    public void Setup()
    {
        var machine = PhysicalMachine.Host(BuiltInProfiles.SapphireRapids, 8UL << 30);
        machine.AddFunction(new PciFunction(HostFunction, "bench NIC"));
        machine.AddFunction(new PciFunction(ToL1, "L1's NIC"));
        machine.AddFunction(new PciFunction(ToL2, "L2's NIC"));
        LinuxKernel host = LinuxKernel.Boot(machine);
        GuestMachineBenchmarks.MapBuffer(host, HostFunction);
        _hostPort = machine.Dma;
        _hostRead = new DmaRequest(HostFunction, new Iova(0x10_0040), DmaAccess.Read);

        // L1: QEMU 11 with x-flts, both functions passed through, its kernel's process maps a buffer for the first.
        if (!IntelIommuProperties.TryParse(QemuVersion.Qemu11, "x-scalable-mode=on,x-flts=on,caching-mode=on", out IntelIommuProperties flts, out string error))
            throw new InvalidOperationException(error);
        var l1 = VtdSim.Vmm.Vmm.Start(host, new VmmOptions
        {
            Machine = new MachineOptions { Type = MachineType.Q35, RamSize = 256UL << 20, Booted = true },
            ErratumPolicy = ErratumPolicy.Qemu11,
            Passthrough = [ToL1, ToL2],
        }.WithIntelIommu(flts));
        if (l1.State != VmmState.Running) throw new InvalidOperationException(l1.Log.ToString());
        LinuxKernel l1Kernel = LinuxKernel.Boot(l1.GuestMachine, "intel_iommu=on", l1.GuestKernelLayout());
        SourceId inL1 = l1.Devices[0].Guest!.Value;
        GuestMachineBenchmarks.MapBuffer(l1Kernel, inL1);
        _l1Port = l1.GuestMachine.Dma;
        _l1Read = new DmaRequest(inL1, new Iova(0x10_0040), DmaAccess.Read);

        // L2: a VMM on L1's kernel with the second function; its DMA address is an L2 GPA in RAM.
        var l2 = VtdSim.Vmm.Vmm.Start(l1Kernel, new VmmOptions
        {
            Machine = new MachineOptions { Type = MachineType.Q35, RamSize = 64UL << 20, Booted = true },
            ErratumPolicy = ErratumPolicy.Qemu11,
            Passthrough = [l1.Devices[1].Guest!.Value],
        });
        if (l2.State != VmmState.Running) throw new InvalidOperationException(l2.Log.ToString());
        _l2Port = l2.GuestMachine.Dma;
        _l2Read = new DmaRequest(l2.Devices[0].Guest!.Value, new Iova(0x10_0040), DmaAccess.Read);

        if (!_hostPort.Read(in _hostRead, _buffer).Completed || !_l1Port.Read(in _l1Read, _buffer).Completed || !_l2Port.Read(in _l2Read, _buffer).Completed)
            throw new InvalidOperationException("the DMA set-up does not work");
    }

    [Benchmark(Description = "DmaRead 64 B, host function, hot IOTLB", Baseline = true)]
    public int HostDma64() => _hostPort.Read(in _hostRead, _buffer).BytesTransferred + _buffer[0];

    [Benchmark(Description = "DmaRead 64 B, passthrough device in L1 (nested), hot IOTLB")]
    public int L1Dma64() => _l1Port.Read(in _l1Read, _buffer).BytesTransferred + _buffer[0];

    [Benchmark(Description = "DmaRead 64 B, passthrough device in L2 (nested in L0, via L1), hot IOTLB")]
    public int L2Dma64() => _l2Port.Read(in _l2Read, _buffer).BytesTransferred + _buffer[0];
}
