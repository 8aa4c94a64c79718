using VtdSim.Vmm.Devices;
using VtdSim.Vmm.Machines;

namespace VtdSim.Vmm.Tests.Support;

/// <summary>The real QEMU 7.2.22 captures in Captures/ (see its README) and the machine options each was taken with.</summary>
internal static class Captures
{
    private static MachineOptions Q35(ulong gib) => new() { Type = MachineType.Q35, RamSize = gib << 30 };

    private static MachineOptions Pc(ulong gib) => new() { Type = MachineType.Pc, RamSize = gib << 30 };

    /// <summary>Debian's OVMF_CODE_4M.fd (3,653,632 bytes) and OVMF_VARS_4M.fd (540,672 bytes), the images the OVMF captures ran.</summary>
    public static readonly IReadOnlyList<ulong> Ovmf4M = [0x37c000, 0x84000];

    public static readonly IReadOnlyDictionary<string, MachineOptions> Configurations = new Dictionary<string, MachineOptions>
    {
        ["q35-2g"] = Q35(2),
        ["q35-4g"] = Q35(4),
        ["q35-8g"] = Q35(8),
        ["q35-1g-nodefaults"] = Q35(1) with { Defaults = false },
        ["q35-2g-nodefaults-iommu"] = Q35(2) with { Defaults = false, IntelIommu = true },
        ["pc-2g"] = Pc(2),
        ["pc-4g"] = Pc(4),
        ["q35-4g-booted"] = Q35(4) with { ExtraNics = 1, IntelIommu = true, Booted = true },
        ["q35-4g-plain-booted"] = Q35(4) with { Booted = true },
        ["q35-2g-3nic-booted"] = Q35(2) with { ExtraNics = 2, Booted = true },
        ["q35-2g-nodefaults-booted"] = Q35(2) with { Defaults = false, Booted = true },
        ["q35-2g-nodefaults-nic-booted"] = Q35(2) with { Defaults = false, ExtraNics = 1, Booted = true },
        ["q35-2g-nodefaults-iommu-booted"] = Q35(2) with { Defaults = false, IntelIommu = true, Booted = true },
        ["pc-2g-booted"] = Pc(2) with { Booted = true },
        ["pc-4g-booted"] = Pc(4) with { Booted = true },
        ["q35-2g-nodefaults-edu"] = Q35(2) with { Defaults = false, Devices = [Device("edu")] },
        ["q35-2g-nodefaults-edu-booted"] = Q35(2) with { Defaults = false, Devices = [Device("edu")], Booted = true },
        ["pc-2g-edu-booted"] = Pc(2) with { Devices = [Device("edu,addr=05.0,dma_mask=0xffffffff")], Booted = true },
        ["q35-2g-nodefaults-ovmf"] = Q35(2) with { Defaults = false, Pflash = Ovmf4M },
        ["q35-4g-ovmf"] = Q35(4) with { Pflash = Ovmf4M },
        ["pc-2g-ovmf"] = Pc(2) with { Pflash = Ovmf4M },
        ["q35-2g-nodefaults-ovmf-booted"] = Q35(2) with { Defaults = false, Pflash = Ovmf4M, Booted = true },
        ["q35-2g-ovmf-booted"] = Q35(2) with { Pflash = Ovmf4M, Booted = true },
        ["q35-2g-nodefaults-nic-ovmf-booted"] = Q35(2) with { Defaults = false, ExtraNics = 1, Pflash = Ovmf4M, Booted = true },
        ["q35-2g-nodefaults-edu-ovmf-booted"] = Q35(2) with { Defaults = false, Devices = [Device("edu,addr=04.0")], Pflash = Ovmf4M, Booted = true },
        ["q35-4g-nodefaults-iommu-ovmf-booted"] = Q35(4) with { Defaults = false, IntelIommu = true, Pflash = Ovmf4M, Booted = true },
    };

    private static DeviceOptions Device(string text)
    {
        Assert.True(DeviceOptions.TryParse(text, out DeviceOptions? device, out string error), error);
        return device!;
    }

    public static TheoryData<string> Names => new(Configurations.Keys);

    public static string Read(string name, string command) =>
        File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Captures", $"{name}.{command}.txt")).ReplaceLineEndings("\n");

    /// <summary>The section lines of the flat view that address space <paramref name="space"/> is listed under.</summary>
    public static List<string> FlatSections(string flat, string space)
    {
        foreach (string block in Blocks(flat))
        {
            string[] lines = block.Split('\n');
            if (lines.Any(l => l.StartsWith($" AS \"{space}\",", StringComparison.Ordinal)))
                return lines.SkipWhile(l => !l.StartsWith(" Root memory region:", StringComparison.Ordinal)).Skip(1).Where(l => l.Length > 0).ToList();
        }
        throw new InvalidOperationException($"no flat view lists address space {space}");
    }

    /// <summary>The blocks of `info mtree` output (each up to its blank line), with the blank line.</summary>
    public static List<string> Blocks(string text)
    {
        var blocks = new List<string>();
        foreach (string part in text.Split("\n\n"))
            if (part.Trim('\n').Length > 0) blocks.Add(part.Trim('\n') + "\n\n");
        return blocks;
    }
}
