using VtdSim.Hardware.Events;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Translation;
using VtdSim.Kernel.Iommufd;
using VtdSim.Vmm.Nesting;
using VtdSim.Vmm.Vfio;

namespace VtdSim.Vmm;

// Accelerated nesting under the vIOMMU with x-flts=on (docs/vmm.md "Nesting", decisions N4–N12).
public sealed partial class Vmm
{
    private NestingObserver? nesting;
    private readonly List<GuestTableWrite> guestTableWrites = [];

    /// <summary>The passthrough devices' first-stage bindings (empty unless the vIOMMU has x-flts=on and devices are passed through).</summary>
    public IReadOnlyList<NestingBinding> NestingBindings => nesting?.Bindings ?? [];

    /// <summary>
    /// What the host IOMMU wrote into read-only guest memory while walking a nested device's first-stage tables
    /// (erratum 772415, decision N10), oldest first.
    /// </summary>
    public IReadOnlyList<GuestTableWrite> GuestTableWrites => guestTableWrites;

    /// <summary>Raised for each <see cref="GuestTableWrites"/> entry as it happens.</summary>
    public event Action<GuestTableWrite>? GuestTableWritten;

    /// <summary>The name the VMM goes by (QEMU's -name), used where it names its guest.</summary>
    public string Name => Options.Name ?? VmmLog.Program;

    /// <summary>
    /// Whether a passthrough device's DMA goes to the host as it is while the vIOMMU translates: with nesting, the guest
    /// is in scalable mode and the host walks the guest's first stage itself (QEMU keeps the system address space, N12).
    /// </summary>
    internal bool PassthroughNested => nesting is not null && VIommu is { TableMode: TranslationTableMode.Scalable };

    /// <summary>The vIOMMU checks of one realized device (QEMU's pci_device_set_iommu_device): QEMU's text, or null.</summary>
    private string? SetIommuDevice(PassthroughDevice device)
    {
        if (Options.IntelIommu is not { } viommu || Options.QemuVersion != QemuVersion.Qemu11) return null;
        return HostIommuChecks.Check(viommu, container!.Iommufd, container, device) is { } error ? "Failed to set vIOMMU: " + error : null;
    }

    /// <summary>Once the devices are on the guest's bus: one binding per device, the vIOMMU observed, host erratum writes watched.</summary>
    private void StartNesting()
    {
        if (!Options.XFlts || VIommu is null || container is not { HwptId: uint parent } made
            || (made.HwptFlags & HwptAllocFlags.NestParent) == 0 || devices.Count == 0) return;
        var bindings = devices.Select((d, i) => new NestingBinding(this, d, made.Iommufd, parent, 4 + i)).ToArray();
        nesting = new NestingObserver(VIommu, bindings);
        viommuWatch!.Next = nesting;
        guestDma!.Refresh();
        if (Kernel.Machine.HardwareIommu is { } host) host.Events.Raised += OnHostIommuEvent;
    }

    private void StopNesting()
    {
        if (nesting is null) return;
        if (viommuWatch is not null) viommuWatch.Next = null;
        if (Kernel.Machine.HardwareIommu is { } host) host.Events.Raised -= OnHostIommuEvent;
        foreach (NestingBinding b in nesting.Bindings) b.Release();
        nesting = null;
        guestDma?.Refresh();
    }

    private void OnHostIommuEvent(VtdEvent e)
    {
        if (e is not ErratumWriteEvent w || nesting is null) return;
        foreach (NestingBinding b in nesting.Bindings)
        {
            if (b.Device.Host != w.Source || b.Attachment != NestingAttachment.FirstStage) continue;
            var write = new GuestTableWrite(Name, b.Device.Name, w.EntryGpa, new Hardware.Addressing.Hpa(w.EntryHpa.Value & ~0xFFFUL), w.Level, w.OldValue, w.NewValue);
            guestTableWrites.Add(write);
            GuestTableWritten?.Invoke(write);
        }
    }
}
