namespace VtdSim.Hardware.Translation;

/// <summary>What a DMA request does with the memory it addresses.</summary>
public enum DmaAccess : byte
{
    Read,
    Write,
    /// <summary>An AtomicOp: needs read and write permission, and sets D like a write.</summary>
    AtomicOp,
}
