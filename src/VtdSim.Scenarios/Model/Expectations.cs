namespace VtdSim.Scenarios.Model;

/// <summary>
/// What a scenario expects: on a step, of what that step did; at the end (`expect:` of the scenario), of the whole run.
/// </summary>
public abstract record ExpectSpec(SourceSpot Spot)
{
    /// <summary>The expectation's key in the file.</summary>
    public abstract string Kind { get; }

    /// <summary>The expectation in words, for the verdict.</summary>
    public abstract string Describe();
}

/// <summary>`vm: {vmm, state}` — the VMM's state: running, failed (did not start), aborted, stopped.</summary>
public sealed record VmStateExpect(string Vmm, string State, SourceSpot Spot) : ExpectSpec(Spot)
{
    public override string Kind => "vm";
    public override string Describe() => $"{Vmm} is {State}";
}

/// <summary>`errno: NAME` — a call of the step (or of the run) returned this errno (`none`: every call succeeded).</summary>
public sealed record ErrnoExpect(string Errno, SourceSpot Spot) : ExpectSpec(Spot)
{
    public override string Kind => "errno";
    public override string Describe() => Errno == "none" ? "no call fails" : $"a call fails with {Errno}";
}

/// <summary>
/// `fault: {reason, at}` — a DMA faulted with this reason (a code such as 0x77 or a condition name such as SFS.8; `any`),
/// optionally at a level; `fault: none` — no DMA faulted.
/// </summary>
public sealed record FaultExpect(string Reason, string? At, SourceSpot Spot) : ExpectSpec(Spot)
{
    public override string Kind => "fault";
    public override string Describe() => Reason == "none" ? "no DMA faults" : $"a DMA faults with {Reason}" + (At is null ? "" : $" at {At}");
}

/// <summary>`dma: completed` — every DMA of the step completed.</summary>
public sealed record DmaCompletedExpect(SourceSpot Spot) : ExpectSpec(Spot)
{
    public override string Kind => "dma";
    public override string Describe() => "the DMA completes";
}

/// <summary>
/// `log: {at, from, contains | equals, absent}` — a line of a log: the host kernel's (`at: host`), a guest kernel's
/// (`at: VMM, from: kernel`) or a VMM's stderr (`at: VMM, from: qemu`).
/// </summary>
public sealed record LogExpect(string At, string From, string Text, bool Exact, bool Absent, SourceSpot Spot) : ExpectSpec(Spot)
{
    public override string Kind => "log";
    public override string Describe() =>
        $"{(From == "qemu" ? $"{At}'s QEMU" : At == "host" ? "the host kernel" : $"{At}'s guest kernel")} {(Absent ? "does not print" : "prints")} a line {(Exact ? "equal to" : "containing")} \"{Text}\"";
}

/// <summary>
/// `memory: {at, address, size, equals | changed | unchanged}` — bytes at an address of a level (a host physical
/// address, or a VMM's guest-physical address). On a step, changed/unchanged compare with the bytes before the step;
/// at the end, with the bytes before the first step.
/// </summary>
public sealed record MemoryExpect(string At, ulong Address, int Size, byte[]? EqualBytes, bool? Changed, SourceSpot Spot) : ExpectSpec(Spot)
{
    public override string Kind => "memory";
    public override string Describe() =>
        $"0x{Size:x} bytes at {At} 0x{Address:x} " + (EqualBytes is { } b ? $"are {Convert.ToHexString(b).ToLowerInvariant()}" : Changed == true ? "change" : "stay unchanged");
}

/// <summary>`guest-table-write: {vmm, gpa, count}` — the host IOMMU wrote a guest's first-stage table in read-only memory (the erratum).</summary>
public sealed record GuestTableWriteExpect(string Vmm, ulong? Gpa, int? Count, SourceSpot Spot) : ExpectSpec(Spot)
{
    public override string Kind => "guest-table-write";
    public override string Describe() =>
        Count == 0 ? $"the host IOMMU writes no read-only guest table of {Vmm}"
        : $"the host IOMMU writes {(Count is int c ? $"{c} time(s)" : "")} into a read-only guest table of {Vmm}" + (Gpa is ulong g ? $" at GPA 0x{g:x}" : "");
}

/// <summary>`event: {at, kind, contains, absent}` — any event of the run's list (for what the typed expectations do not name).</summary>
public sealed record EventExpect(string? At, string? EventKind, string Text, bool Absent, SourceSpot Spot) : ExpectSpec(Spot)
{
    public override string Kind => "event";
    public override string Describe() =>
        $"{(Absent ? "no" : "an")} event{(EventKind is null ? "" : $" of kind {EventKind}")}{(At is null ? "" : $" at {At}")} containing \"{Text}\"";
}
