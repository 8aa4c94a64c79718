using System.Text;

namespace VtdSim.Report.Tests.Support;

/// <summary>Scenario texts the report tests make from the built-in ones.</summary>
internal static class Scenarios
{
    /// <summary>
    /// Scenario 3 (erratum) with a buffer of <paramref name="count"/> pages mapped and one DMA write per page after the
    /// first-stage table moved: the report's size bound is for 100 DMAs.
    /// </summary>
    public static string ManyDmas(int count)
    {
        string text = File.ReadAllText(Path.Combine(BuiltIn.Directory, "03-vga-bios-table-erratum.yaml"));
        text = text.Replace("size: 0x1000 }", $"size: 0x{count * 0x1000:x} }}", StringComparison.Ordinal);
        // The steps are followed by the tour's question (a comment, then `question:`): cut it off, the report does not need it.
        int question = text.IndexOf("\n# The question", StringComparison.Ordinal);
        if (question >= 0) text = text[..question];
        var sb = new StringBuilder(text.TrimEnd()).Append('\n');
        for (int i = 1; i < count; i++)
            sb.Append($"  - dma: {{ at: guest0, device: nic, address: 0x{0x1000000 + i * 0x1000:x}, access: {(i % 2 == 0 ? "write" : "read")}, size: 64 }}\n");
        return sb.ToString();
    }

    /// <summary>
    /// An emulated edu device behind an x-flts vIOMMU (scalable, first stage only for an emulated device): a write, a read
    /// the vIOMMU's IOTLB answers, then the guest clears the leaf's Dirty bit and the next write faults SFS.9 in the vIOMMU.
    /// </summary>
    public const string EduUnderViommu = """
        name: edu under the vIOMMU
        vmms:
          - name: vm0
            devices: [ { intel-iommu: "x-scalable-mode=on,x-flts=on,caching-mode=on" }, { edu: "" } ]
        steps:
          - start: vm0
          - boot: vm0
          - map: { vmm: vm0, device: edu, iova: 0x1000000, size: 0x1000 }
          - dma: { at: vm0, device: edu, address: 0x1000010, access: write, data: "aabbccdd" }
            expect: [ { dma: completed } ]
          - dma: { at: vm0, device: edu, address: 0x1000010, access: read, size: 4 }
            expect: [ { event: { at: vm0, kind: dma, contains: "read aabbccdd" } } ]
          - table-entry: { vmm: vm0, device: edu, iova: 0x1000000, level: 1, clear: 0x40 }
          - dma: { at: vm0, device: edu, address: 0x1000010, access: write, data: "11223344" }
            expect: [ { fault: SFS.9 } ]
        """;
}
