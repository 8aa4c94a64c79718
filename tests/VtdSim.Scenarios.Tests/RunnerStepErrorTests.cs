using VtdSim.Scenarios.Model;
using VtdSim.Scenarios.Running;

namespace VtdSim.Scenarios.Tests;

/// <summary>
/// A step that cannot run stops the run with an `error` event that says why, at the step's level, and the steps after it
/// are skipped; a change the VMM refuses is a `refused` event and the run goes on.
/// </summary>
public class RunnerStepErrorTests
{
    /// <summary>vm0 (scalable first-stage vIOMMU) gets a NIC and an edu; vm1 has no vIOMMU; vm2 a legacy one; vm3 a scalable one without x-flts.</summary>
    private const string Setup = """
        name: step errors
        host:
          devices: [ { id: nic, rid: "00:04.0" }, { id: nic2, rid: "00:05.0" }, { id: nic3, rid: "00:06.0" }, { id: nic4, rid: "00:07.0" } ]
          files: [ { path: /dev/shm/f.img, size: 8K } ]
        vmms:
          - name: vm0
            devices: [ { intel-iommu: "x-scalable-mode=on,x-flts=on,caching-mode=on" }, { passthrough: nic }, { edu: "" } ]
          - name: vm1
            devices: [ { passthrough: nic2 }, { edu: "" } ]
          - name: vm2
            devices: [ { intel-iommu: caching-mode=on }, { passthrough: nic3 } ]
          - name: vm3
            devices: [ { intel-iommu: "x-scalable-mode=on,caching-mode=on" }, { passthrough: nic4 } ]
        steps:

        """;

    private static ScenarioRun Run(string steps)
    {
        Scenario s = BuiltIn.Parse("s.yaml", Setup + steps);
        return ScenarioRunner.Run(s);
    }

    private static string Dump(ScenarioRun run) => string.Join("\n", run.Events.Select(e => $"{e.Step} {e.Level} {e.Kind}: {e.Text}"));

    /// <summary>The run's last step is the one in error: one `error` event with this text, at this level, and the run stops there.</summary>
    private static void AssertStops(string steps, string level, string message)
    {
        ScenarioRun run = Run(steps);
        var errors = run.Events.Where(e => e.Kind == "error").ToList();
        Assert.True(errors.Count == 1, $"expected one error event\n{Dump(run)}");
        ScenarioEvent error = errors[0];
        // What the guest kernel chose (a table's GPA, the PGTT of its PASID entry) is not part of the message a test pins: {*} stands for it.
        string[] around = message.Split("{*}");
        bool matches = around.Length == 1 ? error.Text == message
            : error.Text.StartsWith(around[0], StringComparison.Ordinal) && error.Text.EndsWith(around[1], StringComparison.Ordinal);
        Assert.True(matches, $"expected '{message}'\n{Dump(run)}");
        Assert.Equal(level, error.Level);
        Assert.Equal(StepStatus.Error, run.Steps[error.Step].Status);
        Assert.All(run.Steps.Skip(error.Step + 1), x => Assert.Equal(StepStatus.Skipped, x.Status));
    }

    [Theory]
    [InlineData("  - start: vm0\n  - start: vm0\n", "vm0", "vm0 was started already")]
    [InlineData("  - start: vm0\n  - boot: vm0\n  - boot: vm0\n", "vm0", "the guest of vm0 has booted already (kexec boots another kernel)")]
    [InlineData("  - start: vm0\n  - quit: vm0\n  - boot: vm0\n", "vm0", "vm0 is not running (it is stopped)")]
    [InlineData("  - start: vm1\n  - boot: vm1\n  - invalidate: { vmm: vm1, device: nic2 }\n", "vm1", "vm1's guest has no vIOMMU")]
    [InlineData("  - start: vm1\n  - register-write: { vmm: vm1, offset: 0x88, value: 1 }\n", "vm1", "vm1's guest has no vIOMMU")]
    [InlineData("  - start: vm2\n  - boot: vm2\n  - invalidate: { vmm: vm2, device: nic3 }\n", "vm2", "vm2's guest does not use scalable mode: there is no PASID entry to change")]
    [InlineData("  - start: vm0\n  - boot: vm0\n  - table-entry: { vmm: vm0, device: nic, iova: 0x1000, level: 5, set: 0x1 }\n", "vm0", "vm0's guest has no context entry for 00:02.0: map something for it first")]
    [InlineData("  - start: vm0\n  - boot: vm0\n  - map: { vmm: vm0, device: nic, iova: 0x1000000, size: 0x1000 }\n  - table-entry: { vmm: vm0, device: nic, iova: 0x1000, level: 5, set: 0x1 }\n", "vm0", "nic's first stage has 4 levels; there is no L5 entry")]
    [InlineData("  - start: vm0\n  - boot: vm0\n  - map: { vmm: vm0, device: nic, iova: 0x1000000, size: 0x1000 }\n  - table-entry: { vmm: vm0, device: nic, iova: 0x8000000000, level: 1, set: 0x1 }\n", "vm0", "nic's first stage has no L3 table for IOVA 0x8000000000 (the L4 entry at GPA {*} is not present): map it first")]
    [InlineData("  - host-file-read: { vmm: vm0, offset: 0, size: 8 }\n", "vm0", "vm0 has not been started")]
    [InlineData("  - start: vm0\n  - host-file-read: { vmm: vm0, offset: 0, size: 8 }\n", "vm0", "vm0's guest RAM is not a file (ram-backend: shared-file)")]
    [InlineData("  - host-file-read: { path: /dev/shm/f.img, offset: 0xffc, size: 8 }\n", "host", "the read must stay within one page of the file")]
    [InlineData("  - start: vm0\n  - map: { vmm: vm0, device: nic, iova: 0x1000000, size: 0x1000 }\n", "vm0", "the guest of vm0 has not booted")]
    [InlineData("  - start: vm0\n  - boot: vm0\n  - first-stage-at: { vmm: vm0, device: nic, gpa: 0x200000 }\n", "vm0", "vm0's guest has no context entry for 00:02.0: map something for it first")]
    [InlineData("  - start: vm0\n  - hot-add: { vmm: vm1, id: m1, gpa: 0x100000000, size: 128M }\n", "vm1", "vm1 has not been started")]
    [InlineData("  - pam: { vmm: vm0, segment: 0, mode: pci }\n", "vm0", "vm0 has not been started")]
    [InlineData("  - move-bar: { vmm: vm0, device: edu, address: none }\n", "vm0", "vm0 has not been started")]
    [InlineData("  - kexec: { vmm: vm0, kernel: { scalable-mode: off } }\n", "vm0", "vm0 has not been started")]
    [InlineData("  - quit: vm0\n", "vm0", "vm0 has not been started")]
    [InlineData("  - dma: { at: vm0, device: nic, address: 0x1000, access: read }\n", "vm0", "vm0 has not been started")]
    [InlineData("  - start: vm0\n  - first-stage-at: { vmm: vm0, device: nic, gpa: 0x200000 }\n", "vm0", "the guest of vm0 has not booted")]
    [InlineData("  - start: vm0\n  - invalidate: { vmm: vm0, device: nic }\n", "vm0", "the guest of vm0 has not booted")]
    [InlineData("  - start: vm0\n  - unmap: { vmm: vm0, device: nic, iova: 0x1000000, size: 0x1000 }\n", "vm0", "the guest of vm0 has not booted")]
    [InlineData("  - start: vm0\n  - hwpt-alloc: { vmm: vm0, device: nic }\n", "vm0", "the guest of vm0 has not booted")]
    [InlineData("  - start: vm0\n  - table-entry: { vmm: vm0, device: nic, iova: 0x1000, level: 1, set: 0x1 }\n", "vm0", "the guest of vm0 has not booted")]
    [InlineData("  - start: vm0\n  - boot: vm0\n  - invalidate: { vmm: vm0, device: nic }\n", "vm0", "vm0's guest has no context entry for 00:02.0: map something for it first")]
    [InlineData("  - start: vm0\n  - boot: vm0\n  - register-write: { vmm: vm0, offset: 0x20, size: 8, value: 0x400000000400 }\n  - invalidate: { vmm: vm0, device: nic }\n", "vm0", "the root entry of bus 00 would be at GPA 0x400000000000, which the guest cannot read")]
    [InlineData("  - start: vm3\n  - boot: vm3\n  - map: { vmm: vm3, device: nic4, iova: 0x1000000, size: 0x1000 }\n  - first-stage-at: { vmm: vm3, device: nic4, gpa: 0x200000 }\n", "vm3", "the PASID entry of nic4 does not translate with a first stage (PGTT {*})")]
    [InlineData("  - start: vm3\n  - boot: vm3\n  - map: { vmm: vm3, device: nic4, iova: 0x1000000, size: 0x1000 }\n  - table-entry: { vmm: vm3, device: nic4, iova: 0x1000000, level: 1, set: 0x1 }\n", "vm3", "the PASID entry of nic4 does not translate with a first stage (PGTT {*})")]
    public void AStepThatCannotRunStopsTheRunWithItsReason(string steps, string level, string message) => AssertStops(steps, level, message);

    [Theory]
    [InlineData("{ edu: \"bogus=1\" }", "-device edu,bogus=1: ")]
    [InlineData("{ iommu-testdev: \"addr=zz\" }", "-device iommu-testdev,addr=zz: ")]
    public void ADeviceQemuCannotParseIsQemusMessageAndTheVmmDoesNotStart(string device, string prefix)
    {
        Scenario s = BuiltIn.Parse("s.yaml", $$"""
            name: a device QEMU refuses
            vmms: [ { name: vm0, devices: [ {{device}} ] } ]
            steps:
              - start: vm0
                expect: [ { vm: { vmm: vm0, state: failed } } ]
            """);
        ScenarioRun run = ScenarioRunner.Run(s);
        Assert.True(run.Events.Any(e => e.Kind == "qemu-log" && e.Text.StartsWith("qemu-system-x86_64: " + prefix, StringComparison.Ordinal)), Dump(run));
        Assert.Contains(run.Events, e => e.Kind == "vmm" && e.Text == "vm0: failed (QEMU refused its command line)");
        Assert.True(Assert.Single(run.Verdicts).Pass);
    }

    [Theory]
    [InlineData("  - start: vm0\n  - move-bar: { vmm: vm0, device: edu, address: 0x1234 }\n", "edu's BAR to 0x1234: ")]
    [InlineData("  - start: vm0\n  - move-bar: { vmm: vm0, device: nic, address: 0x1234 }\n", "nic's BAR to 0x1234: ")]
    [InlineData("  - start: vm0\n  - hot-add: { vmm: vm0, id: m1, gpa: 0x1000, size: 128M }\n", "memory hot-add 'm1' (0x8000000 bytes at GPA 0x1000): ")]
    public void AChangeTheVmmRefusesIsARefusedEventAndTheRunGoesOn(string steps, string prefix)
    {
        ScenarioRun run = Run(steps + "  - quit: vm0\n");
        Assert.True(run.Events.Any(e => e.Kind == "refused" && e.Level == "vm0" && e.Text.StartsWith(prefix, StringComparison.Ordinal)), Dump(run));
        Assert.DoesNotContain(run.Events, e => e.Kind == "error");
        Assert.All(run.Steps, x => Assert.NotEqual(StepStatus.Error, x.Status));
    }

    [Fact]
    public void AGuestWithTooLittleRamBelow4GiBDoesNotBoot()
    {
        Scenario s = BuiltIn.Parse("s.yaml", """
            name: too little RAM
            vmms: [ { name: vm0, memory: 1M } ]
            steps:
              - start: vm0
              - boot: vm0
            """);
        ScenarioRun run = ScenarioRunner.Run(s);
        Assert.True(run.Events.Any(e => e.Kind == "error" && e.Text == "the guest of vm0 has too little RAM below 4 GiB for the model's kernel"), Dump(run));
    }

    [Theory]
    [InlineData("dirty-tracking", "DIRTY_TRACKING")]
    [InlineData("nest-parent", "NEST_PARENT")]
    [InlineData("none", "0")]
    public void HwptAllocNamesTheFlagsItAskedFor(string flags, string named)
    {
        ScenarioRun run = Run($"  - start: vm0\n  - boot: vm0\n  - hwpt-alloc: {{ vmm: vm0, device: nic, flags: {flags} }}\n");
        Assert.True(run.Events.Any(e => e.Kind == "iommufd" && e.Text.StartsWith($"IOMMU_HWPT_ALLOC for nic on IOAS 2 with flags {named}", StringComparison.Ordinal)), Dump(run));
    }
}
