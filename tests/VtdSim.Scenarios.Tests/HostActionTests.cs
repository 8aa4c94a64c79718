using VtdSim.Scenarios.Model;
using VtdSim.Scenarios.Running;

namespace VtdSim.Scenarios.Tests;

/// <summary>
/// Host actions and fault injection as steps (issue 11): memory hot-add, a BAR move, PAM toggling, a guest first-stage
/// entry with reserved bits, a guest's garbage store into its vIOMMU's registers. Each drives what the VMM and the
/// vIOMMU already expose; a change they refuse is a `refused` event (the result), not an error that stops the run.
/// </summary>
public class HostActionTests
{
    private const string PassthroughVm = """
        host: { devices: [ { id: nic, rid: "00:04.0" } ] }
        vmms:
          - name: vm0
            defaults: on
            devices: [ { intel-iommu: "x-scalable-mode=on,x-flts=on,caching-mode=on" }, { passthrough: nic }, { edu: "" } ]
        steps:
          - start: vm0

        """;

    private static ScenarioRun Run(string name, string steps, bool trace = false)
    {
        ScenarioRun run = ScenarioRunner.Run(BuiltIn.Parse("s.yaml", $"name: {name}\n" + PassthroughVm + steps), trace);
        Assert.True(run.Passed, string.Join("\n", run.Verdicts.Where(v => !v.Pass)) + "\n" + string.Join("\n", run.Events.Select(e => $"[{e.Step}] {e.Level} {e.Kind}: {e.Text}")));
        Assert.All(run.Steps, s => Assert.Equal(StepStatus.Done, s.Status));
        return run;
    }

    [Fact]
    public void HotAddedMemoryIsMappedForThePassthroughDeviceAndAnOverlapOrARepeatedIdIsRefused()
    {
        Run("hot-add", """
              - dma: { at: vm0, device: nic, address: 0x100000000, access: write, data: "0102030405060708" }
                expect: [ { fault: { reason: any, at: host } } ]
              - hot-add: { vmm: vm0, id: dimm0, gpa: 0x100000000, size: 2M }
                expect: [ { event: { at: vm0, kind: action, contains: "RAM 'dimm0' is in the memory map" } } ]
              # Before the guest turns its vIOMMU on, the device's addresses are GPAs: the listener mapped the new RAM.
              - dma: { at: vm0, device: nic, address: 0x100000000, access: write, data: "0102030405060708" }
                expect:
                  - dma: completed
                  - memory: { at: vm0, address: 0x100000000, equals: "0102030405060708" }
              - hot-add: { vmm: vm0, id: dimm1, gpa: 0x100100000, size: 2M }
                expect:
                  - event: { at: vm0, kind: refused, contains: "overlaps 'dimm0'" }
                  - memory: { at: vm0, address: 0x100000000, equals: "0102030405060708" }
              - hot-add: { vmm: vm0, id: dimm0, gpa: 0x200000000, size: 2M }
                expect: [ { event: { at: vm0, kind: refused, contains: "Duplicate ID 'dimm0' for device" } } ]
            """);
    }

    [Fact]
    public void OpeningAPamSegmentForWritingMakesItsRomDmaReachableUnderBypassRoAndClosingItTakesThatBack()
    {
        Run("pam", """
              - dma: { at: vm0, device: nic, address: 0xc0000, access: read, size: 8 }
                expect: [ { fault: { reason: SSS.2, at: host } } ]
              - pam: { vmm: vm0, segment: 0, mode: read-write }
                expect: [ { event: { at: vm0, kind: action, contains: "PAM segment 0 (0xc0000-0xc3fff) is read-write" } } ]
              - dma: { at: vm0, device: nic, address: 0xc0000, access: read, size: 3 }
                expect: [ { dma: completed }, { event: { at: vm0, kind: dma, contains: "read 55aa50" } } ]
              - pam: { vmm: vm0, segment: 0, mode: read-only }
              - dma: { at: vm0, device: nic, address: 0xc0000, access: read, size: 8 }
                expect: [ { fault: { reason: SSS.2, at: host } } ]
            """);
    }

    [Fact]
    public void ABarMoveIsTheGuestProgrammingTheBarAndAMisalignedOneIsRefused()
    {
        ScenarioRun run = Run("bar", """
              - move-bar: { vmm: vm0, device: nic, address: 0xfe000800 }
                expect: [ { event: { at: vm0, kind: refused, contains: "a BAR is aligned to its size" } } ]
              - move-bar: { vmm: vm0, device: nic, address: 0xfe000000 }
                expect: [ { event: { at: vm0, kind: action, contains: "nic's BAR is at 0xfe000000" } } ]
              - move-bar: { vmm: vm0, device: edu, address: 0xfe100000 }
                expect: [ { event: { at: vm0, kind: action, contains: "edu's BAR is at 0xfe100000" } } ]
              - move-bar: { vmm: vm0, device: nic, address: none }
                expect: [ { event: { at: vm0, kind: action, contains: "nic's BAR is out of the memory map" } } ]
            """);
        Assert.DoesNotContain(run.Events, e => e.Kind == "error");
    }

    [Fact]
    public void AReservedBitInTheGuestsFirstStageFaultsTheNestedWalkWithSfs3AndTheGuestKernelLogsIt()
    {
        Run("reserved bit", """
              - boot: vm0
              - map: { vmm: vm0, device: nic, iova: 0x1000000, size: 0x1000 }
              - dma: { at: vm0, device: nic, address: 0x1000000, access: write }
                expect: [ { dma: completed } ]
              # Bit 7 (PS) is reserved in a 4-level first stage's top-level entry.
              - table-entry: { vmm: vm0, device: nic, iova: 0x1000000, level: 4, set: 0x80 }
                expect: [ { event: { at: vm0, kind: action, contains: "nic's first-stage L4 entry for IOVA 0x1000000" } } ]
              - dma: { at: vm0, device: nic, address: 0x1000000, access: write }
                expect:
                  - fault: SFS.3
                  - log: { at: vm0, from: kernel, contains: "[fault reason 0x72]" }
              # Setting it right again: the guest's next invalidation makes the walk succeed.
              - table-entry: { vmm: vm0, device: nic, iova: 0x1000000, level: 4, clear: 0x80 }
              - dma: { at: vm0, device: nic, address: 0x1000000, access: write }
                expect: [ { dma: completed } ]
            """);
    }

    [Fact]
    public void AGuestWalkThroughAnEntryItPointedOutsideItsMemoryIsAnErrorNotACrash()
    {
        // The first change points the top-level entry far beyond the guest's memory; the second walks through it.
        ScenarioRun run = ScenarioRunner.Run(BuiltIn.Parse("s.yaml", "name: garbage pointer\n" + PassthroughVm + """
              - boot: vm0
              - map: { vmm: vm0, device: nic, iova: 0x1000000, size: 0x1000 }
              - table-entry: { vmm: vm0, device: nic, iova: 0x1000000, level: 4, set: 0xff00000000000 }
              - table-entry: { vmm: vm0, device: nic, iova: 0x1000000, level: 3, set: 0x80 }
            """));
        Assert.Equal([StepStatus.Done, StepStatus.Done, StepStatus.Done, StepStatus.Done, StepStatus.Error], run.Steps.Select(x => x.Status));
        ScenarioEvent error = Assert.Single(run.Events, e => e.Kind == "error");
        Assert.Equal("vm0", error.Level);
        Assert.StartsWith("nic's first-stage L3 entry for IOVA 0x1000000 would be at GPA 0xff0000", error.Text, StringComparison.Ordinal);
        Assert.EndsWith(", which the guest cannot read", error.Text, StringComparison.Ordinal);
    }

    [Fact]
    public void AGarbageRootTableAddressMakesAStepOnTheGuestsTablesAnErrorNotACrash()
    {
        ScenarioRun run = ScenarioRunner.Run(BuiltIn.Parse("s.yaml", "name: garbage RTADDR\n" + PassthroughVm + """
              - boot: vm0
              - map: { vmm: vm0, device: nic, iova: 0x1000000, size: 0x1000 }
              - register-write: { vmm: vm0, offset: 0x20, size: 8, value: 0xff00000000400 }
              - invalidate: { vmm: vm0, device: nic }
            """));
        Assert.Equal([StepStatus.Done, StepStatus.Done, StepStatus.Done, StepStatus.Done, StepStatus.Error], run.Steps.Select(x => x.Status));
        ScenarioEvent error = Assert.Single(run.Events, e => e.Kind == "error");
        Assert.Equal("vm0", error.Level);
        Assert.StartsWith("the root entry of bus 00 would be at GPA 0x", error.Text, StringComparison.Ordinal);
        Assert.EndsWith(", which the guest cannot read", error.Text, StringComparison.Ordinal);
    }

    [Fact]
    public void AGuestsGarbageStoresIntoItsVIommusRegistersAreWhatTheVIommuReports()
    {
        Run("registers", """
              - boot: vm0
              # A 2-byte store is no register access the unit takes: dropped, with a warning.
              - register-write: { vmm: vm0, offset: 0x18, size: 2, value: 0xffff }
                expect: [ { event: { at: vm0, kind: viommu, contains: "register warning" } } ]
              # An IQT that is not on a 256-bit descriptor in scalable mode: an invalidation queue error.
              - register-write: { vmm: vm0, offset: 0x88, size: 8, value: 0x10 }
                expect: [ { event: { at: vm0, kind: viommu, contains: "invalidation queue error" } } ]
            """);
    }

    [Fact]
    public void AGuestPagingHwptWithNestParentFromAnXFltsVIommuIsEopnotsupp()
    {
        Run("hwpt", """
              - boot: vm0
              - hwpt-alloc: { vmm: vm0, device: nic, flags: nest-parent }
                expect: [ { errno: EOPNOTSUPP } ]
              - hwpt-alloc: { vmm: vm0, device: nic }
                expect: [ { errno: none } ]
            """);
    }
}
