using VtdSim.Hardware.Addressing;

namespace VtdSim.Vmm.Nesting;

/// <summary>
/// Erratum 772415 seen from the VMM (decision N10): during a nested passthrough device's DMA the host IOMMU set A/D in
/// an entry of the guest's first-stage table that lies in a page the VMM maps read-only in the nest parent — the host
/// hardware wrote guest memory the VMM promised nobody could write (a ROM, the VGA BIOS). Names the guest (the VMM's
/// name), the device, the guest-physical address of the entry and the host frame that was modified.
/// </summary>
public sealed record GuestTableWrite(string Guest, string Device, Gpa EntryGpa, Hpa HostFrame, int Level, ulong OldValue, ulong NewValue)
{
    public override string ToString() =>
        $"{Guest}: the host IOMMU wrote the guest's first-stage L{Level} entry at GPA 0x{EntryGpa.Value:x} (host frame 0x{HostFrame.Value:x}), " +
        $"which is read-only guest memory, for {Device}: 0x{OldValue:x16} -> 0x{NewValue:x16} (erratum 772415)";
}
