using Spectre.Console;
using VtdSim.Hardware.Events;
using VtdSim.Hardware.Structures;
using VtdSim.Hardware.Tracing;

namespace VtdSim.Cli.Demo;

/// <summary>Prints the demo: the setup, both walks reference by reference, and the two outcomes side by side, each run named by its label.</summary>
public static class ErratumDemoRenderer
{
    public static void Render(IAnsiConsole console, ErratumDemoResult result)
    {
        var layout = result.Layout;
        console.Write(new Rule("[bold]VtdSim demo: erratum 772415 (SPR17), nested translation over a read-only second stage[/]").LeftJustified());
        console.MarkupLine($"Profile [bold]{Markup.Escape(result.Options.Profile.Name)}[/]: {Markup.Escape(result.Options.Profile.Description)}");
        console.MarkupLine($"The DMA runs twice on this unit: [bold]{Markup.Escape(result.Architectural.Label)}[/], then [bold]{Markup.Escape(result.Erratum.Label)}[/].");
        console.MarkupLine("Translation caches are off, so every memory reference of the walk shows.");
        console.MarkupLine($"Device {layout.Device} does a {result.Options.Length}-byte DMA {result.Options.Access.ToString().ToLowerInvariant()} at {layout.DmaAddress} (PASID entry PGTT=011 nested, PWSNP=1).");
        console.MarkupLine($"Guest RAM: GPA g is at HPA 0x{layout.GuestRamHostBase:x} + g. The VMM maps it read-write except {layout.ReadOnlyPage}..+0x{ErratumDemo.VgaBiosSize:x} (like the VGA BIOS), which is [bold]read-only[/] in the second stage.");

        var tables = new Table().Border(TableBorder.Simple).AddColumns("first-stage level", "table GPA", "second-stage mapping");
        foreach (var (level, gpa) in layout.FirstStageTables.OrderByDescending(kv => kv.Key))
        {
            bool ro = gpa == layout.ReadOnlyPage;
            tables.AddRow($"L{level} ({LevelName(level)})", gpa.ToString(), ro ? "[red]read-only[/]" : "read-write");
        }
        tables.AddRow(layout.DataPages == 1 ? "data page" : $"data pages ({layout.DataPages})",
            layout.DataPages == 1 ? layout.DataGpa.ToString() : $"{layout.DataGpa}..0x{layout.DataGpa.Value + 4096UL * (ulong)layout.DataPages - 1:x}", "read-write");
        console.Write(tables);

        RenderTrace(console, $"Walk on {result.Architectural.Label}", result.Architectural);
        RenderTrace(console, $"Walk on {result.Erratum.Label}", result.Erratum);
        RenderComparison(console, result);
    }

    private static void RenderTrace(IAnsiConsole console, string title, ErratumDemoRun run)
    {
        console.WriteLine();
        console.Write(new Rule($"[bold]{Markup.Escape(title)}[/]: {run.Trace.PagingReads} paging-structure reads").LeftJustified());
        var table = new Table().Border(TableBorder.Simple).AddColumns("#", "structure", "walking for", "entry GPA", "entry HPA", "value", "what happened");
        int n = 0;
        foreach (var r in run.Trace.References)
        {
            n++;
            table.AddRow(
                n.ToString(),
                StructureName(r),
                r.Stage == TraceStage.SecondStage ? (r.ForFirstStageLevel == 0 ? "final GPA" : $"FS L{r.ForFirstStageLevel} table") : "",
                r.Stage == TraceStage.FirstStage && r.Gpa is { } g ? $"0x{g.Value:x}" : "",
                $"0x{r.Address.Value:x}",
                $"0x{r.Value:x16}",
                r.Kind switch
                {
                    ReferenceKind.Read => "read",
                    ReferenceKind.FlagUpdate => $"set {FlagNames(r.Value, r.NewValue, r.Stage)} -> 0x{r.NewValue:x16}",
                    _ => $"[red bold]ERRATUM: set {FlagNames(r.Value, r.NewValue, r.Stage)} in a read-only page[/] -> 0x{r.NewValue:x16}",
                });
        }
        console.Write(table);
        console.MarkupLine(run.Transfer.Fault is { } f
            ? $"[red]Fault {f.Condition} (0x{f.Code:x2})[/]: {Markup.Escape(f.Explanation)}"
            : $"[green]DMA completed[/]: {run.Transfer.BytesTransferred} bytes moved.");
    }

    private static void RenderComparison(IAnsiConsole console, ErratumDemoResult result)
    {
        console.WriteLine();
        console.Write(new Rule("[bold]Side by side[/]").LeftJustified());
        var a = result.Architectural;
        var e = result.Erratum;
        var table = new Table().Border(TableBorder.Rounded).AddColumns("", Markup.Escape(a.Label), Markup.Escape(e.Label));
        table.AddRow("DMA outcome", Outcome(a), Outcome(e));
        table.AddRow("paging-structure reads", a.Trace.PagingReads.ToString(), e.Trace.PagingReads.ToString());
        table.AddRow("A/D writes", FlagWrites(a), FlagWrites(e));
        table.AddRow($"read-only page {result.Layout.ReadOnlyPage}", PageState(a), PageState(e));
        table.AddRow("events", Events(a), Events(e));
        console.Write(table);

        var changed = e.ChangedBytes().ToList();
        if (changed.Count == 0) return;
        console.MarkupLine($"Bytes of the read-only page (HPA 0x{result.Layout.ReadOnlyPageHost.Value:x}) the erratum run changed:");
        var bytes = new Table().Border(TableBorder.Simple).AddColumns("offset", "GPA", "HPA", "before", "after");
        foreach (var (offset, before, after) in changed)
            bytes.AddRow($"0x{offset:x3}", $"0x{result.Layout.ReadOnlyPage.Value + (ulong)offset:x}", $"0x{result.Layout.ReadOnlyPageHost.Value + (ulong)offset:x}", $"0x{before:x2}", $"[red]0x{after:x2}[/]");
        console.Write(bytes);
    }

    private static string Outcome(ErratumDemoRun run) => run.Transfer.Fault is { } f
        ? $"[red]fault {f.Condition} (0x{f.Code:x2})[/]"
        : $"[green]completed, {run.Transfer.BytesTransferred} bytes[/]";

    private static string FlagWrites(ErratumDemoRun run)
    {
        int ok = run.Trace.References.Count(r => r.Kind == ReferenceKind.FlagUpdate);
        int bad = run.Trace.References.Count(r => r.Kind == ReferenceKind.ErratumFlagUpdate);
        return bad == 0 ? $"{ok}" : $"{ok} allowed + [red]{bad} into read-only memory[/]";
    }

    private static string PageState(ErratumDemoRun run)
    {
        int n = run.ChangedBytes().Count();
        return n == 0 ? "[green]unchanged[/]" : $"[red]modified ({n} byte{(n == 1 ? "" : "s")})[/]";
    }

    private static string Events(ErratumDemoRun run) =>
        run.Events.Count == 0 ? "none" : string.Join("\n", run.Events.Select(ev => Markup.Escape(Describe(ev))));

    private static string Describe(VtdEvent ev) => ev switch
    {
        FaultEvent f => $"fault {f.Fault.Condition} recorded in FRCD ({f.Disposition})",
        ErratumWriteEvent w => $"erratum write: L{w.Level} entry at {w.EntryGpa} / {w.EntryHpa}",
        _ => ev.ToString(),
    };

    private static string StructureName(MemoryReference r) => r.Stage switch
    {
        TraceStage.RootTable => "root entry",
        TraceStage.ContextTable => "context entry",
        TraceStage.PasidDirectory => "PASID dir entry",
        TraceStage.PasidTable => "PASID entry",
        TraceStage.FirstStage => $"FS L{r.Level} ({LevelName(r.Level)}E)",
        _ => $"SS L{r.Level} ({LevelName(r.Level)}E)",
    };

    private static string LevelName(int level) => level switch { 5 => "PML5", 4 => "PML4", 3 => "PDP", 2 => "PD", _ => "PT" };

    private static string FlagNames(ulong before, ulong after, TraceStage stage)
    {
        ulong set = after & ~before;
        var names = new List<string>();
        if (stage == TraceStage.FirstStage)
        {
            if ((set & FirstStageEntry.AccessedBit) != 0) names.Add("A");
            if ((set & FirstStageEntry.ExtendedAccessedBit) != 0) names.Add("EA");
            if ((set & FirstStageEntry.DirtyBit) != 0) names.Add("D");
        }
        else
        {
            if ((set & SecondStageEntry.AccessedBit) != 0) names.Add("A");
            if ((set & SecondStageEntry.DirtyBit) != 0) names.Add("D");
        }
        return string.Join("/", names);
    }
}
