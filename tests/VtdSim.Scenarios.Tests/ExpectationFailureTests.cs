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
}
