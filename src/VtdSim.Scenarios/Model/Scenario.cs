namespace VtdSim.Scenarios.Model;

/// <summary>Where a node of a scenario file is: its line and column (1-based) and its field path (`steps[3].dma.address`).</summary>
public readonly record struct SourceSpot(int Line, int Column, string Path)
{
    public override string ToString() => $"{Line}:{Column}";
}

/// <summary>
/// One scenario file: the host, the VMMs on it (each with its guest, which may run VMMs of its own), the steps to run
/// and what is expected (docs/scenarios.md).
/// </summary>
public sealed record Scenario(
    string File,
    string Name,
    string Description,
    HostSpec Host,
    IReadOnlyList<VmmSpec> Vmms,
    IReadOnlyList<StepSpec> Steps,
    IReadOnlyList<ExpectSpec> Expect)
{
    /// <summary>`question:` — the question of the seed thread the scenario answers, as the demo's tour shows it (optional).</summary>
    public string Question { get; init; } = "";

    /// <summary>Every VMM of the scenario, depth first (L1s in file order, each followed by the VMMs of its guest).</summary>
    public IEnumerable<VmmSpec> AllVmms() => Vmms.SelectMany(v => v.SelfAndDescendants());
}

/// <summary>The kernel options of a host or a guest (Linux's intel_iommu= switches and the erratum rule of 6.7).</summary>
public sealed record KernelSpec(bool IntelIommu = true, bool ScalableMode = true, bool ErratumRule = true)
{
    /// <summary>The kernel command line these options are (what the kernel logs and parses).</summary>
    public string CommandLine => IntelIommu ? (ScalableMode ? "intel_iommu=on,sm_on" : "intel_iommu=on,sm_off") : "intel_iommu=off";
}

/// <summary>A PCI function of the host that VMMs may pass through, named for the steps.</summary>
public sealed record HostDeviceSpec(string Id, byte Bus, byte Device, byte Function, SourceSpot Spot);

/// <summary>
/// A file of the host kernel's tmpfs (`host.files`): made before anything runs, <see cref="Size"/> bytes of zeros with
/// <see cref="Data"/> at <see cref="Offset"/>, for VMMs to map with `-object memory-backend-file,mem-path=PATH` (S60).
/// </summary>
public sealed record HostFileSpec(string Path, ulong Size, ulong Offset, byte[] Data, SourceSpot Spot);

/// <summary>The host: its VT-d unit (a built-in profile, optionally with CAP/ECAP overridden), memory, functions and kernel.</summary>
public sealed record HostSpec(string Profile, ulong? Cap, ulong? Ecap, ulong Memory, IReadOnlyList<HostDeviceSpec> Devices, KernelSpec Kernel, SourceSpot Spot)
{
    /// <summary>`files:` — files of the host kernel's tmpfs, in file order.</summary>
    public IReadOnlyList<HostFileSpec> Files { get; init; } = [];
}

public enum DeviceKind
{
    /// <summary>`-device vfio-pci`: a function of the level below (the host's, or for an L2 VMM one its guest has).</summary>
    Passthrough,
    /// <summary>`-device edu` (QEMU 7.2's).</summary>
    Edu,
    /// <summary>`-device iommu-testdev`.</summary>
    IommuTestdev,
    /// <summary>`-device intel-iommu` with its properties.</summary>
    IntelIommu,
    /// <summary>`-device nvdimm` with its properties: a memory device (not a PCI function), its memory a backend's (S62).</summary>
    Nvdimm,
}

/// <summary>One `-object memory-backend-file` of a VMM: its QEMU option text (the properties after the type).</summary>
public sealed record ObjectSpec(string Properties, SourceSpot Spot)
{
    /// <summary>The option's text after `-object `.</summary>
    public string Text => "memory-backend-file" + (Properties.Length > 0 ? "," + Properties : "");
}

/// <summary>One `-device` of a VMM: its kind, the id steps name it by, and its QEMU option text (properties).</summary>
public sealed record DeviceSpec(DeviceKind Kind, string Id, string Properties, SourceSpot Spot);

/// <summary>A guest: the kernel it boots and the VMMs it runs (L2, recursively).</summary>
public sealed record GuestSpec(KernelSpec Kernel, IReadOnlyList<VmmSpec> Vmms);

/// <summary>A VMM (QEMU-like) and its guest.</summary>
public sealed record VmmSpec(
    string Name,
    string Machine,
    ulong Memory,
    bool Defaults,
    bool Booted,
    string ErratumPolicy,
    string RamBackend,
    IReadOnlyList<DeviceSpec> Devices,
    GuestSpec Guest,
    SourceSpot Spot)
{
    /// <summary>`objects:` — the VMM's `-object memory-backend-file` options, in command-line order (S61).</summary>
    public IReadOnlyList<ObjectSpec> Objects { get; init; } = [];

    public IEnumerable<VmmSpec> SelfAndDescendants() => new[] { this }.Concat(Guest.Vmms.SelectMany(v => v.SelfAndDescendants()));
}
