namespace VtdSim.Cli.Tests;

public class CommandLineTests
{
    private static (int Exit, string Output) Run(params string[] args)
    {
        var output = new StringWriter();
        int exit = Program.Run(args, output);
        return (exit, output.ToString());
    }

    [Fact]
    public void DemoPrintsBothOutcomesAndTheChangedByte()
    {
        var (exit, text) = Run("demo");
        Assert.Equal(0, exit);
        Assert.Contains("fault SFS.8 (0x77)", text);
        Assert.Contains("ERRATUM: set A in a read-only page", text);
        Assert.Contains("24 paging-structure reads", text);
        Assert.Contains("0x1000c07f0", text);
    }

    [Fact]
    public void DemoOutputIsDeterministic()
    {
        Assert.Equal(Run("demo").Output, Run("demo").Output);
    }

    [Fact]
    public void UnknownProfileIsAClearErrorNotACrash()
    {
        var (exit, text) = Run("demo", "--profile", "nonesuch");
        Assert.Equal(2, exit);
        Assert.Contains("unknown profile 'nonesuch'", text);
        Assert.Contains("sapphire-rapids", text);
    }

    [Fact]
    public void BadOptionValueIsReportedByTheParser()
    {
        var (exit, text) = Run("demo", "--ro-level", "nine");
        Assert.NotEqual(0, exit);
        Assert.Contains("nine", text);
    }

    [Fact]
    public void ProfilesListsEveryBuiltInProfileWithItsCapabilities()
    {
        var (exit, text) = Run("profiles");
        Assert.Equal(0, exit);
        Assert.Contains("qemu-7.2", text);
        Assert.Contains("0x00d2008c22260206", text);
        Assert.Contains("sapphire-rapids", text);
        Assert.Contains("flush-when-full", text); // the QEMU profiles' IOTLB
    }

    [Fact]
    public void FaultsListsTheNestedConditions()
    {
        var (exit, text) = Run("faults");
        Assert.Equal(0, exit);
        Assert.Contains("SFS.8", text);
        Assert.Contains("0x77", text);
    }
}
