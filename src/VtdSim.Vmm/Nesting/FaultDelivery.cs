using VtdSim.Hardware.Faults;
using VtdSim.Kernel.Iommufd;
using VtdSim.Vmm.Vfio;

namespace VtdSim.Vmm.Nesting;

/// <summary>
/// What the VMM makes of a host fault of a passthrough device (docs/vmm.md "Fault delivery", decisions N45–N50): the
/// reason a guest's own first-stage walk would have given, and the line the VMM prints for a fault that is its own.
/// </summary>
internal static class FaultDelivery
{
    /// <summary>Events a fault queue holds (a guest cannot fill it faster than the VMM drains it: after each DMA).</summary>
    public const uint QueueDepth = 64;

    /// <summary>Events read per VtdFaultQueueRead.</summary>
    public const int Batch = 8;

    /// <summary>
    /// The reason the guest must see for a first-stage fault the host met in a nested walk (decision N48). The guest's
    /// vIOMMU offers a first stage only; its tables are at GPAs it reads directly, so a reason that exists only in a
    /// nested walk must not reach it: SFS.6 (the second stage denies reading the top-level table) is SFS.4 (the
    /// top-level entry cannot be accessed); SFS.5 and SFS.7 (a table GPA beyond the second stage, or not readable there)
    /// are SFS.1 (a first-stage entry cannot be accessed); SFS.8 (the second stage denies the A/EA/D write) is SFS.10
    /// (the A/EA/D update failed). Every other first-stage reason is the guest's own walk's already.
    /// </summary>
    public static FaultReason GuestReason(FaultReason host) => host switch
    {
        FaultReason.SFS6_TopLevelNotReadable => FaultReason.SFS4_TopLevelAccessError,
        FaultReason.SFS5_TableGpaBeyondWidth or FaultReason.SFS7_EntryNotReadable => FaultReason.SFS1_EntryAccessError,
        FaultReason.SFS8_EntryNotWritable => FaultReason.SFS10_FlagUpdateFailed,
        _ => host,
    };

    public static string Explain(in VtdFaultEvent e, FaultReason guest) =>
        guest == e.Reason
            ? $"delivered by the VMM: the host met {FaultReasonInfo.Of(e.Reason).Condition} in the guest's first stage at 0x{e.Address.Value:x}"
            : $"delivered by the VMM: the host met {FaultReasonInfo.Of(e.Reason).Condition} in the guest's first stage at 0x{e.Address.Value:x}, reported as {FaultReasonInfo.Of(guest).Condition}";

    /// <summary>The VMM's line for a host fault that is not the guest's (decision N49).</summary>
    public static string HostFaultLine(PassthroughDevice device, in VtdFaultEvent e)
    {
        FaultReasonInfo info = FaultReasonInfo.Of(e.Reason);
        string stage = e.Stage switch
        {
            VtdFaultStage.FirstStage => "the guest's first stage with a PASID the VMM does not bind",
            VtdFaultStage.SecondStage => "the host's second stage (the VMM's mapping of guest memory)",
            _ => "the host's context or PASID entry",
        };
        return $"vfio {device.Name}: DMA {e.Access.ToString().ToLowerInvariant()} fault at IOVA 0x{e.Address.Value:x} in {stage}: " +
            $"fault reason 0x{(byte)e.Reason:x2} ({info.Condition}: {info.Meaning}); not delivered to the guest";
    }
}
