namespace VtdSim.Vmm;

// Fault delivery into the vIOMMU (docs/vmm.md "Fault delivery", decisions N45–N50): beyond QEMU, which leaves it a TODO.
public sealed partial class Vmm
{
    /// <summary>
    /// The VMM's turn after a passthrough DMA faulted in the host (decision N47): every binding takes what the host
    /// queued for it — a nested device's first-stage faults and a shadowed device's faults in the guest's own tables are
    /// recorded in the vIOMMU (the guest's DMAR handler then sees them); the rest are the VMM's, logged.
    /// </summary>
    internal void DeliverHostFaults()
    {
        if (VIommu is not { } viommu) return;
        if (nesting is not null)
            foreach (var b in nesting.Bindings) b.DeliverFaults(viommu);
        if (shadowing is not null)
            foreach (var b in shadowing.Bindings) b.DeliverFaults(viommu);
        // The vIOMMU's fault event is an MSI of the guest: taken at this delivery point, as after an emulated device's DMA.
        GuestMachine.Interrupts.DeliverPending();
    }
}
