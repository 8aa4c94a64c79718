using VtdSim.Kernel.Process;
using VtdSim.Kernel;
using VtdSim.Kernel.Iommufd;
using VtdSim.Vmm.Memory;

namespace VtdSim.Vmm.Vfio;

/// <summary>
/// A VFIO container on the iommufd backend (QEMU's VFIOIOMMUFDContainer): one IOAS of the VMM's iommufd, the default
/// HWPT its devices are attached to, and the memory listener that keeps the IOAS equal to what the policy says the
/// guest's memory map should map (docs/vmm.md "vfio and the memory listener"). The listener's rules are QEMU's
/// vfio_listener_region_add/del, restated:
/// <list type="bullet">
/// <item>Only RAM is mapped: RAM, ROM (RAM set read-only) and ram-device regions (another device's BAR). I/O, IOMMU
/// regions and ROM devices (memory_region_is_ram is false for them) are skipped, as is every section at or above
/// 2^63 (a 64-bit BAR being sized), and, with <see cref="BypassRo"/>, every read-only section.</item>
/// <item>A section whose address and offset in its region differ within a host page cannot be mapped: QEMU reports
/// "received unaligned region" and skips it. Otherwise the section is trimmed to whole host pages (start rounded up,
/// end rounded down); nothing left means nothing to map.</item>
/// <item>Read-write sections are mapped READ|WRITE, read-only ones READ only (under never-ro: READ|WRITE), at IOVA =
/// guest-physical address, from the process address that backs the section.</item>
/// <item>A failed map of a ram-device section is a warning (peer-to-peer DMA to that BAR will not work), printed
/// once. Any other failure before the container is initialised is kept — the first one, with "Region NAME: " before
/// it — and fails the device's realize; after that it is fatal (hw_error).</item>
/// <item>region_del unmaps exactly what region_add mapped for the section (same skip and trim rules); iommufd's
/// ENOENT for a range never mapped counts as success.</item>
/// </list>
/// </summary>
public sealed class VfioContainer : IMemoryListener
{
    /// <summary>The host page size (qemu_real_host_page_size) and the IOAS's IOVA alignment.</summary>
    public const ulong HostPageSize = 4096;

    private readonly Vmm vmm;
    private bool warnedRamDevice;

    internal VfioContainer(Vmm vmm, IommufdContext iommufd, uint ioasId, ulong address)
    {
        this.vmm = vmm;
        Iommufd = iommufd;
        IoasId = ioasId;
        Address = address;
    }

    public IommufdContext Iommufd { get; }

    public uint IoasId { get; }

    /// <summary>The default HWPT made for the devices (null when the device was attached to the IOAS itself).</summary>
    public uint? HwptId { get; internal set; }

    /// <summary>The flags the default HWPT was allocated with.</summary>
    public HwptAllocFlags HwptFlags { get; internal set; }

    /// <summary>QEMU 11's bypass_ro: read-only sections are not mapped (set once, for the container's life).</summary>
    public bool BypassRo { get; internal set; }

    /// <summary>The listener has replayed the map once and the devices are realized; a map failure is fatal from now on.</summary>
    public bool Initialized { get; internal set; }

    /// <summary>The first map failure while not initialised ("Region NAME: …"), which fails the device's realize.</summary>
    public string? Error { get; internal set; }

    /// <summary>The IOVA alignment IOMMU_IOAS_IOVA_RANGES reported (the container's pgsizes).</summary>
    public ulong IovaAlignment { get; internal set; } = HostPageSize;

    /// <summary>Where the container object lives in the VMM process (printed as QEMU prints the pointer).</summary>
    public ulong Address { get; }

    /// <summary>The areas of the IOAS, as the kernel has them.</summary>
    public IReadOnlyList<IoasAreaInfo> Mappings => Iommufd.Get<Ioas>(IoasId)?.Areas ?? [];

    /// <summary>Sections the listener skipped because they are read-only and <see cref="BypassRo"/> is set (the last state of each).</summary>
    public IEnumerable<MemorySection> BypassedSections => vmm.Machine.SystemMemory.Sections.Where(s => BypassRo && s.ReadOnly && IsRam(s));

    public void RegionAdd(in MemorySection section)
    {
        if (!ValidSection(section, out VfioSectionPlan plan)) return;
        ulong iova = plan.Iova, size = plan.Size;
        bool ramDevice = section.Kind == RegionKind.RamDevice;
        if (section.Region.Backing is not ProcessBacking backing) return;
        Uva vaddr = backing.At(section.OffsetInRegion + (iova - section.Start));

        Errno e = DmaMap(iova, size, vaddr, plan.ReadOnly);
        if (e == Errno.Success) return;

        string err = $"vfio_container_dma_map(0x{Address:x}, 0x{iova:x}, 0x{size:x}, 0x{vaddr.Value:x}) = -{(int)e} ({Strerror.Of(e)})";
        if (ramDevice)
        {
            // Allowed to fail: peer-to-peer DMA to that BAR will not work (warn_report_err_once).
            if (warnedRamDevice) return;
            warnedRamDevice = true;
            vmm.Log.Warning(err);
            if (vmm.DeviceOwning(section.Region) is { } owner) vmm.Log.Hint($"{owner.Name}: PCI peer-to-peer transactions on BARs are not supported.");
            return;
        }
        if (!Initialized)
        {
            Error ??= $"Region {section.Region.Name}: {err}";
            return;
        }
        vmm.Log.Error(err);
        vmm.Log.HardwareError("vfio: DMA mapping failed, unable to continue");
        vmm.Abort();
    }

    public void RegionDel(in MemorySection section)
    {
        if (!ValidSection(section, out VfioSectionPlan plan)) return;
        Errno e = DmaUnmap(plan.Iova, plan.Size);
        if (e != Errno.Success)
            vmm.Log.Error($"vfio_container_dma_unmap(0x{Address:x}, 0x{plan.Iova:x}, 0x{plan.Size:x}) = -{(int)e} ({Strerror.Of(e)})");
    }

    /// <summary>
    /// What the listener does with <paramref name="section"/> (QEMU's vfio_listener_region_add/del, F9): skip it, and why,
    /// or map the IOVA range it trims to, READ only or READ|WRITE. Pure: the same rules the listener runs, for an analysis
    /// of a map no VMM runs (`vtdsim analyze mtree`). <paramref name="iovaAlignment"/> is the IOAS's (the host page size).
    /// </summary>
    public static VfioSectionPlan Plan(in MemorySection section, bool bypassRo, ErratumPolicy policy, ulong iovaAlignment = HostPageSize)
    {
        if (!IsRam(section)) return new VfioSectionPlan(VfioSectionVerdict.NotRam, 0, 0, false);
        if (bypassRo && section.ReadOnly) return new VfioSectionPlan(VfioSectionVerdict.BypassedReadOnly, 0, 0, true);
        if ((section.Start & (1UL << 63)) != 0) return new VfioSectionPlan(VfioSectionVerdict.Above2Pow63, 0, 0, false);
        if ((section.Start & (HostPageSize - 1)) != (section.OffsetInRegion & (HostPageSize - 1)))
            return new VfioSectionPlan(VfioSectionVerdict.Unaligned, 0, 0, false);
        if (!IovaRange(section, out ulong iova, out ulong size)) return new VfioSectionPlan(VfioSectionVerdict.NothingAfterTrim, 0, 0, false);
        ulong pgmask = iovaAlignment - 1;
        if (section.Kind == RegionKind.RamDevice && ((iova & pgmask) != 0 || (size & pgmask) != 0))
            return new VfioSectionPlan(VfioSectionVerdict.RamDeviceNotAligned, iova, size, false); // a trace event only, as QEMU
        return new VfioSectionPlan(VfioSectionVerdict.Map, iova, size, section.ReadOnly && policy != ErratumPolicy.NeverRo);
    }

    /// <summary>memory_region_is_ram: RAM, ROM and ram-device regions; not I/O, IOMMU or ROM devices.</summary>
    internal static bool IsRam(in MemorySection section) => section.Kind is RegionKind.Ram or RegionKind.Rom or RegionKind.RamDevice;

    /// <summary>The listener's plan for a section; an unaligned one is logged as QEMU's vfio_listener_valid_section logs it.</summary>
    private bool ValidSection(in MemorySection section, out VfioSectionPlan plan)
    {
        plan = Plan(section, BypassRo, vmm.Options.ErratumPolicy, IovaAlignment);
        if (plan.Verdict == VfioSectionVerdict.Unaligned)
            vmm.Log.Error($"vfio_listener_valid_section received unaligned region {section.Region.Name} iova=0x{section.Start:x} " +
                          $"offset_within_region=0x{section.OffsetInRegion:x} qemu_real_host_page_size=0x{HostPageSize:x}");
        return plan.Verdict == VfioSectionVerdict.Map;
    }

    /// <summary>vfio_get_section_iova_range: the section trimmed to whole host pages; false if none is left.</summary>
    internal static bool IovaRange(in MemorySection section, out ulong iova, out ulong size)
    {
        UInt128 start = ((UInt128)section.Start + (HostPageSize - 1)) & ~(UInt128)(HostPageSize - 1);
        UInt128 end = ((UInt128)section.Start + section.Size) & ~(UInt128)(HostPageSize - 1);
        iova = 0;
        size = 0;
        if (start >= end || end - start > ulong.MaxValue) return false;
        iova = (ulong)start;
        size = (ulong)(end - start);
        return true;
    }

    /// <summary>iommufd_backend_map_dma: IOMMU_IOAS_MAP at a fixed IOVA, READABLE, WRITEABLE unless read-only.</summary>
    private Errno DmaMap(ulong iova, ulong size, Uva vaddr, bool readOnly)
    {
        var flags = IoasMapFlags.Readable | IoasMapFlags.FixedIova | (readOnly ? 0 : IoasMapFlags.Writeable);
        ulong at = iova;
        Errno e = Iommufd.IoasMap(IoasId, flags, vaddr, size, ref at);
        if (e == Errno.EFAULT) vmm.Log.Warning($"IOMMU_IOAS_MAP failed: {Strerror.Of(e)}, PCI BAR?");
        return e;
    }

    /// <summary>iommufd_backend_unmap_dma: ENOENT (nothing mapped there) counts as success.</summary>
    private Errno DmaUnmap(ulong iova, ulong size)
    {
        ulong length = size;
        Errno e = Iommufd.IoasUnmap(IoasId, iova, ref length);
        return e == Errno.ENOENT ? Errno.Success : e;
    }
}

/// <summary>What vfio's memory listener does with a section (<see cref="VfioContainer.Plan"/>).</summary>
public enum VfioSectionVerdict
{
    /// <summary>Mapped: IOMMU_IOAS_MAP of the trimmed range, READ only or READ|WRITE.</summary>
    Map,

    /// <summary>Not RAM (memory_region_is_ram is false): I/O, IOMMU, a ROM device (pflash).</summary>
    NotRam,

    /// <summary>Read-only and the container has QEMU 11's bypass_ro: not mapped.</summary>
    BypassedReadOnly,

    /// <summary>At or above 2^63 (a 64-bit BAR being sized): skipped.</summary>
    Above2Pow63,

    /// <summary>Address and offset in the region differ within a host page: QEMU's "received unaligned region", skipped.</summary>
    Unaligned,

    /// <summary>Nothing is left once trimmed to whole host pages.</summary>
    NothingAfterTrim,

    /// <summary>A ram-device section not aligned to the IOAS's page size: not tried (a trace event).</summary>
    RamDeviceNotAligned,
}

/// <summary>The listener's plan for one section: its verdict and, when mapped, the IOVA range and whether READ only.</summary>
public readonly record struct VfioSectionPlan(VfioSectionVerdict Verdict, ulong Iova, ulong Size, bool ReadOnly);
