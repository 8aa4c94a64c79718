using System.Text.Json;
using VtdSim.Cli.Tests.Support;

namespace VtdSim.Cli.Tests;

/// <summary>`vtdsim analyze mtree`: a real `info mtree` capture of QEMU 7.2.22 read back and analysed for vfio.</summary>
public class AnalyzeCommandTests
{
    private static readonly string Flat = Path.Combine(AppContext.BaseDirectory, "Captures", "q35-4g-booted.info-mtree-f.txt");
    private static readonly string Tree = Path.Combine(AppContext.BaseDirectory, "Captures", "q35-4g-booted.info-mtree.txt");

    private static (int Exit, string Output) Run(params string[] args)
    {
        var output = new StringWriter();
        int exit = Program.Run(args, output);
        return (exit, output.ToString());
    }

    /// <summary>The text with its line breaks and runs of spaces as single spaces (the console wraps long lines at its width).</summary>
    private static string Words(string text) => System.Text.RegularExpressions.Regex.Replace(text, @"\s+", " ");

    [Fact]
    public void TheTableShowsWhatANestParentRefusesWhatBypassRoSkipsAndWhatADeviceCannotReach()
    {
        var (exit, text) = Run("analyze", "mtree", Flat);
        Assert.Equal(0, exit);
        Assert.Contains("QEMU's flat view: 32 sections", Words(text));
        Assert.Matches(@"│ 00000000fffc0000 │ 00000000ffffffff │ rom  │ pc\.bios +│ read-only +│ refuses: EINVAL │ skips +│ NOT MAPPED: DMA faults", text);
        Assert.Matches(@"│ 0000000000100000 │ 000000007fffffff │ ram  │ pc\.ram +│ read-write +│ - +│ - +│ mapped read-write", text);
        text = Words(text);
        Assert.Contains("vfio maps 10 section(s), 4 of them read-only; a nest parent refuses those 4 (EINVAL); QEMU 11's bypass_ro skips 4.", text);
        // The kernel's own line, from the model kernel.
        Assert.Contains("kernel: DMAR: Read-only mapping is disallowed on the domain which serves as the parent in a nested configuration, due to HW errata (ERRATA_772415_SPR17)", text);
        Assert.Contains("a passthrough device can no longer reach by DMA: 0xc0000-0xcbfff, 0xcf000-0xe7fff, 0xf0000-0xfffff, 0xfffc0000-0xffffffff", text);
        CliProcess.AssertPlain(text);
    }

    [Fact]
    public void StartVmmRunsTheModelsVmmOnTheMapAndReportsTheKernelsRefusal()
    {
        var (exit, text) = Run("analyze", "mtree", Tree, "--policy", "wants-nesting-maps-ro", "--start-vmm");
        text = Words(text);
        Assert.Equal(0, exit);
        Assert.Contains("rendered by the model from the region trees", text);
        Assert.Contains("(erratum-policy=wants-nesting-maps-ro)): failed", text);
        Assert.Contains("Region pc.ram: vfio_container_dma_map(", text);
        Assert.Contains(", 0xc0000, 0xc000, ", text);
        Assert.Contains("= -22 (Invalid argument)", text);

        (exit, text) = Run("analyze", "mtree", Flat, "--policy", "qemu-11", "--start-vmm");
        text = Words(text);
        Assert.Equal(0, exit);
        Assert.Contains("(erratum-policy=qemu-11)): running", text);
        Assert.Contains("the IOAS holds 6 mapping(s), 0 read-only; bypass_ro is set", text);
    }

    [Fact]
    public void JsonIsStableAndSaysTheSameAsTheTable()
    {
        var (exit, first) = Run("analyze", "mtree", Flat, "--json", "--policy", "never-ro", "--start-vmm");
        Assert.Equal(0, exit);
        Assert.Equal(first, Run("analyze", "mtree", Flat, "--json", "--policy", "never-ro", "--start-vmm").Output);
        using JsonDocument doc = JsonDocument.Parse(first);
        JsonElement root = doc.RootElement;
        Assert.Equal("never-ro", root.GetProperty("policy").GetString());
        Assert.Equal("flat-view", root.GetProperty("source").GetString());
        JsonElement[] sections = [.. root.GetProperty("sections").EnumerateArray()];
        Assert.Equal(32, sections.Length);
        JsonElement bios = sections.Single(s => s.GetProperty("region").GetString() == "pc.bios");
        Assert.Equal(("0xfffc0000", "read-only", true, true, "mapped-writable"),
            (bios.GetProperty("start").GetString(), bios.GetProperty("vfio").GetString(), bios.GetProperty("nestParentRefuses").GetBoolean(),
             bios.GetProperty("bypassRoSkips").GetBoolean(), bios.GetProperty("outcome").GetString()));
        Assert.False(root.GetProperty("refused").GetBoolean());
        Assert.Equal("running", root.GetProperty("vmm").GetProperty("state").GetString());
        Assert.All(root.GetProperty("vmm").GetProperty("mappings").EnumerateArray(), m => Assert.True(m.GetProperty("writable").GetBoolean()));
    }

    [Fact]
    public void BadInputIsAUsageErrorNamingFileLineAndText()
    {
        string path = Path.GetTempFileName();
        try
        {
            File.WriteAllText(path, "FlatView #0\n AS \"memory\", root: system\n Root memory region: system\n  00000000000c0000-00000000000bffff (prio 0, ram): pc.ram\n");
            var (exit, text) = Run("analyze", "mtree", path);
            Assert.Equal(2, exit);
            Assert.StartsWith($"vtdsim: {path}:4: cannot read '  00000000000c0000-00000000000bffff (prio 0, ram): pc.ram': expected a flat view section", text);

            File.WriteAllText(path, "memory-region: pc.ram\n  0000000000000000-0000000007ffffff (prio 0, ram): pc.ram\n\n");
            (exit, text) = Run("analyze", "mtree", path);
            Assert.Equal(2, exit);
            Assert.Contains("there is no \"memory\" address space", text);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Theory]
    [InlineData("/nonexistent/mtree.txt", "cannot read /nonexistent/mtree.txt: ")]
    [InlineData("--policy=qemu-9", "--policy: 'qemu-9' is not one of qemu-7.2, qemu-11, wants-nesting-maps-ro, never-ro")]
    [InlineData("--profile=nonesuch", "--profile")]
    public void BadArgumentsAreUsageErrors(string argument, string expected)
    {
        string[] args = argument.StartsWith("--", StringComparison.Ordinal) ? ["analyze", "mtree", Flat, argument] : ["analyze", "mtree", argument];
        var (exit, text) = Run(args);
        Assert.Equal(2, exit);
        Assert.Contains(expected, text);
        CliProcess.AssertPlain(text);
    }

    /// <summary>
    /// A flat view written for the test, one section for each thing vfio's listener skips (QEMU's
    /// vfio_listener_valid_section and vfio_get_section_iova_range): RAM under one page, RAM whose address and offset in
    /// its region differ within a page, a ROM device, I/O, RAM at 2^63 (a 64-bit BAR being sized); and a ROM.
    /// </summary>
    private const string Crafted = """
        FlatView #0
         AS "memory", root: system
         Root memory region: system
          0000000000000000-000000000009ffff (prio 0, ram): pc.ram
          00000000000a0000-00000000000a07ff (prio 0, ram): tiny.ram
          00000000000c0000-00000000000cbfff (prio 0, rom): vga.rom
          00000000000d0800-00000000000d17ff (prio 0, ram): odd.ram @0000000000000000
          00000000fe000000-00000000fe000fff (prio 0, romd): pflash
          00000000fed90000-00000000fed9022f (prio 0, i/o): intel_iommu
          8000000000000000-8000000000000fff (prio 0, ram): bar64.ram

        """;

    [Fact]
    public void EverySectionVfioSkipsIsNamedWithItsReasonAndEachPolicySaysWhatBecomesOfTheRom()
    {
        string dir = Directory.CreateTempSubdirectory("vtdsim-analyze-").FullName;
        try
        {
            string file = Path.Combine(dir, "crafted.txt");
            File.WriteAllText(file, Crafted);

            // QEMU 7.2 has no nest parent: the ROM is mapped READ only.
            var (exit, text) = Run("analyze", "mtree", file, "--policy", "qemu-7.2");
            Assert.Equal(0, exit);
            Assert.Matches(@"│ 00000000000a0000 │ 00000000000a07ff │ ram +│ tiny\.ram +│ no: under a page", text);
            Assert.Matches(@"│ 00000000000d0800 │ 00000000000d17ff │ ram +│ odd\.ram +│ no: unaligned", text);
            Assert.Matches(@"│ 00000000fe000000 │ 00000000fe000fff │ romd +│ pflash +│ no: ROM device", text);
            Assert.Matches(@"│ 00000000fed90000 │ 00000000fed9022f │ i/o +│ intel_iommu +│ no: i/o", text);
            Assert.Matches(@"│ 8000000000000000 │ 8000000000000fff │ ram +│ bar64\.ram +│ no: at/above 2\^63", text);
            Assert.Matches(@"│ 00000000000c0000 │ 00000000000cbfff │ rom +│ vga\.rom +│ read-only +│ refuses: EINVAL │ skips +│ mapped read-only", text);
            Assert.Contains("QEMU 7.2 has no x-flts, so no nest parent: the 1 read-only section(s) are mapped READ only and a device can read them.", Words(text));
            CliProcess.AssertPlain(text);

            // The same in JSON; under QEMU 11's bypass_ro the ROM is not mapped and no device reaches it.
            (exit, text) = Run("analyze", "mtree", file, "--json", "--policy", "qemu-11");
            Assert.Equal(0, exit);
            using (JsonDocument doc = JsonDocument.Parse(text))
            {
                var vfio = doc.RootElement.GetProperty("sections").EnumerateArray()
                    .ToDictionary(x => x.GetProperty("region").GetString()!, x => (x.GetProperty("vfio").GetString(), x.GetProperty("outcome").GetString()));
                Assert.Equal(("under-a-page", "not-mapped"), vfio["tiny.ram"]);
                Assert.Equal(("unaligned", "not-mapped"), vfio["odd.ram"]);
                Assert.Equal(("not-ram", "not-mapped"), vfio["pflash"]);
                Assert.Equal(("above-2^63", "not-mapped"), vfio["bar64.ram"]);
                Assert.Equal(("read-only", "bypassed"), vfio["vga.rom"]);
                JsonElement unreachable = Assert.Single(doc.RootElement.GetProperty("unreachable").EnumerateArray());
                Assert.Equal(("0xc0000", "0xcbfff"), (unreachable.GetProperty("start").GetString(), unreachable.GetProperty("end").GetString()));
            }

            // Under QEMU 7.2 the JSON says the ROM is mapped read-only.
            (exit, text) = Run("analyze", "mtree", file, "--json", "--policy", "qemu-7.2");
            using (JsonDocument doc = JsonDocument.Parse(text))
                Assert.Equal("mapped-read-only", doc.RootElement.GetProperty("sections").EnumerateArray()
                    .Single(x => x.GetProperty("region").GetString() == "vga.rom").GetProperty("outcome").GetString());

            // Without a read-only section a nest parent takes every map.
            File.WriteAllText(file, Crafted.Replace("(prio 0, rom): vga.rom", "(prio 0, ram): vga.ram", StringComparison.Ordinal));
            (exit, text) = Run("analyze", "mtree", file, "--policy", "wants-nesting-maps-ro");
            Assert.Equal(0, exit);
            Assert.Contains("no read-only section: the nest parent takes every map and the VMM starts.", Words(text));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
