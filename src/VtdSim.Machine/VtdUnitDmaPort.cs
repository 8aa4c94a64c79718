using VtdSim.Hardware;
using VtdSim.Hardware.Translation;

namespace VtdSim.Machine;

/// <summary>
/// DMA through a (hardware) VT-d unit. With an interrupt controller, the interrupts the transfer raised (the unit's
/// fault event) are delivered when the call returns, never from inside the translation (decisions B8).
/// </summary>
public sealed class VtdUnitDmaPort(VtdUnit unit, InterruptController? interrupts = null) : IDmaPort
{
    public DmaTransferResult Read(in DmaRequest request, Span<byte> destination)
    {
        var result = unit.DmaRead(request, destination);
        interrupts?.DeliverPending();
        return result;
    }

    public DmaTransferResult Write(in DmaRequest request, ReadOnlySpan<byte> source)
    {
        var result = unit.DmaWrite(request, source);
        interrupts?.DeliverPending();
        return result;
    }
}
