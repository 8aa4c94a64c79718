using System.CommandLine;
using System.Text.Json;
using Spectre.Console;
using VtdSim.Cli.Io;
using VtdSim.Hardware.Decoding;
using VtdSim.Kernel.Intel.Debugfs;

namespace VtdSim.Cli.Commands;

/// <summary>
/// `vtdsim analyze debugfs PATH…`: Linux's Intel IOMMU debugfs files (a directory laid out as
/// /sys/kernel/debug/iommu/intel/, or single files) read, rebuilt into a model machine's memory and checked
/// (docs/analyze.md). Exit 2 with FILE:LINE and the text on a file it cannot read; 0 whatever the findings.
/// </summary>
internal static class DebugfsCommand
{
    public static Command Create(Func<IAnsiConsole> console, Func<TextWriter> output)
    {
        var paths = new Argument<string[]>("PATH")
        {
            Description = "a directory laid out as /sys/kernel/debug/iommu/intel/ (a copy of it), or single files of it",
            Arity = ArgumentArity.OneOrMore,
        };
        var json = new Option<bool>("--json") { Description = "print JSON instead of tables (addresses as hex strings; the same input gives the same bytes)" };
        var width = CliOptions.Integer("--address-width", "the host address width in bits: address bits at or above it are reserved [default: 46]", 32, 52, 46, "give 32 to 52");
        var memory = new Option<ulong?>("--memory")
        {
            Description = "the top of the host's memory in bytes (0x-prefixed hex or decimal): pointers at or above it point outside memory [default: 2^address-width]",
            CustomParser = result =>
            {
                string text = result.Tokens.Count == 0 ? "" : result.Tokens[0].Value;
                if (StructureDecoder.TryParseValue(text, out ulong v, out string problem)) return v;
                result.AddError($"--memory: '{text}': {problem}");
                return null;
            },
        };
        var report = ReportOption.Create("the findings (the SPR17 hazard marked), the devices, the rebuilt root, context and PASID entries decoded and the page tables");
        var command = new Command("debugfs", "Read Linux's Intel IOMMU debugfs files, rebuild the remapping structures and check them (SPR17 hazard, reserved bits, pointers outside memory, self-maps)")
        {
            paths, json, width, memory, report,
        };
        command.SetAction(parse =>
        {
            string[] given = parse.GetValue(paths)!;
            var files = Collect(given);
            if (!DebugfsParser.TryParse(files, out DebugfsDump? dump, out DebugfsParseError? error)) throw new ArgumentException(error.Message);
            int haw = parse.GetValue(width);
            ulong? top = parse.GetValue(memory);
            if (top is ulong t && (t < 1UL << 20 || t > 1UL << haw))
                throw new ArgumentException($"--memory: 0x{t:x} is not between 1 MiB and 2^{haw} (the address width)");
            var analysis = DebugfsAnalysis.Analyze(dump, haw, top);
            if (parse.GetValue(json)) WriteJson(output(), analysis);
            else WriteText(console(), analysis);
            ReportOption.WriteIfAsked(parse.GetValue(report), () => Report.DebugfsReport.Build(analysis, string.Join(", ", given)));
            return 0;
        });
        return command;
    }

    /// <summary>The files to read: a directory's files (recursively, by path in ordinal order, named relative to it) or the files given.</summary>
    private static List<(string Path, string Text)> Collect(string[] paths)
    {
        var files = new List<(string, string)>();
        foreach (string path in paths)
        {
            try
            {
                if (Directory.Exists(path))
                {
                    foreach (string f in Directory.EnumerateFiles(path, "*", SearchOption.AllDirectories)
                                 .Select(f => Path.GetRelativePath(path, f).Replace('\\', '/')).Order(StringComparer.Ordinal))
                        files.Add((f, File.ReadAllText(Path.Combine(path, f))));
                }
                else files.Add((path, File.ReadAllText(path)));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
            {
                throw new ArgumentException($"cannot read {path}: {UserText.Message(e)}");
            }
        }
        if (files.Count == 0) throw new ArgumentException($"{string.Join(", ", paths)}: no files in it");
        return files;
    }

    private static string Hex(ulong v) => $"0x{v:x}";

    private static string Kind(DebugfsFindingKind k) => Report.DebugfsReport.Code(k);

    private static void WriteText(IAnsiConsole console, DebugfsAnalysis a)
    {
        var d = a.Dump;
        console.WriteLine($"read {d.Files.Count} file(s): {d.Registers.Count} register dump(s), {d.Translation.Sum(t => t.Rows.Count)} context/PASID entries, {d.Domains.Count} page table(s) with {d.Domains.Sum(x => x.Leaves.Count)} leaves, {d.Queues.Count} invalidation queue(s)");
        foreach (var s in d.Skipped) console.WriteLine($"not analysed: {s.File}: {s.Reason}");
        if (a.Devices.Count > 0)
        {
            var table = new Table().AddColumns("device", "PASID", "mode", "translation", "DID", "table", "levels", "first-stage table (GPA)", "leaves");
            foreach (var x in a.Devices)
                table.AddRow(Markup.Escape(x.Device), x.Pasid < 0 ? "-" : $"{x.Pasid}", x.Mode, Markup.Escape(x.Translation), $"{x.DomainId}",
                    x.Table is ulong t ? Hex(t) : "-", x.Levels == 0 ? "-" : $"{x.Levels}", x.FirstStageTable is ulong f ? Hex(f) : "-", $"{x.Leaves}");
            console.Write(table);
        }
        if (a.Findings.Count == 0) console.WriteLine($"no findings (host address width {a.AddressWidth}, memory top {Hex(a.MemorySize)})");
        else
        {
            console.WriteLine($"{a.Findings.Count} finding(s) (host address width {a.AddressWidth}, memory top {Hex(a.MemorySize)}):");
            foreach (var f in a.Findings)
                console.WriteLine($"{f.File}:{f.Line}: {Kind(f.Kind)}: {f.Device}, {f.Entry}: {f.Message} [{f.Rule}]");
        }
        foreach (string note in a.Notes) console.WriteLine($"note: {note}");
    }

    private static void WriteJson(TextWriter output, DebugfsAnalysis a)
    {
        using var stream = new MemoryStream();
        using (var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteStartArray("files");
            foreach (string f in a.Dump.Files) json.WriteStringValue(f);
            json.WriteEndArray();
            json.WriteStartArray("skipped");
            foreach (var s in a.Dump.Skipped)
            {
                json.WriteStartObject();
                json.WriteString("file", s.File);
                json.WriteString("reason", s.Reason);
                json.WriteEndObject();
            }
            json.WriteEndArray();
            json.WriteNumber("addressWidth", a.AddressWidth);
            json.WriteString("memoryTop", Hex(a.MemorySize));
            json.WriteStartArray("devices");
            foreach (var x in a.Devices)
            {
                json.WriteStartObject();
                json.WriteString("device", x.Device);
                json.WriteNumber("pasid", x.Pasid);
                json.WriteString("mode", x.Mode);
                json.WriteString("translation", x.Translation);
                json.WriteNumber("domainId", x.DomainId);
                if (x.Table is ulong t) json.WriteString("table", Hex(t));
                json.WriteNumber("levels", x.Levels);
                if (x.FirstStageTable is ulong f) json.WriteString("firstStageTable", Hex(f));
                json.WriteNumber("leaves", x.Leaves);
                json.WriteString("file", x.File);
                json.WriteNumber("line", x.Line);
                json.WriteStartObject("entry");
                json.WriteString("kind", x.Entry.Kind);
                json.WriteStartArray("values");
                foreach (ulong v in x.Entry.Values) json.WriteStringValue($"0x{v:x16}");
                json.WriteEndArray();
                json.WriteStartArray("fields");
                foreach (var field in x.Entry.Fields.Where(f => f.Role == FieldRole.Field))
                {
                    json.WriteStartObject();
                    json.WriteString("bits", field.Bits);
                    json.WriteString("name", field.Name);
                    json.WriteString("value", field.ValueText);
                    json.WriteString("meaning", field.Meaning);
                    json.WriteEndObject();
                }
                json.WriteEndArray();
                json.WriteEndObject();
                json.WriteEndObject();
            }
            json.WriteEndArray();
            json.WriteStartArray("findings");
            foreach (var f in a.Findings)
            {
                json.WriteStartObject();
                json.WriteString("kind", Kind(f.Kind));
                json.WriteString("device", f.Device);
                json.WriteString("entry", f.Entry);
                json.WriteString("rule", f.Rule);
                json.WriteString("message", f.Message);
                json.WriteString("file", f.File);
                json.WriteNumber("line", f.Line);
                json.WriteEndObject();
            }
            json.WriteEndArray();
            json.WriteStartArray("notes");
            foreach (string n in a.Notes) json.WriteStringValue(n);
            json.WriteEndArray();
            json.WriteEndObject();
        }
        output.Write(System.Text.Encoding.UTF8.GetString(stream.ToArray()));
        output.Write('\n');
        output.Flush();
    }
}
