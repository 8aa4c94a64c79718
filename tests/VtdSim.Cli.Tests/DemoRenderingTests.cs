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
}
