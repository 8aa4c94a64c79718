using VtdSim.Scenarios.Model;
using VtdSim.Scenarios.Running;
using VtdSim.Vmm.Vfio;

namespace VtdSim.Report;

/// <summary>Turns what the commands produce (scenario runs, a memory-map analysis) into report parts.</summary>
public static class ReportBuilder
{
    /// <summary>A report of scenario runs made with <c>record: true</c> (the walks and memory maps are then in the run).</summary>
    public static ReportDocument FromScenarios(IReadOnlyList<ScenarioRun> runs)
    {
        ArgumentNullException.ThrowIfNull(runs);
        string title = runs.Count == 1 ? runs[0].Scenario.Name : $"{runs.Count} scenarios";
        return new ReportDocument(title, [.. runs.Select(Part)]);
    }

    /// <summary>One run as a part: memory maps, walks, the timeline of levels and steps, the verdicts.</summary>
    public static ReportPart Part(ScenarioRun run)
    {
        ArgumentNullException.ThrowIfNull(run);
        Scenario s = run.Scenario;
        var levels = new List<(string, string)> { ("host", "L0") };
        void Add(IReadOnlyList<VmmSpec> vmms, int depth)
        {
            foreach (VmmSpec v in vmms)
            {
                levels.Add((v.Name, $"L{depth}"));
                Add(v.Guest.Vmms, depth + 1);
            }
        }
        Add(s.Vmms, 1);
        int failed = run.Verdicts.Count(v => !v.Pass);
        var summary = new List<string>
        {
            $"file {s.File}",
            failed == 0 ? $"PASS: all {run.Verdicts.Count} expectations hold" : $"FAIL: {failed} of {run.Verdicts.Count} expectations do not hold",
        };
        if (s.Description is { Length: > 0 } d) summary.Add(d.Trim());
        return new ReportPart
        {
            Title = s.Name,
            Summary = summary,
            MemoryMaps = [.. run.MemoryMaps.Select(m => new MemoryMapView(
                $"{m.Vmm}: system memory (\"memory\")",
                $"as the VMM had it after the last step in which it was running or failed to start ({m.State}); erratum-policy {m.Policy}",
                m.Sections))],
            Walks = [.. run.Events.Where(e => e.Walk is not null).Select(e => e.Walk!)],
            Levels = levels,
            Steps = [.. run.Steps.Select(o => new TimelineStep(o.Index, o.Step.Describe(), o.Status.ToString().ToLowerInvariant()))],
            // The walks have their grids; the timeline keeps the rest in order.
            Timeline = [.. run.Events.Where(e => e.Kind != "walk").Select(e => new TimelineEntry(e.Step < 0 || e.Step >= run.Steps.Count ? -1 : e.Step, e.Level, e.Kind, e.Text))],
            Verdicts = [.. run.Verdicts.Select(v => new VerdictView(v.Pass, $"{(v.Step < 0 ? "end" : $"step {v.Step + 1}")}, line {v.Expect.Spot.Line}", v.Expect.Describe(), v.Reason))],
        };
    }

    /// <summary>The memory map part of `vtdsim analyze mtree`: the system memory's sections with what vfio does under the policy.</summary>
    public static ReportDocument FromMapAnalysis(MapAnalysis analysis, string policyName)
    {
        ArgumentNullException.ThrowIfNull(analysis);
        var sections = analysis.Sections.Select(v => new MapSection(v.Start, v.Last, v.Type, v.Region, v.ReadOnly, Status(v.Outcome), Detail(v))).ToList();
        var summary = new List<string>
        {
            $"file {analysis.File}; sections from {(analysis.FromFlatView ? "QEMU's own flat view" : "the model's rendering of the imported trees")}",
            $"under {policyName} with a vIOMMU that wants nesting (x-flts=on) on an erratum host",
        };
        if (analysis.Refused) summary.Add($"the VMM does not start: the kernel refuses {analysis.FirstRefused!.Region} (EINVAL)");
        var unreachable = analysis.Unreachable;
        if (unreachable.Count > 0) summary.Add("a passthrough device can no longer reach by DMA: " + string.Join(", ", unreachable.Select(u => $"0x{u.Start:x}-0x{u.Last:x}")));
        var part = new ReportPart
        {
            Title = $"{analysis.File}: system memory",
            Summary = summary,
            MemoryMaps = [new MemoryMapView($"{analysis.File}: system memory (\"memory\")", $"erratum-policy {policyName}", sections)],
        };
        return new ReportDocument($"Memory map of {analysis.File}", [part]);
    }

    private static MapStatus Status(SectionOutcome o) => o switch
    {
        SectionOutcome.MappedReadWrite => MapStatus.MappedReadWrite,
        SectionOutcome.MappedReadOnly => MapStatus.MappedReadOnly,
        SectionOutcome.MappedWritable => MapStatus.MappedWritable,
        SectionOutcome.Refused => MapStatus.Refused,
        SectionOutcome.Bypassed => MapStatus.Bypassed,
        _ => MapStatus.NotMapped,
    };

    private static string Detail(SectionVerdict v)
    {
        if (v.Plan.Verdict != VfioSectionVerdict.Map) return VmmMemoryMap.SkipReason(v.Plan.Verdict, v.Type);
        string plain = v.Plan.ReadOnly ? "vfio maps it READ only" : "vfio maps it READ|WRITE";
        if (v.NestParentRefuses) plain += "; a nest parent refuses it (EINVAL)";
        if (v.BypassRoSkips) plain += "; bypass_ro skips it";
        return plain;
    }
}
