using VtdSim.Scenarios.Model;
using VtdSim.Scenarios.Running;

namespace VtdSim.Scenarios.Tests;

/// <summary>
/// The built-in scenarios' key expectations are not vacuous: with the one setting that makes the difference flipped,
/// the same file's key expectation fails (and the run is a result, not a crash). One row per flip: a new scenario adds
/// a row.
/// </summary>
public class FlippedScenarioTests
{
    /// <summary>
    /// Each row: what the flip shows, the file, the text replaced (it must occur exactly once) and its replacement, and
    /// the expectations that must then fail, each as "FIELD.PATH => text the failing verdict's reason contains".
    /// </summary>
    public static TheoryData<string, string, string, string, string[]> Flips() => new()
    {
        {
            "1: with QEMU 11's bypass_ro the VM starts", "01-qemu-without-workaround-refused.yaml",
            "erratum-policy: wants-nesting-maps-ro", "erratum-policy: qemu-11",
            ["steps[0].expect[0] => vm0 is running", "steps[0].expect[1] => nothing was printed there"]
        },
        {
            "2: with a VMM that maps ROM read-write the ROM is reachable", "02-qemu-11-bypass-ro.yaml",
            "erratum-policy: qemu-11", "erratum-policy: never-ro",
            ["steps[0].expect[2] => no such event", "steps[1].expect[0] => no fault: nic (00:04.0) DMA read 0x10 bytes at 0xc0000: completed"]
        },
        {
            "3: on the architectural unit nothing is written", "03-vga-bios-table-erratum.yaml",
            "profile: sapphire-rapids", "profile: architectural",
            ["steps[4].expect[0] => stopped after 0x0 bytes by a fault", "steps[4].expect[1] => no such write", "steps[4].expect[2] => still 0770100000000000"]
        },
        {
            "3: on the erratum unit the read-only page changes", "03-vga-bios-table-architectural.yaml",
            "profile: architectural", "profile: sapphire-rapids",
            ["steps[4].expect[0] => no fault", "steps[4].expect[2] => 1 write(s)", "steps[4].expect[3] => … became 27701000"]
        },
        {
            "4: with x-flts the device is nested, not shadowed", "04-legacy-viommu-shadowing.yaml",
            "intel-iommu: caching-mode=on", "intel-iommu: x-scalable-mode=on,x-flts=on,caching-mode=on",
            ["steps[0].expect[1] => NEST_PARENT", "steps[3].expect[1] => no such event", "expect[0] => nested"]
        },
        {
            // The rule bites at L0: an L0 VMM that maps L1's ROM read-only into its nest parent is refused, so there is no L1.
            "5: an L0 VMM without bypass_ro does not start, so nothing runs at L1 or L2", "05-l0-l1-l2-first-stage-viommu.yaml",
            "\n    erratum-policy: qemu-11", "\n    erratum-policy: wants-nesting-maps-ro",
            ["steps[0].expect[0] => l1 is failed", "steps[2].expect[0] => the step did not run", "steps[3].expect[0] => the step did not run"]
        },
        {
            // Without x-flts the same L1 VMM needs no nest parent: it starts, shadowing.
            "6: an L1 VMM that does not ask for nesting starts", "06-l1-vmm-wants-nesting-without-nest.yaml",
            "x-flts=on,caching-mode=on\n            - passthrough: nic\n        - name: l2\n", "caching-mode=on,aw-bits=39\n            - passthrough: nic\n        - name: l2\n",
            ["steps[2].expect[0] => l2-nested is running", "steps[2].expect[1] => nothing was printed there"]
        },
        {
            "7: with QEMU 11 the device cannot write the ROM", "07-vmm-never-maps-read-only.yaml",
            "erratum-policy: never-ro", "erratum-policy: qemu-11",
            ["steps[1].expect[0] => by a fault", "steps[1].expect[1] => the bytes are "]
        },
        {
            "8: on the architectural unit the shared file stays as it was", "08-shared-file-page-erratum.yaml",
            "profile: sapphire-rapids", "profile: architectural",
            ["steps[5].expect[0] => by a fault", "steps[5].expect[1] => no such write", "steps[5].expect[2] => the bytes are 07f0ff0f00000000", "steps[6].expect[0] => no such event"]
        },
        {
            "8: on the erratum unit vm-b reads the byte vm-a's device changed", "08-shared-file-page-architectural.yaml",
            "profile: architectural", "profile: sapphire-rapids",
            ["steps[5].expect[0] => no fault", "steps[5].expect[1] => 1 write(s)", "steps[5].expect[2] => the bytes are 27f0ff0f00000000", "steps[6].expect[0] => no such event"]
        },
        {
            "9: kexec into scalable mode keeps nesting and no map is refused", "09-kexec-to-sm-off.yaml",
            "kernel: { scalable-mode: off }", "kernel: { scalable-mode: on }",
            ["steps[3].expect[0] => no such event", "steps[5].expect[1] => nothing was printed there", "steps[5].expect[3] => nothing was printed there"]
        },
    };

    [Theory]
    [MemberData(nameof(Flips))]
    public void WithTheSettingFlippedTheKeyExpectationsFail(string shows, string file, string from, string to, string[] fails)
    {
        string text = BuiltIn.Text(file);
        Assert.True(text.Split(from).Length - 1 == 1, $"{shows}: the text to flip must occur exactly once in {file}");
        Scenario s = BuiltIn.Parse(file, text.Replace(from, to, StringComparison.Ordinal));
        ScenarioRun run = ScenarioRunner.Run(s);
        Assert.False(run.Passed);
        var verdicts = run.Verdicts.ToDictionary(v => v.Expect.Spot.Path);
        foreach (string fail in fails)
        {
            string[] parts = fail.Split(" => ", 2);
            Verdict v = verdicts[parts[0]];
            Assert.False(v.Pass, $"{shows}: {parts[0]}: {v}");
            Assert.True(v.Reason.Contains(parts[1], StringComparison.Ordinal), $"{shows}: {parts[0]}: {v}");
        }
    }

    [Fact]
    public void EveryBuiltInScenarioHasAFlip()
    {
        var flipped = Flips().Select(row => (string)row[1]).ToHashSet();
        Assert.All(BuiltIn.Names(), name => Assert.Contains(name, flipped));
    }
}
