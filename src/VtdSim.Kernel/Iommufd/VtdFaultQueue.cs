using System.Diagnostics.CodeAnalysis;
using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Faults;
using VtdSim.Hardware.Translation;

namespace VtdSim.Kernel.Iommufd;

/// <summary>Which part of a nested translation a fault belongs to (decision N42).</summary>
public enum VtdFaultStage
{
    /// <summary>The user's first stage (the guest's tables): not present, reserved bits, permission, A/D update refused.</summary>
    FirstStage = 1,
    /// <summary>
    /// The kernel-owned translation, the IOAS's mappings: a nested HWPT's second stage (the VMM's GPA → HPA: an unmapped
    /// or read-only GPA, the first-stage tables' GPAs included), or the whole table of a paging HWPT.
    /// </summary>
    SecondStage = 2,
    /// <summary>Before the page walk (root, context, PASID entries): the host kernel's own programming.</summary>
    Context = 3,
}

/// <summary>
/// One unrecoverable DMA fault of a device attached to a nested HWPT, as the model's kernel hands it to user space
/// (decision N41). NOT Linux's uAPI: Linux reports no unrecoverable VT-d fault to user space.
/// </summary>
/// <param name="DevId">The iommufd device id of the requester (the VMM maps it to the device's virtual RID).</param>
/// <param name="Pasid">The PASID the request carried, or null for a request without PASID.</param>
/// <param name="Address">The faulting page address (FRCD.FI): the IOVA of the user's first stage, 4 KiB aligned.</param>
/// <param name="Access">Read, write or AtomicOp (FRCD.T1/T2).</param>
/// <param name="Privileged">The request was privileged (FRCD.PRIV).</param>
/// <param name="Execute">The request asked for execute (FRCD.EXE).</param>
/// <param name="Reason">The host hardware's fault reason (FRCD.FR), unchanged: nested-only codes included.</param>
/// <param name="Stage">Whose fault it is: the first stage's (the guest's) or the second stage's (the VMM's).</param>
public readonly record struct VtdFaultEvent(uint DevId, uint? Pasid, Iova Address, DmaAccess Access, bool Privileged, bool Execute,
    FaultReason Reason, VtdFaultStage Stage)
{
    public override string ToString() =>
        $"dev {DevId} {(Pasid is uint p ? $"PASID 0x{p:x}" : "NO_PASID")} {Access.ToString().ToLowerInvariant()} {Address} reason 0x{(byte)Reason:x2} ({Stage})";
}

/// <summary>
/// A fault event queue (model-only, decisions N40–N44): the faults of the devices attached to one HWPT, oldest
/// first, up to <see cref="Depth"/>; what does not fit is counted in <see cref="Lost"/> and dropped. It holds a user of its
/// HWPT, so the HWPT cannot be destroyed before it.
/// </summary>
public sealed class VtdFaultQueue : IommufdObject
{
    private readonly Queue<VtdFaultEvent> _events = new();

    internal VtdFaultQueue(Hwpt hwpt, uint depth) : base(IommufdObjectType.VtdFaultQueue)
    {
        Hwpt = hwpt;
        Depth = depth;
    }

    public Hwpt Hwpt { get; }
    public uint Depth { get; }
    /// <summary>Events waiting to be read.</summary>
    public int Pending => _events.Count;
    /// <summary>Events dropped because the queue was full, since it was made.</summary>
    public long Lost { get; private set; }

    internal void Push(in VtdFaultEvent e)
    {
        if ((uint)_events.Count >= Depth) Lost++;
        else _events.Enqueue(e);
    }

    internal bool TryTake([MaybeNullWhen(false)] out VtdFaultEvent e) => _events.TryDequeue(out e);
}
