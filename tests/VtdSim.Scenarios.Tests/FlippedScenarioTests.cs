using VtdSim.Scenarios.Model;
using VtdSim.Scenarios.Running;

namespace VtdSim.Scenarios.Tests;

/// <summary>
/// The built-in scenarios' key expectations are not vacuous: with the one setting that makes the difference flipped,
/// the same file's key expectation fails (and the run is a result, not a crash).
/// </summary>
public class FlippedScenarioTests
{
    /// <summary>Runs <paramref name="file"/> with <paramref name="from"/> replaced by <paramref name="to"/> (exactly once) and gives the verdicts by field path.</summary>
    private static Dictionary<string, Verdict> Flipped(string file, string from, string to)
    {
        string text = BuiltIn.Text(file);
        Assert.Equal(1, text.Split(from).Length - 1);
        Scenario s = BuiltIn.Parse(file, text.Replace(from, to, StringComparison.Ordinal));
        ScenarioRun run = ScenarioRunner.Run(s);
        Assert.False(run.Passed);
        return run.Verdicts.ToDictionary(v => v.Expect.Spot.Path);
    }

    private static void Fails(Dictionary<string, Verdict> verdicts, string path, string reason)
    {
        Verdict v = verdicts[path];
        Assert.False(v.Pass, v.ToString());
        Assert.True(v.Reason.Contains(reason, StringComparison.Ordinal), $"{path}: {v}");
    }

    [Fact]
    public void Scenario1WithQemu11sBypassRoTheVmStarts()
    {
        var v = Flipped("01-qemu-without-workaround-refused.yaml", "erratum-policy: wants-nesting-maps-ro", "erratum-policy: qemu-11");
        Fails(v, "steps[0].expect[0]", "vm0 is running");
        Fails(v, "steps[0].expect[1]", "nothing was printed there");
    }

    [Fact]
    public void Scenario2WithAVmmThatMapsRomReadWriteTheRomIsReachable()
    {
        var v = Flipped("02-qemu-11-bypass-ro.yaml", "erratum-policy: qemu-11", "erratum-policy: never-ro");
        Fails(v, "steps[0].expect[2]", "no such event");
        Fails(v, "steps[1].expect[0]", "no fault: nic (00:04.0) DMA read 0x10 bytes at 0xc0000: completed");
    }

    [Fact]
    public void Scenario3OnTheArchitecturalUnitNothingIsWritten()
    {
        var v = Flipped("03-vga-bios-table-erratum.yaml", "profile: sapphire-rapids", "profile: architectural");
        Fails(v, "steps[4].expect[0]", "stopped after 0x0 bytes by a fault");
        Fails(v, "steps[4].expect[1]", "no such write");
        Fails(v, "steps[4].expect[2]", "still 0770100000000000");
    }

    [Fact]
    public void Scenario3OnTheErratumUnitTheReadOnlyPageChanges()
    {
        var v = Flipped("03-vga-bios-table-architectural.yaml", "profile: architectural", "profile: sapphire-rapids");
        Fails(v, "steps[4].expect[0]", "no fault");
        Fails(v, "steps[4].expect[2]", "1 write(s)");
        Fails(v, "steps[4].expect[3]", "… became 27701000");
    }

    [Fact]
    public void Scenario4WithXFltsTheDeviceIsNestedNotShadowed()
    {
        var v = Flipped("04-legacy-viommu-shadowing.yaml", "intel-iommu: caching-mode=on", "intel-iommu: x-scalable-mode=on,x-flts=on,caching-mode=on");
        Fails(v, "steps[0].expect[1]", "NEST_PARENT");
        Fails(v, "steps[3].expect[1]", "no such event");
        Fails(v, "expect[0]", "nested");
    }

    [Fact]
    public void Scenario7WithQemu11TheDeviceCannotWriteTheRom()
    {
        var v = Flipped("07-vmm-never-maps-read-only.yaml", "erratum-policy: never-ro", "erratum-policy: qemu-11");
        Fails(v, "steps[1].expect[0]", "by a fault");
        Fails(v, "steps[1].expect[1]", "the bytes are ");
    }

    [Fact]
    public void Scenario8OnTheArchitecturalUnitTheFileStaysAsItWas()
    {
        var v = Flipped("08-shared-file-page-corrupted.yaml", "profile: sapphire-rapids", "profile: architectural");
        Fails(v, "steps[5].expect[0]", "no such write");
        Fails(v, "steps[6].expect[0]", "no such event");
    }

    [Fact]
    public void Scenario9KexecIntoScalableModeKeepsNestingAndNoMapIsRefused()
    {
        var v = Flipped("09-kexec-to-sm-off.yaml", "kernel: { scalable-mode: off }", "kernel: { scalable-mode: on }");
        Fails(v, "steps[3].expect[0]", "no such event");
        Fails(v, "steps[5].expect[1]", "nothing was printed there");
        Fails(v, "steps[5].expect[3]", "nothing was printed there");
    }
}
