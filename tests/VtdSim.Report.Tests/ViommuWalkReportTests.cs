using System.Text.RegularExpressions;
using VtdSim.Hardware.Tracing;
using VtdSim.Report.Tests.Support;
using VtdSim.Scenarios.Running;

namespace VtdSim.Report.Tests;

/// <summary>An emulated device's DMA through a vIOMMU: the walk the vIOMMU does in guest memory, as a grid of its own (V62).</summary>
public class ViommuWalkReportTests
{
    private static ScenarioRun Edu() => ScenarioRunner.Run(BuiltIn.Parse("edu.yaml", Support.Scenarios.EduUnderViommu), record: true);

    [Fact]
    public void AnEmulatedDevicesDmaKeepsTheViommusWalk()
    {
        ScenarioRun run = Edu();
        Assert.True(run.Passed, string.Join("\n", run.Verdicts));
        var walks = run.Events.Where(e => e.Kind == "dma").Select(e => e.Walk!).ToList();
        Assert.Equal(3, walks.Count);
        Assert.All(walks, w => Assert.Equal("vm0", w.Viommu));
        // The first write: nothing cached, so the vIOMMU reads root, context, PASID directory and PASID entry, then the
        // guest's four first-stage levels (an x-flts vIOMMU offers a first stage only): a one-column grid.
        DmaWalk first = walks[0];
        Assert.Equal([TraceStage.RootTable, TraceStage.ContextTable, TraceStage.PasidDirectory, TraceStage.PasidTable,
            TraceStage.FirstStage, TraceStage.FirstStage, TraceStage.FirstStage, TraceStage.FirstStage], first.References.Select(r => r.Stage));
        Assert.Equal(WalkShape.FirstStageOnly, WalkGrid.Of(first).Shape);
        // Its structures are read back from vm0's memory (256 MiB by default: every address is below it), not the host's.
        Assert.All(first.References, r => Assert.True(r.Address.Value < 256UL << 20, $"0x{r.Address.Value:x}"));
        Assert.Contains(first.Structures, s => s.Stage == TraceStage.PasidTable && s.Qwords[0] != 0);
        // The second DMA is answered by the vIOMMU's IOTLB; the third faults SFS.9 on the leaf the guest cleared Dirty in.
        Assert.DoesNotContain(walks[1].References, r => r.Stage == TraceStage.FirstStage);
        Assert.Equal("SFS.9", walks[2].Fault?.Condition);
        Assert.NotEqual(0, WalkGrid.Of(walks[2]).FaultingNumber);
    }

    [Fact]
    public void RecordingTheViommusWalkChangesNoEvent()
    {
        var scenario = BuiltIn.Parse("edu.yaml", Support.Scenarios.EduUnderViommu);
        ScenarioRun plain = ScenarioRunner.Run(scenario), recorded = ScenarioRunner.Run(scenario, record: true);
        Assert.Equal(ScenarioJson.Write([plain]), ScenarioJson.Write([recorded]));
        Assert.DoesNotContain(recorded.Events, e => e.Kind == "walk");
    }

    [Fact]
    public void TheViommusWalkIsItsOwnGridTaggedWithItsLevel()
    {
        ScenarioRun run = Edu();
        string html = HtmlReport.Render(ReportBuilder.FromScenarios([run]));
        var articles = Regex.Matches(html, "<article class=\"walk viommu\"[^>]*data-unit=\"viommu\" data-level=\"L1\">[\\s\\S]*?</article>");
        Assert.Equal(3, articles.Count);
        Assert.DoesNotContain("data-unit=\"host\"", html, StringComparison.Ordinal);
        string first = articles[0].Value;
        Assert.Contains("<span class=\"unit lv-l1\">L1 · vIOMMU (emulated)</span>", first, StringComparison.Ordinal);
        Assert.Contains("in vm0&#39;s vIOMMU (emulated) as the specification draws it (first stage only, L4–L1: one column)", first, StringComparison.Ordinal);
        Assert.Contains("<th scope=\"col\">address (vm0&#39;s GPA)</th>", first, StringComparison.Ordinal);
        // Each reference numbered once in the grid; the faulting leaf of the third DMA named with its condition.
        string grid = Regex.Match(first, "<table class=\"grid\">[\\s\\S]*?</table>").Value;
        Assert.Equal(Enumerable.Range(1, 8), Regex.Matches(grid, "data-n=\"(\\d+)\"").Select(m => int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture)).Order());
        Assert.Contains("✖ FAULT SFS.9", articles[2].Value, StringComparison.Ordinal);
        // The structures section names them in vm0's memory, not at host addresses.
        Assert.Contains("root entry at GPA 0x", html, StringComparison.Ordinal);
        Assert.Contains(" in vm0&#39;s memory (vIOMMU)", html, StringComparison.Ordinal);
        Assert.DoesNotContain("root entry at HPA", html, StringComparison.Ordinal);
    }

    [Fact]
    public void AnEmulatedDeviceInAnL2GuestIsTaggedL2()
    {
        const string yaml = """
            name: edu in L2 under L1's VMM's vIOMMU
            vmms:
              - name: l1
                memory: 512M
                devices: [ { intel-iommu: "x-scalable-mode=on,x-flts=on,caching-mode=on" } ]
                guest:
                  vmms:
                    - name: l2
                      memory: 64M
                      devices: [ { intel-iommu: "x-scalable-mode=on,caching-mode=on" }, { edu: "" } ]
            steps:
              - start: l1
              - boot: l1
              - start: l2
              - boot: l2
              - map: { vmm: l2, device: edu, iova: 0x1000000, size: 0x1000 }
              - dma: { at: l2, device: edu, address: 0x1000010, access: write, data: "aabbccdd" }
                expect: [ { dma: completed } ]
            """;
        ScenarioRun run = ScenarioRunner.Run(BuiltIn.Parse("l2.yaml", yaml), record: true);
        Assert.True(run.Passed, string.Join("\n", run.Verdicts) + "\n" + string.Join("\n", run.Events.Select(e => $"{e.Level} {e.Kind}: {e.Text}")));
        DmaWalk walk = run.Events.Single(e => e.Kind == "dma").Walk!;
        Assert.Equal("l2", walk.Viommu);
        Assert.NotEmpty(walk.References);
        string html = HtmlReport.Render(ReportBuilder.FromScenarios([run]));
        Assert.Contains("data-unit=\"viommu\" data-level=\"L2\">", html, StringComparison.Ordinal);
        Assert.Contains("<span class=\"unit lv-l2\">L2 · vIOMMU (emulated)</span>", html, StringComparison.Ordinal);
    }
}
