using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Memory;
using VtdSim.Machine;
using VtdSim.Vmm.Machines;

namespace VtdSim.Vmm.Devices;

/// <summary>The INTx line of a function (pci_set_irq): asserted or deasserted, named by the function's requester id.</summary>
public interface IIntxSink
{
    void SetIntx(SourceId source, bool asserted);
}

/// <summary>
/// What an emulated device is connected to once the guest machine exists (decision E10): the DMA port its requests go
/// through — the vIOMMU's, or straight to guest memory without one — with the requester id they carry (bus &lt;&lt; 8 |
/// devfn); the machine clock its timers run on; its INTx line; the machine's memory as the CPU sees it (iommu-testdev
/// reads back from it); and where a hardware error goes (the VMM prints QEMU's `qemu: hardware error:` line and aborts)
/// and what the device prints on stdout.
/// </summary>
public sealed record EmulatedDeviceContext(
    IDmaPort Dma,
    SourceId Source,
    MachineClock Clock,
    IIntxSink? Intx = null,
    MachineMemory? SystemMemory = null,
    Action<string>? HardwareError = null,
    Action<string>? Output = null);

/// <summary>An emulated PCI device of the guest machine (`-device edu`, `-device iommu-testdev`).</summary>
public interface IEmulatedPciDevice
{
    /// <summary>QEMU's device model name.</summary>
    string Model { get; }

    PciFunctionModel Function { get; }

    /// <summary>Whether <see cref="Connect"/> was called: an unconnected device answers its registers but does no DMA.</summary>
    bool Connected { get; }

    /// <summary>Wires the device to the machine; once.</summary>
    void Connect(EmulatedDeviceContext context);
}
