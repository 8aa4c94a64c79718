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
}
