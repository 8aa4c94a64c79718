namespace VtdSim.Kernel.Iommufd;

// The model's fault event queues (decisions N40–N44): NOT Linux's uAPI. Linux reports unrecoverable VT-d faults to user
// space nowhere (IOMMU_FAULT_QUEUE_ALLOC is for recoverable page requests, IOMMU_VEVENTQ_ALLOC needs a vIOMMU object,
// which VT-d does not offer); these calls are the model's opt-in extension, shaped as IOMMU_VEVENTQ_ALLOC is.
public sealed partial class IommufdContext
{
    /// <summary>
    /// Model-only: makes a fault event queue for the HWPT <paramref name="hwptId"/> — a nested HWPT, or a paging HWPT the
    /// user allocated (a shadow's, decision N44) — holding up to <paramref name="depth"/> events. Unknown flags →
    /// EOPNOTSUPP; depth 0 → EINVAL; an id that does not exist → ENOENT; an object that is not such a HWPT (an
    /// automatic domain, an IOAS, a device) → EINVAL; a HWPT that has a queue → EEXIST.
    /// The queue holds its HWPT (destroying the HWPT first is EBUSY); it is destroyed with IOMMU_DESTROY.
    /// </summary>
    public Errno VtdFaultQueueAlloc(uint hwptId, uint depth, out uint queueId, uint flags = 0)
    {
        ThrowIfClosed();
        queueId = 0;
        if (flags != 0) return Errno.EOPNOTSUPP;
        if (depth == 0) return Errno.EINVAL;
        if (Find(hwptId) is not IommufdObject obj) return Errno.ENOENT;
        if (obj is not (HwptNested or HwptPaging { AutoDomain: false }) || obj is not Hwpt hwpt) return Errno.EINVAL;
        if (hwpt.FaultQueue is not null) return Errno.EEXIST;
        var queue = new VtdFaultQueue(hwpt, depth);
        hwpt.FaultQueue = queue;
        hwpt.Users++;
        queueId = Insert(queue);
        return Errno.Success;
    }

    /// <summary>
    /// Model-only: takes up to <c>into.Length</c> events from the queue, oldest first; <paramref name="count"/> says how
    /// many. An id that is not a fault queue → ENOENT (a typed lookup). An empty queue gives 0 events, not an error.
    /// </summary>
    public Errno VtdFaultQueueRead(uint queueId, Span<VtdFaultEvent> into, out int count)
    {
        count = 0;
        Errno e = Lookup(queueId, out VtdFaultQueue queue);
        if (e != Errno.Success) return e;
        while (count < into.Length && queue.TryTake(out VtdFaultEvent ev)) into[count++] = ev;
        return Errno.Success;
    }
}
