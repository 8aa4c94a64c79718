namespace VtdSim.Scenarios.Tests;

/// <summary>
/// A wrong value, key or combination at each field of a scenario file: the error names the file, line, column, the
/// field path and what was expected (docs/scenarios.md), as `file:line:column: path: message`.
/// </summary>
public class LoaderErrorTests
{
    /// <summary>Line 2 is the host's devices, line 3 its files, line 4 the VMMs, line 6 the first step and line 7 its expectations.</summary>
    private static string File(string devices = "[ { id: nic, rid: \"00:04.0\" } ]", string files = "[]",
        string vmms = "[ { name: vm0, devices: [ { passthrough: nic } ] } ]", string step = "start: vm0", string expect = "[]") => $$"""
        name: errors
        host: { devices: {{devices}},
                files: {{files}} }
        vmms: {{vmms}}
        steps:
          - {{step}}
            expect: {{expect}}
        """;

    /// <summary>Each case: the file, the text the error points at (the last place it is in the file; at its `^`), and `path: message`.</summary>
    public static TheoryData<string, string, string> Cases() => new()
    {
        { File(devices: "[ { id: nic, rid: \"00:04.0\" }, { id: nic, rid: \"00:05.0\" } ]"), "nic, rid: \"00:05.0\"", "host.devices[1].id: the id 'nic' is given twice" },
        { File(devices: "[ { id: nic, rid: \"00:04.0\" }, { id: nic2, rid: \"00:04.0\" } ]"), "\"00:04.0\" } ]", "host.devices[1].rid: the function 00:04.0 is given twice" },
        { File(devices: "[ { id: nic, rid: \"zz:04.0\" } ]"), "\"zz:04.0\"", "host.devices[0].rid: expected a requester id BB:DD.F such as 00:04.0, found 'zz:04.0'" },
        { File(files: "[ { path: /dev/shm/a, size: 4K }, { path: /dev/shm/a, size: 4K } ]"), "{ path: /dev/shm/a, size: 4K } ]", "host.files[1].path: the file '/dev/shm/a' is given twice" },
        { File(vmms: "[ { name: host } ]", step: "dma: { at: host, device: nic, address: 0x1000, access: read }"), "host } ]", "vmms[0].name: 'host' names the host; expected another name" },
        { File(vmms: "[ { name: vm0 }, { name: vm0 } ]"), "vm0 } ]", "vmms[1].name: the VMM name 'vm0' is given twice" },
        { File(vmms: "[ { name: vm0, devices: [ { edu: \"\", nvdimm: \"\" } ] } ]"), "{ edu:", "vmms[0].devices[0]: expected exactly one of passthrough, edu, iommu-testdev, intel-iommu, nvdimm" },
        { File(vmms: "[ { name: vm0, devices: [ { intel-iommu: \"\", id: v } ] } ]"), "v } ] } ]", "vmms[0].devices[0].id: the vIOMMU is not named by an id" },
        { File(vmms: "[ { name: vm0, devices: [ { intel-iommu: \"\" }, { intel-iommu: \"\" } ] } ]"), "{ intel-iommu", "vmms[0].devices[1]: a second intel-iommu (QEMU does not support multiple vIOMMUs for x86)" },
        { File(vmms: "[ { name: vm0, devices: [ { nvdimm: \"\", id: m } ] } ]"), "m } ] } ]", "vmms[0].devices[0].id: a memory device is not named by an id here (give id= among its properties)" },
        { File(devices: "[]", vmms: "[ { name: vm0 } ]", step: "dma: { at: host, device: nic, address: 0x1000, access: read }"), "nic, address", "steps[0].dma.device: the host has no devices" },
        { File(step: "hot-add: { vmm: vm0, id: m1, gpa: 0x100000800, size: 128M }"), "0x100000800", "steps[0].hot-add.gpa: expected a multiple of 0x1000 up to 2^48, found 0x100000800" },
        { File(step: "map: { vmm: vm0, device: nic, iova: 0x1000, size: 0x80000000 }"), "0x80000000", "steps[0].map.size: expected at most 1 GiB, found 0x80000000" },
        { File(step: "dma: { at: vm0, device: nic, address: 0x1000, access: read, data: \"00\" }"), "\"00\"", "steps[0].dma.data: data is for a write; a read has none" },
        { File(step: "dma: { at: vm0, device: nic, address: 0x1000, access: read, size: 0 }"), "size: ^0 }", "steps[0].dma.size: expected a size from 1 to 65536, found 0" },
        { File(step: "dma: { at: vm0, device: nic, address: 0x1000, access: write, data: \"0001\", size: 4 }"), "size: ^4 }", "steps[0].dma.size: the data has 2 bytes, the size says 4" },
        { File(step: "dma: { at: vm0, device: nic, address: 0xfffffffffffffffc, access: read }"), "0xfffffffffffffffc", "steps[0].dma.address: the transfer would wrap around the address space" },
        { File(step: "host-file-read: { vmm: vm0, path: /dev/shm/a }"), "{ vmm: vm0, path", "steps[0].host-file-read: expected one of vmm (its guest-RAM file) or path (a file of host.files)" },
        { File(step: "host-file-read: { path: /dev/shm/a }"), "/dev/shm/a }", "steps[0].host-file-read.path: the host has no files (host.files)" },
        { File(step: "host-file-read: { vmm: vm0, offset: 0, size: 0 }"), "size: ^0 }", "steps[0].host-file-read.size: expected a size from 1 to 4096, found 0" },
        { File(step: "register-write: { vmm: vm0, offset: 0x88, size: 3, value: 1 }"), "size: ^3", "steps[0].register-write.size: expected one of 1, 2, 4, 8, found '3'" },
        { File(expect: "[ { fault: none, dma: completed } ]"), "{ fault: none, dma", "steps[0].expect[0]: expected exactly one of vm, errno, fault, dma, log, memory, guest-table-write, event" },
        { File(expect: "[ { log: { at: host, from: qemu, contains: x } } ]"), "qemu", "steps[0].expect[0].log.from: the host runs no QEMU: expected kernel, or a VMM's name in 'at'" },
        { File(expect: "[ { log: { at: host, contains: x, equals: x } } ]"), "{ at: host, contains: x, equals", "steps[0].expect[0].log: expected exactly one of contains, equals" },
        { File(expect: "[ { memory: { at: host, address: 0x1000, changed: on, unchanged: on } } ]"), "unchanged: ^on", "steps[0].expect[0].memory.unchanged: expected one of changed, unchanged" },
        { File(expect: "[ { memory: { at: host, address: 0x1000 } } ]"), "{ at: host, address: 0x1000 }", "steps[0].expect[0].memory: expected exactly one of equals, changed, unchanged" },
        { File(expect: "[ { memory: { at: host, address: 0x1000, equals: \"0001\", size: 4 } } ]"), "size: ^4 }", "steps[0].expect[0].memory.size: the bytes are 2, the size says 4" },
        { File(expect: "[ { memory: { at: host, address: 0xfffffffffffffffc, changed: on } } ]"), "0xfffffffffffffffc", "steps[0].expect[0].memory.address: the range would wrap around the address space" },
        { File(vmms: "[ { name: [ vm0 ] } ]"), "[ vm0 ]", "vmms[0].name: expected a text, found a list" },
        { File(vmms: "[ { [ name ]: vm0 } ]"), "[ name ]", "vmms[0]: expected a key (one of name, machine, memory, defaults, firmware, erratum-policy, ram-backend, objects, devices, guest), found a list" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void EachFieldsErrorNamesTheFileLineColumnFieldAndWhatWasExpected(string text, string at, string expected)
    {
        // Where the error points: the last place the text `at` is in the file, at its `^` if it has one.
        int offset = text.LastIndexOf(at.Replace("^", "", StringComparison.Ordinal), StringComparison.Ordinal) + Math.Max(0, at.IndexOf('^', StringComparison.Ordinal));
        Assert.True(offset >= 0);
        int line = text.AsSpan(0, offset).Count('\n') + 1;
        int column = offset - (text.LastIndexOf('\n', Math.Max(0, offset - 1)) + 1) + 1;
        Assert.Equal($"s.yaml:{line}:{column}: {expected}", LoaderTests.Error(text).ToString());
    }
}
