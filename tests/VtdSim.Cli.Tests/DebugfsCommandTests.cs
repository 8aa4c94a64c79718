using System.Text.Json;
using VtdSim.Cli.Tests.Support;
using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Profiles;
using VtdSim.Kernel;
using VtdSim.Kernel.Intel;
using VtdSim.Kernel.Memory;
using VtdSim.Machine;

namespace VtdSim.Cli.Tests;

/// <summary>`vtdsim analyze debugfs`: the model kernel's debugfs directory written to disk and read back by the command.</summary>
public sealed class DebugfsCommandTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"vtdsim-debugfs-{Guid.NewGuid():n}");

    public void Dispose()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }

    private static (int Exit, string Output) Run(params string[] args)
    {
        var output = new StringWriter();
        int exit = Program.Run(args, output);
        return (exit, output.ToString());
    }

    private static string Words(string text) => System.Text.RegularExpressions.Regex.Replace(text, @"\s+", " ");

    /// <summary>
    /// A host kernel without the erratum rule whose device 00:04.0 is nested over a nest parent that maps the VGA BIOS
    /// (GPA 0xc0000) read-only, the guest's first-stage table there (scenario 3), its debugfs directory written out.
    /// </summary>
    private string WriteHazardDump()
    {
        var machine = PhysicalMachine.Host(BuiltInProfiles.SapphireRapids, 1UL << 32);
        var nic = new SourceId(0, 4, 0);
        machine.AddFunction(new PciFunction(nic, "nic"));
        var driver = new IntelIommuDriver(machine, new PageAllocator(machine, new Hpa(0x10_0000), 15UL << 20), new KernelLog(),
            new IntelIommuOptions { EnforceErratum772415 = false });
        Assert.Equal(Errno.Success, driver.Probe());
        Assert.Equal(Errno.Success, driver.AllocPaging(PagingDomainFlags.NestParent, out var parent));
        Assert.Equal(Errno.Success, parent!.Map(0, 0x100_0000, 0xA_0000, IommuProt.Read | IommuProt.Write));
        Assert.Equal(Errno.Success, parent.Map(0xC_0000, 0x10C_0000, 0x1_0000, IommuProt.Read));
        Assert.Equal(Errno.Success, driver.AllocNested(parent, new VtdS1Config(VtdS1Flags.None, 0xC_0000, 48), out var nested));
        Assert.Equal(Errno.Success, driver.Attach(nic, nested!));
        foreach (var (path, text) in driver.DebugfsFiles())
        {
            string file = Path.Combine(_dir, path);
            Directory.CreateDirectory(Path.GetDirectoryName(file)!);
            File.WriteAllText(file, text);
        }
        return _dir;
    }

    [Fact]
    public void TheDirectoryIsReadAndTheHazardNamedWithDeviceEntryAndRule()
    {
        var (exit, text) = Run("analyze", "debugfs", WriteHazardDump());
        Assert.Equal(0, exit);
        text = Words(text);
        Assert.Contains("read 4 file(s): 1 register dump(s), 1 context/PASID entries, 1 page table(s) with 176 leaves, 1 invalidation queue(s)", text); // 160 + 16 pages
        Assert.Contains("dmar_translation_struct:3: spr17-hazard: 00:04.0 PASID 0, PASID entry (FSPTPTR): the first-stage table at GPA 0xc0000 lies in a READ-ONLY second-stage page (HPA 0x10c0000", text);
        Assert.Contains("[SFS.8 (0x77): nested: the second stage denies the write needed to set A/EA/D in a first-stage entry; erratum 772415 (SPR17)]", text);
        Assert.Matches(@"│ 00:04\.0 +│ 0 +│ scalable │ nested +│", text);
        CliProcess.AssertPlain(text);
    }

    [Fact]
    public void JsonIsStableAndCarriesTheFindingAndTheDecodedEntry()
    {
        string dir = WriteHazardDump();
        var (exit, first) = Run("analyze", "debugfs", dir, "--json");
        var (_, second) = Run("analyze", "debugfs", dir, "--json");
        Assert.Equal(0, exit);
        Assert.Equal(first, second);
        using var doc = JsonDocument.Parse(first);
        var finding = doc.RootElement.GetProperty("findings").EnumerateArray().Single();
        Assert.Equal("spr17-hazard", finding.GetProperty("kind").GetString());
        Assert.Equal("00:04.0 PASID 0", finding.GetProperty("device").GetString());
        var device = doc.RootElement.GetProperty("devices").EnumerateArray().Single();
        Assert.Equal("0xc0000", device.GetProperty("firstStageTable").GetString());
        Assert.Contains(device.GetProperty("entry").GetProperty("fields").EnumerateArray(), f => f.GetProperty("name").GetString() == "PGTT" && f.GetProperty("value").GetString() == "0x3");
    }

    [Fact]
    public void AGarbledLineIsAnErrorWithFileAndLine()
    {
        string dir = WriteHazardDump();
        string file = Path.Combine(dir, "dmar_translation_struct");
        string[] lines = File.ReadAllText(file).Split('\n');
        lines[2] = lines[2].Replace("0x", "0y", StringComparison.Ordinal);
        File.WriteAllText(file, string.Join('\n', lines));
        var (exit, text) = Run("analyze", "debugfs", dir);
        Assert.Equal(2, exit);
        Assert.Contains("vtdsim: dmar_translation_struct:3: cannot read '00:04.0\\t0y", text);
        Assert.Contains("expected an entry line 'BB:DD.F", text);
    }

    [Fact]
    public void ASingleFileCanBeGivenAndAMissingOneIsNamed()
    {
        string dir = WriteHazardDump();
        var (exit, text) = Run("analyze", "debugfs", Path.Combine(dir, "iommu_regset"));
        Assert.Equal(0, exit);
        Assert.Contains("read 1 file(s): 1 register dump(s)", Words(text));
        (exit, text) = Run("analyze", "debugfs", Path.Combine(dir, "nothing-here"));
        Assert.Equal(2, exit);
        Assert.Contains("cannot read", text);
        Assert.Contains("nothing-here", text);
    }

    [Fact]
    public void MemoryAndWidthOptionsAreCheckedAndUsed()
    {
        string dir = WriteHazardDump();
        var (exit, text) = Run("analyze", "debugfs", dir, "--memory", "0x10");
        Assert.Equal(2, exit);
        Assert.Contains("--memory: 0x10 is not between 1 MiB and 2^46", text);
        (exit, text) = Run("analyze", "debugfs", dir, "--memory", "lots");
        Assert.Equal(2, exit);
        Assert.Contains("--memory: 'lots'", text);
        (exit, text) = Run("analyze", "debugfs", dir, "--address-width", "60");
        Assert.Equal(2, exit);
        // The nest parent maps its pages from 16 MiB: with memory ending at 16 MiB + 64 KiB the rest is outside.
        (exit, text) = Run("analyze", "debugfs", dir, "--memory", "0x1010000", "--json");
        Assert.Equal(0, exit);
        using var doc = JsonDocument.Parse(text);
        Assert.Equal("0x1010000", doc.RootElement.GetProperty("memoryTop").GetString());
        Assert.Contains(doc.RootElement.GetProperty("findings").EnumerateArray(), f => f.GetProperty("kind").GetString() == "outside-memory");
    }
}
