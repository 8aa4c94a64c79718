using System.Text.Json;
using VtdSim.Cli.Tests.Support;

namespace VtdSim.Cli.Tests;

/// <summary>`vtdsim run`: the timeline and verdicts, exit 0/1/2, --json byte for byte, --trace (in-process).</summary>
public class RunCommandTests
{
    private static string Scenario(string name) => Path.Combine(AppContext.BaseDirectory, "scenarios", name);

    private static (int Exit, string Output) Run(params string[] args)
    {
        var output = new StringWriter();
        int exit = Program.Run(args, output);
        return (exit, output.ToString());
    }

    [Fact]
    public void ABuiltInScenarioPrintsTheLevelsTheStepsWithWhatHappenedAndPassesEveryExpectation()
    {
        var (exit, text) = Run("run", Scenario("03-vga-bios-table-erratum.yaml"));
        Assert.Equal(0, exit);
        Assert.Contains("host: sapphire-rapids, 8G, kernel \"intel_iommu=on,sm_on\", erratum rule off, functions nic 00:04.0", text);
        Assert.Contains("VMM guest0: -M q35 -m 256M, erratum-policy wants-nesting-maps-ro", text);
        Assert.Contains("5. guest0: nic DMA write 0x8 bytes at 0x1000000 (line 31)", text);
        Assert.Contains("guest0 guest-table-write: guest0: the host IOMMU wrote the guest's first-stage L4 entry at GPA 0xc0000", text);
        Assert.Contains("│ PASS    │ step 5, line 35 │", text);
        Assert.Contains("PASS " + Scenario("03-vga-bios-table-erratum.yaml") + ": all 6 expectations hold", text);
        Assert.DoesNotContain("FAIL", text);
        CliProcess.AssertPlain(text);
    }

    [Fact]
    public void AnExpectationThatDoesNotHoldIsAFailInWordsAndExitOne()
    {
        string file = Path.Combine(Path.GetTempPath(), $"vtdsim-run-{Environment.ProcessId}-fail.yaml");
        File.WriteAllText(file, File.ReadAllText(Scenario("07-vmm-never-maps-read-only.yaml")).Replace("erratum-policy: never-ro", "erratum-policy: qemu-11", StringComparison.Ordinal));
        try
        {
            var (exit, text) = Run("run", file);
            Assert.Equal(1, exit);
            Assert.Contains("│ FAIL    │ step 2, line 29 │ the DMA completes", text);
            Assert.Contains($"FAIL {file}: 2 of 5 expectations do not hold", text);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void AMalformedFileIsExitTwoWithFileLineColumnAndNothingRuns()
    {
        string file = Path.Combine(Path.GetTempPath(), $"vtdsim-run-{Environment.ProcessId}-bad.yaml");
        File.WriteAllText(file, "name: x\nsteps:\n  - dma: { at: host, device: nic, adress: 0 }\n");
        try
        {
            var (exit, text) = Run("run", Scenario("07-vmm-never-maps-read-only.yaml"), file);
            Assert.Equal(2, exit);
            Assert.Equal($"vtdsim: {file}:3:35: steps[0].dma.adress: unknown key 'adress' (expected one of at, device, address, access, size, data)\n", text);
        }
        finally
        {
            File.Delete(file);
        }
        var (missing, said) = Run("run", "no-such-file.yaml");
        Assert.Equal(2, missing);
        Assert.Equal("vtdsim: no-such-file.yaml:1:1: cannot read the file: no such file\n", said);
    }

    [Fact]
    public void JsonHasEveryEventAndVerdictAndIsTheSameByteForByte()
    {
        string[] args = ["run", "--json", Scenario("01-qemu-without-workaround-refused.yaml"), Scenario("02-qemu-11-bypass-ro.yaml")];
        var (exit, first) = Run(args);
        var (_, second) = Run(args);
        Assert.Equal(0, exit);
        Assert.Equal(first, second);
        using var doc = JsonDocument.Parse(first);
        Assert.True(doc.RootElement.GetProperty("passed").GetBoolean());
        JsonElement[] runs = doc.RootElement.GetProperty("runs").EnumerateArray().ToArray();
        Assert.Equal(2, runs.Length);
        Assert.Equal(["file", "name", "passed", "steps", "events", "verdicts"], runs[0].EnumerateObject().Select(p => p.Name));
        JsonElement fault = runs[1].GetProperty("events").EnumerateArray().First(e => e.GetProperty("kind").GetString() == "fault");
        Assert.Equal(("host", "0x79", "SSS.2"), (fault.GetProperty("level").GetString(), fault.GetProperty("faultReason").GetString(), fault.GetProperty("faultCondition").GetString()));
        Assert.All(runs.SelectMany(r => r.GetProperty("verdicts").EnumerateArray()), v => Assert.Equal("PASS", v.GetProperty("verdict").GetString()));
    }

    [Fact]
    public void TraceAddsEachDmasWalkReferenceByReference()
    {
        var (exit, text) = Run("run", "--trace", Scenario("03-vga-bios-table-erratum.yaml"));
        Assert.Equal(0, exit);
        // The guest's first-stage entries are labelled with the guest's level, the host's structures with `host`.
        Assert.Contains("guest0 walk: host IOMMU: read guest0's first-stage L4 entry at HPA 0x14000000 (GPA 0xc0000)", text);
        Assert.Contains("guest0 walk: host IOMMU: A/D update in read-only memory (erratum)", text);
        Assert.Contains("host walk: host IOMMU: read host second-stage L4 entry (for guest0's first-stage L4 table)", text);
        Assert.DoesNotContain("walk:", Run("run", Scenario("03-vga-bios-table-erratum.yaml")).Output);
    }
}
