using VtdSim.Hardware.Addressing;

namespace VtdSim.Hardware.Translation;

/// <summary>
/// One DMA request as it reaches the remapping unit. <paramref name="Privileged"/> (PR) and <paramref name="Execute"/>
/// (ER) travel in the PASID prefix, so only a request with a PASID can carry them; a request without PASID takes the
/// context entry's RID_PASID and RID_PRIV instead.
/// </summary>
public readonly record struct DmaRequest(
    SourceId Source,
    Iova Address,
    DmaAccess Access,
    uint? Pasid = null,
    bool Privileged = false,
    bool Execute = false,
    AddressType AddressType = AddressType.Untranslated)
{
    public bool IsWrite => Access != DmaAccess.Read;
    public bool IsRead => Access != DmaAccess.Write;

    /// <summary>Throws if the request could not exist on a PCIe link.</summary>
    public void Validate()
    {
        if (Pasid is null && (Privileged || Execute))
            throw new ArgumentException($"request from {Source} at {Address}: privileged/execute attributes travel in the PASID prefix, so a request without PASID cannot carry them");
        if (Pasid is uint p && p > 0xFFFFF)
            throw new ArgumentException($"request from {Source}: PASID 0x{p:x} does not fit in 20 bits");
    }
}
