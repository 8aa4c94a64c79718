using VtdSim.Hardware;
using VtdSim.Hardware.Faults;
using VtdSim.Hardware.Structures;
using VtdSim.Hardware.Translation;
using VtdSim.Kernel;
using VtdSim.Kernel.Intel;
using VtdSim.Kernel.Iommufd;
using VtdSim.Vmm.Vfio;

namespace VtdSim.Vmm.Nesting;

/// <summary>Where a nested passthrough device's requests without PASID go on the host.</summary>
public enum NestingAttachment
{
    /// <summary>The container's default HWPT (the nest parent): GPA → HPA, as without a translating vIOMMU.</summary>
    DefaultHwpt,
    /// <summary>A nested HWPT: the guest's first stage (its FSPTPTR, a GPA) over the nest parent.</summary>
    FirstStage,
    /// <summary>The nest parent itself, because the guest's PASID entry is pass-through (PGTT 100b).</summary>
    PassThrough,
    /// <summary>Detached: every request is blocked (the guest's entry went invalid while its DMA remapping is on).</summary>
    Blocked,
}

/// <summary>
/// One passthrough device's binding of the guest's first stage on the host (QEMU 11's VTDAccelPASIDCacheEntry for
/// PASID 0, decisions N4–N9): the PASID entry the VMM last acted on (its PASID cache), the nested HWPT it allocated for
/// a first-stage entry, and the IOTLB invalidations waiting to be forwarded. A nested HWPT is allocated here and freed
/// here: when a replacement is attached, when the entry goes, and when the binding is released.
/// </summary>
public sealed class NestingBinding
{
    private readonly Vmm vmm;
    private readonly List<VtdS1Invalidation> pending = [];
    private byte[] invalidationData = new byte[VtdUapi.S1InvalidateSize * 4]; // reused: no array per forwarded batch
    private bool attached = true; // realize attached the device to the default HWPT

    internal NestingBinding(Vmm vmm, PassthroughDevice device, IommufdContext iommufd, uint parentHwptId, int deviceFd)
    {
        this.vmm = vmm;
        Device = device;
        Iommufd = iommufd;
        ParentHwptId = parentHwptId;
        DeviceFd = deviceFd;
    }

    public PassthroughDevice Device { get; }

    /// <summary>The guest's PASID entry as last seen valid (null: none cached).</summary>
    public PasidEntry? CachedEntry { get; private set; }

    /// <summary>The nested HWPT of the guest's first stage while one is attached (QEMU's fs_hwpt_id).</summary>
    public uint? FirstStageHwptId { get; private set; }

    public NestingAttachment Attachment { get; private set; } = NestingAttachment.DefaultHwpt;

    /// <summary>The nest parent: the container's default HWPT.</summary>
    public uint ParentHwptId { get; }

    /// <summary>The model-only fault queue of the nested HWPT (decisions N40–N48), while one is attached.</summary>
    public uint? FaultQueueId { get; private set; }

    /// <summary>First-stage faults recorded in the vIOMMU for the guest, and host faults reported to the VMM only.</summary>
    public long DeliveredFaults { get; private set; }

    public long HostFaults { get; private set; }

    /// <summary>IOMMU_HWPT_INVALIDATE calls made, and the entries the host carried out.</summary>
    public long ForwardedInvalidationCalls { get; private set; }

    public long ForwardedInvalidations { get; private set; }

    /// <summary>IOTLB invalidations queued for the nested HWPT, not yet forwarded.</summary>
    public int PendingInvalidations => pending.Count;

    private IommufdContext Iommufd { get; }

    private int DeviceFd { get; }

    /// <summary>
    /// vtd_pasid_cache_sync for this device's PASID 0: reads the guest's entry and, when it became valid, changed or went
    /// away, binds the host to it. What fails is logged with QEMU's prefix; nothing throws.
    /// </summary>
    internal void Sync(VtdUnit viommu)
    {
        if (!Device.Guest.HasValue) return;
        if (!GuestPasidEntries.TryRead(viommu, Device.Guest.Value, 0, out PasidEntry entry))
        {
            // vtd_device_detach_iommufd: blocked while the guest's DMA remapping is on in scalable mode, else back to
            // the default HWPT (the guest sees system memory again).
            bool dmarOn = viommu.TranslationEnabled && viommu.TableMode == TranslationTableMode.Scalable;
            // A device left blocked goes back to the default HWPT once the guest turns DMA remapping off, though no
            // entry is cached any more (decision N7: QEMU keeps no record of it and would leave it blocked).
            bool unblock = CachedEntry is null && Attachment == NestingAttachment.Blocked && !dmarOn;
            if (CachedEntry is null && !unblock) return;
            CachedEntry = null;
            string? error = dmarOn ? Detach() : AttachTo(ParentHwptId);
            if (error is null)
            {
                FreeFirstStage();
                Attachment = dmarOn ? NestingAttachment.Blocked : NestingAttachment.DefaultHwpt;
            }
            else vmm.Log.Error("Detaching from HWPT failed: " + error);
            return;
        }
        string prefix;
        if (CachedEntry is null) prefix = "Attaching to HWPT failed: ";
        else if (CachedEntry.Value != entry) prefix = "Replacing HWPT attachment failed: ";
        else return;
        CachedEntry = entry;
        if (Bind(entry) is { } failure) vmm.Log.Error(prefix + failure);
    }

    /// <summary>vtd_device_attach_iommufd: a nested HWPT for a first-stage entry, the nest parent for pass-through.</summary>
    private string? Bind(PasidEntry entry)
    {
        bool firstStage = entry.Pgtt == PasidGranularTranslationType.FirstStageOnly;
        if (!firstStage && entry.Pgtt != PasidGranularTranslationType.PassThrough) return $"Invalid PGTT type {(int)entry.Pgtt}";
        uint hwpt = ParentHwptId;
        uint? queue = null;
        if (firstStage)
        {
            VtdS1Flags flags = (entry.SupervisorRequestEnable ? VtdS1Flags.SupervisorRequestEnable : 0)
                | (entry.WriteProtectEnable ? VtdS1Flags.WriteProtectEnable : 0)
                | (entry.ExtendedAccessedFlagEnable ? VtdS1Flags.ExtendedAccessedFlagEnable : 0);
            // addr_width: 48 for 4-level paging, 57 for 5-level (FSPM 01b); pgtbl_addr is the guest's FSPTPTR, a GPA.
            var s1 = new VtdS1Config(flags, entry.FirstStagePageTablePointer, (uint)(48 + 9 * entry.FirstStagePagingMode));
            byte[] data = VtdUapi.EncodeS1(s1);
            Errno e = Iommufd.HwptAlloc(Device.DevId, ParentHwptId, 0, out hwpt, HwptDataType.VtdS1, (uint)data.Length, data);
            if (e != Errno.Success) return $"Failed to allocate hwpt: {Strerror.Of(e)}";
            queue = AllocFaultQueue(hwpt);
        }
        if (AttachTo(hwpt) is { } error)
        {
            if (queue is uint q) Iommufd.Destroy(q);
            if (firstStage) Iommufd.Destroy(hwpt); // the one just made; the old binding stays
            return error;
        }
        FreeFirstStage(); // a replacement: the old nested HWPT goes only once the new one is attached
        FirstStageHwptId = firstStage ? hwpt : null;
        FaultQueueId = queue;
        Attachment = firstStage ? NestingAttachment.FirstStage : NestingAttachment.PassThrough;
        return null;
    }

    /// <summary>host_iommu_device_iommufd_attach_hwpt: VFIO_DEVICE_ATTACH_IOMMUFD_PT, a replace when already attached.</summary>
    private string? AttachTo(uint hwpt)
    {
        uint pt = hwpt;
        Errno e = attached ? Iommufd.DeviceReplace(Device.DevId, ref pt) : Iommufd.DeviceAttach(Device.DevId, ref pt);
        if (e != Errno.Success) return $"[iommufd=3] error attach {Device.Name} ({DeviceFd}) to id={hwpt}: {Strerror.Of(e)}";
        attached = true;
        return null;
    }

    /// <summary>
    /// host_iommu_device_iommufd_detach_hwpt: VFIO_DEVICE_DETACH_IOMMUFD_PT, the device is blocked. The model's kernel
    /// refuses this only for a device that is not bound, so the inner text is the model's, worded as attach's.
    /// </summary>
    private string? Detach()
    {
        Errno e = Iommufd.DeviceDetach(Device.DevId);
        if (e != Errno.Success) return $"[iommufd=3] error detach {Device.Name} ({DeviceFd}) from id={FirstStageHwptId ?? ParentHwptId}: {Strerror.Of(e)}";
        attached = false;
        return null;
    }

    private void FreeFirstStage()
    {
        pending.Clear(); // nothing left to forward to a HWPT that goes
        if (FaultQueueId is uint queue) Iommufd.Destroy(queue); // the queue holds its HWPT: it goes first
        FaultQueueId = null;
        if (FirstStageHwptId is uint old) Iommufd.Destroy(old);
        FirstStageHwptId = null;
    }

    /// <summary>
    /// The model's extension (decision N47): a fault queue on the new nested HWPT, before the device is attached to it,
    /// so no fault of the guest's first stage goes unseen. Without one (the kernel refused) nesting works as in QEMU 11,
    /// faults reaching the host's log only; the VMM says so in a warning.
    /// </summary>
    private uint? AllocFaultQueue(uint hwpt)
    {
        Errno e = Iommufd.VtdFaultQueueAlloc(hwpt, FaultDelivery.QueueDepth, out uint queue);
        if (e == Errno.Success) return queue;
        vmm.Log.Warning($"vfio {Device.Name}: no fault queue for hwpt {hwpt}: {Strerror.Of(e)}; its faults are not delivered to the guest");
        return null;
    }

    /// <summary>
    /// Takes the faults the host queued for the nested HWPT (decisions N47–N48): one of the guest's first stage is recorded
    /// in the vIOMMU for the device's guest RID at the guest's IOVA, with the reason the guest's own first-stage walk
    /// would give (<see cref="FaultDelivery.GuestReason"/>); one of the host's second stage is the VMM's, logged, not
    /// delivered.
    /// </summary>
    internal void DeliverFaults(VtdUnit viommu)
    {
        if (FaultQueueId is not uint queue || Device.Guest is not { } guest) return;
        Span<VtdFaultEvent> events = stackalloc VtdFaultEvent[FaultDelivery.Batch];
        while (Iommufd.VtdFaultQueueRead(queue, events, out int n) == Errno.Success && n != 0)
        {
            foreach (VtdFaultEvent e in events[..n])
            {
                if (e.Stage == VtdFaultStage.FirstStage && e.Pasid is null)
                {
                    FaultReason reason = FaultDelivery.GuestReason(e.Reason);
                    viommu.RecordFault(new DmaRequest(guest, e.Address, e.Access), reason, FaultDelivery.Explain(e, reason));
                    DeliveredFaults++;
                }
                else
                {
                    vmm.Log.Warning(FaultDelivery.HostFaultLine(Device, e));
                    HostFaults++;
                }
            }
        }
    }

    /// <summary>
    /// Queues a guest PASID-based IOTLB invalidation of DID <paramref name="did"/> and PASID <paramref name="pasid"/> if
    /// it concerns this binding (QEMU's vtd_flush_host_piotlb_locked: a cached first-stage entry, same DID, PASID 0).
    /// </summary>
    internal void Queue(ushort did, uint pasid, in VtdS1Invalidation invalidation)
    {
        if (FirstStageHwptId is null || CachedEntry is not { } entry || entry.Pgtt != PasidGranularTranslationType.FirstStageOnly) return;
        if (entry.DomainId != did || pasid != 0) return;
        pending.Add(invalidation);
    }

    /// <summary>Forwards what is queued in one IOMMU_HWPT_INVALIDATE; a refusal is reported, not swallowed (N8).</summary>
    internal void Flush()
    {
        if (pending.Count == 0 || FirstStageHwptId is not uint hwpt) return;
        int size = VtdUapi.S1InvalidateSize;
        if (invalidationData.Length < pending.Count * size) invalidationData = new byte[pending.Count * size * 2];
        for (int i = 0; i < pending.Count; i++) VtdUapi.WriteInvalidation(invalidationData.AsSpan(i * size), pending[i]);
        uint total = (uint)pending.Count, done = total;
        pending.Clear();
        Errno e = Iommufd.HwptInvalidate(hwpt, HwptInvalidateDataType.VtdS1, (uint)size, ref done, invalidationData);
        if (e != Errno.Success)
            vmm.Log.Error($"IOMMU_HWPT_INVALIDATE failed: total {total} entries, processed {done} entries: {Strerror.Of(e)}");
        ForwardedInvalidationCalls++;
        ForwardedInvalidations += done;
    }

    /// <summary>The VMM quits: the iommufd is about to close, which frees every object; forget them here.</summary>
    internal void Release()
    {
        pending.Clear();
        FirstStageHwptId = null;
        FaultQueueId = null;
        CachedEntry = null;
    }
}
