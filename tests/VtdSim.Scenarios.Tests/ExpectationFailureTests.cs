using VtdSim.Scenarios.Model;
using VtdSim.Scenarios.Running;

namespace VtdSim.Scenarios.Tests;

/// <summary>An expectation that does not hold fails with the reason a user reads: what was seen instead.</summary>
public class ExpectationFailureTests
{
    /// <summary>vm0 starts and its NIC reads GPA 0x1000 (no vIOMMU: it completes); vm1 never starts. The expectation is the DMA step's.</summary>
    private static Verdict Judge(string expectation, string step = "dma: { at: vm0, device: nic, address: 0x1000, access: read }")
    {
        Scenario s = BuiltIn.Parse("s.yaml", $$"""
            name: failing expectations
            host: { devices: [ { id: nic, rid: "00:04.0" } ] }
            vmms: [ { name: vm0, devices: [ { passthrough: nic } ] }, { name: vm1 } ]
            steps:
              - start: vm0
              - {{step}}
                expect: [ {{expectation}} ]
            """);
        return Assert.Single(ScenarioRunner.Run(s).Verdicts);
    }

    [Theory]
    [InlineData("{ vm: { vmm: vm0, state: stopped } }", "vm0 is running")]
    [InlineData("{ vm: { vmm: vm1, state: running } }", "vm1 is not started")]
    [InlineData("{ errno: EINVAL }", "every call returned 0")]
    [InlineData("{ fault: 0x77 }", "no fault: nic (00:01.0) DMA read 0x8 bytes at 0x1000: completed")]
    [InlineData("{ fault: { reason: any, at: host } }", "no fault: nic (00:01.0) DMA read 0x8 bytes at 0x1000: completed")]
    [InlineData("{ log: { at: host, contains: no such line } }", "nothing was printed there")]
    [InlineData("{ log: { at: vm0, from: qemu, equals: x } }", "nothing was printed there")]
    [InlineData("{ memory: { at: host, address: 0xfffffffff000, size: 8, equals: \"0000000000000000\" } }", "host 0xfffffffff000 cannot be read")]
    [InlineData("{ memory: { at: vm1, address: 0x1000, changed: on } }", "vm1 0x1000 cannot be read (the VMM is not running, or it is not RAM)")]
    [InlineData("{ memory: { at: vm0, address: 0x1000, unchanged: off } }", "still ")]
    [InlineData("{ guest-table-write: { vmm: vm0 } }", "no such write")]
    [InlineData("{ event: { contains: no such text } }", "no such event")]
    [InlineData("{ event: { at: vm0, kind: dma, contains: nic, absent: on } }", "vm0 dma: nic (00:01.0) DMA read 0x8 bytes at 0x1000: completed")]
    public void AnExpectationThatDoesNotHoldFailsWithWhatWasSeen(string expectation, string reason)
    {
        Verdict v = Judge(expectation);
        Assert.False(v.Pass);
        Assert.True(v.Reason.StartsWith(reason, StringComparison.Ordinal), v.Reason);
    }

    [Theory]
    [InlineData("{ dma: completed }", "no DMA ran")]
    [InlineData("{ fault: 0x77 }", "no DMA ran")]
    public void ADmaExpectationOnAStepWithoutDmaFailsWithNoDmaRan(string expectation, string reason)
    {
        Verdict v = Judge(expectation, step: "quit: vm0");
        Assert.False(v.Pass);
        Assert.Equal(reason, v.Reason);
    }

    /// <summary>vm0 has a scalable first-stage vIOMMU, its NIC and an edu; its guest has booted. The expectation is the last step's.</summary>
    private static Verdict JudgeInViommuGuest(string step, string expectation)
    {
        Scenario s = BuiltIn.Parse("s.yaml", $$"""
            name: failing expectations behind a vIOMMU
            host: { devices: [ { id: nic, rid: "00:04.0" } ] }
            vmms: [ { name: vm0, devices: [ { intel-iommu: "x-scalable-mode=on,x-flts=on,caching-mode=on" }, { passthrough: nic }, { edu: "" } ] } ]
            steps:
              - start: vm0
              - boot: vm0
              - {{step}}
                expect: [ {{expectation}} ]
            """);
        return Assert.Single(ScenarioRunner.Run(s).Verdicts);
    }

    private const string EduDma = "dma: { at: vm0, device: edu, address: 0x100000000, access: read }";

    [Theory]
    [InlineData(EduDma, "{ fault: SFS.8 }", "the faults were otherwise: fault 0x")]
    [InlineData(EduDma, "{ dma: completed }", "edu (00:01.0) DMA read 0x8 bytes at 0x100000000: stopped after 0x0 bytes by a fault (fault 0x")]
    [InlineData(EduDma, "{ fault: none }", "fault 0x")]
    [InlineData(EduDma, "{ guest-table-write: { vmm: vm0, count: 1 } }", "no such write")]
    [InlineData("hwpt-alloc: { vmm: vm0, device: nic, flags: nest-parent }", "{ errno: none }", "IOMMU_HWPT_ALLOC for nic on IOAS 2 with flags NEST_PARENT: -")]
    [InlineData("hwpt-alloc: { vmm: vm0, device: nic, flags: nest-parent }", "{ errno: EINVAL }", "the calls failed otherwise: IOMMU_HWPT_ALLOC for nic on IOAS 2 with flags NEST_PARENT: -")]
    [InlineData("kexec: { vmm: vm0, kernel: { scalable-mode: off } }", "{ log: { at: vm0, equals: DMAR } }", "not among the ")]
    [InlineData("quit: vm0", "{ memory: { at: vm0, address: 0x1000, unchanged: on } }", "vm0 0x1000 cannot be read (the VMM is not running, or it is not RAM)")]
    public void AnExpectationThatDoesNotHoldBehindAViommuFailsWithWhatWasSeen(string step, string expectation, string reason)
    {
        Verdict v = JudgeInViommuGuest(step, expectation);
        Assert.False(v.Pass);
        Assert.True(v.Reason.StartsWith(reason, StringComparison.Ordinal), v.Reason);
    }

    [Fact]
    public void AFailedVerdictInTheJsonSaysFailWhereItsExpectationIsAndWhy()
    {
        Scenario s = BuiltIn.Parse("s.yaml", """
            name: a failed verdict in JSON
            vmms: [ { name: vm0 } ]
            steps:
              - start: vm0
                expect: [ { vm: { vmm: vm0, state: stopped } } ]
            """);
        using var json = System.Text.Json.JsonDocument.Parse(ScenarioJson.Write([ScenarioRunner.Run(s)]));
        System.Text.Json.JsonElement verdict = json.RootElement.GetProperty("runs").EnumerateArray().Single().GetProperty("verdicts").EnumerateArray().Single();
        Assert.Equal(("s.yaml:5:15", "steps[0].expect[0]", "FAIL", "vm0 is running"),
            (verdict.GetProperty("at").GetString(), verdict.GetProperty("path").GetString(), verdict.GetProperty("verdict").GetString(), verdict.GetProperty("reason").GetString()));
    }

    [Fact]
    public void AMemoryExpectationOnMemoryThatDidNotExistBeforeTheStepHasNothingToCompareWith()
    {
        Verdict v = Judge("{ memory: { at: vm1, address: 0x1000, changed: on } }", step: "start: vm1");
        Assert.False(v.Pass);
        Assert.Equal("there was nothing to compare with: the address could not be read before", v.Reason);
    }

    [Fact]
    public void AGuestStoreTheVIommuDropsIsAViommuEvent()
    {
        Scenario s = BuiltIn.Parse("s.yaml", """
            name: a bad register store
            vmms: [ { name: vm0, devices: [ { intel-iommu: "x-scalable-mode=on" } ] } ]
            steps:
              - start: vm0
              - register-write: { vmm: vm0, offset: 0x3, size: 8, value: 1 }
                expect: [ { event: { at: vm0, kind: viommu, contains: register warning at offset 0x3 } } ]
            """);
        ScenarioRun run = ScenarioRunner.Run(s);
        Assert.True(run.Passed, string.Join("\n", run.Events.Select(e => $"{e.Kind}: {e.Text}")));
    }
}
