using System.Text;
using BenchmarkDotNet.Attributes;
using VtdSim.Vmm.Memory.Import;

namespace VtdSim.Benchmarks;

/// <summary>
/// `vtdsim analyze mtree`'s reader on a 10,000-line `info mtree -D` (issue 12's target: under 100 ms): QEMU 7.2.22's
/// capture of `-M q35 -m 4G -vga std -device e1000e -device intel-iommu` after SeaBIOS, grown with devices as a big
/// machine has them — each its bus-master address space and a 64 KiB BAR in the PCI space — to 10,000 lines.
/// </summary>
public class MtreeBenchmarks
{
    public const int Lines = 10_000;

    private string text = "";

    [GlobalSetup]
    public void Setup()
    {
        text = Generate(Lines);
        int count = text.Count(c => c == '\n');
        if (count < Lines || !MtreeParser.TryParse(text, "mtree.txt", out _, out MtreeParseError? error))
            throw new InvalidOperationException($"the generated input has {count} lines or does not parse");
        Console.WriteLine($"// generated info mtree -D: {count} lines");
    }

    /// <summary>The text only: the blocks and their region trees.</summary>
    [Benchmark]
    public int ReadBlocks10kLines()
    {
        MtreeParser.TryReadBlocks(text, "mtree.txt", out var trees, out _, out _);
        return trees.Count;
    }

    /// <summary>What `vtdsim analyze mtree` does before analysing: read, and rebuild the regions in the memory API.</summary>
    [Benchmark]
    public int ParseAndRebuild10kLines()
    {
        MtreeParser.TryParse(text, "mtree.txt", out ImportedMemoryMap? map, out MtreeParseError? error);
        return error is null ? map!.Trees.Count : throw new InvalidOperationException(error.Message);
    }

    /// <summary>The capture grown to at least <paramref name="lines"/> lines with devices (7 lines each).</summary>
    public static string Generate(int lines)
    {
        string capture = File.ReadAllText(Path.Combine(RepositoryRoot(), "tests", "VtdSim.Vmm.Tests", "Captures", "q35-4g-booted.info-mtree-D.txt"));
        int have = capture.Count(c => c == '\n');
        int devices = Math.Max(0, (lines - have + 6) / 7);
        var bars = new StringBuilder();
        var spaces = new StringBuilder();
        for (int i = 0; i < devices; i++)
        {
            ulong bar = 0x100_0000_0000UL + (ulong)i * 0x10000;
            // The PCI space is printed at level 2 under "system" and at level 1 in its memory-region block.
            bars.Append($"{{0}}{bar:x16}-{bar + 0xffff:x16} (prio 1, i/o): dev{i}-mmio\n");
            spaces.Append($"address-space: dev{i}\n  0000000000000000-ffffffffffffffff (prio 0, i/o): bus master container\n")
                  .Append("    0000000000000000-ffffffffffffffff (prio 0, i/o): alias bus master @system 0000000000000000-ffffffffffffffff [disabled]\n\n");
        }
        string barLines = bars.ToString();
        // After the PCI space's last subregion (pc.bios) in each place the space is printed, the devices' BARs.
        const string bios = "(prio 0, rom): pc.bios\n";
        var grown = new StringBuilder();
        int at = 0;
        while (capture.IndexOf(bios, at, StringComparison.Ordinal) is int found and >= 0)
        {
            int end = found + bios.Length;
            int lineStart = capture.LastIndexOf('\n', found) + 1;
            string indent = capture[lineStart..(lineStart + capture.AsSpan(lineStart).IndexOfAnyExcept(' '))];
            grown.Append(capture, at, end - at);
            // Not in pc.bios's own memory-region block, where it is the block's region (indent 2).
            if (indent.Length > 2) grown.Append(barLines.Replace("{0}", indent, StringComparison.Ordinal));
            at = end;
        }
        grown.Append(capture, at, capture.Length - at);
        return spaces.ToString() + grown;
    }

    internal static string RepositoryRoot()
    {
        foreach (string start in new[] { AppContext.BaseDirectory, Directory.GetCurrentDirectory() })
            for (string? dir = start; dir is not null; dir = Path.GetDirectoryName(dir))
                if (File.Exists(Path.Combine(dir, "VtdSim.slnx"))) return dir;
        throw new InvalidOperationException("run the benchmarks from the repository (VtdSim.slnx not found above " + AppContext.BaseDirectory + " or the current directory)");
    }
}
