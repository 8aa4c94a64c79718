using VtdSim.Hardware;
using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Translation;
using VtdSim.Kernel;
using VtdSim.Kernel.Iommufd;
using VtdSim.Kernel.Process;
using VtdSim.Vmm.Vfio;

namespace VtdSim.Vmm.Nesting;

/// <summary>One IOVA range of a shadow IOAS: what the guest's second stage said when it was mapped (QEMU's iova_tree entry).</summary>
public readonly record struct ShadowMapping(ulong Iova, ulong Size, Gpa Gpa, bool ReadOnly);

/// <summary>
/// Caching-mode shadowing of one passthrough device (decisions N30–N36): while the vIOMMU translates the device's
/// requests with a second stage (legacy mode, or scalable mode without x-flts), the device is attached to an IOAS of
/// its own whose maps are the guest's leaves — IOVA → the host memory behind the GPA — kept equal to the guest's tables
/// on its context-cache and IOTLB invalidations (QEMU's vtd_address_space_sync, vtd_page_walk and the vfio IOMMU
/// notifier). Otherwise (translation off, a pass-through context) it is on the container's default HWPT, as without a
/// vIOMMU. The shadow's default HWPT is allocated with the container's flags: a nest parent under x-flts (N35).
/// </summary>
public sealed class ShadowBinding
{
    private readonly Vmm vmm;
    // By IOVA. A leaf of size S starts S-aligned, so the mappings a page-selective invalidation can touch are found by
    // probing the few aligned starts its range covers, not by walking every mapping (a guest maps thousands of pages).
    private readonly Dictionary<ulong, ShadowMapping> mapped = [];
    private static readonly ulong[] LeafSizes = [1UL << 12, 1UL << 21, 1UL << 30];
    private int oddSizes; // mappings of another size (none from a second-stage walk): then every sync walks them all
    private readonly List<SecondStageMapping> leaves = [];
    private readonly Dictionary<ulong, SecondStageMapping> now = [];  // Sync's scratch, reused: a sync allocates no collection
    private readonly List<ShadowMapping> stale = [];
    private readonly int deviceFd;

    internal ShadowBinding(Vmm vmm, PassthroughDevice device, VfioContainer container, int deviceFd, ulong address)
    {
        this.vmm = vmm;
        this.deviceFd = deviceFd;
        Device = device;
        Container = container;
        Address = address;
    }

    public PassthroughDevice Device { get; }

    /// <summary>The system container: its default HWPT (or IOAS) is where the device goes when it is not shadowed.</summary>
    public VfioContainer Container { get; }

    /// <summary>The device is attached to the shadow IOAS (the vIOMMU translates its requests with a second stage).</summary>
    public bool Active { get; private set; }

    /// <summary>The shadow IOAS and its default HWPT, made when the device is first shadowed.</summary>
    public uint? IoasId { get; private set; }

    public uint? HwptId { get; private set; }

    /// <summary>The context's domain id when the device was last synced (domain-selective invalidations name it).</summary>
    public ushort DomainId { get; private set; }

    /// <summary>What the shadow IOAS maps now, by IOVA.</summary>
    public IReadOnlyCollection<ShadowMapping> Mappings => mapped.Values.OrderBy(m => m.Iova).ToList();

    /// <summary>The model-only fault queue of the shadow's HWPT (decision N50), once made.</summary>
    public uint? FaultQueueId { get; private set; }

    /// <summary>Faults the vIOMMU's own walk recorded for the guest, and host faults reported to the VMM only.</summary>
    public long DeliveredFaults { get; private set; }

    public long HostFaults { get; private set; }

    /// <summary>IOMMU_IOAS_MAP and IOMMU_IOAS_UNMAP calls made for the shadow.</summary>
    public long Maps { get; private set; }

    public long Unmaps { get; private set; }

    /// <summary>Where this container object lives in the VMM process (printed as QEMU prints the pointer).</summary>
    public ulong Address { get; }

    private IommufdContext Iommufd => Container.Iommufd;

    /// <summary>
    /// vtd_switch_address_space and the replay (context-cache invalidation, SRTP, TE): where the device's requests go now,
    /// and, when shadowed, the whole IOVA space synced with the guest's tables. <paramref name="nested"/>: the host walks
    /// the guest's first stage itself (x-flts in scalable mode), so nothing is shadowed.
    /// </summary>
    internal void Switch(VtdUnit viommu, bool nested)
    {
        if (!Device.Guest.HasValue) return;
        leaves.Clear();
        DeviceMappingView view = viommu.ReadMappings(Device.Guest.Value, 1, 0, leaves);
        DomainId = view.DomainId;
        // QEMU's use_iommu: DMA remapping on and the device not in pass-through; a context that is not there still
        // uses the IOMMU (every request faults, nothing is mapped).
        bool shadow = !nested && viommu.TranslationEnabled
            && !(view.Present && view.Kind is TranslationKind.PassThrough or TranslationKind.LegacyPassThrough);
        if (!shadow)
        {
            if (Active) Leave();
            return;
        }
        if (!Active && !Enter()) return;
        Sync(viommu, 0, ulong.MaxValue);
    }

    /// <summary>An IOTLB invalidation of [first, last] (or everything): unmap what changed, then map what the tables say now.</summary>
    internal void Sync(VtdUnit viommu, ulong first, ulong last)
    {
        if (!Active || !Device.Guest.HasValue) return;
        leaves.Clear();
        DeviceMappingView view = viommu.ReadMappings(Device.Guest.Value, first, last, leaves);
        DomainId = view.DomainId;
        if (!view.Present || view.Kind is not (TranslationKind.Legacy or TranslationKind.SecondStage)) leaves.Clear(); // a context that is not there: unmap the range

        // Unmap-before-map (QEMU's iova_tree): a range still mapped the same way is kept, a changed one is unmapped and
        // mapped again, one the guest removed is unmapped; the IOAS has no mapping in between.
        now.Clear();
        stale.Clear();
        foreach (SecondStageMapping l in leaves) now[l.Iova] = l;
        if (oddSizes == 0 && Probes(first, last) <= (ulong)mapped.Count)
        {
            foreach (ulong size in LeafSizes)
            {
                for (ulong at = first & ~(size - 1); ; at += size)
                {
                    if (mapped.TryGetValue(at, out ShadowMapping m) && m.Size == size) CheckStale(in m);
                    if (last - at < size) break; // the next start would be past last (or past 2^64)
                }
            }
        }
        else
        {
            foreach (ShadowMapping m in mapped.Values)
                if (m.Iova <= last && m.Iova + (m.Size - 1) >= first) CheckStale(in m);
        }
        stale.Sort(static (a, b) => a.Iova.CompareTo(b.Iova)); // unmapped in IOVA order, however they were found
        foreach (ShadowMapping m in stale) Unmap(m);
        foreach (SecondStageMapping l in leaves)
        {
            if (mapped.ContainsKey(l.Iova)) continue; // unchanged
            Map(l);
        }
    }

    /// <summary>A mapping inside the synced range that the guest's tables no longer give the same way.</summary>
    private void CheckStale(in ShadowMapping m)
    {
        if (!now.TryGetValue(m.Iova, out SecondStageMapping l) || l.Size != m.Size || l.Output.Value != m.Gpa.Value || ReadOnly(l.Rights, m.Gpa) != m.ReadOnly)
            stale.Add(m);
    }

    /// <summary>How many aligned starts <see cref="Sync"/> would probe for [first, last].</summary>
    private static ulong Probes(ulong first, ulong last)
    {
        ulong total = 0;
        foreach (ulong size in LeafSizes)
        {
            total += ((last - (first & ~(size - 1))) >> System.Numerics.BitOperations.TrailingZeroCount(size)) + 1; // at most 2^52 + 2^43 + 2^34
        }
        return total;
    }

    private bool Enter()
    {
        if (IoasId is null)
        {
            Errno e = Iommufd.IoasAlloc(0, out uint ioas);
            if (e != Errno.Success)
            {
                vmm.Log.Error($"Failed to allocate ioas: {Strerror.Of(e)}");
                return false;
            }
            IoasId = ioas;
            if (Container.HwptId is not null)
            {
                e = Iommufd.HwptAlloc(Device.DevId, ioas, Container.HwptFlags, out uint hwpt);
                if (e != Errno.Success)
                {
                    vmm.Log.Error($"Failed to allocate hwpt: {Strerror.Of(e)}");
                    Iommufd.Destroy(ioas);
                    IoasId = null;
                    return false;
                }
                HwptId = hwpt;
                e = Iommufd.VtdFaultQueueAlloc(hwpt, FaultDelivery.QueueDepth, out uint queue);
                if (e == Errno.Success) FaultQueueId = queue;
                else vmm.Log.Warning($"vfio {Device.Name}: no fault queue for hwpt {hwpt}: {Strerror.Of(e)}; its faults are not delivered to the guest");
            }
        }
        if (!Attach(HwptId ?? IoasId!.Value)) return false;
        Active = true;
        return true;
    }

    private void Leave()
    {
        foreach (ShadowMapping m in Mappings) Unmap(m); // a sorted copy: IOVA order
        if (Attach(Container.HwptId ?? Container.IoasId)) Active = false;
    }

    private bool Attach(uint id)
    {
        uint pt = id;
        Errno e = Iommufd.DeviceReplace(Device.DevId, ref pt);
        if (e == Errno.Success) return true;
        vmm.Log.Error($"[iommufd=3] error attach {Device.Name} ({deviceFd}) to id={id}: {Strerror.Of(e)}");
        return false;
    }

    /// <summary>vfio_iommu_map_notify, MAP: the leaf's GPA range to the VMM's memory behind it, read-only if either is.</summary>
    private void Map(in SecondStageMapping leaf)
    {
        var gpa = new Gpa(leaf.Output.Value);
        if (!vmm.TryResolveRange(gpa.Value, leaf.Size, out Uva vaddr, out bool sectionReadOnly))
        {
            vmm.Log.Error($"iommu map to non memory area {gpa.Value:x}");
            return;
        }
        bool readOnly = (leaf.Rights & AccessRights.Write) == 0 || sectionReadOnly;
        readOnly &= vmm.Options.ErratumPolicy != ErratumPolicy.NeverRo;
        var flags = IoasMapFlags.Readable | IoasMapFlags.FixedIova | (readOnly ? 0 : IoasMapFlags.Writeable);
        ulong at = leaf.Iova;
        Errno e = Iommufd.IoasMap(IoasId!.Value, flags, vaddr, leaf.Size, ref at);
        Maps++;
        if (e != Errno.Success)
        {
            if (e == Errno.EFAULT) vmm.Log.Warning($"IOMMU_IOAS_MAP failed: {Strerror.Of(e)}, PCI BAR?");
            vmm.Log.Error($"vfio_container_dma_map(0x{Address:x}, 0x{leaf.Iova:x}, 0x{leaf.Size:x}, 0x{vaddr.Value:x}) = -{(int)e} ({Strerror.Of(e)})");
            return;
        }
        mapped[leaf.Iova] = new ShadowMapping(leaf.Iova, leaf.Size, gpa, readOnly);
        if (Array.IndexOf(LeafSizes, leaf.Size) < 0) oddSizes++;
    }

    /// <summary>Whether a leaf with these rights over this GPA is mapped read-only (as <see cref="Map"/> decides).</summary>
    private bool ReadOnly(AccessRights rights, Gpa gpa)
    {
        bool readOnly = (rights & AccessRights.Write) == 0 || (vmm.TryResolveRange(gpa.Value, 1, out _, out bool sectionReadOnly) && sectionReadOnly);
        return readOnly && vmm.Options.ErratumPolicy != ErratumPolicy.NeverRo;
    }

    /// <summary>vfio_iommu_map_notify, UNMAP: ENOENT (nothing there) counts as success.</summary>
    private void Unmap(in ShadowMapping m)
    {
        if (mapped.Remove(m.Iova) && Array.IndexOf(LeafSizes, m.Size) < 0) oddSizes--;
        ulong length = m.Size;
        Errno e = Iommufd.IoasUnmap(IoasId!.Value, m.Iova, ref length);
        Unmaps++;
        if (e is not (Errno.Success or Errno.ENOENT))
            vmm.Log.Error($"vfio_container_dma_unmap(0x{Address:x}, 0x{m.Iova:x}, 0x{m.Size:x}) = -{(int)e} ({Strerror.Of(e)})");
    }

    /// <summary>
    /// Takes the faults the host queued for the shadow (decision N50). The shadow IOAS holds what the guest's tables map;
    /// a fault there is the guest's when its own tables do not allow the request either: the vIOMMU walks them for the
    /// guest RID, as for an emulated device, and that walk records the fault it finds (its own reason, FPD and all).
    /// A request the guest's tables allow faulted because the shadow is not what they say: the VMM's, logged only.
    /// </summary>
    internal void DeliverFaults(VtdUnit viommu)
    {
        if (FaultQueueId is not uint queue || Device.Guest is not { } guest) return;
        Span<VtdFaultEvent> events = stackalloc VtdFaultEvent[FaultDelivery.Batch];
        while (Iommufd.VtdFaultQueueRead(queue, events, out int n) == Errno.Success && n != 0)
        {
            foreach (VtdFaultEvent e in events[..n])
            {
                if (Active && e.Pasid is null && !viommu.Translate(new DmaRequest(guest, e.Address, e.Access)).Success)
                {
                    DeliveredFaults++;
                    continue;
                }
                vmm.Log.Warning(FaultDelivery.HostFaultLine(Device, e));
                HostFaults++;
            }
        }
    }

    /// <summary>The VMM quits: the iommufd is about to close, which frees every object; forget them here.</summary>
    internal void Release()
    {
        FaultQueueId = null;
        mapped.Clear();
        oddSizes = 0;
        Active = false;
        IoasId = null;
        HwptId = null;
    }
}
