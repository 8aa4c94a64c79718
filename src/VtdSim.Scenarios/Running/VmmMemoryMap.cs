using VtdSim.Kernel.Intel;
using VtdSim.Kernel.Iommufd;
using VtdSim.Vmm.Memory;
using VtdSim.Vmm.Vfio;
using VmmProcess = VtdSim.Vmm.Vmm;

namespace VtdSim.Scenarios.Running;

/// <summary>What became of one section of a VMM's system memory for a passthrough device (the report's memory map).</summary>
public enum MapStatus
{
    /// <summary>In the IOAS, READ|WRITE.</summary>
    MappedReadWrite,

    /// <summary>In the IOAS, READ only.</summary>
    MappedReadOnly,

    /// <summary>Read-only memory mapped READ|WRITE (never-ro): a device can write what the guest cannot.</summary>
    MappedWritable,

    /// <summary>Read-only, skipped by QEMU 11's bypass_ro: a device's DMA there faults.</summary>
    Bypassed,

    /// <summary>The kernel refused the map (a READ-only map into a nest parent: EINVAL); the VMM did not start.</summary>
    Refused,

    /// <summary>Not mapped: not RAM (MMIO, a ROM device), unaligned, no vfio device, or the VMM stopped before it.</summary>
    NotMapped,
}

/// <summary>One section of a flat view with its status; <see cref="Detail"/> says why, in words.</summary>
public sealed record MapSection(ulong Start, ulong Last, string Type, string Region, bool ReadOnly, MapStatus Status, string Detail);

/// <summary>
/// A VMM's system memory ("memory") as its flat view shows it, each section with what vfio's listener did with it,
/// as the VMM had it after the last step in which it was running or failed to start (`vtdsim run --report`).
/// </summary>
public sealed record VmmMemoryMap(string Vmm, string State, string Policy, IReadOnlyList<MapSection> Sections)
{
    /// <summary>The map of <paramref name="vmm"/> now: the listener's own plan for each section, checked against the IOAS.</summary>
    public static VmmMemoryMap Capture(string name, VmmProcess vmm, string policy)
    {
        ArgumentNullException.ThrowIfNull(vmm);
        VfioContainer? c = vmm.Container;
        IReadOnlyList<IoasAreaInfo> areas = c?.Mappings ?? [];
        var sections = new List<MapSection>();
        foreach (MemorySection s in vmm.Machine.SystemMemory.Sections)
        {
            (MapStatus status, string detail) = Status(s, c, areas, vmm);
            sections.Add(new MapSection(s.Start, s.Last, s.TypeName, s.Region.Name, s.ReadOnly, status, detail));
        }
        return new VmmMemoryMap(name, vmm.State.ToString().ToLowerInvariant(), policy, sections);
    }

    private static (MapStatus, string) Status(MemorySection s, VfioContainer? c, IReadOnlyList<IoasAreaInfo> areas, VmmProcess vmm)
    {
        if (c is null && vmm.Options.Passthrough.Count == 0) return (MapStatus.NotMapped, "no vfio device");
        // A VMM that failed to start has no container left: the listener's first refusal is in what QEMU printed.
        string? error = c?.Error ?? vmm.Log.Lines.FirstOrDefault(l => l.Contains("Region ", StringComparison.Ordinal) && l.Contains("vfio_container_dma_map(", StringComparison.Ordinal));
        VfioSectionPlan plan = VfioContainer.Plan(s, c?.BypassRo ?? false, vmm.Options.ErratumPolicy, c?.IovaAlignment ?? VfioContainer.HostPageSize);
        switch (plan.Verdict)
        {
            case VfioSectionVerdict.BypassedReadOnly:
                return (MapStatus.Bypassed, "read-only: skipped by bypass_ro");
            case VfioSectionVerdict.Map:
                if (error is not null && error.Contains($"Region {s.Region.Name}: ", StringComparison.Ordinal)
                    && error.Contains($", 0x{plan.Iova:x}, 0x{plan.Size:x}, ", StringComparison.Ordinal))
                    return (MapStatus.Refused, error[error.IndexOf("Region ", StringComparison.Ordinal)..]);
                foreach (IoasAreaInfo a in areas)
                {
                    if (plan.Iova < a.Iova || plan.Iova > a.Last) continue;
                    bool writable = (a.Prot & IommuProt.Write) != 0;
                    return !writable ? (MapStatus.MappedReadOnly, "IOMMU_IOAS_MAP READ")
                        : s.ReadOnly ? (MapStatus.MappedWritable, "read-only memory mapped READ|WRITE")
                        : (MapStatus.MappedReadWrite, "IOMMU_IOAS_MAP READ|WRITE");
                }
                return (MapStatus.NotMapped, vmm.State == VtdSim.Vmm.VmmState.Failed ? "not mapped: the VMM did not start"
                    : $"not in the IOAS (the VMM is {vmm.State.ToString().ToLowerInvariant()})");
            default:
                return (MapStatus.NotMapped, SkipReason(plan.Verdict, s.TypeName));
        }
    }

    /// <summary>Why vfio's listener leaves a section out, in words (for a verdict other than Map and BypassedReadOnly).</summary>
    public static string SkipReason(VfioSectionVerdict verdict, string type) => verdict switch
    {
        VfioSectionVerdict.NotRam => type == "romd" ? "ROM device: not RAM to vfio" : type == "i/o" ? "I/O: not RAM" : "not RAM",
        VfioSectionVerdict.Above2Pow63 => "at or above 2^63",
        VfioSectionVerdict.Unaligned => "unaligned",
        VfioSectionVerdict.NothingAfterTrim => "under a page",
        VfioSectionVerdict.RamDeviceNotAligned => "ram device not aligned to the IOAS page size",
        VfioSectionVerdict.BypassedReadOnly => "read-only: skipped by bypass_ro",
        _ => "mapped",
    };
}
