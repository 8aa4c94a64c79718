using VtdSim.Scenarios.Model;
using VtdSim.Scenarios.Running;

namespace VtdSim.Scenarios.Tests;

/// <summary>The runner: deterministic, a refused configuration is a result, a step that cannot run stops the run with a reason.</summary>
public class RunnerTests
{
    [Fact]
    public void TheSameFileGivesTheSameEventsAndTheSameJsonByteForByte()
    {
        Scenario s = BuiltIn.Load("09-kexec-to-sm-off.yaml");
        string first = ScenarioJson.Write([ScenarioRunner.Run(s, trace: true)]);
        string second = ScenarioJson.Write([ScenarioRunner.Run(BuiltIn.Load("09-kexec-to-sm-off.yaml"), trace: true)]);
        Assert.Equal(first, second);
        Assert.Contains("\"kind\": \"walk\"", first, StringComparison.Ordinal);
    }

    [Fact]
    public void TraceAddsTheHostWalkOfEachDmaAndChangesNothingElse()
    {
        Scenario s = BuiltIn.Load("03-vga-bios-table-erratum.yaml");
        ScenarioRun plain = ScenarioRunner.Run(s), traced = ScenarioRunner.Run(s, trace: true);
        Assert.Equal(plain.Events.Select(e => e.Text), traced.Events.Where(e => e.Kind != "walk").Select(e => e.Text));
        var walk = traced.Events.Where(e => e.Kind == "walk").ToList();
        // A nested 4-level over 4-level walk in the host IOMMU: the guest's first-stage entries (labelled with the guest's
        // level), each table GPA through the host's second stage, and the erratum's A/D update in the read-only VGA BIOS.
        Assert.All(walk, w => Assert.Equal("host", w.WalkUnit));
        Assert.Contains(walk, w => w.Level == "guest0" && w.Text.StartsWith("host IOMMU: read guest0's first-stage L4 entry", StringComparison.Ordinal) && w.Text.Contains("(GPA 0xc0000)", StringComparison.Ordinal));
        ScenarioEvent erratum = Assert.Single(walk, w => w.WalkAccess == "a/d-erratum");
        Assert.Equal(("guest0", "first-stage"), (erratum.Level, erratum.WalkStage));
        Assert.Contains(walk, w => w.Level == "host" && w.Text.Contains("host second-stage L4 entry (for guest0's first-stage L4 table)", StringComparison.Ordinal));
    }

    [Fact]
    public void APassthroughDevicesFaultIsTheHostIommusEvenWhenItsGuestRequesterIdIsItsHostOne()
    {
        // With the default VGA and NIC and an edu, the passed-through function lands in the guest's slot 4: 00:04.0 on
        // both buses. Its DMA faults in the host IOMMU; the edu's faults in the vIOMMU, the guest's.
        Scenario s = BuiltIn.Parse("s.yaml", """
            name: the same requester id at two levels
            host: { devices: [ { id: nic, rid: "00:04.0" } ] }
            vmms: [ { name: vm0, defaults: on, devices: [ { intel-iommu: caching-mode=on }, { passthrough: nic }, { edu: "" } ] } ]
            steps:
              - start: vm0
              - dma: { at: vm0, device: nic, address: 0x100000000, access: read }
              - boot: vm0
              - dma: { at: vm0, device: edu, address: 0x100000000, access: read }
            """);
        ScenarioRun run = ScenarioRunner.Run(s);
        Assert.Contains(run.Events, e => e.Step == 1 && e.Kind == "dma" && e.Text.StartsWith("nic (00:04.0) ", StringComparison.Ordinal));
        Assert.Equal("host", Assert.Single(run.Events, e => e.Step == 1 && e.Kind == "fault").Level);
        Assert.Equal("vm0", Assert.Single(run.Events, e => e.Step == 3 && e.Kind == "fault").Level);
    }

    [Fact]
    public void AStepWhoseVmmIsNotRunningStopsTheRunWithAReasonAndTheRestIsSkipped()
    {
        Scenario s = BuiltIn.Parse("s.yaml", """
            name: boot before start
            host: { devices: [ { id: nic, rid: "00:04.0" } ] }
            vmms: [ { name: vm0, devices: [ { passthrough: nic } ] } ]
            steps:
              - boot: vm0
              - start: vm0
                expect: [ { vm: { vmm: vm0, state: running } } ]
            """);
        ScenarioRun run = ScenarioRunner.Run(s);
        Assert.Equal([StepStatus.Error, StepStatus.Skipped], run.Steps.Select(x => x.Status));
        Assert.Contains(run.Events, e => e.Kind == "error" && e.Text == "vm0 has not been started");
        Verdict v = Assert.Single(run.Verdicts);
        Assert.False(v.Pass);
        Assert.Equal("the step did not run: an earlier step stopped the run", v.Reason);
    }

    [Fact]
    public void AVmmWhoseIntelIommuPropertiesQemuRefusesDoesNotStartWithQemusMessage()
    {
        Scenario s = BuiltIn.Parse("s.yaml", """
            name: a property QEMU 7.2 lacks
            vmms: [ { name: vm0, erratum-policy: qemu-7.2, devices: [ { intel-iommu: "x-scalable-mode=on,x-flts=on" } ] } ]
            steps:
              - start: vm0
                expect:
                  - vm: { vmm: vm0, state: failed }
                  - log: { at: vm0, from: qemu, equals: "qemu-system-x86_64: -device intel-iommu,x-scalable-mode=on,x-flts=on: Property 'intel-iommu.x-flts' not found" }
            """);
        ScenarioRun run = ScenarioRunner.Run(s);
        Assert.True(run.Passed, string.Join("\n", run.Verdicts));
    }

    [Fact]
    public void AnInconsistentCapEcapOverrideIsRefusedAsTheProfileCheckerSaysAndNothingRuns()
    {
        Scenario s = BuiltIn.Parse("s.yaml", """
            name: NEST without first and second stage
            host: { profile: sapphire-rapids, ecap: 0x4000000 }
            expect: [ { event: { at: host, kind: error, contains: "NEST needs both FSTS and SSTS" } } ]
            steps:
              - dma: { at: host, device: nic, address: 0, access: read }
            """.Replace("host: { profile: sapphire-rapids, ecap: 0x4000000 }", "host: { profile: sapphire-rapids, ecap: 0x4000000, devices: [ { id: nic, rid: \"00:04.0\" } ] }", StringComparison.Ordinal));
        ScenarioRun run = ScenarioRunner.Run(s);
        Assert.Equal(StepStatus.Skipped, Assert.Single(run.Steps).Status);
        Assert.True(Assert.Single(run.Verdicts).Pass, run.Verdicts[0].ToString());
    }

    [Fact]
    public void AMapBeforeTheGuestBootedIsAnErrorThatStopsTheRunButARefusedBindIsAResult()
    {
        const string Head = """
            name: map
            host: { devices: [ { id: nic, rid: "00:04.0" } ] }
            vmms: [ { name: vm0, devices: [ { passthrough: nic }, { intel-iommu: caching-mode=on } ], guest: { kernel: { intel-iommu: off } } } ]
            steps:
              - start: vm0

            """;
        ScenarioRun early = ScenarioRunner.Run(BuiltIn.Parse("s.yaml", Head + "  - map: { vmm: vm0, device: nic, iova: 0x1000, size: 0x1000 }\n  - boot: vm0\n"));
        Assert.Equal([StepStatus.Done, StepStatus.Error, StepStatus.Skipped], early.Steps.Select(x => x.Status));
        Assert.True(early.Events.Any(e => e.Kind == "error" && e.Text == "the guest of vm0 has not booted"), string.Join("\n", early.Events.Select(e => e.Text)));

        // A guest kernel without an IOMMU refuses to bind the device: EINVAL is the step's result, and the run goes on.
        ScenarioRun refused = ScenarioRunner.Run(BuiltIn.Parse("s.yaml", Head + "  - boot: vm0\n  - map: { vmm: vm0, device: nic, iova: 0x1000, size: 0x1000 }\n    expect: [ { errno: EINVAL } ]\n  - quit: vm0\n"));
        Assert.Equal([StepStatus.Done, StepStatus.Done, StepStatus.Done, StepStatus.Done], refused.Steps.Select(x => x.Status));
        Assert.True(refused.Passed, string.Join("\n", refused.Verdicts));
        Assert.True(refused.Events.Any(e => e.Kind == "iommufd" && e.Text.StartsWith("VFIO_DEVICE_BIND_IOMMUFD nic (", StringComparison.Ordinal) && e.Text.EndsWith("): -22 (EINVAL)", StringComparison.Ordinal)), string.Join("\n", refused.Events.Select(e => e.Text)));
    }

    [Fact]
    public void AVmmInAGuestStartsOnTheGuestsKernelAndNamesItsLevel()
    {
        Scenario s = BuiltIn.Parse("s.yaml", """
            name: an L2 VMM
            vmms:
              - name: l1
                memory: 512M
                devices: [ { intel-iommu: caching-mode=on } ]
                guest:
                  vmms: [ { name: l2, memory: 16M } ]
            steps:
              - start: l2
              - start: l1
              - boot: l1
              - start: l2
                expect: [ { vm: { vmm: l2, state: running } } ]
            """);
        ScenarioRun run = ScenarioRunner.Run(s);
        // Before its L1 guest has booted, an L2 VMM has no kernel to start on.
        Assert.Equal(StepStatus.Error, run.Steps[0].Status);
        Assert.Contains(run.Events, e => e.Level == "l2" && e.Text == "l2 runs in the guest of a VMM that is not started, whose kernel has not booted");
        s = s with { Steps = s.Steps.Skip(1).ToList() };
        run = ScenarioRunner.Run(s);
        Assert.True(run.Passed, string.Join("\n", run.Events.Select(e => e.Text)));
        Assert.Contains(run.Events, e => e.Level == "l2" && e.Kind == "vmm" && e.Text.StartsWith("l2: running", StringComparison.Ordinal));
    }

    private const string SharedFile = """
        name: a read-only file shown to a guest
        host:
          devices: [ { id: nic, rid: "00:04.0" } ]
          files: [ { path: /dev/shm/rom.img, size: 64K } ]
          kernel: { erratum-rule: off }
        vmms:
          - name: vm0
            erratum-policy: wants-nesting-maps-ro
            objects:
              - memory-backend-file: id=rom0,mem-path=/dev/shm/rom.img,size=64K,share=on,readonly=on
            devices:
              - intel-iommu: x-scalable-mode=on,x-flts=on,caching-mode=on
              - nvdimm: memdev=rom0,unarmed=on
              - passthrough: nic
        steps:
          - start: vm0
          - boot: vm0
          - map: { vmm: vm0, device: nic, iova: 0x1000000, size: 0x1000 }
          - first-stage-at: { vmm: vm0, device: nic, gpa: 0x100000000 }
          - dma: { at: vm0, device: nic, address: 0x1000000, access: write }
        """;

    /// <summary>A read-only backend on an NVDIMM without unarmed=on, and a backend QEMU cannot parse: the VM does not start, with QEMU's words (S61, S62).</summary>
    [Theory]
    [InlineData("nvdimm: memdev=rom0,unarmed=on", "nvdimm: memdev=rom0", "qemu-system-x86_64: -device nvdimm,memdev=rom0: 'unarmed' property must be 'on' since memdev rom0 is read-only", "vm0: failed")]
    [InlineData("share=on,readonly=on", "share=on,readonly=maybe", "qemu-system-x86_64: -object memory-backend-file,id=rom0,mem-path=/dev/shm/rom.img,size=64K,share=on,readonly=maybe: Parameter 'readonly' expects 'on' or 'off'", "vm0: failed (QEMU refused its command line)")]
    [InlineData("mem-path=/dev/shm/rom.img,size", "mem-path=/dev/shm/none.img,size", "qemu-system-x86_64: -object memory-backend-file,id=rom0,mem-path=/dev/shm/none.img,size=64K,share=on,readonly=on: can't open backing store /dev/shm/none.img for guest RAM: No such file or directory", "vm0: failed")]
    public void ARefusedReadOnlyNvdimmIsAResultNotACrash(string from, string to, string message, string state)
    {
        Scenario s = BuiltIn.Parse("s.yaml", SharedFile.Replace(from, to, StringComparison.Ordinal));
        ScenarioRun run = ScenarioRunner.Run(s);
        Assert.Contains(run.Events, e => e.Kind == "qemu-log" && e.Level == "vm0" && e.Text == message);
        Assert.Contains(run.Events, e => e.Kind == "vmm" && e.Text.StartsWith(state, StringComparison.Ordinal));
        Assert.Equal(StepStatus.Error, run.Steps[1].Status); // nothing to boot: the run stops there, with its reason
    }

    /// <summary>
    /// A read-only page whose bytes do not lead to memory the guest can write (a file of zeros) cannot be made the
    /// guest's root table: the step is an error naming the entry, and nothing after it runs (S63).
    /// </summary>
    [Fact]
    public void AReadOnlyPageWhoseEntriesLeadNowhereTheGuestCanWriteIsAnErrorNotARootTable()
    {
        ScenarioRun run = ScenarioRunner.Run(BuiltIn.Parse("s.yaml", SharedFile));
        Assert.Equal([StepStatus.Done, StepStatus.Done, StepStatus.Done, StepStatus.Error, StepStatus.Skipped], run.Steps.Select(o => o.Status));
        ScenarioEvent e = Assert.Single(run.Events, e => e.Kind == "error");
        Assert.Equal("the guest cannot write GPA 0x100000000 (read-only), and the page's entry 0 (0x0000000000000000) does not lead to memory it can write: the page cannot be its root table", e.Text);
    }

    /// <summary>`host-file-read: {vmm}`: another host process maps a VMM's guest-RAM file (shared-file) and reads what the guest's device wrote.</summary>
    [Fact]
    public void AHostProcessReadsWhatAPassthroughDeviceWroteIntoAVmmsGuestRamFile()
    {
        ScenarioRun run = ScenarioRunner.Run(BuiltIn.Parse("s.yaml", """
            name: a guest-RAM file read by another host process
            host: { devices: [ { id: nic, rid: "00:04.0" } ] }
            vmms: [ { name: vm0, ram-backend: shared-file, devices: [ { passthrough: nic } ] } ]
            steps:
              - start: vm0
              - dma: { at: vm0, device: nic, address: 0x2000, access: write, data: "c0ffee" }
              - host-file-read: { vmm: vm0, offset: 0x2000, size: 3 }
                expect:
                  - event: { at: host, kind: file-read, contains: "at 0x2000: c0ffee" }
            """));
        Assert.True(run.Passed, string.Join("\n", run.Verdicts));
    }
}
