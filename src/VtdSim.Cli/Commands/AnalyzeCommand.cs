using System.CommandLine;
using System.Text.Json;
using Spectre.Console;
using VtdSim.Cli.Io;
using VtdSim.Hardware.Profiles;
using VtdSim.Vmm;
using VtdSim.Vmm.Memory.Import;
using VtdSim.Vmm.Vfio;

namespace VtdSim.Cli.Commands;

/// <summary>
/// `vtdsim analyze mtree FILE`: QEMU's `info mtree` / `info mtree -f` output read back (docs/analyze.md), the system
/// memory's sections with what vfio's listener does with each — mapped, read-only, refused by a nest parent, skipped by
/// bypass_ro — under an erratum policy, what a passthrough device could then not reach, and with --start-vmm what the
/// model's VMM does on that map. Exit 2 with FILE:LINE and the text on input it cannot read.
/// </summary>
public static class AnalyzeCommand
{
    public static Command Create(Func<IAnsiConsole> console, Func<TextWriter> output)
    {
        var file = new Argument<string>("FILE") { Description = "a file holding QEMU's `info mtree`, `info mtree -D` and/or `info mtree -f` output (QEMU 7.2 to current)" };
        var policy = new Option<ErratumPolicy>("--policy")
        {
            Description = $"the VMM's erratum policy: {string.Join(", ", ErratumPolicies.All.Select(p => p.Name()))} [default: qemu-11]",
            DefaultValueFactory = _ => ErratumPolicy.Qemu11,
            CustomParser = result =>
            {
                string text = result.Tokens.Count == 0 ? "" : result.Tokens[0].Value;
                if (ErratumPolicies.TryParse(text, out ErratumPolicy p, out _)) return p;
                result.AddError($"--policy: '{text}' is not one of {string.Join(", ", ErratumPolicies.All.Select(x => x.Name()))}");
                return ErratumPolicy.Qemu11;
            },
        };
        var json = new Option<bool>("--json") { Description = "print JSON instead of a table (addresses as hex strings; the same input gives the same bytes)" };
        var startVmm = new Option<bool>("--start-vmm") { Description = "also start the model's VMM on the map, on a model host, with a device passed through, and print what happened" };
        var profile = CliOptions.Profile("--profile", "the host's profile for --start-vmm (see `vtdsim profiles`)", BuiltInProfiles.SapphireRapids);
        var report = ReportOption.Create("the memory map");
        var mtree = new Command("mtree", "Read QEMU's info mtree output and report what vfio maps, what a nest parent refuses and what bypass_ro skips")
        {
            file, policy, json, startVmm, profile, report,
        };
        mtree.SetAction(parse =>
        {
            string path = parse.GetValue(file)!;
            string text;
            try
            {
                text = File.ReadAllText(path);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
            {
                throw new ArgumentException($"cannot read {path}: {UserText.Message(e)}");
            }
            if (!MtreeParser.TryParse(text, path, out ImportedMemoryMap? map, out MtreeParseError? error)) throw new ArgumentException(error!.Message);
            ErratumPolicy chosen = parse.GetValue(policy);
            MapAnalysis analysis = MapAnalysis.Analyze(map!, chosen)
                ?? throw new ArgumentException($"{path}: there is no \"memory\" address space (the system memory) in it; give `info mtree` or `info mtree -f` output of the whole machine");
            VtdProfile host = parse.GetValue(profile)!;
            // The kernel's own words for a refused read-only map: the model kernel asked once (its DMAR line).
            LayoutRunResult? probe = analysis.Sections.Any(s => s.NestParentRefuses) ? LayoutRun.Start(map!, ErratumPolicy.WantsNestingMapsRo, host) : null;
            LayoutRunResult? run = parse.GetValue(startVmm) ? (chosen == ErratumPolicy.WantsNestingMapsRo && probe is not null ? probe : LayoutRun.Start(map!, chosen, host)) : null;
            if (parse.GetValue(json)) WriteJson(output(), analysis, probe, run);
            else WriteTable(console(), analysis, probe, run);
            ReportOption.WriteIfAsked(parse.GetValue(report), () => Report.ReportBuilder.FromMapAnalysis(analysis, chosen.Name()));
            return 0;
        });
        return new Command("analyze", "Read an artefact of a real machine and check it (mtree: QEMU's info mtree output; debugfs: Linux's Intel IOMMU debugfs files)")
        {
            mtree, DebugfsCommand.Create(console, output),
        };
    }

    private static string Hex(ulong value) => $"0x{value:x}";

    private static string Vfio(SectionVerdict s) => s.Plan.Verdict switch
    {
        VfioSectionVerdict.Map => s.Plan.ReadOnly ? "read-only" : "read-write",
        VfioSectionVerdict.NotRam => s.Type == "romd" ? "no: ROM device" : s.Type == "i/o" ? "no: i/o" : "no: not RAM",
        VfioSectionVerdict.Above2Pow63 => "no: at/above 2^63",
        VfioSectionVerdict.Unaligned => "no: unaligned",
        VfioSectionVerdict.NothingAfterTrim => "no: under a page",
        VfioSectionVerdict.RamDeviceNotAligned => "no: ramd not aligned",
        _ => "no",
    };

    private static string Outcome(SectionOutcome o) => o switch
    {
        SectionOutcome.MappedReadWrite => "mapped read-write",
        SectionOutcome.MappedReadOnly => "mapped read-only",
        SectionOutcome.MappedWritable => "mapped WRITABLE (a device can write this ROM)",
        SectionOutcome.Refused => "REFUSED: EINVAL",
        SectionOutcome.Bypassed => "NOT MAPPED: DMA faults",
        _ => "not mapped",
    };

    private static string OutcomeKey(SectionOutcome o) => o switch
    {
        SectionOutcome.MappedReadWrite => "mapped-read-write",
        SectionOutcome.MappedReadOnly => "mapped-read-only",
        SectionOutcome.MappedWritable => "mapped-writable",
        SectionOutcome.Refused => "refused",
        SectionOutcome.Bypassed => "bypassed",
        _ => "not-mapped",
    };

    private static string VfioKey(VfioSectionPlan plan) => plan.Verdict switch
    {
        VfioSectionVerdict.Map => plan.ReadOnly ? "read-only" : "read-write",
        VfioSectionVerdict.NotRam => "not-ram",
        VfioSectionVerdict.Above2Pow63 => "above-2^63",
        VfioSectionVerdict.Unaligned => "unaligned",
        VfioSectionVerdict.NothingAfterTrim => "under-a-page",
        VfioSectionVerdict.RamDeviceNotAligned => "ramd-not-aligned",
        _ => "skipped",
    };

    /// <summary>What the policy does with a vIOMMU that wants nesting on an erratum host, in one sentence.</summary>
    private static string PolicyLine(MapAnalysis a)
    {
        int ro = a.Sections.Count(s => s.NestParentRefuses);
        return a.Policy switch
        {
            ErratumPolicy.Qemu72 => $"QEMU 7.2 has no x-flts, so no nest parent: the {ro} read-only section(s) are mapped READ only and a device can read them.",
            ErratumPolicy.Qemu11 => $"bypass_ro (the host reports ERRATA_772415_SPR17): the {ro} read-only section(s) are not mapped; a passthrough device's DMA there faults.",
            ErratumPolicy.WantsNestingMapsRo when a.FirstRefused is { } f =>
                $"the nest parent refuses the first read-only map, region {f.Region} at {Hex(f.Plan.Iova)} (0x{f.Plan.Size:x} bytes): IOMMU_IOAS_MAP fails with EINVAL (Invalid argument) and the VMM does not start.",
            ErratumPolicy.WantsNestingMapsRo => "no read-only section: the nest parent takes every map and the VMM starts.",
            _ => $"the {ro} read-only section(s) are mapped READ|WRITE: a passthrough device can write them.",
        };
    }

    private static void WriteTable(IAnsiConsole console, MapAnalysis a, LayoutRunResult? probe, LayoutRunResult? run)
    {
        console.WriteLine($"{a.File}: system memory (\"memory\"), {(a.FromFlatView ? "QEMU's flat view" : "rendered by the model from the region trees")}: {a.Sections.Count} sections");
        var table = new Table().AddColumns("start", "end", "type", "region", "vfio maps", "nest parent", "bypass_ro", $"under {a.Policy.Name()}");
        foreach (SectionVerdict s in a.Sections)
        {
            table.AddRow(Markup.Escape($"{s.Start:x16}"), Markup.Escape($"{s.Last:x16}"), Markup.Escape(s.Type), Markup.Escape(s.Region), Markup.Escape(Vfio(s)),
                s.NestParentRefuses ? "refuses: EINVAL" : "-", s.BypassRoSkips ? "skips" : "-", Markup.Escape(Outcome(s.Outcome)));
        }
        console.Write(table);
        int mapped = a.Sections.Count(s => s.Plan.Verdict == VfioSectionVerdict.Map);
        int ro = a.Sections.Count(s => s.NestParentRefuses);
        console.WriteLine($"vfio maps {mapped} section(s), {ro} of them read-only; a nest parent refuses those {ro} (EINVAL); QEMU 11's bypass_ro skips {a.Sections.Count(s => s.BypassRoSkips)}.");
        if (probe?.KernelLog.FirstOrDefault(l => l.StartsWith("DMAR: ", StringComparison.Ordinal)) is { } dmar) console.WriteLine($"kernel: {dmar}");
        console.WriteLine($"under {a.Policy.Name()} with a vIOMMU that wants nesting (x-flts=on) on an erratum host: {PolicyLine(a)}");
        if (a.Unreachable.Count > 0)
            console.WriteLine("a passthrough device can no longer reach by DMA: " + string.Join(", ", a.Unreachable.Select(r => $"{Hex(r.Start)}-{Hex(r.Last)}")));
        if (run is null) return;
        console.WriteLine();
        console.WriteLine($"the model's VMM on this map ({run.Profile} host, {run.CommandLine}): {run.State.ToString().ToLowerInvariant()}");
        foreach (string line in run.KernelLog.Where(l => l.StartsWith("DMAR: ", StringComparison.Ordinal))) console.WriteLine($"  kernel: {line}");
        foreach (string line in run.VmmLog) console.WriteLine($"  vmm: {line}");
        if (run.State == VmmState.Running)
            console.WriteLine($"  the IOAS holds {run.Mappings.Count} mapping(s), {run.Mappings.Count(m => (m.Prot & Kernel.Intel.IommuProt.Write) == 0)} read-only{(run.BypassRo ? "; bypass_ro is set" : "")}");
    }

    private static void WriteJson(TextWriter output, MapAnalysis a, LayoutRunResult? probe, LayoutRunResult? run)
    {
        using var stream = new MemoryStream();
        using (var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteString("file", a.File);
            json.WriteString("source", a.FromFlatView ? "flat-view" : "trees");
            json.WriteString("policy", a.Policy.Name());
            json.WriteStartArray("sections");
            foreach (SectionVerdict s in a.Sections)
            {
                json.WriteStartObject();
                json.WriteString("start", Hex(s.Start));
                json.WriteString("end", Hex(s.Last));
                json.WriteString("type", s.Type);
                json.WriteString("region", s.Region);
                json.WriteBoolean("readOnly", s.ReadOnly);
                json.WriteString("vfio", VfioKey(s.Plan));
                if (s.Plan.Verdict == VfioSectionVerdict.Map)
                {
                    json.WriteString("iova", Hex(s.Plan.Iova));
                    json.WriteString("size", Hex(s.Plan.Size));
                }
                json.WriteBoolean("nestParentRefuses", s.NestParentRefuses);
                json.WriteBoolean("bypassRoSkips", s.BypassRoSkips);
                json.WriteString("outcome", OutcomeKey(s.Outcome));
                json.WriteEndObject();
            }
            json.WriteEndArray();
            json.WriteBoolean("refused", a.Refused);
            if (a.FirstRefused is { } f) json.WriteString("firstRefused", f.Region);
            json.WriteStartArray("unreachable");
            foreach (var (start, last) in a.Unreachable)
            {
                json.WriteStartObject();
                json.WriteString("start", Hex(start));
                json.WriteString("end", Hex(last));
                json.WriteEndObject();
            }
            json.WriteEndArray();
            json.WriteString("summary", PolicyLine(a));
            if (probe?.KernelLog.FirstOrDefault(l => l.StartsWith("DMAR: ", StringComparison.Ordinal)) is { } dmar) json.WriteString("kernel", dmar);
            if (run is not null)
            {
                json.WriteStartObject("vmm");
                json.WriteString("profile", run.Profile);
                json.WriteString("commandLine", run.CommandLine);
                json.WriteString("state", run.State.ToString().ToLowerInvariant());
                json.WriteStartArray("log");
                foreach (string line in run.VmmLog) json.WriteStringValue(line);
                json.WriteEndArray();
                json.WriteStartArray("kernelLog");
                foreach (string line in run.KernelLog) json.WriteStringValue(line);
                json.WriteEndArray();
                json.WriteStartArray("mappings");
                foreach (var m in run.Mappings)
                {
                    json.WriteStartObject();
                    json.WriteString("iova", Hex(m.Iova));
                    json.WriteString("size", Hex(m.Length));
                    json.WriteBoolean("writable", (m.Prot & Kernel.Intel.IommuProt.Write) != 0);
                    json.WriteEndObject();
                }
                json.WriteEndArray();
                json.WriteBoolean("bypassRo", run.BypassRo);
                json.WriteEndObject();
            }
            json.WriteEndObject();
        }
        output.Write(System.Text.Encoding.UTF8.GetString(stream.ToArray()));
        output.Write('\n');
        output.Flush();
    }
}
