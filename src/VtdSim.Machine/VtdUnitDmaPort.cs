using VtdSim.Hardware;
using VtdSim.Hardware.Translation;

namespace VtdSim.Machine;

/// <summary>DMA through a (hardware) VT-d unit.</summary>
public sealed class VtdUnitDmaPort(VtdUnit unit) : IDmaPort
{
    public DmaTransferResult Read(in DmaRequest request, Span<byte> destination) => unit.DmaRead(request, destination);
    public DmaTransferResult Write(in DmaRequest request, ReadOnlySpan<byte> source) => unit.DmaWrite(request, source);
}
