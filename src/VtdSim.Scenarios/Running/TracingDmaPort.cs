using VtdSim.Hardware;
using VtdSim.Hardware.Tracing;
using VtdSim.Hardware.Translation;
using VtdSim.Machine;

namespace VtdSim.Scenarios.Running;

/// <summary>
/// The host's DMA port as <see cref="VtdUnitDmaPort"/> is — the unit translates, then the interrupts the transfer
/// raised are delivered — with the walk of each request recorded into <see cref="Trace"/> while the runner sets one
/// (`vtdsim run --trace`). Without a trace it does exactly what the host's usual port does.
/// </summary>
internal sealed class TracingDmaPort(VtdUnit unit, InterruptController interrupts) : IDmaPort
{
    public WalkTrace? Trace { get; set; }

    public DmaTransferResult Read(in DmaRequest request, Span<byte> destination)
    {
        var result = unit.DmaRead(request, destination, Trace);
        interrupts.DeliverPending();
        return result;
    }

    public DmaTransferResult Write(in DmaRequest request, ReadOnlySpan<byte> source)
    {
        var result = unit.DmaWrite(request, source, Trace);
        interrupts.DeliverPending();
        return result;
    }
}
