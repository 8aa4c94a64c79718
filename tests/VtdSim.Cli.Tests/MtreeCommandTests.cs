namespace VtdSim.Cli.Tests;

/// <summary>`vtdsim mtree`: the model's memory map in QEMU's `info mtree` format (lines checked against QEMU 7.2.22's output).</summary>
public class MtreeCommandTests
{
    private static (int Exit, string Output) Run(params string[] args)
    {
        var output = new StringWriter();
        int exit = Program.Run(args, output);
        return (exit, output.ToString());
    }

    [Fact]
    public void BootedQ35FlatViewShowsTheVgaBiosAsReadOnlyRam()
    {
        var (exit, text) = Run("mtree", "-M", "q35", "-m", "4G", "-device", "e1000e", "-device", "intel-iommu", "--booted", "-f");
        Assert.Equal(0, exit);
        // Lines of QEMU 7.2.22's `info mtree -f` for `-M q35 -m 4G -vga std -device e1000e -device intel-iommu,intremap=off` after SeaBIOS.
        Assert.Contains(" AS \"memory\", root: system\n AS \"cpu-memory-0\", root: system\n Root memory region: system\n"
            + "  0000000000000000-000000000009ffff (prio 0, ram): pc.ram\n"
            + "  00000000000a0000-00000000000bffff (prio 1, i/o): vga-lowmem\n"
            + "  00000000000c0000-00000000000cbfff (prio 0, rom): pc.ram @00000000000c0000\n"
            + "  00000000000cc000-00000000000cefff (prio 0, ram): pc.ram @00000000000cc000\n", text);
        Assert.Contains("  00000000fed90000-00000000fed9022f (prio 0, i/o): intel_iommu\n", text);
        Assert.Contains("  0000000100000000-000000017fffffff (prio 0, ram): pc.ram @0000000080000000\n", text);
    }

    [Fact]
    public void IntelIommuPropertiesAreCheckedAndDoNotChangeTheMap()
    {
        var (exit, text) = Run("mtree", "-M", "q35", "-device", "intel-iommu,intremap=off,x-scalable-mode=on", "-f");
        Assert.Equal(0, exit);
        Assert.Equal(Run("mtree", "-M", "q35", "-device", "intel-iommu", "-f").Output, text);
        Assert.Contains("  00000000fed90000-00000000fed9022f (prio 0, i/o): intel_iommu\n", text);
    }

    [Fact]
    public void ResetPcTreeHasTheBiosAndItsIsaAlias()
    {
        var (exit, text) = Run("mtree", "-M", "pc", "-m", "4096");
        Assert.Equal(0, exit);
        Assert.Contains("address-space: cpu-memory-0\naddress-space: memory\n  0000000000000000-ffffffffffffffff (prio 0, i/o): system\n"
            + "    0000000000000000-00000000bfffffff (prio 0, ram): alias ram-below-4g @pc.ram 0000000000000000-00000000bfffffff\n", text);
        Assert.Contains("      00000000000e0000-00000000000fffff (prio 1, rom): alias isa-bios @pc.bios 0000000000020000-000000000003ffff\n", text);
        Assert.DoesNotContain("[disabled]", text);
        Assert.Contains("[disabled]", Run("mtree", "-M", "pc", "-m", "4096", "-D").Output);
    }

    [Fact]
    public void NoDefaultsLeavesOutVgaAndTheNic()
    {
        var (exit, text) = Run("mtree", "-M", "q35", "-m", "1G", "-nodefaults");
        Assert.Equal(0, exit);
        Assert.DoesNotContain("vga-lowmem", text);
        Assert.DoesNotContain("address-space: e1000e", text);
        Assert.Contains("address-space: e1000e", Run("mtree", "-M", "q35", "-m", "1G").Output);
    }

    [Fact]
    public void EduShowsItsBarWhereSeaBiosPutsItAsQemu72()
    {
        var (exit, text) = Run("mtree", "-M", "q35", "-m", "2G", "-nodefaults", "-device", "edu", "--booted", "-f");
        Assert.Equal(0, exit);
        // QEMU 7.2.22's `info mtree -f` for `-M q35 -m 2G -nodefaults -device edu` after SeaBIOS.
        Assert.Contains("  00000000fea00000-00000000feafffff (prio 1, i/o): edu-mmio\n", text);
        Assert.Contains(" AS \"edu\", root: bus master container\n", text);
    }

    [Fact]
    public void OutputIsDeterministic() => Assert.Equal(Run("mtree", "-M", "q35", "-m", "8G", "-f").Output, Run("mtree", "-M", "q35", "-m", "8G", "-f").Output);

    [Fact]
    public void PflashImagesReplaceTheBiosWithOvmfsFlashSizedByTheFiles()
    {
        // Files the sizes of Debian's OVMF_CODE_4M.fd and OVMF_VARS_4M.fd: the lines of QEMU 7.2.22's `info mtree -f`
        // for `-M q35 -m 2G -nodefaults -drive if=pflash,…,file=OVMF_CODE_4M.fd -drive if=pflash,…,file=VARS.fd -S`.
        string code = Path.GetTempFileName(), vars = Path.GetTempFileName(), odd = Path.GetTempFileName();
        try
        {
            File.WriteAllBytes(code, new byte[0x37c000]);
            File.WriteAllBytes(vars, new byte[0x84000]);
            File.WriteAllBytes(odd, new byte[4097]);
            var (exit, text) = Run("mtree", "-M", "q35", "-m", "2G", "-nodefaults", "-drive", $"if=pflash,format=raw,readonly=on,file={code}",
                "-drive", $"if=pflash,format=raw,file={vars}", "-f");
            Assert.Equal(0, exit);
            Assert.Contains("  00000000000e0000-00000000000fffff (prio 1, rom): isa-bios\n", text);
            Assert.Contains("  00000000ffc00000-00000000ffc83fff (prio 0, romd): system.flash1\n"
                + "  00000000ffc84000-00000000ffffffff (prio 0, romd): system.flash0\n", text);
            Assert.DoesNotContain("pc.bios", text);

            // A size QEMU's raw driver rounds to 4608 bytes: QEMU's message for it.
            (exit, text) = Run("mtree", "-drive", $"if=pflash,format=raw,file={odd}");
            Assert.NotEqual(0, exit);
            Assert.Contains("system firmware block device pflash0 has invalid size 4608", text);
        }
        finally
        {
            File.Delete(code);
            File.Delete(vars);
            File.Delete(odd);
        }
    }
}
