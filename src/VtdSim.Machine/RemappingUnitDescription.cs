using VtdSim.Hardware.Addressing;

namespace VtdSim.Machine;

/// <summary>
/// One DMA remapping unit as firmware describes it to the kernel: the ACPI DMAR table's DRHD structure — its register
/// base, its PCI segment, and whether it covers every device of the segment that no other unit lists (INCLUDE_PCI_ALL;
/// otherwise <see cref="DeviceScope"/> names its devices). A machine lists none (no DMAR table), one, or several.
/// </summary>
public sealed record RemappingUnitDescription(Hpa RegisterBase, ushort Segment = 0, bool IncludePciAll = true)
{
    /// <summary>The devices this unit translates when it is not INCLUDE_PCI_ALL.</summary>
    public IReadOnlyList<SourceId> DeviceScope { get; init; } = [];

    /// <summary>Whether the unit translates a device on segment 0 (the only one the model has).</summary>
    public bool Covers(SourceId device) => Segment == 0 && (IncludePciAll || DeviceScope.Contains(device));
}
