using VtdSim.Hardware.Addressing;
using VtdSim.Kernel.Intel;
using VtdSim.Kernel.Process;
using VtdSim.Machine;

namespace VtdSim.Kernel.Iommufd;

/// <summary>
/// An object of an iommufd context (struct iommufd_object): an id in the context's namespace and a user count. The
/// table holds one user; every object that refers to this one (a HWPT to its IOAS, a nested HWPT to its parent, an
/// attached device to its HWPT, a driver to its device or access) holds another. IOMMU_DESTROY succeeds only when the
/// table's is the last one (else EBUSY).
/// </summary>
public abstract class IommufdObject
{
    private protected IommufdObject(IommufdObjectType type) => Type = type;

    public uint Id { get; internal set; }
    public IommufdObjectType Type { get; }
    /// <summary>refcount users: 1 for the table plus one per reference.</summary>
    public int Users { get; internal set; } = 1;

    public override string ToString() => $"{Type} #{Id}";
}

/// <summary>An I/O address space (struct iommufd_ioas): its io_pagetable and the paging HWPTs allocated on it.</summary>
public sealed class Ioas : IommufdObject
{
    internal Ioas(IoPagetable iopt) : base(IommufdObjectType.Ioas) => Iopt = iopt;

    internal IoPagetable Iopt { get; }
    /// <summary>ioas->hwpt_list: paging HWPTs on this IOAS, in creation order.</summary>
    internal List<HwptPaging> HwptList { get; } = new();

    public IReadOnlyList<IoasAreaInfo> Areas => Iopt.AreaInfos();
    public IReadOnlyList<IovaRange> ReservedRanges => Iopt.Reserved.Select(r => new IovaRange(r.Start, r.Last)).ToList();
    public IReadOnlyList<IovaRange> AllowedRanges => Iopt.Allowed;
    public IReadOnlyList<HwptPaging> Hwpts => HwptList;
}

/// <summary>
/// What user space can see of one area of an IOAS: its IOVA range, rights, and the host memory behind it, as the
/// pinned runs (one per folio, trimmed to the area) and page by page.
/// </summary>
public sealed record IoasAreaInfo(ulong Iova, ulong Length, IommuProt Prot, IReadOnlyList<PinnedRun> Runs, bool PinnedWritable)
{
    public ulong Last => Iova + Length - 1;
    /// <summary>The host page behind each 4 KiB of the area, computed from the runs on demand.</summary>
    public PinnedRunPages Pages => new(Runs);
}

/// <summary>A HWPT (struct iommufd_hw_pagetable): a user-visible IOMMU domain.</summary>
public abstract class Hwpt : IommufdObject
{
    private protected Hwpt(IommufdObjectType type) : base(type) { }

    public abstract IntelDomain Domain { get; }
    /// <summary>The devices attached to this HWPT.</summary>
    internal List<IommufdDevice> Devices { get; } = new();
    /// <summary>The paging HWPT whose IOAS provides the mappings (the parent, for a nested HWPT).</summary>
    internal abstract HwptPaging PagingRoot { get; }
    /// <summary>
    /// pasid_compat: allocated with IOMMU_HWPT_ALLOC_PASID (or an automatic domain of a PASID-capable device). Only
    /// such a HWPT may be attached at a PASID, or at the RID of a device that has PASID attachments.
    /// </summary>
    public bool PasidCapable { get; internal init; }
    /// <summary>The model-only fault event queue bound to this HWPT, if any (decisions N40–N44).</summary>
    public VtdFaultQueue? FaultQueue { get; internal set; }
}

/// <summary>A kernel-managed paging HWPT (struct iommufd_hwpt_paging), filled with the IOAS's mappings.</summary>
public sealed class HwptPaging : Hwpt
{
    internal HwptPaging(PagingDomain domain, Ioas ioas, bool autoDomain, bool nestParent) : base(IommufdObjectType.HwptPaging)
    {
        PagingDomain = domain;
        Ioas = ioas;
        AutoDomain = autoDomain;
        NestParent = nestParent;
    }

    public PagingDomain PagingDomain { get; }
    public override IntelDomain Domain => PagingDomain;
    public Ioas Ioas { get; }
    /// <summary>Allocated by attaching a device to an IOAS; destroyed with its last device.</summary>
    public bool AutoDomain { get; }
    public bool NestParent { get; }
    internal override HwptPaging PagingRoot => this;
}

/// <summary>A nested HWPT (struct iommufd_hwpt_nested): a user stage-1 table over a nest-parent paging HWPT.</summary>
public sealed class HwptNested : Hwpt
{
    internal HwptNested(NestedDomain domain, HwptPaging parent) : base(IommufdObjectType.HwptNested)
    {
        NestedDomain = domain;
        Parent = parent;
    }

    public NestedDomain NestedDomain { get; }
    public override IntelDomain Domain => NestedDomain;
    public HwptPaging Parent { get; }
    internal override HwptPaging PagingRoot => Parent;
}

/// <summary>A device bound to the context (struct iommufd_device, as VFIO_DEVICE_BIND_IOMMUFD makes it).</summary>
public sealed class IommufdDevice : IommufdObject
{
    internal IommufdDevice(PciFunction function) : base(IommufdObjectType.Device) => Function = function;

    public PciFunction Function { get; }
    public SourceId SourceId => Function.Id;
    /// <summary>The HWPT the device's requests without PASID translate through, or null (blocked).</summary>
    public Hwpt? Attached { get; internal set; }
    /// <summary>The HWPT each attached PASID's requests translate through (PASIDs not listed are blocked).</summary>
    public IReadOnlyDictionary<uint, Hwpt> PasidAttached => PasidHwpts;
    internal SortedDictionary<uint, Hwpt> PasidHwpts { get; } = new();
    /// <summary>The IOAS whose reserved tree holds this device's reserved regions while attached.</summary>
    internal Ioas? ReservedIn { get; set; }
}

/// <summary>An in-kernel access (struct iommufd_access): an emulated device's way to read and write an IOAS by IOVA.</summary>
public sealed class IommufdAccess : IommufdObject
{
    internal IommufdAccess(Ioas ioas) : base(IommufdObjectType.Access) => Ioas = ioas;

    public Ioas Ioas { get; }
}
