using VtdSim.Kernel.Intel.Debugfs;

namespace VtdSim.Kernel.Tests.Debugfs;

/// <summary>The debugfs reader: the model's own files read back whole, the pre-6.7 page-table file, and hand-made bad files refused with file, line and text.</summary>
public class DebugfsParserTests
{
    private static DebugfsParseError Refused(string path, string text)
    {
        var dump = new DebugfsDump();
        Assert.False(DebugfsParser.TryParseFile(path, text, dump, out var error));
        return error!;
    }

    [Fact]
    public void EveryFileOfTheModelKernelIsReadWithEveryEntry()
    {
        var bench = DebugfsSetups.Scalable();
        var dump = DebugfsSetups.Parse(bench);
        Assert.Equal(DebugfsLayout.Registers.Count, dump.Registers.Single().Registers.Count);
        Assert.Equal(bench.Driver.HwInfo().EcapReg, dump.Registers.Single().Value("ECAP"));
        Assert.Equal(3, dump.Translation.Single().Rows.Count);
        Assert.Equal(128, dump.Queues.Single().Slots.Count);
        Assert.True(dump.Queues.Single().Wide);
        Assert.Equal(["0000:00:02.0/5/domain_translation_struct", "0000:00:02.0/domain_translation_struct", "0000:00:06.0/domain_translation_struct", "0000:01:11.2/domain_translation_struct"],
            dump.Domains.Select(d => d.File));
        Assert.Equal([5u, 0u, 0u, 0u], dump.Domains.Select(d => d.Pasid)); // scalable mode: the RID's file names RID_PASID 0
        Assert.Equal([0x1000UL, 0x2000, 0x3000, 0x7f_0000_0000], dump.Domains[1].Leaves.Select(l => l.Iova));
        Assert.Equal(257, dump.Domains[0].Leaves.Count); // the nest parent: 256 4 KiB pages and one 2 MiB page
        Assert.Equal(0x20_0000UL, dump.Domains[0].Leaves[^1].PageSize);
    }

    [Fact]
    public void ThePre67SingleFileWithFiveColumnsIsRead()
    {
        var bench = DebugfsSetups.Legacy();
        var files = bench.Driver.DebugfsFiles();
        string now = files["0000:00:02.0/domain_translation_struct"];
        // Before 6.7: one file for every device, "Device <name> @0x…", the tab-separated header, always five entries.
        var old = new System.Text.StringBuilder();
        foreach (string line in now.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            if (line.StartsWith("Device ", StringComparison.Ordinal)) old.Append(line).Append('\n');
            else if (line == DebugfsLayout.PageTableHeader) old.Append(DebugfsLayout.OldPageTableHeader).Append('\n');
            else old.Append(line).Append(string.Concat(Enumerable.Repeat("\t0x0000000000000000", 5 - (line.Split('\t').Length - 1)))).Append('\n');
        }
        old.Append('\n');
        var a = new DebugfsDump();
        var b = new DebugfsDump();
        Assert.True(DebugfsParser.TryParseFile("domain_translation_struct", old.ToString(), a, out var e1), e1?.Message);
        Assert.True(DebugfsParser.TryParseFile("0000:00:02.0/domain_translation_struct", now, b, out var e2), e2?.Message);
        Assert.Equal(b.Domains.Single().Leaves.Select(l => (l.Iova, string.Join(",", l.Path))), a.Domains.Single().Leaves.Select(l => (l.Iova, string.Join(",", l.Path))));
        Assert.Equal(b.Domains.Single().Pgd, a.Domains.Single().Pgd);
    }

    [Fact]
    public void ASingleFileUnderAnotherNameIsKnownByItsFirstLines()
    {
        var files = DebugfsSetups.Scalable().Driver.DebugfsFiles();
        Assert.Equal(DebugfsFileKind.IommuRegset, DebugfsParser.KindOf("regs.txt", files["iommu_regset"]));
        Assert.Equal(DebugfsFileKind.DmarTranslationStruct, DebugfsParser.KindOf("a.txt", files["dmar_translation_struct"]));
        Assert.Equal(DebugfsFileKind.InvalidationQueue, DebugfsParser.KindOf("q", files["invalidation_queue"]));
        Assert.Equal(DebugfsFileKind.DomainTranslationStruct, DebugfsParser.KindOf("pt", files["0000:00:02.0/domain_translation_struct"]));
        Assert.Equal(DebugfsFileKind.DmarPerfLatency, DebugfsParser.KindOf("lat", "IOMMU: dmar0 Register Base Address: fed90000\n        <0.1us   0.1us-1us\n"));
    }

    [Fact]
    public void LatencyAndInterruptFilesAreSkippedWithTheReason()
    {
        var dump = new DebugfsDump();
        Assert.True(DebugfsParser.TryParseFile("dmar_perf_latency", "IOMMU: dmar0 Register Base Address: fed90000\nanything\n", dump, out _));
        Assert.True(DebugfsParser.TryParseFile("ir_translation_struct", "****\n", dump, out _));
        Assert.Equal(["dmar_perf_latency", "ir_translation_struct"], dump.Skipped.Select(s => s.File));
        Assert.Contains("decision I21", dump.Skipped[0].Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void ARegisterAtAnotherOffsetIsRefused()
    {
        var e = Refused("iommu_regset", "IOMMU: dmar0 Register Base Address: fed90000\nName\t\t\tOffset\t\tContents\nGSTS            \t0x18\t\t0x00000000c0000000\n");
        Assert.Equal("iommu_regset:3: cannot read 'GSTS            \\t0x18\\t\\t0x00000000c0000000': expected GSTS at offset 0x1c", e.Message);
    }

    [Fact]
    public void ATruncatedEntryLineIsRefusedWithItsText()
    {
        string text = DebugfsSetups.Scalable().Driver.DebugfsFiles()["dmar_translation_struct"];
        string[] lines = text.Split('\n');
        lines[3] = lines[3][..40];
        var e = Refused("dir/dmar_translation_struct", string.Join('\n', lines));
        Assert.Equal(4, e.Line);
        Assert.Equal("dir/dmar_translation_struct", e.File);
        Assert.StartsWith($"dir/dmar_translation_struct:4: cannot read '{lines[3].Replace("\t", "\\t")}': expected an entry line 'BB:DD.F", e.Message);
    }

    [Fact]
    public void ALeafLineWithAHoleInItsPathIsRefused()
    {
        string text = "Device 0000:00:02.0 @0x1000\n" + DebugfsLayout.PageTableHeader + "\n" +
            "0x0000000000001 |\t0x0000000000000000\t0x0000000000002003\t0x0000000000000000\t0x0000000000004003\t0x0000000000005003\n";
        var e = Refused("0000:00:02.0/domain_translation_struct", text);
        Assert.Equal(3, e.Line);
        Assert.EndsWith("expected present entries from the table's top level down to the leaf, without a zero between them", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AHeaderForAnotherDeviceThanTheDirectoryIsRefused()
    {
        var e = Refused("0000:00:03.0/domain_translation_struct", "Device 0000:00:02.0 @0x1000\n" + DebugfsLayout.PageTableHeader + "\n");
        Assert.Equal("0000:00:03.0/domain_translation_struct:1: cannot read 'Device 0000:00:02.0 @0x1000': expected the device the directory names (0000:00:03.0)", e.Message);
        var p = Refused("0000:00:02.0/7/domain_translation_struct", "Device 0000:00:02.0 with pasid 5 @0x1000\n" + DebugfsLayout.PageTableHeader + "\n");
        Assert.EndsWith("expected the device and PASID the directory names (0000:00:02.0, PASID 7)", p.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void QueueSlotsOutOfOrderAreRefused()
    {
        string text = DebugfsSetups.Legacy().Driver.DebugfsFiles()["invalidation_queue"];
        string[] lines = text.Split('\n');
        (lines[4], lines[5]) = (lines[5], lines[4]);
        var e = Refused("invalidation_queue", string.Join('\n', lines));
        Assert.Equal(5, e.Line);
        Assert.EndsWith("expected slot 1: slots numbered from 0 in order", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AnUnknownFileAndAnEmptyOneAreRefused()
    {
        Assert.Equal("notes.txt:1: cannot read 'hello': expected a file of /sys/kernel/debug/iommu/intel/: iommu_regset, dmar_translation_struct, domain_translation_struct, invalidation_queue, dmar_perf_latency or ir_translation_struct",
            Refused("notes.txt", "hello\n").Message);
        Assert.Equal("iommu_regset:1: expected 'IOMMU: NAME Register Base Address: HEX'; the file is empty", Refused("iommu_regset", "").Message);
    }

    /// <summary>Found by the fuzz test: an unaligned root table address reached the rebuild, whose 8-byte writes then threw.</summary>
    [Fact]
    public void AnUnalignedRootTableAddressIsRefused()
    {
        var e = Refused("dmar_translation_struct", "IOMMU dmar0: Root Table Address: 0x10200a\n" + DebugfsLayout.TranslationHeader + "\n\n");
        Assert.Equal("dmar_translation_struct:1: cannot read 'IOMMU dmar0: Root Table Address: 0x10200a': expected 'IOMMU NAME: Root Table Address: 0xHEX' (a 4 KiB-aligned page) or 'DMA Remapping is not enabled on NAME'", e.Message);
    }
}
