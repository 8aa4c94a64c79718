using VtdSim.Scenarios.Loading;
using VtdSim.Scenarios.Model;

namespace VtdSim.Scenarios.Tests;

/// <summary>What the loader reads, and how it says what is wrong: file:line:column, the field path, what was expected.</summary>
public class LoaderTests
{
    private const string Minimal = """
        name: minimal
        host:
          devices:
            - { id: nic, rid: "00:04.0" }
        vmms:
          - name: vm0
            devices:
              - passthrough: nic
        steps:
          - start: vm0
          - dma: { at: vm0, device: nic, address: 0x1000, access: read }
            expect:
              - fault: none
        """;

    internal static ScenarioError Error(string text)
    {
        ScenarioLoadResult r = ScenarioLoader.Load("s.yaml", text);
        Assert.False(r.Success);
        return r.Error!;
    }

    [Fact]
    public void AMinimalFileGetsTheDefaults()
    {
        Scenario s = BuiltIn.Parse("s.yaml", Minimal);
        Assert.Equal("sapphire-rapids", s.Host.Profile);
        Assert.Equal(8UL << 30, s.Host.Memory);
        Assert.Equal(new KernelSpec(true, true, true), s.Host.Kernel);
        VmmSpec vm = Assert.Single(s.Vmms);
        Assert.Equal(("q35", 256UL << 20, false, true, "qemu-11", "anonymous"), (vm.Machine, vm.Memory, vm.Defaults, vm.Booted, vm.ErratumPolicy, vm.RamBackend));
        var dma = Assert.IsType<DmaStep>(s.Steps[1]);
        Assert.Equal((false, 8), (dma.Write, dma.Size));
        Assert.Equal("steps[1]", dma.Spot.Path);
        Assert.Equal((11, 5), (dma.Spot.Line, dma.Spot.Column));
    }

    [Theory]
    [InlineData("steps[1].dma.adress", 11, 34, "unknown key 'adress' (expected one of at, device, address, access, size, data)")]
    [InlineData("host.devices[0].rid", 4, 23, "expected a requester id BB:DD.F such as 00:04.0, found '00:4.0'")]
    [InlineData("vmms[0].memory", 7, 13, "expected a size such as 256M, 8G or 0x100000, found 'lots'")]
    [InlineData("steps[1].dma.device", 11, 29, "expected a device of vm0 (nic), found 'gpu'")]
    [InlineData("steps[0].start", 10, 12, "expected a VMM of the scenario (vm0), found 'vm1'")]
    [InlineData("steps[1].expect[0].fault", 13, 16, "expected none, any, a fault reason code (0x77) or a condition name (SFS.8), found 'SFS.99'")]
    [InlineData("vmms[0].devices[0].passthrough", 8, 22, "expected a function of the level below (nic), found 'gpu'")]
    public void AnErrorNamesTheFileLineColumnFieldAndWhatWasExpected(string path, int line, int column, string message)
    {
        string text = path switch
        {
            "steps[1].dma.adress" => Minimal.Replace("address: 0x1000", "adress: 0x1000", StringComparison.Ordinal),
            "host.devices[0].rid" => Minimal.Replace("\"00:04.0\"", "\"00:4.0\"", StringComparison.Ordinal),
            "vmms[0].memory" => Minimal.Replace("  - name: vm0\n", "  - name: vm0\n    memory: lots\n", StringComparison.Ordinal),
            "steps[1].dma.device" => Minimal.Replace("device: nic, address", "device: gpu, address", StringComparison.Ordinal),
            "steps[0].start" => Minimal.Replace("start: vm0", "start: vm1", StringComparison.Ordinal),
            "steps[1].expect[0].fault" => Minimal.Replace("fault: none", "fault: SFS.99", StringComparison.Ordinal),
            _ => Minimal.Replace("passthrough: nic", "passthrough: gpu", StringComparison.Ordinal),
        };
        ScenarioError e = Error(text);
        Assert.Equal(new ScenarioError("s.yaml", line, column, path, message), e);
        Assert.Equal($"s.yaml:{line}:{column}: {path}: {message}", e.ToString());
    }

    private const string Shared = """
        name: shared
        host:
          files:
            - { path: /dev/shm/rom.img, size: 64K, data: "07f0ff0f" }
        vmms:
          - name: vm0
            objects:
              - memory-backend-file: id=rom0,mem-path=/dev/shm/rom.img,size=64K,share=on,readonly=on
            devices:
              - nvdimm: memdev=rom0,unarmed=on
        steps:
          - start: vm0
          - host-file-read: { path: /dev/shm/rom.img, offset: 0 }
        """;

    [Fact]
    public void HostFilesObjectsAndNvdimmsAreRead()
    {
        Scenario s = BuiltIn.Parse("s.yaml", Shared);
        HostFileSpec file = Assert.Single(s.Host.Files);
        Assert.Equal(("/dev/shm/rom.img", 0x10000UL, 0UL, "07f0ff0f"), (file.Path, file.Size, file.Offset, Convert.ToHexString(file.Data).ToLowerInvariant()));
        VmmSpec vm = Assert.Single(s.Vmms);
        Assert.Equal("memory-backend-file,id=rom0,mem-path=/dev/shm/rom.img,size=64K,share=on,readonly=on", Assert.Single(vm.Objects).Text);
        DeviceSpec nvdimm = Assert.Single(vm.Devices);
        Assert.Equal((DeviceKind.Nvdimm, "memdev=rom0,unarmed=on"), (nvdimm.Kind, nvdimm.Properties));
        var read = Assert.IsType<HostFileReadStep>(s.Steps[1]);
        Assert.Equal(("/dev/shm/rom.img", ""), (read.Path, read.Vmm));
    }

    /// <summary>The keys of shared files (S60–S62) are checked like every other: unknown keys and bad values, placed.</summary>
    [Theory]
    [InlineData("size: 64K,", "size: 64K, mode: 0644,", "mode", "host.files[0].mode", "unknown key 'mode' (expected one of path, size, offset, data)")]
    [InlineData("path: /dev/shm/rom.img, size", "path: rom.img, size", "rom.img", "host.files[0].path", "expected an absolute path of a file such as /dev/shm/rom.img, found 'rom.img'")]
    [InlineData("size: 64K,", "size: 6000,", "6000", "host.files[0].size", "expected a multiple of 0x1000 (files are whole pages), found 0x1770")]
    [InlineData("data: \"07f0ff0f\"", "offset: 0xfffe, data: \"07f0ff0f\"", "\"07f0ff0f\"", "host.files[0].data", "the data (4 bytes from offset 0xfffe) runs past the end of the file (0x10000 bytes)")]
    [InlineData("    objects:", "    ojects:", "ojects", "vmms[0].ojects", "unknown key 'ojects' (expected one of name, machine, memory, defaults, firmware, erratum-policy, ram-backend, objects, devices, guest)")]
    [InlineData("- memory-backend-file:", "- memory-backend-ram:", "memory-backend-ram", "vmms[0].objects[0].memory-backend-ram", "unknown key 'memory-backend-ram' (expected one of memory-backend-file)")]
    [InlineData("{ path: /dev/shm/rom.img, offset: 0 }", "{ path: /dev/shm/other.img, offset: 0 }", "/dev/shm/other.img", "steps[1].host-file-read.path", "expected a file of host.files (/dev/shm/rom.img), found '/dev/shm/other.img'")]
    public void NewKeysOfSharedFilesAreCheckedWithTheirPlaceInTheFile(string from, string to, string at, string path, string message)
    {
        string text = Shared.Replace(from, to, StringComparison.Ordinal);
        Assert.NotEqual(Shared, text);
        string[] lines = text.Split('\n');
        int line = Array.FindIndex(lines, l => l.Contains(to.Trim(), StringComparison.Ordinal)) + 1;
        int column = lines[line - 1].IndexOf(at, StringComparison.Ordinal) + 1;
        Assert.Equal(new ScenarioError("s.yaml", line, column, path, message), Error(text));
    }

    [Theory]
    [InlineData("register-write: { vmm: vm0, offset: 0xfff, size: 2, value: 1 }", "steps[2].register-write.offset", "the 2-byte store at 0xfff runs past the register page (0x1000 bytes)")]
    [InlineData("register-write: { vmm: vm0, offset: 0x88, size: 2, value: 0x1ffff }", "steps[2].register-write.value", "0x1ffff does not fit in 2 bytes")]
    [InlineData("register-write: { vmm: vm0, offset: 0x88, size: 3, value: 1 }", "steps[2].register-write.size", "expected one of 1, 2, 4, 8, found '3'")]
    [InlineData("table-entry: { vmm: vm0, device: nic, iova: 0, level: 4, set: 0x80, clear: 0x81 }", "steps[2].table-entry.clear", "bits 0x80 are both set and cleared")]
    [InlineData("table-entry: { vmm: vm0, device: nic, iova: 0, level: 4 }", "steps[2].table-entry", "expected bits to change: set, clear or both")]
    [InlineData("table-entry: { vmm: vm0, device: nic, iova: 0, level: 0, set: 1 }", "steps[2].table-entry.level", "expected a paging level from 1 (the page table) to 5, found 0")]
    [InlineData("hot-add: { vmm: vm0, id: dimm0, gpa: 0x100000000, size: 0x1800 }", "steps[2].hot-add.size", "expected a multiple of 0x1000, found 0x1800")]
    [InlineData("pam: { vmm: vm0, segment: 13, mode: read-write }", "steps[2].pam.segment", "expected a number up to 0xc, found 0xd")]
    [InlineData("move-bar: { vmm: vm0, device: gpu, address: none }", "steps[2].move-bar.device", "expected a device of vm0 (nic), found 'gpu'")]
    [InlineData("hwpt-alloc: { vmm: vm0, device: nic, flags: nested }", "steps[2].hwpt-alloc.flags", "expected one of none, nest-parent, dirty-tracking, found 'nested'")]
    public void AHostActionOrFaultInjectionStepWithABadValueIsAPlacedError(string step, string path, string message)
    {
        ScenarioError e = Error(Minimal + $"\n  - {step}\n");
        Assert.Equal((path, message), (e.Path, e.Message));
        Assert.Equal(14, e.Line);
    }

    [Fact]
    public void AnUnknownTopLevelKeyIsAnErrorNotIgnored()
    {
        ScenarioError e = Error(Minimal + "\nexpectations: []\n");
        Assert.Equal(("expectations", 14, 1), (e.Path, e.Line, e.Column));
        Assert.Equal("unknown key 'expectations' (expected one of name, description, question, host, vmms, steps, expect)", e.Message);
    }

    [Fact]
    public void BrokenYamlIsReportedAtItsPlaceWithoutTheParsersOwnPosition()
    {
        ScenarioError e = Error("name: x\nsteps: [\n");
        Assert.Equal("s.yaml", e.File);
        Assert.Equal("", e.Path);
        Assert.StartsWith("not valid YAML: ", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("Line:", e.Message, StringComparison.Ordinal);
        Assert.True(e.Line >= 2);
    }

    [Theory]
    [InlineData("", "the file is empty: expected a scenario (name, host, vmms, steps, expect)")]
    [InlineData("name: x\n", "a scenario needs steps or expectations")]
    [InlineData("- a\n", "expected a mapping with keys name, description, question, host, vmms, steps, expect, found a list")]
    [InlineData("name: x\n---\nname: y\n", "expected one YAML document, found several")]
    public void WholeFileProblemsAreSaid(string text, string message) => Assert.Equal(message, Error(text).Message);

    [Fact]
    public void AKeyGivenTwiceIsAnError()
    {
        ScenarioError e = Error(Minimal.Replace("name: minimal\n", "name: minimal\nname: again\n", StringComparison.Ordinal));
        Assert.Equal(2, e.Line);
        Assert.Contains("name", e.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void GuestsRecurseAndAnL2VmmPassesThroughWhatItsGuestHas()
    {
        Scenario s = BuiltIn.Parse("s.yaml", Minimal.Replace("      - passthrough: nic\n", """
                  - passthrough: nic
                  - intel-iommu: x-scalable-mode=on,x-flts=on,caching-mode=on
                guest:
                  kernel: { scalable-mode: off }
                  vmms:
                    - name: l2
                      devices:
                        - passthrough: nic

            """, StringComparison.Ordinal));
        VmmSpec l1 = Assert.Single(s.Vmms);
        Assert.False(l1.Guest.Kernel.ScalableMode);
        Assert.Equal("l2", Assert.Single(l1.Guest.Vmms).Name);
        Assert.Equal(["vm0", "l2"], s.AllVmms().Select(v => v.Name));
        // An L2 VMM can pass through only what its L1 guest has, not the host's functions by name.
        ScenarioError e = Error(Minimal.Replace("      - passthrough: nic\n", "      - edu: \"\"\n        id: edu0\n    guest:\n      vmms:\n        - name: l2\n          devices:\n            - passthrough: nic\n", StringComparison.Ordinal));
        Assert.Equal("vmms[0].guest.vmms[0].devices[0].passthrough", e.Path);
        Assert.Equal("expected a function of the level below (edu0), found 'nic'", e.Message);
    }

    [Fact]
    public void AMissingFileIsAnErrorNotAnException()
    {
        ScenarioLoadResult r = ScenarioLoader.LoadFile(Path.Combine(Path.GetTempPath(), "no-such-scenario-file.yaml"));
        Assert.False(r.Success);
        Assert.EndsWith(": cannot read the file: no such file", r.Error!.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("name: x\nhost:\n :  profile: sapphire-rapids\nsteps: []\n")]
    [InlineData("vmms:\n    expect:\n      - memory: { at: guest0, addre\nss: 0xc0000, size: 4096, unchanged: on }")]
    public void InputOnWhichTheYamlLibraryFailsWithoutAYamlErrorIsStillAPlacedError(string text)
    {
        // YamlDotNet 18.1 throws ArgumentException / InvalidOperationException for these, not a YamlException (decision S5).
        Exception? raw = Record.Exception(() => new YamlDotNet.RepresentationModel.YamlStream().Load(new StringReader(text)));
        Assert.True(raw is ArgumentException or InvalidOperationException, raw?.GetType().Name ?? "no exception");
        ScenarioError e = Error(text);
        Assert.StartsWith("not valid YAML", e.Message, StringComparison.Ordinal);
        Assert.InRange(e.Line, 1, 4);
    }
}
