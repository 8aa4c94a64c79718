using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Profiles;
using VtdSim.Machine;
using VtdSim.Vmm.Devices;
using VtdSim.Vmm.Machines;
using static VtdSim.Vmm.Tests.Support.VmmHosts;

namespace VtdSim.Vmm.Tests.Devices;

/// <summary>Emulated devices in a VMM: a refused `-device` stops the start; edu's hw_error aborts the VMM (E16, E19).</summary>
public class VmmDeviceTests
{
    private static DeviceOptions Device(string text)
    {
        Assert.True(DeviceOptions.TryParse(text, out DeviceOptions? d, out string error), error);
        return d!;
    }

    [Fact]
    public void ATakenSlotStopsTheVmmWithQemusLine()
    {
        var kernel = Boot(BuiltInProfiles.SapphireRapids);
        Vmm vmm = Vmm.Start(kernel, new VmmOptions { Machine = new MachineOptions { RamSize = 64UL << 20, Devices = [Device("edu,addr=00.0")] } });
        Assert.Equal(VmmState.Failed, vmm.State);
        Assert.Equal("qemu-system-x86_64: -device edu,addr=00.0: PCI: slot 0 function 0 not available for edu, in use by mch,id=(null)", vmm.Log.Lines[^1]);
    }

    [Fact]
    public void EdusHardwareErrorAbortsTheVmmWithQemusMessage()
    {
        var kernel = Boot(BuiltInProfiles.SapphireRapids);
        Vmm vmm = Vmm.Start(kernel, new VmmOptions { Machine = new MachineOptions { RamSize = 2UL << 30, Defaults = false, Devices = [Device("edu")], Booted = true } });
        Assert.Equal(VmmState.Running, vmm.State);
        var edu = (Edu)vmm.Machine.Devices.Single();
        PhysicalMachine guest = PhysicalMachine.WithoutIommu(64UL << 20); // stands in for the guest machine's DMA side
        edu.Connect(new EmulatedDeviceContext(guest.Dma, new SourceId(0, 1, 0), guest.Clock, HardwareError: vmm.ReportHardwareError));
        const ulong Bar = 0xfea00000; // where SeaBIOS put it
        Assert.True(vmm.Machine.SystemMemory.TryWriteDevice(Bar + Edu.RegDmaSource, 8, 0x40ff8));
        Assert.True(vmm.Machine.SystemMemory.TryWriteDevice(Bar + Edu.RegDmaDestination, 8, 0x1000));
        Assert.True(vmm.Machine.SystemMemory.TryWriteDevice(Bar + Edu.RegDmaCount, 8, 8));
        Assert.True(vmm.Machine.SystemMemory.TryWriteDevice(Bar + Edu.RegDmaCommand, 8, Edu.CommandRun | Edu.CommandToRam));
        guest.Clock.Advance(Edu.DmaDelayNanoseconds);
        Assert.Equal(VmmState.Aborted, vmm.State);
        Assert.Equal("qemu: hardware error: EDU: DMA range 0x0000000000040ff8-0x0000000000040fff out of bounds (0x0000000000040000-0x0000000000040fff)!", vmm.Log.Lines[^1]);
    }
}
