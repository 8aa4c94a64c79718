using System.Text.RegularExpressions;
using VtdSim.Hardware.Tracing;
using VtdSim.Report.Tests.Support;
using VtdSim.Scenarios.Running;
using VtdSim.Vmm.Memory.Import;
using VtdSim.Vmm.Vfio;

namespace VtdSim.Report.Tests;

/// <summary>What a report holds and how it is made: self-contained, escaped, deterministic, bounded in size.</summary>
public partial class ReportTests
{
    public static TheoryData<string> Files() => new(BuiltIn.Names());

    [Theory]
    [MemberData(nameof(Files))]
    public void TheSameRunGivesTheSameBytes(string name) => Assert.Equal(BuiltIn.Report(name), BuiltIn.Report(name));

    [Theory]
    [MemberData(nameof(Files))]
    public void AReportFetchesNothing(string name)
    {
        string html = BuiltIn.Report(name);
        Assert.DoesNotMatch(ExternalReference(), html);
        // The one script is the report's own, inline.
        Assert.Single(Regex.Matches(html, "<script"));
        Assert.Contains("<script>\n", html, StringComparison.Ordinal);
        Assert.Contains("default-src 'none'", html, StringComparison.Ordinal);
    }

    [GeneratedRegex(@"(?i)(https?:|//[a-z0-9]|\bsrc\s*=|<link|@import|url\s*\()")]
    private static partial Regex ExternalReference();

    [Fact]
    public void AScenarioNameWithMarkupIsText()
    {
        string text = File.ReadAllText(Path.Combine(BuiltIn.Directory, "03-vga-bios-table-erratum.yaml"))
            .Replace("name: The erratum writes A/D into a read-only VGA BIOS holding a guest's first-stage table",
                "name: '<script>alert(''x'')</script> & <b>bold</b> \"q\"'", StringComparison.Ordinal);
        var run = ScenarioRunner.Run(BuiltIn.Parse("x.yaml", text), record: true);
        Assert.StartsWith("<script>", run.Scenario.Name, StringComparison.Ordinal);
        string html = HtmlReport.Render(ReportBuilder.FromScenarios([run]));
        Assert.DoesNotContain("<script>alert", html, StringComparison.Ordinal);
        Assert.DoesNotContain("<b>bold</b>", html, StringComparison.Ordinal);
        Assert.Contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt; &quot;q&quot;", html, StringComparison.Ordinal);
        Assert.Single(Regex.Matches(html, "<script"));
    }

    [Fact]
    public void TheErratumRunMarksTheWriteIntoReadOnlyMemoryAndTheArchitecturalOneNamesTheFault()
    {
        ScenarioRun erratum = BuiltIn.Run("03-vga-bios-table-erratum.yaml");
        ScenarioRun architectural = BuiltIn.Run("03-vga-bios-table-architectural.yaml");
        DmaWalk e = Assert.Single(erratum.Events, x => x.Walk is not null).Walk!;
        DmaWalk a = Assert.Single(architectural.Events, x => x.Walk is not null).Walk!;
        // The scenarios' own expectations: a guest-table write in one, SFS.8 in the other.
        Assert.Contains(erratum.Events, x => x.Kind == "guest-table-write");
        Assert.Equal("SFS.8", a.Fault?.Condition);

        string eh = HtmlReport.Render(ReportBuilder.FromScenarios([erratum]));
        string ah = HtmlReport.Render(ReportBuilder.FromScenarios([architectural]));
        int erratumWrites = e.References.Count(r => r.Kind == ReferenceKind.ErratumFlagUpdate);
        Assert.True(erratumWrites > 0);
        Assert.Equal(erratumWrites, Regex.Matches(eh, "<td class=\"cell erratum\">").Count);
        string article = Regex.Match(eh, "<article class=\"walk\"[\\s\\S]*?</article>").Value;
        Assert.Equal(erratumWrites, Regex.Matches(article, "⚠ ERRATUM: A written in a read-only page").Count);
        Assert.DoesNotContain("cell erratum", ah, StringComparison.Ordinal);
        Assert.DoesNotContain("class=\"fault-tag\">✖ FAULT", article, StringComparison.Ordinal);

        // The faulting reference is the first-stage entry in the read-only page, named with its condition.
        WalkGrid grid = WalkGrid.Of(a);
        Assert.NotEqual(0, grid.FaultingNumber);
        MemoryReference faulting = a.References[grid.FaultingNumber - 1];
        Assert.Equal(TraceStage.FirstStage, faulting.Stage);
        Assert.Equal(0xc0000UL, faulting.Gpa!.Value.Value & ~0xFFFUL);
        Assert.Contains($"<td class=\"cell fault\"><span class=\"ref k-read is-fault\" data-n=\"{grid.FaultingNumber}\">", ah, StringComparison.Ordinal);
        Assert.Contains("✖ FAULT SFS.8 (0x77)", ah, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(Files))]
    public void EveryReferenceOfEveryWalkIsNumberedOnceInItsGrid(string name)
    {
        ScenarioRun run = BuiltIn.Run(name);
        string html = HtmlReport.Render(ReportBuilder.FromScenarios([run]));
        var walks = run.Events.Where(e => e.Walk is not null).Select(e => e.Walk!).ToList();
        var articles = Regex.Matches(html, "<article class=\"walk\"[\\s\\S]*?</article>");
        Assert.Equal(walks.Count, articles.Count);
        for (int i = 0; i < walks.Count; i++)
        {
            string grid = Regex.Match(articles[i].Value, "<table class=\"grid\">[\\s\\S]*?</table>").Value;
            var numbers = Regex.Matches(grid, "class=\"ref [^\"]*\" data-n=\"(\\d+)\"").Select(m => int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture)).ToList();
            Assert.Equal(Enumerable.Range(1, walks[i].References.Count), numbers.Order());
        }
    }

    [Fact]
    public void TheMemoryMapShowsWhatEachPolicyDid()
    {
        // Scenario 1: the kernel refuses pc.rom (the scenario's own expectation names the region).
        VmmMemoryMap refused = Assert.Single(BuiltIn.Run("01-qemu-without-workaround-refused.yaml").MemoryMaps);
        Assert.Equal("failed", refused.State);
        MapSection rom = Assert.Single(refused.Sections, s => s.Status == MapStatus.Refused);
        Assert.Equal("pc.rom", rom.Region);
        // Scenario 2: QEMU 11's bypass_ro leaves every read-only RAM section out and maps the rest.
        VmmMemoryMap bypass = Assert.Single(BuiltIn.Run("02-qemu-11-bypass-ro.yaml").MemoryMaps);
        Assert.All(bypass.Sections.Where(s => s.ReadOnly && s.Type == "rom"), s => Assert.Equal(MapStatus.Bypassed, s.Status));
        Assert.Contains(bypass.Sections, s => s.Start == 0xc0000 && s.Status == MapStatus.Bypassed);
        Assert.All(bypass.Sections.Where(s => s.Type == "i/o"), s => Assert.Equal(MapStatus.NotMapped, s.Status));
        // Scenario 7: never-ro maps the VGA BIOS writable.
        VmmMemoryMap never = Assert.Single(BuiltIn.Run("07-vmm-never-maps-read-only.yaml").MemoryMaps);
        Assert.Contains(never.Sections, s => s.Start == 0xc0000 && s.Status == MapStatus.MappedWritable);
        // Scenario 3 (a kernel before 6.7): the read-only sections are in the IOAS read-only.
        VmmMemoryMap ro = Assert.Single(BuiltIn.Run("03-vga-bios-table-erratum.yaml").MemoryMaps);
        Assert.Contains(ro.Sections, s => s.Start == 0xc0000 && s.Status == MapStatus.MappedReadOnly);

        string html = HtmlReport.Render(ReportBuilder.FromScenarios([BuiltIn.Run("01-qemu-without-workaround-refused.yaml")]));
        Assert.Contains("<td>pc.rom</td><td><span class=\"swatch st-rf\"></span> <b>EINVAL</b></td>", html, StringComparison.Ordinal);
    }

    [Fact]
    public void RecordingForAReportChangesNoEvent()
    {
        var name = "03-vga-bios-table-erratum.yaml";
        ScenarioRun plain = ScenarioRunner.Run(BuiltIn.Load(name)), recorded = BuiltIn.Run(name);
        Assert.Equal(ScenarioJson.Write([plain]), ScenarioJson.Write([recorded]));
        Assert.Empty(plain.MemoryMaps);
        Assert.All(plain.Events, e => Assert.Null(e.Walk));
    }

    [Fact]
    public void TheTimelineTagsEachLevel()
    {
        const string yaml = """
            name: nested levels
            host:
              devices:
                - { id: nic, rid: "00:04.0" }
            vmms:
              - name: l1vm
                devices:
                  - intel-iommu: x-scalable-mode=on,x-flts=on,caching-mode=on
                  - passthrough: nic
                guest:
                  vmms:
                    - name: l2vm
                      devices:
                        - passthrough: nic
            steps:
              - start: l1vm
              - boot: l1vm
              - start: l2vm
            """;
        var run = ScenarioRunner.Run(BuiltIn.Parse("levels.yaml", yaml), record: true);
        ReportPart part = ReportBuilder.Part(run);
        Assert.Equal([("host", "L0"), ("l1vm", "L1"), ("l2vm", "L2")], part.Levels);
        string html = HtmlReport.Render(new ReportDocument("t", [part]));
        Assert.Contains(">L0: host</th>", html, StringComparison.Ordinal);
        Assert.Contains(">L1: l1vm</th>", html, StringComparison.Ordinal);
        Assert.Contains(">L2: l2vm</th>", html, StringComparison.Ordinal);
        foreach (ScenarioEvent e in run.Events.Where(e => e.Level == "l2vm" && e.Kind != "walk"))
            Assert.Contains(System.Net.WebUtility.HtmlEncode($"L2 {e.Kind}"), html, StringComparison.Ordinal);
    }

    [Fact]
    public void AReportOfAHundredDmasStaysUnderFiveMegabytes()
    {
        var run = ScenarioRunner.Run(BuiltIn.Parse("many.yaml", Support.Scenarios.ManyDmas(100)), record: true);
        Assert.Equal(100, run.Events.Count(e => e.Kind == "dma"));
        Assert.Equal(100, run.Events.Count(e => e.Walk is not null));
        string html = HtmlReport.Render(ReportBuilder.FromScenarios([run]));
        long bytes = System.Text.Encoding.UTF8.GetByteCount(html);
        Assert.True(bytes < 5_000_000, $"{bytes} bytes");
    }

    [Fact]
    public void TheMemoryMapOfAnAnalysedInfoMtreeIsDrawnAndListed()
    {
        string path = Path.Combine(AppContext.BaseDirectory, "captures", "q35-4g-booted.info-mtree-f.txt");
        Assert.True(MtreeParser.TryParse(File.ReadAllText(path), "q35.txt", out ImportedMemoryMap? map, out _));
        MapAnalysis analysis = MapAnalysis.Analyze(map!, ErratumPolicy.Qemu11)!;
        string html = HtmlReport.Render(ReportBuilder.FromMapAnalysis(analysis, "qemu-11"));
        int rows = Regex.Matches(html, "<tr><td><code>[0-9a-f]{16}</code></td><td><code>[0-9a-f]{16}</code>").Count;
        Assert.Equal(analysis.Sections.Count, rows);
        Assert.Equal(analysis.Sections.Count(s => s.Outcome == SectionOutcome.Bypassed), Regex.Matches(html, "<span class=\"swatch st-by\"></span> <b>SKIP</b>").Count);
        Assert.Contains("0xc0000-0xcbfff", html, StringComparison.Ordinal);
    }
}
