using VtdSim.Hardware.Translation;

namespace VtdSim.Machine;

/// <summary>
/// Where a PCI function's DMA goes: through the machine's IOMMU into its memory. On the host that is the VT-d unit; in
/// a guest it is the VMM's vIOMMU, which in turn uses the host's port.
/// </summary>
public interface IDmaPort
{
    DmaTransferResult Read(in DmaRequest request, Span<byte> destination);
    DmaTransferResult Write(in DmaRequest request, ReadOnlySpan<byte> source);
}
