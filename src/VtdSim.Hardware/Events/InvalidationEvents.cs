using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Invalidation;

namespace VtdSim.Hardware.Events;

/// <summary>A device-TLB (ATS) invalidation the unit forwarded to an endpoint: the range it covers.</summary>
public sealed record DeviceTlbInvalidationEvent(long Sequence, SourceId Source, uint? Pasid, ulong Start, ulong Length) : VtdEvent(Sequence)
{
    public override string ToString() =>
        $"#{Sequence} device-TLB invalidation to {Source}{(Pasid is uint p ? $" PASID 0x{p:x}" : "")}: " +
        (Length == ulong.MaxValue ? "everything" : $"0x{Start:x}..+0x{Length:x}");
}

/// <summary>Queued invalidation stopped at a bad descriptor (FSTS.IQE set, IQERCD.IQEI = <paramref name="Code"/>).</summary>
public sealed record InvalidationQueueErrorEvent(long Sequence, QueueErrorCode Code, ulong Head, string Message) : VtdEvent(Sequence)
{
    public override string ToString() => $"#{Sequence} invalidation queue error {(int)Code} ({Code}) at head {Head}: {Message}";
}

/// <summary>An invalidation-completion interrupt (wait descriptor with IF=1) sent through IEADDR/IEDATA.</summary>
public sealed record InvalidationCompletionInterruptEvent(long Sequence, ulong Address, uint Data) : VtdEvent(Sequence)
{
    public override string ToString() => $"#{Sequence} invalidation completion interrupt: write 0x{Data:x} to 0x{Address:x}";
}
