using System.Text.Json.Nodes;
using VtdSim.Cli.Demo;
using Xunit.Abstractions;
using VtdSim.Report.Tests.Support;
using VtdSim.Scenarios.Running;

namespace VtdSim.Report.Tests;

/// <summary>
/// The reports in a real browser: Debian's chromium, headless, over the DevTools protocol. Each built-in scenario's report
/// (and the demo's) is loaded; after its script ran, the DOM must have one numbered reference per reference of each
/// walk's trace, the erratum cell marked exactly where the trace has the erratum's write, no exception and no error on
/// the console; and a screenshot is taken (docs/images/ when VTDSIM_SCREENSHOTS names that directory, docs/report.md).
/// Skipped, with the reason, where chromium is not installed.
/// </summary>
public class BrowserTests(ITestOutputHelper output)
{
    public static TheoryData<string> Files() => new(BuiltIn.Names());

    /// <summary>What the DOM says about each walk after the page's script ran.</summary>
    private const string Inspect = """
        (function () {
          return {
            ready: document.body.getAttribute('data-ready'),
            walks: Array.from(document.querySelectorAll('article.walk')).map(function (a) {
              return {
                references: Number(a.getAttribute('data-references')),
                numbered: Array.from(a.querySelectorAll('table.grid .ref[data-n]')).map(function (r) { return Number(r.getAttribute('data-n')); }),
                headers: a.querySelectorAll('table.grid th').length,
                caption: (a.querySelector('table.grid caption') || {}).textContent || '',
                unit: a.getAttribute('data-unit'),
                level: a.getAttribute('data-level'),
                tag: (a.querySelector('h4 .unit') || {}).innerText || '',
                erratumCells: Array.from(a.querySelectorAll('table.grid td.erratum')).map(function (c) { return c.innerText; }),
                faultTags: Array.from(a.querySelectorAll('table.grid .fault-tag')).map(function (c) { return c.innerText; })
              };
            }),
            parts: Array.from(document.querySelectorAll('section.part > h2')).map(function (h) { return h.innerText; }),
            questions: document.querySelectorAll('section.part blockquote.question').length,
            findings: Array.from(document.querySelectorAll('table.findings tbody tr')).map(function (r) {
              return { cls: r.className, first: r.cells[0].innerText, background: getComputedStyle(r.cells[0]).backgroundColor };
            }),
            pageHazards: Array.from(document.querySelectorAll('table.pages tr.hazard')).map(function (r) { return r.innerText; }),
            entryHazards: Array.from(document.querySelectorAll('details.structure.hazard > summary')).map(function (s) { return s.innerText; }),
            matrixRows: Array.from(document.querySelectorAll('table.plain')).filter(function (t) { return t.caption && t.caption.innerText.indexOf('compatibility matrix') >= 0; })
              .map(function (t) { return t.querySelectorAll('tbody tr').length; }),
            badCells: Array.from(document.querySelectorAll('table.plain td.bad')).map(function (c) { return c.innerText; }),
            mapSegments: document.querySelectorAll('.bar .seg').length,
            mapRows: document.querySelectorAll('table.sections tbody tr').length
          };
        })()
        """;

    [ChromiumTheory]
    [MemberData(nameof(Files))]
    public async Task TheReportOfABuiltInScenarioLoadsCleanlyWithEveryReferenceInItsGrid(string name)
    {
        ScenarioRun run = BuiltIn.Run(name);
        var walks = run.Events.Where(e => e.Walk is not null).Select(e => e.Walk!).ToList();
        JsonNode dom = await Load(HtmlReport.Render(ReportBuilder.FromScenarios([run])), Path.GetFileNameWithoutExtension(name), walks.Count > 0 ? "article.walk" : ".map");
        JsonArray shown = dom["walks"]!.AsArray();
        Assert.Equal(walks.Count, shown.Count);
        for (int i = 0; i < walks.Count; i++)
        {
            JsonNode w = shown[i]!;
            Assert.Equal(walks[i].References.Count, (int)w["references"]!);
            Assert.Equal(Enumerable.Range(1, walks[i].References.Count), w["numbered"]!.AsArray().Select(n => (int)n!).Order());
            Assert.True((int)w["headers"]! > 1);
            Assert.StartsWith($"Walk of DMA {i + 1}", (string)w["caption"]!, StringComparison.Ordinal);
            int erratum = walks[i].References.Count(r => r.Kind == VtdSim.Hardware.Tracing.ReferenceKind.ErratumFlagUpdate);
            JsonArray cells = w["erratumCells"]!.AsArray();
            Assert.Equal(erratum, cells.Count);
            Assert.All(cells, c => Assert.Contains("ERRATUM", (string)c!, StringComparison.Ordinal));
            if (walks[i].Fault is { } f && WalkGrid.Of(walks[i]).FaultingNumber != 0)
                Assert.Contains(w["faultTags"]!.AsArray(), t => ((string)t!).Contains($"FAULT {f.Condition}", StringComparison.Ordinal));
        }
        Assert.Equal(run.MemoryMaps.Sum(m => m.Sections.Count), (int)dom["mapRows"]!);
        if (name == "03-vga-bios-table-erratum.yaml") Assert.NotEmpty(shown[0]!["erratumCells"]!.AsArray());
        if (name == "03-vga-bios-table-architectural.yaml")
        {
            Assert.Empty(shown[0]!["erratumCells"]!.AsArray());
            Assert.Contains(shown[0]!["faultTags"]!.AsArray(), t => ((string)t!).StartsWith("✖ FAULT SFS.8 (0x77)", StringComparison.Ordinal));
        }
    }

    [ChromiumFact]
    public async Task TheDemoReportShowsTheTwentyFourReadsAndTheErratumWrite()
    {
        ErratumDemoResult result = ErratumDemo.Run(new ErratumDemoOptions());
        JsonNode dom = await Load(HtmlReport.Render(ErratumDemoReport.Build(result)), "demo", "article.walk:last-of-type");
        JsonArray walks = dom["walks"]!.AsArray();
        Assert.Equal(2, walks.Count);
        Assert.Equal(result.Architectural.Trace.References.Count, walks[0]!["numbered"]!.AsArray().Count);
        Assert.Equal(result.Erratum.Trace.References.Count, walks[1]!["numbered"]!.AsArray().Count);
        Assert.Empty(walks[0]!["erratumCells"]!.AsArray());
        Assert.Single(walks[1]!["erratumCells"]!.AsArray());
        Assert.Contains(walks[0]!["faultTags"]!.AsArray(), t => ((string)t!).Contains("FAULT SFS.8", StringComparison.Ordinal));
    }

    [ChromiumFact]
    public async Task TheDebugfsReportMarksTheHazardInRedWithAText()
    {
        var analysis = Kernel.Intel.Debugfs.DebugfsAnalysis.Analyze(Kernel.Tests.Debugfs.DebugfsSetups.Parse(Kernel.Tests.Debugfs.DebugfsSetups.VgaBiosHazard()));
        JsonNode dom = await Load(DebugfsReportTests.Html(analysis), "debugfs-vga-bios-hazard", "section.part");
        JsonNode finding = Assert.Single(dom["findings"]!.AsArray())!;
        Assert.Equal("finding hazard", (string)finding["cls"]!);
        Assert.StartsWith("⚠ SPR17 HAZARD", (string)finding["first"]!, StringComparison.Ordinal);
        Assert.Equal("rgb(255, 205, 210)", (string)finding["background"]!); // the red of the erratum cell, and the text says it
        Assert.StartsWith("⚠ SPR17 HAZARD", (string)Assert.Single(dom["entryHazards"]!.AsArray())!, StringComparison.Ordinal);
        Assert.Contains("the first-stage table of 00:02.0 PASID 0 (GPA 0xc0000) lies in this read-only page", (string)Assert.Single(dom["pageHazards"]!.AsArray())!, StringComparison.Ordinal);
        Assert.Contains(dom["badCells"]!.AsArray(), c => ((string)c!).Contains("SPR17 HAZARD", StringComparison.Ordinal));
        Assert.Empty(dom["walks"]!.AsArray());
    }

    [ChromiumFact]
    public async Task TheTourReportHasASectionPerScreenAndTheMatrixAsATable()
    {
        var names = Scenarios.Loading.BuiltInScenarios.Names;
        JsonNode dom = await Load(BuiltIn.Tour, "tour-matrix", "section.part:last-of-type table.plain");
        var parts = dom["parts"]!.AsArray().Select(p => (string)p!).ToList();
        Assert.Equal(names.Count + 1, parts.Count);
        Assert.All(parts.SkipLast(1), p => Assert.Matches("^\\d+ of \\d+: scenario \\d+ — ", p));
        Assert.Equal(names.Count(n => Scenarios.Loading.BuiltInScenarios.Load(n).Scenario!.Question.Trim().Length > 0), (int)dom["questions"]!);
        var rows = BuiltIn.Matrix;
        Assert.Equal(rows.Count, (int)Assert.Single(dom["matrixRows"]!.AsArray())!);
        Assert.Equal(rows.Count(r => r.ReadOnlyCorrupted), dom["badCells"]!.AsArray().Count);
        Assert.All(dom["badCells"]!.AsArray(), c => Assert.StartsWith("YES", (string)c!, StringComparison.Ordinal));
    }

    [ChromiumFact]
    public async Task TheViommusWalkOfAnEmulatedDeviceIsItsOwnTaggedGrid()
    {
        ScenarioRun run = ScenarioRunner.Run(BuiltIn.Parse("edu.yaml", Support.Scenarios.EduUnderViommu), record: true);
        var walks = run.Events.Where(e => e.Walk is not null).Select(e => e.Walk!).ToList();
        JsonNode dom = await Load(HtmlReport.Render(ReportBuilder.FromScenarios([run])), "viommu-edu", "article.walk");
        JsonArray shown = dom["walks"]!.AsArray();
        Assert.Equal(walks.Count, shown.Count);
        for (int i = 0; i < walks.Count; i++)
        {
            Assert.Equal(("viommu", "L1", "L1 · vIOMMU (emulated)"), ((string)shown[i]!["unit"]!, (string)shown[i]!["level"]!, (string)shown[i]!["tag"]!));
            Assert.Equal(Enumerable.Range(1, walks[i].References.Count), shown[i]!["numbered"]!.AsArray().Select(n => (int)n!).Order());
        }
        Assert.Contains(shown[^1]!["faultTags"]!.AsArray(), t => ((string)t!).StartsWith("✖ FAULT SFS.9", StringComparison.Ordinal));
    }

    [ChromiumFact]
    public async Task AScriptErrorIsCaught()
    {
        // The check itself: a page that throws and logs an error must be reported, or a clean result means nothing.
        using var dir = new TempDir();
        string file = Path.Combine(dir.Path, "bad.html");
        await File.WriteAllTextAsync(file, "<!DOCTYPE html><html><body><script>console.error('boom'); null.x;</script></body></html>");
        await using var browser = await HeadlessChromium.StartAsync();
        await browser.LoadAsync(file);
        await Task.Delay(200);
        Assert.Contains(browser.Problems, p => p.StartsWith("exception: TypeError", StringComparison.Ordinal));
        Assert.Contains(browser.Problems, p => p.StartsWith("console.error", StringComparison.Ordinal) && p.Contains("boom", StringComparison.Ordinal));
    }

    /// <summary>Writes the report, loads it, checks the script ran and nothing went wrong, takes a screenshot of <paramref name="shot"/>, and returns the DOM summary.</summary>
    private async Task<JsonNode> Load(string html, string name, string shot)
    {
        using var dir = new TempDir();
        string file = Path.Combine(dir.Path, name + ".html");
        await File.WriteAllTextAsync(file, html);
        await using var browser = await HeadlessChromium.StartAsync(1280, 900);
        await browser.LoadAsync(file);
        JsonNode dom = (await browser.EvaluateAsync(Inspect))!;
        Assert.Equal("yes", (string?)dom["ready"]);
        byte[] png = await browser.ScreenshotAsync(shot);
        Assert.True(png.Length > 1000 && png[0] == 0x89 && png[1] == (byte)'P', "a PNG");
        string target = Environment.GetEnvironmentVariable("VTDSIM_SCREENSHOTS") is { Length: > 0 } d ? d : Path.Combine(AppContext.BaseDirectory, "screenshots");
        Directory.CreateDirectory(target);
        await File.WriteAllBytesAsync(Path.Combine(target, $"report-{name}.png"), png);
        output.WriteLine($"screenshot: {Path.Combine(target, $"report-{name}.png")} ({png.Length} bytes)");
        Assert.Empty(browser.Problems);
        return dom;
    }
}
