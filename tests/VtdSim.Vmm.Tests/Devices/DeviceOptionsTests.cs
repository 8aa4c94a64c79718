using VtdSim.Vmm.Devices;
using VtdSim.Vmm.Machines;
using VtdSim.Vmm.Memory;
using VtdSim.Vmm.Tests.Support;

namespace VtdSim.Vmm.Tests.Devices;

/// <summary>`-device edu,…` / `-device iommu-testdev,…`: QEMU 7.2.22's messages for bad input and its slot rules (E18–E20).</summary>
public class DeviceOptionsTests
{
    private static DeviceOptions Parse(string text)
    {
        Assert.True(DeviceOptions.TryParse(text, out DeviceOptions? device, out string error), error);
        return device!;
    }

    private static string Refused(string text)
    {
        Assert.False(DeviceOptions.TryParse(text, out DeviceOptions? device, out string error));
        Assert.Null(device);
        return error;
    }

    [Theory]
    [InlineData("edu,dma_mask=abc", "Parameter 'dma_mask' expects integer")]
    [InlineData("edu,dma_mask=", "Parameter 'dma_mask' expects integer")]
    [InlineData("edu,dma_mask=0x1ffffffffffffffff", "Parameter 'dma_mask' expects integer")]
    [InlineData("edu,addr=zz", "Property 'edu.addr' doesn't take value 'zz'")]
    [InlineData("edu,addr=20.0", "Property 'edu.addr' doesn't take value '20.0'")]
    [InlineData("edu,addr=05.8", "Property 'edu.addr' doesn't take value '05.8'")]
    [InlineData("edu,addr=", "Property 'edu.addr' doesn't take value ''")]
    [InlineData("edu,addr", "Property 'edu.addr' doesn't take value 'on'")]
    [InlineData("edu,foo=1", "Property 'edu.foo' not found")]
    [InlineData("iommu-testdev,dma_mask=1", "Property 'iommu-testdev.dma_mask' not found")]
    [InlineData("pci-testdev", "'pci-testdev' is not a valid device model name")]
    [InlineData(",addr=1", "Parameter 'driver' is missing")]
    [InlineData("edu,romfile=x.bin", "Property 'edu.romfile' is not modelled by vtdsim")]
    public void BadInputGetsQemusMessage(string text, string message) => Assert.Equal(message, Refused(text));

    [Theory]
    [InlineData("edu,dma_mask=-1", ulong.MaxValue)]
    [InlineData("edu,dma_mask=010", 8UL)]
    [InlineData("edu,dma_mask=0xffffffff", 0xffffffffUL)]
    [InlineData("edu,dma_mask=4096", 4096UL)]
    [InlineData("edu,dma_mask=0", 0UL)]
    [InlineData("edu,dma_mask=0xfff,dma_mask=0xff", 0xffUL)]
    [InlineData("edu", Edu.DefaultDmaMask)]
    public void DmaMaskIsQemusUnsigned64BitInteger(string text, ulong mask) => Assert.Equal(mask, Parse(text).DmaMask);

    [Theory]
    [InlineData("edu,addr=04.0", 0x20)]
    [InlineData("edu,addr=04", 0x20)]
    [InlineData("edu,addr=5", 0x28)]
    [InlineData("edu,addr=0x4", 0x20)]
    [InlineData("edu,addr=1f.7", 0xff)]
    [InlineData("edu,addr=4.2", 0x22)]
    [InlineData("edu,addr=04.0,addr=05.0", 0x28)]
    public void AddrIsSlotAndFunctionInHex(string text, int devFn) => Assert.Equal(devFn, Parse(text).DevFn);

    private static string Placed(MachineType type, bool defaults, params string[] devices)
    {
        var options = new MachineOptions { Type = type, RamSize = 256UL << 20, Defaults = defaults, Devices = [.. devices.Select(Parse)] };
        Assert.False(PcMachine.TryCreate(options, out PcMachine? machine, out string error));
        Assert.Null(machine);
        return error;
    }

    [Fact]
    public void ATakenOrIllegalSlotIsRefusedWithQemusMessage()
    {
        Assert.Equal("-device edu,addr=01.0: PCI: slot 1 function 0 not available for edu, in use by VGA,id=(null)", Placed(MachineType.Q35, true, "edu,addr=01.0"));
        Assert.Equal("-device edu,addr=00.0: PCI: slot 0 function 0 not available for edu, in use by mch,id=(null)", Placed(MachineType.Q35, true, "edu,addr=00.0"));
        Assert.Equal("-device edu,addr=01.0: PCI: slot 1 function 0 not available for edu, in use by PIIX3,id=(null)", Placed(MachineType.Pc, true, "edu,addr=01.0"));
        Assert.Equal("-device edu,addr=04.0: PCI: slot 4 function 0 not available for edu, in use by edu,id=(null)", Placed(MachineType.Q35, true, "edu,addr=04.0", "edu,addr=04.0"));
        Assert.Equal("-device edu,addr=04.0: PCI: slot 4 function 0 not available for edu, in use by edu,id=first",
            Placed(MachineType.Q35, true, "edu,addr=04.0,id=first", "edu,addr=04.0"));
        Assert.Equal("-device edu,addr=02.1: PCI: single function device can't be populated in function 2.1", Placed(MachineType.Q35, true, "edu,addr=02.1"));
        Assert.Equal("-device edu,addr=04.0: PCI: 4.0 indicates single function, but 4.1 is already populated.", Placed(MachineType.Q35, true, "edu,addr=04.1", "edu,addr=04.0"));
        Assert.Equal("-device edu,bus=pci.1: Bus 'pci.1' not found", Placed(MachineType.Q35, true, "edu,bus=pci.1"));
        Assert.Equal("-device edu: PCI: no slot/function available for edu, all in use or reserved",
            Placed(MachineType.Q35, false, [.. Enumerable.Repeat("edu", 32)]));
    }

    [Fact]
    public void DevicesTakeTheFirstFreeSlotAfterTheDefaultsAndShowTheirBarAsQemuNamesIt()
    {
        PcMachine q35 = PcMachine.Create(new MachineOptions { RamSize = 256UL << 20, Devices = [Parse("edu"), Parse("iommu-testdev"), Parse("edu,addr=1f.1,bus=pcie.0")] });
        Assert.Equal([0x18, 0x20, 0xf9], q35.Devices.Select(d => d.Function.DevFn));
        Assert.Equal(0x11e81234u, q35.Cfg(0x18, 0));
        Assert.Equal(0x00051b36u, q35.Cfg(0x20, 0));
        Assert.Equal(0x11e81234u, q35.Cfg(0xf9, 0)); // next to the multi-function ICH9 LPC: allowed

        PcMachine booted = PcMachine.Create(new MachineOptions { RamSize = 2UL << 30, Defaults = false, Devices = [Parse("edu")], Booted = true });
        // SeaBIOS's placement on QEMU 7.2 (Captures/q35-2g-nodefaults-edu-booted.info-pci.txt): BAR0 at 0xfea00000.
        Assert.Equal(0xfea00000u, booted.Cfg(0x08, 0x10));
        Assert.Contains("00000000fea00000-00000000feafffff (prio 1, i/o): edu-mmio", MtreePrinter.Flat(booted.Memory));
        var edu = (Edu)booted.Devices[0];
        Assert.Equal(0x010000edUL, booted.Mmio(0xfea00000, 4));
        Assert.False(edu.Connected);
    }
}
