using VtdSim.Hardware.Addressing;
using VtdSim.Vmm.Memory;

namespace VtdSim.Vmm.Vfio;

/// <summary>
/// A host PCI function given to the guest (QEMU's vfio-pci on the iommufd backend): bound to the VMM's iommufd,
/// attached to its container's default HWPT, with one memory BAR that the guest can place (a ram-device region over
/// the BAR's mmap, as QEMU's "NAME BAR 0 mmaps[0]").
/// </summary>
public sealed class PassthroughDevice
{
    internal PassthroughDevice(SourceId host, MemoryRegion bar)
    {
        Host = host;
        Bar = bar;
    }

    /// <summary>The host function (its requester id on the host bus: the RID of its DMA).</summary>
    public SourceId Host { get; }

    /// <summary>QEMU's vbasedev->name: the host address with its PCI domain, "0000:00:04.0".</summary>
    public string Name => NameOf(Host);

    /// <summary>The iommufd device id from VFIO_DEVICE_BIND_IOMMUFD.</summary>
    public uint DevId { get; internal set; }

    /// <summary>The container whose IOAS the device translates through.</summary>
    public VfioContainer? Container { get; internal set; }

    /// <summary>BAR 0's mmap, a ram-device region; in the map only while the guest has placed it.</summary>
    public MemoryRegion Bar { get; }

    /// <summary>The option text of the device on a QEMU command line.</summary>
    public string OptionText => $"-device vfio-pci,host={Name},iommufd=iommufd0";

    internal static string NameOf(SourceId id) => $"0000:{id}";

    public override string ToString() => Name;
}
