using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Profiles;
using VtdSim.Machine;
using VtdSim.Vmm.Devices;
using VtdSim.Vmm.Machines;
using static VtdSim.Vmm.Tests.Support.VmmHosts;

namespace VtdSim.Vmm.Tests.Devices;

/// <summary>Emulated devices in a VMM: a refused `-device` stops the start (E19); edu's hw_error is in GuestEduTests (E16).</summary>
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
}
