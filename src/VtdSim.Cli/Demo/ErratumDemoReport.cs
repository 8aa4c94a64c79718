using VtdSim.Report;
using VtdSim.Scenarios.Running;

namespace VtdSim.Cli.Demo;

/// <summary>`vtdsim demo --report`: the demo's second-stage map and its two walks (erratum off, on) as a report.</summary>
public static class ErratumDemoReport
{
    public static ReportDocument Build(ErratumDemoResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        ulong rom = ErratumDemo.VgaBios.Value, romLast = rom + ErratumDemo.VgaBiosSize - 1;
        // What the demo's VMM maps in the second stage (the first 16 MiB, all the demo touches): RAM read-write, the option-ROM window read-only.
        var map = new MemoryMapView("guest-physical memory as the second stage maps it (the first 16 MiB)",
            $"GPA g is at HPA 0x{ErratumDemo.GuestRamHostBase:x} + g; the first-stage L{result.Options.ReadOnlyTableLevel} table lies in the read-only window at GPA 0x{result.Layout.ReadOnlyPage.Value:x}",
            [
                new MapSection(0, rom - 1, "ram", "guest RAM", false, MapStatus.MappedReadWrite, "second stage R/W"),
                new MapSection(rom, romLast, "rom", "option-ROM window (VGA BIOS)", true, MapStatus.MappedReadOnly, "second stage read-only, as QEMU maps a ROM"),
                new MapSection(romLast + 1, 0xFF_FFFF, "ram", "guest RAM", false, MapStatus.MappedReadWrite, "second stage R/W"),
            ]);
        return new ReportDocument("vtdsim demo: a nested walk over a read-only second-stage page, erratum 772415 off and on",
            [Part(result, result.Architectural, map), Part(result, result.Erratum, null)]);
    }

    private static ReportPart Part(ErratumDemoResult result, ErratumDemoRun run, MemoryMapView? map)
    {
        int changed = run.ChangedBytes().Count();
        var summary = new List<string>
        {
            $"device {result.Layout.Device}, DMA {(result.Options.Access == Hardware.Translation.DmaAccess.Write ? "write" : "read")} of {result.Options.Length} bytes at IOVA 0x{result.Layout.DmaAddress.Value:x}",
            run.Transfer.Fault is { } f ? $"fault {f.Condition} (0x{f.Code:x2}): {f.Explanation}" : $"completed, {run.Transfer.BytesTransferred} bytes",
            changed == 0 ? "the read-only page is unchanged" : $"the read-only page was modified: {changed} byte(s) changed",
        };
        return new ReportPart
        {
            Title = run.Label,
            Summary = summary,
            MemoryMaps = map is null ? [] : [map],
            Walks = run.Walk is null ? [] : [run.Walk],
        };
    }
}
