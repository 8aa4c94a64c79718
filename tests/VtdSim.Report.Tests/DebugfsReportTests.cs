using System.Text.RegularExpressions;
using VtdSim.Cli;
using VtdSim.Kernel;
using VtdSim.Kernel.Intel;
using VtdSim.Kernel.Intel.Debugfs;
using VtdSim.Kernel.Tests;
using VtdSim.Kernel.Tests.Debugfs;
using VtdSim.Report.Tests.Support;

namespace VtdSim.Report.Tests;

/// <summary>`vtdsim analyze debugfs PATH --report FILE`: the findings, the rebuilt entries and the page tables of a dump (V60, V61).</summary>
public partial class DebugfsReportTests
{
    /// <summary>Writes the model kernel's debugfs files of <paramref name="bench"/> under <paramref name="dir"/>, as `cp -r` of the real directory would.</summary>
    internal static string WriteDump(KernelBench bench, string dir)
    {
        foreach (var (path, text) in DebugfsSetups.Files(bench))
        {
            string file = Path.Combine(dir, path);
            Directory.CreateDirectory(Path.GetDirectoryName(file)!);
            File.WriteAllText(file, text);
        }
        return dir;
    }

    internal static string Html(DebugfsAnalysis a) => HtmlReport.Render(DebugfsReport.Build(a, "dump/"));

    [GeneratedRegex("<tr class=\"finding( hazard)?\">[\\s\\S]*?</tr>")]
    private static partial Regex FindingRow();

    [Fact]
    public void TheCommandWritesTheReportWithTheHazardMarked()
    {
        using var dir = new TempDir();
        string dump = WriteDump(DebugfsSetups.VgaBiosHazard(), Path.Combine(dir.Path, "dump"));
        string file = Path.Combine(dir.Path, "debugfs.html");
        var output = new StringWriter();
        Assert.Equal(0, Program.Run(["analyze", "debugfs", dump, "--report", file], output));
        string html = File.ReadAllText(file);
        Assert.StartsWith("<!DOCTYPE html>", html, StringComparison.Ordinal);
        // The one finding, the hazard: its row red with the text marker, naming the line, the device and SFS.8.
        string row = Assert.Single(FindingRow().Matches(html)).Value;
        Assert.StartsWith("<tr class=\"finding hazard\"><td><span class=\"hazard-tag\">⚠ SPR17 HAZARD</span> spr17-hazard</td><td><code>dmar_translation_struct:3</code></td><td>00:02.0 PASID 0</td>", row, StringComparison.Ordinal);
        Assert.Contains("SFS.8 (0x77)", row, StringComparison.Ordinal);
        // The PASID entry it is about, decoded (PGTT nested) and marked; the read-only run of the nest parent that holds
        // the first-stage table (GPA 0xc0000, the VGA BIOS) marked too.
        Assert.Matches("<details class=\"structure hazard\"><summary><span class=\"hazard-tag\">⚠ SPR17 HAZARD spr17-hazard</span> PASID entry of 00:02.0 PASID 0", html);
        Assert.Contains("<td>PGTT</td><td><code>0x3</code></td>", html, StringComparison.Ordinal);
        Assert.Matches("<tr class=\"hazard\"><td><code>00000000000c0000</code></td><td><code>00000000000cffff</code></td><td><code>0x80c0000</code></td><td>16 × 4 KiB</td><td><span class=\"swatch st-ro\"></span> <b>RO</b> <span class=\"hazard-tag\">⚠ SPR17 HAZARD: the first-stage table of 00:02.0 PASID 0 \\(GPA 0xc0000\\) lies in this read-only page</span>", html);
        // The device table says it in words too.
        Assert.Contains("<td class=\"bad\">0xc0000 ⚠ SPR17 HAZARD: in a read-only second-stage page</td>", html, StringComparison.Ordinal);

        var failed = new StringWriter();
        Assert.Equal(Program.OutputError, Program.Run(["analyze", "debugfs", dump, "--report", dir.Path], failed));
        Assert.EndsWith($"vtdsim: cannot write the report to '{dir.Path}': is a directory\n", failed.ToString().ReplaceLineEndings("\n"), StringComparison.Ordinal);
    }

    [Fact]
    public void EveryEntryAndEveryLeafOfACleanDumpIsShownOnce()
    {
        var a = DebugfsAnalysis.Analyze(DebugfsSetups.Parse(DebugfsSetups.Scalable()));
        Assert.Empty(a.Findings);
        string html = Html(a);
        Assert.DoesNotContain("hazard-tag\">⚠", html.Split("<section class=\"part\"")[1], StringComparison.Ordinal);
        Assert.DoesNotContain("<h3>Findings</h3>", html, StringComparison.Ordinal);
        var rows = a.Dump.Translation.SelectMany(t => t.Rows).ToList();
        // One PASID entry per row, one context entry per device, one root entry per bus and half the rows use.
        Assert.Equal(rows.Count, Regex.Matches(html, "<summary>PASID entry of ").Count);
        Assert.Equal(rows.Select(r => r.Device).Distinct().Count(), Regex.Matches(html, "<summary>context entry of ").Count);
        Assert.Equal(rows.Select(r => r.Device.Bus).Distinct().Count(), Regex.Matches(html, "<summary>root entry of bus ").Count);
        // Every leaf is in exactly one run of its table: the runs' pages add up to the leaves, table by table.
        var tables = Regex.Matches(html, "<table class=\"pages\">[\\s\\S]*?</table>").Select(m => m.Value).ToList();
        Assert.Equal(a.Dump.Domains.Count, tables.Count);
        for (int i = 0; i < tables.Count; i++)
        {
            var pages = Regex.Matches(tables[i], "<td>(\\d+) × ").Sum(m => int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture));
            Assert.Equal(a.Dump.Domains[i].Leaves.Count, pages);
        }
        // The 2 MiB page of 01:11.2's table is a run of its own size.
        Assert.Contains("1 × 2 MiB", html, StringComparison.Ordinal);
        Assert.Contains("<td>nested</td>", html, StringComparison.Ordinal);
    }

    [Fact]
    public void ALegacyDumpShowsLegacyEntriesAndASelfMapIsMarkedOnItsLeaf()
    {
        var bench = DebugfsSetups.Legacy();
        var domain = (PagingDomain)bench.Driver.DomainOf(DebugfsSetups.Nic);
        ulong top = DebugfsSetups.Parse(bench).Domains.Single(d => d.Device == DebugfsSetups.Nic).Pgd; // the domain's top-level table
        Assert.Equal(Errno.Success, domain.Map(0x5000_0000, top, 0x1000, IommuProt.Read | IommuProt.Write));
        var a = DebugfsAnalysis.Analyze(DebugfsSetups.Parse(bench));
        DebugfsFinding f = Assert.Single(a.Findings);
        string html = Html(a);
        Assert.Contains("context entry, legacy mode (128-bit)", html, StringComparison.Ordinal);
        Assert.DoesNotContain("<summary>PASID entry", html, StringComparison.Ordinal);
        string row = Assert.Single(FindingRow().Matches(html)).Value;
        Assert.StartsWith("<tr class=\"finding\"><td><span class=\"finding-tag\">✖</span> maps-own-tables</td>", row, StringComparison.Ordinal);
        Assert.DoesNotContain("⚠", row, StringComparison.Ordinal);
        // The leaf the finding names is a run of its own, marked, at its line.
        Assert.Matches($"<tr class=\"marked\"><td><code>0000000050000000</code></td>[^\\n]*<span class=\"finding-tag\">✖ maps-own-tables</span>[^\\n]*<td>{Regex.Escape(f.File)}:{f.Line}</td></tr>", html);
        // The pass-through device has no table: its row says so.
        Assert.Contains("<td>pass-through</td>", html, StringComparison.Ordinal);
    }

    [Fact]
    public void ReservedBitsAndPointersOutsideMemoryAreMarkedWhereTheyAre()
    {
        var files = DebugfsSetups.Files(DebugfsSetups.Legacy());
        // Bit 71 of 00:02.0's context entry (bit 7 of its high qword) is reserved: LCT.3.
        int i = files.FindIndex(f => f.Path == "dmar_translation_struct");
        string[] lines = files[i].Text.Split('\n');
        string[] cols = lines[2].Split('\t');
        ulong hi = Convert.ToUInt64(cols[2][2..18], 16) | 0x80;
        cols[2] = $"0x{hi:x16}{cols[2][18..]}";
        lines[2] = string.Join('\t', cols);
        files[i] = (files[i].Path, string.Join('\n', lines));
        Assert.True(DebugfsParser.TryParse(files, out var dump, out var error), error?.Message);
        var a = DebugfsAnalysis.Analyze(dump!, memorySize: 0x700_1000); // the table maps HPA 0x7000000-0x7001fff and 0x7100000
        string html = Html(a);
        Assert.Contains(a.Findings, x => x.Kind == DebugfsFindingKind.ReservedBits);
        Assert.Equal(2, a.Findings.Count(x => x.Kind == DebugfsFindingKind.OutsideMemory));
        Assert.Equal(a.Findings.Count, FindingRow().Matches(html).Count);
        Assert.Matches("<details class=\"structure\"><summary><span class=\"finding-tag\">✖ reserved-bits</span> context entry of 00:02.0", html);
        Assert.Equal(2, Regex.Matches(html, "<span class=\"finding-tag\">✖ outside-memory</span>").Count);
        Assert.Contains("<tr class=\"flagged\">", html, StringComparison.Ordinal);
    }

    [Fact]
    public void TheReportIsTheSameEveryTimeAndFetchesNothing()
    {
        var a = DebugfsAnalysis.Analyze(DebugfsSetups.Parse(DebugfsSetups.VgaBiosHazard()));
        string html = Html(a);
        Assert.Equal(html, Html(DebugfsAnalysis.Analyze(DebugfsSetups.Parse(DebugfsSetups.VgaBiosHazard()))));
        Assert.DoesNotMatch("(?i)(https?:|\\bsrc\\s*=|<link|@import|url\\s*\\()", html);
        Assert.Single(Regex.Matches(html, "<script"));
    }
}

/// <summary>A page table with more runs than a report lists (V61).</summary>
public class DebugfsReportRunLimitTests
{
    [Fact]
    public void ATableWithMoreRunsThanTheLimitListsTheFirstAndCountsTheRest()
    {
        var bench = DebugfsSetups.Legacy();
        var domain = (Kernel.Intel.PagingDomain)bench.Driver.DomainOf(DebugfsSetups.Nic);
        // Pages two apart in IOVA: no two leaves make one run.
        for (int i = 0; i < DebugfsReport.MaxRuns + 5; i++)
            Assert.Equal(Kernel.Errno.Success, domain.Map(0x2_0000_0000UL + (ulong)i * 0x2000, 0x800_0000UL + (ulong)i * 0x1000, 0x1000, Kernel.Intel.IommuProt.Read));
        var a = Kernel.Intel.Debugfs.DebugfsAnalysis.Analyze(DebugfsSetups.Parse(bench));
        var leaves = a.Dump.Domains.Single(d => d.Device == DebugfsSetups.Nic).Leaves.Count;
        ReportDocument doc = DebugfsReport.Build(a, "dump/");
        PageTableView table = doc.Parts[0].PageTables.Single(t => t.Title == "Page table of 00:02.0");
        Assert.Equal(DebugfsReport.MaxRuns, table.Runs.Count);
        // The table's own leaves (two runs: 0x200000-0x201fff and 0x100000000) come first, then the pages mapped here.
        Assert.Contains($"{leaves} leaves in {DebugfsReport.MaxRuns + 5 + 2} run(s)", table.Note, StringComparison.Ordinal);
        Assert.Contains("the first 2000 runs are listed, 7 more are not", table.Note, StringComparison.Ordinal);
        Assert.All(table.Runs.Skip(2), r => Assert.Equal((1, true, false), (r.Pages, r.Read, r.Write)));
    }
}
