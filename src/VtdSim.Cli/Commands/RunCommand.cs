using System.CommandLine;
using Spectre.Console;
using VtdSim.Report;
using VtdSim.Scenarios.Loading;
using VtdSim.Scenarios.Model;
using VtdSim.Scenarios.Running;
using VtdSim.Scenarios.Sharding;

namespace VtdSim.Cli.Commands;

/// <summary>
/// `vtdsim run FILE… | --all [--json [--shard I/N]] [--trace]`: runs scenario files (docs/scenarios.md) and prints a timeline of each — the
/// host, its VMMs and their guests, then every step with what happened — and the verdict of each expectation. Exit
/// status: 0 every expectation passed, 1 one failed, 2 a file is malformed (file:line:column on stderr, nothing run).
/// </summary>
public static class RunCommand
{
    public const int ExpectationFailed = 1, Malformed = 2;

    public static Command Create(Func<IAnsiConsole> console, Func<TextWriter> output, Func<TextWriter> error)
    {
        var files = new Argument<string[]>("FILE")
        {
            Description = "scenario files (YAML, docs/scenarios.md), run one after another; the built-in ones are in scenarios/",
            Arity = ArgumentArity.ZeroOrMore,
        };
        var all = new Option<bool>("--all") { Description = "run every built-in scenario (scenarios/*.yaml, carried in the tool), in the order of their names" };
        var shard = CliOptions.Shard();
        var json = new Option<bool>("--json") { Description = "write the whole run (every step, event and verdict) as JSON to stdout instead of the timeline" };
        var trace = new Option<bool>("--trace") { Description = "add each DMA's walk (in the host IOMMU; an emulated device's in its vIOMMU), memory reference by memory reference, labelled by level" };
        var report = ReportOption.Create("the runs (memory maps, structures, each DMA's walk as a grid, the timeline, the verdicts)");
        var command = new Command("run", "Run scenario files: build the host, VMMs and guests, run the steps, check the expectations")
        {
            files, json, trace, all, shard, report,
        };
        command.Validators.Add(r =>
        {
            bool given = (r.GetValue(files) ?? []).Length > 0;
            if (given == r.GetValue(all)) r.AddError(given ? "give scenario files or --all, not both" : "give one or more scenario files, or --all for the built-in ones");
            if (r.GetResult(shard) is not null && !r.GetValue(json)) r.AddError("--shard writes a part of the runs to merge later: give --json with it");
        });
        command.SetAction(parse =>
        {
            var scenarios = new List<Scenario>();
            var errors = new List<ScenarioError>();
            bool builtIn = parse.GetValue(all);
            IReadOnlyList<string> work = builtIn ? BuiltInScenarios.Names : parse.GetValue(files) ?? [];
            // A shard's work list is sorted, so every shard of a sweep cuts the same list (S26).
            Shard? part = parse.GetValue(shard);
            if (part is not null) work = work.Order(StringComparer.Ordinal).ToList();
            foreach (string file in work)
            {
                ScenarioLoadResult r = builtIn ? BuiltInScenarios.Load(file) : ScenarioLoader.LoadFile(file);
                if (r.Success) scenarios.Add(r.Scenario!);
                else errors.Add(r.Error!);
            }
            if (errors.Count > 0)
            {
                TextWriter e = error();
                foreach (ScenarioError x in errors) e.WriteLine($"vtdsim: {x}");
                e.Flush();
                return Malformed;
            }
            bool withTrace = parse.GetValue(trace);
            string? reportFile = parse.GetValue(report);
            (int first, int count) = part?.Range(scenarios.Count) ?? (0, scenarios.Count);
            var runs = scenarios.Skip(first).Take(count).Select(s => ScenarioRunner.Run(s, withTrace, record: reportFile is not null)).ToList();
            if (part is Shard p)
            {
                TextWriter o = output();
                o.Write(ShardOutput.Write(ShardOutput.Run, p, work, first, w => ScenarioJson.WriteRuns(w, runs)));
                o.Flush();
            }
            else if (parse.GetValue(json))
            {
                TextWriter o = output();
                o.Write(ScenarioJson.Write(runs));
                o.Flush();
            }
            else
            {
                IAnsiConsole c = console();
                foreach (ScenarioRun run in runs) Render(c, run);
                if (runs.Count > 1)
                    c.WriteLine($"{runs.Count(r => r.Passed)} of {runs.Count} scenarios passed");
            }
            ReportOption.WriteIfAsked(reportFile, () => ReportBuilder.FromScenarios(runs));
            return runs.All(r => r.Passed) ? 0 : ExpectationFailed;
        });
        return command;
    }

    /// <summary>The timeline of one run (the levels, every step with what happened) and the table of its verdicts.</summary>
    public static void Render(IAnsiConsole console, ScenarioRun run)
    {
        Scenario s = run.Scenario;
        var tree = new Tree($"[bold]{Markup.Escape(s.Name)}[/] ({Markup.Escape(s.File)})");
        HostSpec h = s.Host;
        TreeNode host = tree.AddNode(Markup.Escape(
            $"host: {h.Profile}{(h.Cap is not null || h.Ecap is not null ? " with CAP/ECAP overridden" : "")}, {Size(h.Memory)}, kernel \"{h.Kernel.CommandLine}\", erratum rule {(h.Kernel.ErratumRule ? "on" : "off")}" +
            (h.Devices.Count > 0 ? $", functions {string.Join(", ", h.Devices.Select(d => $"{d.Id} {d.Bus:x2}:{d.Device:x2}.{d.Function:x}"))}" : "") +
            (h.Files.Count > 0 ? $", files {string.Join(", ", h.Files.Select(f => $"{f.Path} ({Size(f.Size)})"))}" : "")));
        foreach (VmmSpec v in s.Vmms) AddVmm(host, v);
        TreeNode steps = tree.AddNode("[bold]steps[/]");
        var before = run.Events.Where(e => e.Step < 0).ToList();
        if (before.Count > 0)
        {
            TreeNode boot = steps.AddNode("(before the first step)");
            foreach (ScenarioEvent e in before) boot.AddNode(Markup.Escape($"{e.Level} {e.Kind}: {e.Text}"));
        }
        foreach (StepOutcome o in run.Steps)
        {
            string status = o.Status switch { StepStatus.Done => "", StepStatus.Error => " [red]ERROR: the run stops here[/]", _ => " [grey]skipped[/]" };
            TreeNode node = steps.AddNode($"{o.Index + 1}. {Markup.Escape(o.Step.Describe())} [grey](line {o.Step.Spot.Line})[/]{status}");
            foreach (ScenarioEvent e in run.Events.Where(e => e.Step == o.Index))
                node.AddNode(Markup.Escape($"{e.Level} {e.Kind}: {e.Text}"));
        }
        console.Write(tree);
        var table = new Table().Border(TableBorder.Rounded).AddColumns("verdict", "where", "expectation", "why");
        foreach (Verdict v in run.Verdicts)
        {
            table.AddRow(
                v.Pass ? "[green]PASS[/]" : "[red bold]FAIL[/]",
                Markup.Escape($"{(v.Step < 0 ? "end" : $"step {v.Step + 1}")}, line {v.Expect.Spot.Line}"),
                Markup.Escape(v.Expect.Describe()),
                Markup.Escape(v.Reason));
        }
        console.Write(table);
        int failed = run.Verdicts.Count(v => !v.Pass);
        console.MarkupLine(failed == 0
            ? $"[green]PASS[/] {Markup.Escape(s.File)}: all {run.Verdicts.Count} expectations hold"
            : $"[red bold]FAIL[/] {Markup.Escape(s.File)}: {failed} of {run.Verdicts.Count} expectations do not hold");
        console.WriteLine();
    }

    private static void AddVmm(TreeNode parent, VmmSpec v)
    {
        string devices = string.Join(", ", v.Devices.Select(d => d.Kind switch
        {
            DeviceKind.Passthrough => $"vfio-pci {d.Id}",
            DeviceKind.IntelIommu => $"intel-iommu{(d.Properties.Length > 0 ? "," + d.Properties : "")}",
            DeviceKind.Edu => $"edu{(d.Properties.Length > 0 ? "," + d.Properties : "")} ({d.Id})",
            DeviceKind.Nvdimm => $"nvdimm{(d.Properties.Length > 0 ? "," + d.Properties : "")}",
            _ => $"iommu-testdev{(d.Properties.Length > 0 ? "," + d.Properties : "")} ({d.Id})",
        }));
        TreeNode node = parent.AddNode(Markup.Escape(
            $"VMM {v.Name}: -M {v.Machine} -m {Size(v.Memory)}{(v.Defaults ? "" : " -nodefaults")}, erratum-policy {v.ErratumPolicy}, {(v.Booted ? "after SeaBIOS" : "at reset")}" +
            string.Concat(v.Objects.Select(o => $", -object {o.Text}")) + (devices.Length > 0 ? $", {devices}" : "")));
        TreeNode guest = node.AddNode(Markup.Escape($"guest {v.Name}: kernel \"{v.Guest.Kernel.CommandLine}\", erratum rule {(v.Guest.Kernel.ErratumRule ? "on" : "off")}"));
        foreach (VmmSpec inner in v.Guest.Vmms) AddVmm(guest, inner);
    }

    private static string Size(ulong bytes) =>
        bytes % (1UL << 30) == 0 ? $"{bytes >> 30}G" : bytes % (1UL << 20) == 0 ? $"{bytes >> 20}M" : $"0x{bytes:x}";
}
