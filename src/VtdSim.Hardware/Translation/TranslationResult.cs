using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Faults;

namespace VtdSim.Hardware.Translation;

/// <summary>The outcome of translating one request: the host address, page size and effective rights, or a fault.</summary>
public readonly record struct TranslationResult(Hpa Address, ulong PageSize, AccessRights Rights, TranslationKind Kind, DmaFault? Fault)
{
    public bool Success => Fault is null;
}
