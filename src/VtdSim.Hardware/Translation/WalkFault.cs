using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Faults;

namespace VtdSim.Hardware.Translation;

/// <summary>Where a walk failed; filled only on the fault path, so the successful path stays allocation-free.</summary>
internal struct WalkFault
{
    public FaultReason Reason;
    public int Level;
    public Hpa? Entry;
    public ulong Value;
    public Gpa? Gpa;
    public string Detail;
}
