using VtdSim.Cli.Tests.Support;

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
        var (exit, text) = Run("demo", "--walk");
        Assert.Equal(0, exit);
        Assert.Contains("fault SFS.8 (0x77)", text);
        Assert.Contains("ERRATUM: set A in a read-only page", text);
        Assert.Contains("24 paging-structure reads", text);
        Assert.Contains("0x1000c07f0", text);
    }

    [Fact]
    public void DemoOutputIsDeterministic()
    {
        Assert.Equal(Run("demo", "--walk").Output, Run("demo", "--walk").Output);
    }

    [Fact]
    public void UnknownProfileIsAClearErrorNotACrash()
    {
        var (exit, text) = Run("demo", "--profile", "nonesuch");
        Assert.Equal(2, exit);
        Assert.Contains("unknown profile 'nonesuch'", text);
        Assert.Contains("sapphire-rapids", text);
        CliProcess.AssertPlain(text);
    }

    /// <summary>Every option of every command, given a value it cannot take: a usage error (status 2) in plain words.</summary>
    public static TheoryData<string[], string> BadOptions => new()
    {
        { ["demo", "--ro-level", "0"], "--ro-level" },
        { ["demo", "--ro-level", "5"], "1 to 4" },
        { ["demo", "--ro-level", "nine"], "'nine'" },
        { ["demo", "--ro-level", "99999999999"], "1 to 4" },
        { ["demo", "--length", "0"], "--length" },
        { ["demo", "--length", "abc"], "'abc'" },
        { ["demo", "--length", "65537"], "65536" },
        { ["demo", "--reach", "99"], "TopLevelOnly" },
        { ["demo", "--reach", "sideways"], "AllLevels" },
        { ["demo", "--profile", "qemu-7.2"], "nested translation" },
        { ["demo", "--profile", ""], "--profile" },
        { ["demo", "--write", "maybe"], "maybe" },
        { ["demo", "--ro-level"], "--ro-level" },
        { ["qtest", "--aw-bits", "abc"], "--aw-bits" },
        { ["qtest", "--aw-bits", "40"], "39 or 48" },
        { ["qtest", "--socket", ""], "--socket" },
        { ["qtest", "--socket", new string('s', 200)], "--socket" },
        { ["qtest", "--tcp", "abc"], "--tcp" },
        { ["qtest", "--tcp", "70000"], "0 to 65535" },
        { ["qtest", "--scalable-mode", "maybe"], "'maybe'" },
        { ["qtest", "--caching-mode", "maybe"], "'maybe'" },
        { ["qtest", "--snoop-control", "2"], "'2'" },
        { ["qtest", "--ram-size", "12X"], "is not a size" },
        { ["qtest", "--ram-size", ""], "is not a size" },
        { ["qtest", "--profile", "nonesuch"], "unknown profile 'nonesuch'" },
        { ["qtest", "--socket", "/tmp/vtdsim-never.sock", "--tcp", "0"], "choose one" },
        { ["qtest", "--profile", "sapphire-rapids", "--scalable-mode", "false"], "sapphire-rapids" },
        { ["mtree", "-M", "sun4m"], "'sun4m' is not a machine type" },
        { ["mtree", "-m", "12X"], "-m: RAM size '12X' is not a size" },
        { ["mtree", "-m", "8T"], "1M to 4T" },
        { ["mtree", "-m", "0"], "-m" },
        { ["mtree", "-device", "virtio-net-pci"], "'virtio-net-pci' is not a device" },
        { ["mtree", "-drive", "if=ide,file=disk.img"], "only if=pflash drives are modelled" },
        { ["mtree", "-drive", "if=pflash,format=qcow2,file=x.fd"], "'format=qcow2' is not modelled" },
        { ["mtree", "-drive", "if=pflash,format=raw"], "give the image as file=PATH" },
        { ["mtree", "-drive", "if=pflash,format=raw,file=/nonexistent/OVMF_CODE.fd"], "Could not open '/nonexistent/OVMF_CODE.fd': No such file or directory" },
        { ["mtree", "-drive", "if=pflash,format=raw,file=/tmp"], "Could not open '/tmp': Is a directory" },
        { ["mtree", "-device", "intel-iommu,x-flts=on"], "-device intel-iommu,x-flts=on: Property 'intel-iommu.x-flts' not found" },
        { ["mtree", "-device", "intel-iommu,aw-bits=40"], "Supported values for aw-bits are: 39, 48" },
        { ["mtree", "-device", "e1000e,mac=52:54:00:12:34:56"], "takes no properties" },
        { ["mtree", "-M", "pc", "-device", "intel-iommu"], "needs -M q35" },
        { ["mtree", "-device", "intel-iommu", "-device", "intel-iommu"], "twice" },
        { ["mtree", "-f", "-D"], "-f and -D" },
        { ["mtree", "-device", "edu,addr=zz"], "-device edu,addr=zz: Property 'edu.addr' doesn't take value 'zz'" },
        { ["mtree", "-device", "edu,addr=01.0"], "-device edu,addr=01.0: PCI: slot 1 function 0 not available for edu, in use by VGA,id=(null)" },
        { ["mtree", "-accel", "kvm"], "-accel" },
        { ["profiles", "extra"], "extra" },
        { ["nonesuch"], "nonesuch" },
        { [], "command" },
    };

    [Theory]
    [MemberData(nameof(BadOptions))]
    public void ABadOptionIsAUsageErrorInPlainWords(string[] args, string expected)
    {
        var (exit, text) = Run(args);
        Assert.Equal(2, exit);
        Assert.Contains(expected, text);
        Assert.StartsWith("vtdsim", text);
        CliProcess.AssertPlain(text);
    }

    [Theory]
    [InlineData("toplevelonly")]
    [InlineData("AllLevels")]
    public void ReachTakesItsNamesInAnyCase(string reach)
    {
        var (exit, _) = Run("demo", "--reach", reach);
        Assert.Equal(0, exit);
    }

    [Fact]
    public void DemoOnTheArchitecturalProfileLabelsItsRunsByWhatTheyAre()
    {
        var (exit, text) = Run("demo", "--profile", "architectural");
        Assert.Equal(0, exit);
        Assert.DoesNotContain("Sapphire Rapids", text);
        Assert.Contains("architectural with erratum 772415 switched on", text);
        Assert.Contains("architectural (as the profile is, erratum off)", text);
    }

    [Fact]
    public void DemoOnTheErratumProfileNamesItsArchitecturalRun()
    {
        var (exit, text) = Run("demo", "--walk");
        Assert.Equal(0, exit);
        Assert.Contains("sapphire-rapids with erratum 772415 switched off", text);
        Assert.Contains("sapphire-rapids (as the profile is, erratum on, TopLevelOnly)", text);
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
