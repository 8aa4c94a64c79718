using VtdSim.Vmm.Memory;
using VtdSim.Vmm.Memory.Import;

namespace VtdSim.Vmm.Vfio;

/// <summary>
/// What vfio does with one section of system memory (docs/analyze.md): the listener's plan without a workaround (as
/// QEMU 7.2 maps it), whether a nest parent refuses it (a READ-only map: the kernel's EINVAL on an erratum host),
/// whether QEMU 11's bypass_ro skips it, and what happens to it under the chosen policy with a vIOMMU that wants nesting.
/// </summary>
public sealed record SectionVerdict(MemorySection Section, VfioSectionPlan Plan, bool NestParentRefuses, bool BypassRoSkips, SectionOutcome Outcome)
{
    public ulong Start => Section.Start;

    public ulong Last => Section.Last;

    public string Region => Section.Region.Name;

    /// <summary>"ram", "rom", "romd", "ramd" or "i/o", as `info mtree -f` prints it.</summary>
    public string Type => Section.TypeName;

    public bool ReadOnly => Section.ReadOnly;
}

/// <summary>What becomes of a section under a policy (with a vIOMMU that wants nesting, on an erratum host).</summary>
public enum SectionOutcome
{
    /// <summary>The listener skips it (not RAM, unaligned, nothing left after trimming, …): a device never reaches it.</summary>
    NotMapped,

    MappedReadWrite,

    MappedReadOnly,

    /// <summary>Read-only memory mapped READ|WRITE (never-ro): a device can write the ROM.</summary>
    MappedWritable,

    /// <summary>READ-only into a nest parent: the kernel refuses it (EINVAL), and the VMM does not start.</summary>
    Refused,

    /// <summary>Read-only, skipped by bypass_ro: a device's DMA there faults.</summary>
    Bypassed,
}

/// <summary>
/// The analysis of an imported memory map's system memory for vfio (`vtdsim analyze mtree`): every section with its
/// verdicts, from the listener's own rules (<see cref="VfioContainer.Plan"/>) and the policies' (docs/vmm.md "Erratum
/// policies"); no second copy of either.
/// </summary>
public sealed class MapAnalysis
{
    private MapAnalysis(string file, ErratumPolicy policy, bool fromFlatView, List<SectionVerdict> sections)
    {
        File = file;
        Policy = policy;
        FromFlatView = fromFlatView;
        Sections = sections;
    }

    public string File { get; }

    public ErratumPolicy Policy { get; }

    /// <summary>The sections are QEMU's own flat view (true) or the model's rendering of the imported trees.</summary>
    public bool FromFlatView { get; }

    public IReadOnlyList<SectionVerdict> Sections { get; }

    /// <summary>Whether the policy asks the kernel for a nest parent when the vIOMMU wants nesting (all but qemu-7.2, which has no x-flts).</summary>
    public bool NestParent => Policy != ErratumPolicy.Qemu72;

    /// <summary>Whether the container gets bypass_ro (QEMU 11 on a host that reports ERRATA_772415_SPR17: every VT-d host, F5).</summary>
    public bool BypassRo => Policy == ErratumPolicy.Qemu11;

    /// <summary>The VMM cannot start: a nest parent refuses a read-only map.</summary>
    public bool Refused => Sections.Any(s => s.Outcome == SectionOutcome.Refused);

    /// <summary>The first section the kernel refuses (QEMU names its region), if any.</summary>
    public SectionVerdict? FirstRefused => Sections.FirstOrDefault(s => s.Outcome == SectionOutcome.Refused);

    /// <summary>
    /// The guest-physical ranges (whole host pages) a passthrough device could not reach by DMA under the policy although
    /// vfio maps them without a workaround: the sections bypass_ro skips, adjacent ones merged. Empty when the VMM does not
    /// start at all (<see cref="Refused"/>).
    /// </summary>
    public IReadOnlyList<(ulong Start, ulong Last)> Unreachable
    {
        get
        {
            var ranges = new List<(ulong Start, ulong Last)>();
            if (Refused) return ranges;
            foreach (SectionVerdict s in Sections)
            {
                if (s.Outcome != SectionOutcome.Bypassed) continue;
                ulong last = s.Plan.Iova + (s.Plan.Size - 1);
                if (ranges.Count > 0 && ranges[^1].Last + 1 == s.Plan.Iova) ranges[^1] = (ranges[^1].Start, last);
                else ranges.Add((s.Plan.Iova, last));
            }
            return ranges;
        }
    }

    /// <summary>The analysis of <paramref name="map"/>'s system memory under <paramref name="policy"/>; null if the map has none.</summary>
    public static MapAnalysis? Analyze(ImportedMemoryMap map, ErratumPolicy policy)
    {
        ArgumentNullException.ThrowIfNull(map);
        if (map.Build()?.AddressSpaces.FirstOrDefault(a => a.Name == ImportedMemoryMap.SystemMemoryName) is not { } memory) return null;
        bool nestParent = policy != ErratumPolicy.Qemu72, bypassRo = policy == ErratumPolicy.Qemu11;
        var verdicts = new List<SectionVerdict>(memory.Sections.Count);
        foreach (MemorySection s in memory.Sections)
        {
            // As QEMU 7.2 maps it (no nest parent, no bypass): what vfio maps and with which permission.
            VfioSectionPlan plain = VfioContainer.Plan(s, bypassRo: false, ErratumPolicy.Qemu72);
            bool mapsReadOnly = plain.Verdict == VfioSectionVerdict.Map && plain.ReadOnly;
            bool bypassSkips = VfioContainer.Plan(s, bypassRo: true, ErratumPolicy.Qemu11).Verdict == VfioSectionVerdict.BypassedReadOnly
                               && plain.Verdict == VfioSectionVerdict.Map;
            VfioSectionPlan underPolicy = VfioContainer.Plan(s, bypassRo, policy);
            SectionOutcome outcome = underPolicy.Verdict switch
            {
                VfioSectionVerdict.Map when underPolicy.ReadOnly => nestParent ? SectionOutcome.Refused : SectionOutcome.MappedReadOnly,
                VfioSectionVerdict.Map => s.ReadOnly ? SectionOutcome.MappedWritable : SectionOutcome.MappedReadWrite,
                VfioSectionVerdict.BypassedReadOnly when plain.Verdict == VfioSectionVerdict.Map => SectionOutcome.Bypassed,
                _ => SectionOutcome.NotMapped,
            };
            verdicts.Add(new SectionVerdict(s, plain, mapsReadOnly, bypassSkips, outcome));
        }
        return new MapAnalysis(map.File, policy, map.SystemFlatView is not null, verdicts);
    }
}
