namespace VtdSim.Scenarios.Model;

/// <summary>One step of a scenario, with the expectations checked against what that step did.</summary>
public abstract record StepSpec(SourceSpot Spot)
{
    public IReadOnlyList<ExpectSpec> Expect { get; init; } = [];

    /// <summary>The step's key in the file (`start`, `dma`, …).</summary>
    public abstract string Kind { get; }

    /// <summary>A short description for the timeline.</summary>
    public abstract string Describe();
}

/// <summary>`start: VMM` — the VMM process starts on the kernel of its level (the host's, or its parent's guest's).</summary>
public sealed record StartStep(string Vmm, SourceSpot Spot) : StepSpec(Spot)
{
    public override string Kind => "start";
    public override string Describe() => $"start {Vmm}";
}

/// <summary>`boot: VMM` — the guest kernel boots on the VMM's guest machine with the guest's kernel options.</summary>
public sealed record BootStep(string Vmm, SourceSpot Spot) : StepSpec(Spot)
{
    public override string Kind => "boot";
    public override string Describe() => $"boot the guest kernel of {Vmm}";
}

/// <summary>`kexec: {vmm, kernel}` — the running guest kernel turns DMA remapping off and a new one boots with other options.</summary>
public sealed record KexecStep(string Vmm, KernelSpec Kernel, SourceSpot Spot) : StepSpec(Spot)
{
    public override string Kind => "kexec";
    public override string Describe() => $"kexec the guest of {Vmm} into \"{Kernel.CommandLine}\"";
}

/// <summary>`quit: VMM` — the VMM quits.</summary>
public sealed record QuitStep(string Vmm, SourceSpot Spot) : StepSpec(Spot)
{
    public override string Kind => "quit";
    public override string Describe() => $"quit {Vmm}";
}

/// <summary>
/// `map: {vmm, device, iova, size, access}` — a process of the guest of <see cref="Vmm"/> maps a buffer of its own
/// for the device through the guest kernel's iommufd (bind, IOAS, attach the first time), at a fixed IOVA.
/// </summary>
public sealed record MapStep(string Vmm, string Device, ulong Iova, ulong Size, bool Writable, SourceSpot Spot) : StepSpec(Spot)
{
    public override string Kind => "map";
    public override string Describe() => $"{Vmm}: IOMMU_IOAS_MAP 0x{Iova:x} +0x{Size:x} {(Writable ? "read-write" : "read-only")} for {Device}";
}

/// <summary>`unmap: {vmm, device, iova, size}` — IOMMU_IOAS_UNMAP through the same iommufd.</summary>
public sealed record UnmapStep(string Vmm, string Device, ulong Iova, ulong Size, SourceSpot Spot) : StepSpec(Spot)
{
    public override string Kind => "unmap";
    public override string Describe() => $"{Vmm}: IOMMU_IOAS_UNMAP 0x{Iova:x} +0x{Size:x} for {Device}";
}

/// <summary>
/// `first-stage-at: {vmm, device, gpa}` — the guest copies the top-level first-stage table of the device's PASID entry
/// to <see cref="Gpa"/> (opening PAM for writing there, as SeaBIOS does to shadow a ROM, and closing it again), points
/// the PASID entry at it and — unless `invalidate: off` — invalidates the PASID cache and PASID-IOTLB of its domain.
/// </summary>
public sealed record FirstStageAtStep(string Vmm, string Device, ulong Gpa, bool Invalidate, SourceSpot Spot) : StepSpec(Spot)
{
    public override string Kind => "first-stage-at";
    public override string Describe() => $"{Vmm}: the guest moves {Device}'s first-stage root table to GPA 0x{Gpa:x}";
}

/// <summary>`invalidate: {vmm, device}` — the guest invalidates the PASID cache and PASID-IOTLB of the device's domain.</summary>
public sealed record InvalidateStep(string Vmm, string Device, SourceSpot Spot) : StepSpec(Spot)
{
    public override string Kind => "invalidate";
    public override string Describe() => $"{Vmm}: the guest invalidates the PASID cache and IOTLB of {Device}'s domain";
}

/// <summary>
/// `dma: {at, device, address, access, size, data}` — a device DMAs at a level: `host` (a host function through the
/// host IOMMU) or a VMM's name (a function of its guest: emulated through the vIOMMU, passthrough to the host).
/// </summary>
public sealed record DmaStep(string At, string Device, ulong Address, bool Write, int Size, byte[] Data, SourceSpot Spot) : StepSpec(Spot)
{
    public override string Kind => "dma";
    public override string Describe() => $"{At}: {Device} DMA {(Write ? "write" : "read")} 0x{Size:x} bytes at 0x{Address:x}";
}

/// <summary>`host-file-read: {vmm, offset, size}` — a second host process maps the VMM's guest-RAM file (memfd) and reads it.</summary>
public sealed record HostFileReadStep(string Vmm, ulong Offset, int Size, SourceSpot Spot) : StepSpec(Spot)
{
    /// <summary>`path:` — a file of the host's files instead of a VMM's guest-RAM file (then <see cref="Vmm"/> is empty).</summary>
    public string? Path { get; init; }

    public override string Kind => "host-file-read";
    public override string Describe() => Path is { } path
        ? $"host: a process maps {path} and reads 0x{Size:x} bytes at offset 0x{Offset:x}"
        : $"host: another process maps {Vmm}'s guest-RAM file and reads 0x{Size:x} bytes at offset 0x{Offset:x}";
}

/// <summary>
/// `hwpt-alloc: {vmm, device, flags}` — a process of the guest asks its kernel's iommufd for a paging HWPT for the device
/// (IOMMU_HWPT_ALLOC) with these flags (`none`, `nest-parent`, `dirty-tracking`): what a VMM in that guest asks for.
/// </summary>
public sealed record HwptAllocStep(string Vmm, string Device, string Flags, SourceSpot Spot) : StepSpec(Spot)
{
    public override string Kind => "hwpt-alloc";
    public override string Describe() => $"{Vmm}: IOMMU_HWPT_ALLOC for {Device} with flags {Flags}";
}

/// <summary>`hot-add: {vmm, id, gpa, size}` — the VMM hot-adds RAM (a pc-dimm, QEMU's device_add) at a guest-physical address.</summary>
public sealed record HotAddStep(string Vmm, string Id, ulong Gpa, ulong Size, SourceSpot Spot) : StepSpec(Spot)
{
    public override string Kind => "hot-add";
    public override string Describe() => $"{Vmm}: hot-add 0x{Size:x} bytes of RAM '{Id}' at GPA 0x{Gpa:x}";
}

/// <summary>
/// `move-bar: {vmm, device, address}` — the guest programs the memory BAR of a device of its bus (a passthrough
/// device's BAR 0, or an emulated device's first memory BAR) to an address, or takes it out (`address: none`).
/// </summary>
public sealed record MoveBarStep(string Vmm, string Device, ulong? Address, SourceSpot Spot) : StepSpec(Spot)
{
    public override string Kind => "move-bar";
    public override string Describe() => $"{Vmm}: the guest {(Address is ulong a ? $"moves {Device}'s BAR to 0x{a:x}" : $"takes {Device}'s BAR out of the memory map")}";
}

/// <summary>`pam: {vmm, segment, mode}` — the guest sets a PAM segment of the chipset (`pci`, `read-only`, `write-only`, `read-write`).</summary>
public sealed record PamStep(string Vmm, int Segment, string Mode, SourceSpot Spot) : StepSpec(Spot)
{
    public override string Kind => "pam";
    public override string Describe() => $"{Vmm}: the guest sets PAM segment {Segment} to {Mode}";
}

/// <summary>
/// `table-entry: {vmm, device, iova, level, set, clear, invalidate}` — fault injection: the guest sets and clears bits
/// in the first-stage entry at <see cref="Level"/> that translates <see cref="Iova"/> for the device (PASID entry 0's
/// tables, as the guest's own walk finds it) — reserved bits, a cleared Present or R/W bit — and, unless
/// `invalidate: off`, invalidates the PASID cache and PASID-IOTLB of its domain.
/// </summary>
public sealed record TableEntryStep(string Vmm, string Device, ulong Iova, int Level, ulong Set, ulong Clear, bool Invalidate, SourceSpot Spot) : StepSpec(Spot)
{
    public override string Kind => "table-entry";
    public override string Describe() => $"{Vmm}: the guest sets 0x{Set:x} and clears 0x{Clear:x} in {Device}'s first-stage L{Level} entry for IOVA 0x{Iova:x}";
}

/// <summary>
/// `register-write: {vmm, offset, size, value}` — fault injection: a guest CPU store of <see cref="Size"/> bytes to the
/// vIOMMU's register page at <see cref="Offset"/> (any value, aligned or not: the vIOMMU decides what it does with it).
/// </summary>
public sealed record RegisterWriteStep(string Vmm, ulong Offset, int Size, ulong Value, SourceSpot Spot) : StepSpec(Spot)
{
    public override string Kind => "register-write";
    public override string Describe() => $"{Vmm}: the guest writes 0x{Value:x} ({Size} bytes) to its vIOMMU's register page at offset 0x{Offset:x}";
}
