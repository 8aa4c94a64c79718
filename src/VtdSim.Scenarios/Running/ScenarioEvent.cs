using VtdSim.Scenarios.Model;

namespace VtdSim.Scenarios.Running;

/// <summary>
/// One thing that happened during a run, at a level (`host` or a VMM's name): a log line, a call's result, a DMA and
/// its fault, a write of the erratum into a read-only guest table, a binding change. <see cref="Step"/> is the index of
/// the step it happened in.
/// </summary>
public sealed record ScenarioEvent(int Step, string Level, string Kind, string Text)
{
    /// <summary>The event kinds, as `event: {kind: …}` names them.</summary>
    public static readonly string[] Kinds = ["vmm", "kernel-log", "qemu-log", "action", "iommufd", "dma", "fault", "walk", "guest-table-write", "binding", "file-read", "refused", "viommu", "error"];

    /// <summary>The errno of an `iommufd` call (EINVAL…, or "0" for success).</summary>
    public string? Errno { get; init; }

    /// <summary>A fault's reason code (0x79) and condition name (SSS.2).</summary>
    public byte? FaultCode { get; init; }

    public string? FaultCondition { get; init; }

    /// <summary>The guest-physical address a guest-table write hit.</summary>
    public ulong? Gpa { get; init; }

    /// <summary>Whether a DMA completed (null for other kinds).</summary>
    public bool? Completed { get; init; }

    /// <summary>A `walk` reference's unit: `host` (the host IOMMU) or `viommu` (the vIOMMU of the event's level).</summary>
    public string? WalkUnit { get; init; }

    /// <summary>A `walk` reference's structure: root, context, pasid-directory, pasid, first-stage, second-stage.</summary>
    public string? WalkStage { get; init; }

    /// <summary>A `walk` reference's access: read, a/d (an Accessed/Dirty update), a/d-erratum (one the erratum made in read-only memory).</summary>
    public string? WalkAccess { get; init; }

    /// <summary>A paging `walk` reference's table level (4 for a 4-level table's top; 0 for the root, context and PASID structures).</summary>
    public int? WalkEntryLevel { get; init; }

    /// <summary>A second-stage `walk` reference of a nested walk: the first-stage level whose table GPA it translates (0: the final GPA).</summary>
    public int? WalkForFirstStageLevel { get; init; }

    /// <summary>A `walk` reference's entry as read (before an A/D update).</summary>
    public ulong? WalkValue { get; init; }

    /// <summary>A `dma` event's walk in the host IOMMU, when the run records walks for a report (not part of the JSON).</summary>
    public DmaWalk? Walk { get; init; }
}

/// <summary>The verdict on one expectation: where it was written, whether it holds, and why.</summary>
public sealed record Verdict(int Step, ExpectSpec Expect, bool Pass, string Reason)
{
    public override string ToString() => $"{(Pass ? "PASS" : "FAIL")} {Expect.Describe()}: {Reason}";
}

public enum StepStatus
{
    Done,
    Error,
    Skipped,
}

/// <summary>A step as it ran: done, stopped by an error (the run stops there), or skipped after an error.</summary>
public sealed record StepOutcome(int Index, StepSpec Step, StepStatus Status);

/// <summary>A whole run: the steps, every event, every verdict.</summary>
public sealed record ScenarioRun(Scenario Scenario, IReadOnlyList<StepOutcome> Steps, IReadOnlyList<ScenarioEvent> Events, IReadOnlyList<Verdict> Verdicts)
{
    public bool Passed => Verdicts.All(v => v.Pass);

    /// <summary>Each VMM's memory map, in the file's order, when the run records them for a report; else empty.</summary>
    public IReadOnlyList<VmmMemoryMap> MemoryMaps { get; init; } = [];
}
