using System.Text.RegularExpressions;
using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Faults;
using VtdSim.Hardware.Tracing;
using VtdSim.Hardware.Translation;
using VtdSim.Report.Tests.Support;
using VtdSim.Scenarios.Running;
using VtdSim.Vmm.Memory.Import;
using VtdSim.Vmm.Vfio;

namespace VtdSim.Report.Tests;

/// <summary>What the report says in the cases the built-in scenarios do not reach: each policy's map, an unfinished walk, a stopped run.</summary>
public class RenderingTests
{
    private static MapAnalysis Analysis(ErratumPolicy policy)
    {
        string path = Path.Combine(AppContext.BaseDirectory, "captures", "q35-4g-booted.info-mtree-f.txt");
        Assert.True(MtreeParser.TryParse(File.ReadAllText(path), "q35.txt", out ImportedMemoryMap? map, out _));
        return MapAnalysis.Analyze(map!, policy)!;
    }

    [Theory]
    [InlineData(ErratumPolicy.Qemu72, "RO", "st-ro")]
    [InlineData(ErratumPolicy.Qemu11, "SKIP", "st-by")]
    [InlineData(ErratumPolicy.WantsNestingMapsRo, "EINVAL", "st-rf")]
    [InlineData(ErratumPolicy.NeverRo, "RW!", "st-wr")]
    public void EachPolicysMapMarksTheReadOnlySectionsItsOwnWay(ErratumPolicy policy, string code, string swatch)
    {
        MapAnalysis a = Analysis(policy);
        string html = HtmlReport.Render(ReportBuilder.FromMapAnalysis(a, policy.Name()));
        int readOnly = a.Sections.Count(s => s.NestParentRefuses);
        Assert.Equal(4, readOnly); // the VGA BIOS, the BIOS shadowed in RAM (two pieces) and the BIOS ROM (docs/analyze.md)
        // Each policy treats the four alike (refused: each would be; the summary names the first, where the VMM stops).
        int marked = Regex.Matches(html, $"<span class=\"swatch {swatch}\"></span> <b>{Regex.Escape(System.Net.WebUtility.HtmlEncode(code))}</b>").Count;
        Assert.Equal(readOnly, marked);
        Assert.Equal(policy == ErratumPolicy.WantsNestingMapsRo, html.Contains("the VMM does not start: the kernel refuses pc.ram (EINVAL)", StringComparison.Ordinal));
        Assert.Equal(policy == ErratumPolicy.Qemu11, html.Contains("a passthrough device can no longer reach by DMA: 0xc0000-0xcbfff", StringComparison.Ordinal));
        // Each mapped section says how vfio maps it, and what a nest parent and bypass_ro would do with it.
        Assert.Contains("vfio maps it READ only; a nest parent refuses it (EINVAL); bypass_ro skips it", html, StringComparison.Ordinal);
        Assert.Contains("vfio maps it READ|WRITE", html, StringComparison.Ordinal);
    }

    private static DmaWalk Walk(IReadOnlyList<MemoryReference> refs, DmaFault? fault, bool completed) =>
        new("host: nic DMA read", new SourceId(0, 4, 0), 0x1000, false, 4, refs, [], fault, completed);

    private static DmaFault Fault(FaultReason reason, Hpa? entry) => new()
    {
        Reason = reason,
        Request = new DmaRequest(new SourceId(0, 4, 0), new Iova(0x1000), DmaAccess.Read),
        EntryAddress = entry,
        Explanation = "the explanation.",
    };

    private static string Render(params DmaWalk[] walks) => HtmlReport.Render(new ReportDocument("t", [new ReportPart { Title = "p", Walks = walks }]));

    [Fact]
    public void AWalkThatStoppedWithoutAFaultSaysSoAndAFaultWithoutItsEntryIsUnderTheGrid()
    {
        var refs = new List<MemoryReference> { new(TraceStage.SecondStage, 1, new Hpa(0x5000), 0x7003) };
        string stopped = Render(Walk(refs, null, completed: false));
        Assert.Contains("<b class=\"bad\">not completed</b>", stopped, StringComparison.Ordinal);
        Assert.Contains("data access: not done", stopped, StringComparison.Ordinal);
        // A root entry that cannot be read: the fault names no reference of the trace, so it is printed under the grid.
        string faulted = Render(Walk([], Fault(FaultReason.LRT1_RootAccessError, null), completed: false));
        Assert.Contains("<p class=\"note\"><span class=\"fault-tag\">✖ FAULT LRT.1 (0x08)</span> the explanation. (after the last reference)</p>", faulted, StringComparison.Ordinal);
        Assert.Contains("No root, context or PASID entry was read", faulted, StringComparison.Ordinal);
        Assert.Contains("no paging-structure reference", faulted, StringComparison.Ordinal);
        // With an entry address no reference read: the address is named.
        string named = Render(Walk(refs, Fault(FaultReason.SSS2_EntryNotPresent, new Hpa(0x9000)), completed: false));
        Assert.Contains("(after the last reference; entry at HPA 0x9000)", named, StringComparison.Ordinal);
    }

    [Fact]
    public void AnEntryWithReservedBitsSetIsFlaggedInTheList()
    {
        // A first-stage PML4E with PS (bit 7) set, reserved there, and a read of a level the decoder has no format for.
        var refs = new List<MemoryReference>
        {
            new(TraceStage.FirstStage, 4, new Hpa(0x5000), 0x7087),
            new(TraceStage.FirstStage, 6, new Hpa(0x6000), 0),
        };
        string html = Render(Walk(refs, null, completed: true));
        Assert.Contains("Rsvd (reserved, set)", html, StringComparison.Ordinal);
        Assert.Contains("data access ✓", html, StringComparison.Ordinal);
        Assert.Matches("<tr data-n=\"2\"><td>2</td>.*<td></td></tr>", html); // nothing decoded for level 6
    }

    [Fact]
    public void AStoppedRunSaysWhereAndATimelineWithoutLevelsUsesTheEvents()
    {
        var part = new ReportPart
        {
            Title = "p",
            Steps = [new TimelineStep(0, "start vm0", "done"), new TimelineStep(1, "boot vm0", "error"), new TimelineStep(2, "dma", "skipped")],
            Timeline = [new TimelineEntry(-1, "host", "kernel-log", "booted"), new TimelineEntry(1, "vm0", "error", "it failed")],
        };
        string html = HtmlReport.Render(new ReportDocument("t", [part]));
        Assert.Contains("<th scope=\"row\">before the first step</th>", html, StringComparison.Ordinal);
        Assert.Contains("2. boot vm0 <b class=\"bad\">ERROR: the run stops here</b>", html, StringComparison.Ordinal);
        Assert.Contains("3. dma <b class=\"bad\">skipped</b>", html, StringComparison.Ordinal);
        // No levels given: the columns are the events' levels, untagged.
        Assert.Contains("<th scope=\"col\" class=\"lv-ln\">host</th><th scope=\"col\" class=\"lv-ln\">vm0</th>", html, StringComparison.Ordinal);
        Assert.Contains("<li class=\"ev ev-error\" data-level=\"\"><b>error</b> it failed</li>", html, StringComparison.Ordinal);
    }

    [Fact]
    public void AMapWithAGapAtTheStartAndASectionToTheTopIsDrawnWhole()
    {
        var map = new MemoryMapView("m", "", [
            new MapSection(0x1000, 0x1fff, "ramd", "r", false, MapStatus.MappedReadWrite, ""),
            new MapSection(0x10000, ulong.MaxValue, "weird", "top", false, MapStatus.NotMapped, ""),
        ]);
        string html = HtmlReport.Render(new ReportDocument("t", [new ReportPart { Title = "p", MemoryMaps = [map] }]));
        Assert.Contains("title=\"0x0-0xfff unassigned\"", html, StringComparison.Ordinal);
        Assert.Contains("title=\"0x2000-0xffff unassigned\"", html, StringComparison.Ordinal);
        Assert.Contains("<td>RAM</td><td>r</td>", html, StringComparison.Ordinal);
        Assert.Contains("<td>WEIRD</td><td>top</td>", html, StringComparison.Ordinal);
        Assert.DoesNotContain("<p class=\"note\"></p>", html, StringComparison.Ordinal);
    }
}
