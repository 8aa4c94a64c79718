using VtdSim.Cli.Tests.Support;

namespace VtdSim.Cli.Tests;

/// <summary>What the demo's table of guest pages says about the data the DMA moves.</summary>
public class DemoRenderingTests
{
    private static (int Exit, string Output) Run(params string[] args)
    {
        var output = new StringWriter();
        int exit = Program.Run(args, output);
        return (exit, output.ToString());
    }

    [Fact]
    public void ADmaWithinOnePageListsOneDataPage()
    {
        var (exit, text) = Run("demo", "--walk");
        Assert.Equal(0, exit);
        Assert.Matches(@"data page\s+GPA 0x800000\s+read-write", text);
        Assert.DoesNotContain("data pages", text);
    }

    [Fact]
    public void ADmaOverSeveralPagesListsTheirCountAndTheWholeGuestRange()
    {
        var (exit, text) = Run("demo", "--length", "0x2001");   // three pages: 8 KiB and one byte more
        Assert.Equal(0, exit);
        Assert.Matches(@"data pages \(3\)\s+GPA 0x800000\.\.0x802fff\s+read-write", text);
    }

    [Fact]
    public void TheReportHoldsBothWalksWithWhatEachDidToTheReadOnlyPage()
    {
        string dir = Directory.CreateTempSubdirectory("vtdsim-demo-report-").FullName;
        try
        {
            string file = Path.Combine(dir, "demo.html");
            var (exit, _) = Run("demo", "--walk", "--write", "--report", file);
            Assert.Equal(0, exit);
            string html = System.Net.WebUtility.HtmlDecode(File.ReadAllText(file));
            // Without the erratum the write faults (SFS.8) and the page stays as it was; with it the DMA completes and
            // the A bit the walk sets lands in the read-only page. The first part shows the second stage's map.
            Assert.Contains("DMA write of", html);
            Assert.Contains("fault SFS.8 (0x77): ", html);
            Assert.Contains("the read-only page is unchanged", html);
            Assert.Contains("completed, ", html);
            Assert.Contains("the read-only page was modified: 1 byte(s) changed", html);
            Assert.Contains("option-ROM window (VGA BIOS)", html);

            (exit, string text) = Run("demo", "--walk", "--report", Path.Combine(dir, "missing", "demo.html"));
            Assert.Equal(74, exit);
            Assert.Contains(Path.Combine(dir, "missing", "demo.html"), text);
            CliProcess.AssertPlain(text);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
