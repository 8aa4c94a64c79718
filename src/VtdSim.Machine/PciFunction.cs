using VtdSim.Hardware.Addressing;

namespace VtdSim.Machine;

/// <summary>A PCI function that can do DMA: its requester id, and what it supports (PASID width; ATS).</summary>
public sealed record PciFunction(SourceId Id, string Name, int PasidWidth = 20, bool Ats = false)
{
    public override string ToString() => $"{Id} {Name}";
}
