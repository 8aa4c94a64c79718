using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Translation;

namespace VtdSim.Hardware.Faults;

/// <summary>
/// A translation fault: the spec's reason code and condition, the request that caused it, where in the walk it
/// happened, and a sentence a person can act on. <see cref="FaultAddress"/> is FRCD.FI: the request's input address.
/// </summary>
public sealed record DmaFault
{
    public required FaultReason Reason { get; init; }
    public required DmaRequest Request { get; init; }
    /// <summary>The PASID the walk used (the request's, or RID_PASID), when the walk got that far in scalable mode.</summary>
    public uint? EffectivePasid { get; init; }
    /// <summary>Paging level (5..1) at which the walk failed, or 0 when it failed outside the paging structures.</summary>
    public int Level { get; init; }
    /// <summary>Host address of the entry the walk was looking at, if any.</summary>
    public Hpa? EntryAddress { get; init; }
    public ulong EntryValue { get; init; }
    /// <summary>The guest-physical address involved, in second-stage and nested faults.</summary>
    public Gpa? Gpa { get; init; }
    /// <summary>True when an FPD bit suppressed recording (only qualified faults can be suppressed).</summary>
    public bool SuppressedByFpd { get; init; }
    public required string Explanation { get; init; }

    public FaultReasonInfo Info => FaultReasonInfo.Of(Reason);
    public byte Code => (byte)Reason;
    public string Condition => Info.Condition;
    public Iova FaultAddress => new(Request.Address.Value & ~0xFFFUL);

    public override string ToString() =>
        $"fault {Condition} (0x{Code:x2}) {Request.Access.ToString().ToLowerInvariant()} from {Request.Source} at {Request.Address}: {Explanation}";
}
