using VtdSim.Hardware.Faults;

namespace VtdSim.Hardware.Translation;

/// <summary>
/// The outcome of a multi-page DMA. Like hardware it stops at the first page that faults; the pages before it have
/// been moved. <see cref="MemoryError"/> is set when a translated address was not backed by memory (an Unsupported
/// Request on a real bus, not a remapping fault), or when the transfer would run past the top of the 64-bit address
/// space (no request can address beyond it; the model does not wrap to address 0).
/// </summary>
public readonly record struct DmaTransferResult(int BytesTransferred, DmaFault? Fault, string? MemoryError)
{
    public bool Completed => Fault is null && MemoryError is null;
}
