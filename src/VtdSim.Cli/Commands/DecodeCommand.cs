using System.CommandLine;
using System.Text.Json;
using Spectre.Console;
using VtdSim.Hardware.Decoding;

namespace VtdSim.Cli.Commands;

/// <summary>
/// `vtdsim decode KIND VALUE…`: a register or table entry, every field named as the specification names it, with its
/// bits, value and meaning; reserved bits that are set are flagged. A table, or JSON with --json (docs/decode.md).
/// </summary>
public static class DecodeCommand
{
    private static readonly Dictionary<string, StructureKind> Stages = new(StringComparer.OrdinalIgnoreCase)
    {
        ["first"] = StructureDecoder.FirstStage,
        ["second"] = StructureDecoder.SecondStage,
        ["legacy"] = StructureDecoder.LegacySecondLevel,
    };

    public static Command Create(Func<IAnsiConsole> console, Func<TextWriter> output)
    {
        string kinds = string.Join(", ", StructureDecoder.Kinds.Select(k => $"{k.Name} ({k.Title}{(k.Qwords > 1 ? $", {k.Qwords} values" : "")})"));
        var kind = new Argument<string>("KIND")
        {
            Description = $"what the values are: {kinds}; or pte with --stage",
        };
        var values = new Argument<string[]>("VALUE")
        {
            Description = "the value: 0x-prefixed hex or decimal. A structure wider than 64 bits is given as several values, low qword first " +
                          "(a context entry: QW0 QW1; a PASID entry: QW0 … QW7). More values decode more structures of the same kind, one after another",
            Arity = ArgumentArity.ZeroOrMore,
        };
        var stage = new Option<string?>("--stage")
        {
            Description = "for KIND pte: first (first-stage, IA-32e), second (second-stage, scalable mode) or legacy (second-level, legacy mode)",
        };
        var level = CliOptions.Integer("--level", "paging level of a paging entry: 1 (PTE), 2 (PDE), 3 (PDPE), 4 (PML4E) or 5 (PML5E); a PDE or PDPE with PS set is a leaf",
            1, 5, 1, "give 1 (PTE) to 5 (PML5E)");
        var json = new Option<bool>("--json") { Description = "print JSON instead of a table (values as hex strings)" };
        var command = new Command("decode", "Decode a VT-d register (CAP, ECAP) or table entry field by field, as the specification names the fields")
        {
            kind, values, stage, level, json,
        };
        command.Validators.Add(result =>
        {
            // An option that refused its value has said so already, and its value cannot be read.
            if (result.Errors.Any() || !Readable(() => result.GetValue(level))) return;
            string name = result.GetValue(kind) ?? "";
            string[] given = result.GetValue(values) ?? [];
            string? stageName = result.GetValue(stage);
            if (!TryKind(name, stageName, out StructureKind? k, out string problem))
            {
                result.AddError(problem);
                return;
            }
            if (result.GetResult(level) is { Implicit: false } && !k.IsPagingEntry)
                result.AddError($"--level: only paging entries have a level; {k.Name} is a {k.Title}");
            if (given.Length == 0 || given.Length % k.Qwords != 0)
            {
                string what = k.Qwords == 1 ? "one 64-bit value (or several, one structure each)" : $"{k.Qwords} values per structure, low qword first (QW0 to QW{k.Qwords - 1})";
                result.AddError($"decode {k.Name}: takes {what}; {given.Length} given");
                return;
            }
            int paging = result.GetValue(level) is int v and >= 1 and <= 5 ? v : 1; // the option refuses any other value itself
            for (int i = 0; i < given.Length; i += k.Qwords)
            {
                if (!StructureDecoder.TryDecode(k, given[i..(i + k.Qwords)], paging, out _, out string error))
                {
                    result.AddError($"decode {k.Name}: {(given.Length > k.Qwords ? $"structure {i / k.Qwords + 1}: " : "")}{error}");
                    return;
                }
            }
        });
        command.SetAction(parse =>
        {
            if (!TryKind(parse.GetValue(kind) ?? "", parse.GetValue(stage), out StructureKind? k, out string problem))
                throw new InvalidOperationException(problem); // the validator has refused it already
            string[] given = parse.GetValue(values) ?? [];
            var decoded = new List<DecodedStructure>();
            for (int i = 0; i < given.Length; i += k.Qwords)
            {
                StructureDecoder.TryDecode(k, given[i..(i + k.Qwords)], parse.GetValue(level), out DecodedStructure? d, out _);
                decoded.Add(d!);
            }
            if (parse.GetValue(json)) WriteJson(output(), decoded);
            else WriteTables(console(), decoded);
            return 0;
        });
        return command;
    }

    private static bool Readable(Action read)
    {
        try
        {
            read();
            return true;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    private static bool TryKind(string name, string? stage, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out StructureKind? kind, out string error)
    {
        kind = null;
        error = "";
        if (string.Equals(name, "pte", StringComparison.OrdinalIgnoreCase))
        {
            if (stage is null)
            {
                error = "decode pte: say which format with --stage first, second or legacy (or give the kind fs-pte, ss-pte or sl-pte)";
                return false;
            }
            if (!Stages.TryGetValue(stage, out kind))
            {
                error = $"--stage: '{stage}' is not first, second or legacy";
                return false;
            }
            return true;
        }
        if (!StructureDecoder.TryFindKind(name, out kind, out string problem))
        {
            error = $"decode: {problem}, or pte with --stage";
            return false;
        }
        if (stage is not null)
        {
            error = $"--stage: only the kind pte takes a stage; {kind.Name} is a {kind.Title}";
            kind = null;
            return false;
        }
        return true;
    }

    private static void WriteTables(IAnsiConsole console, List<DecodedStructure> decoded)
    {
        foreach (DecodedStructure d in decoded)
        {
            if (d.Values.Count == 1) console.WriteLine($"{d.Title}: 0x{d.Values[0]:x16}");
            else
            {
                console.WriteLine($"{d.Title}:");
                for (int q = 0; q < d.Values.Count; q += 4)
                {
                    int last = Math.Min(q + 4, d.Values.Count) - 1;
                    console.WriteLine($"  QW{q}..QW{last}: {string.Join(" ", d.Values.Skip(q).Take(4).Select(v => $"0x{v:x16}"))}");
                }
            }
            var table = new Table().Border(TableBorder.Rounded).AddColumns("bits", "field", "value", "meaning");
            foreach (DecodedField f in d.Fields)
            {
                string meaning = Markup.Escape(f.Meaning);
                if (f.Flagged) meaning = $"[red]! {meaning}[/]";
                else if (f.Role != FieldRole.Field && f.Value == 0) meaning = $"[grey]{meaning}[/]";
                table.AddRow(f.Bits, Markup.Escape(f.Name), f.ValueText, meaning);
            }
            console.Write(table);
            foreach (string note in d.Notes) console.WriteLine($"note: {note}");
        }
    }

    private static void WriteJson(TextWriter output, List<DecodedStructure> decoded)
    {
        using var stream = new MemoryStream();
        using (var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartArray();
            foreach (DecodedStructure d in decoded)
            {
                json.WriteStartObject();
                json.WriteString("kind", d.Kind);
                json.WriteString("title", d.Title);
                json.WriteStartArray("values");
                foreach (ulong v in d.Values) json.WriteStringValue($"0x{v:x16}");
                json.WriteEndArray();
                json.WriteStartArray("fields");
                foreach (DecodedField f in d.Fields)
                {
                    json.WriteStartObject();
                    json.WriteString("bits", f.Bits);
                    json.WriteNumber("high", f.High);
                    json.WriteNumber("low", f.Low);
                    json.WriteString("name", f.Name);
                    json.WriteString("value", $"0x{f.Value:x}");
                    json.WriteString("meaning", f.Meaning);
                    json.WriteString("role", f.Role.ToString().ToLowerInvariant());
                    json.WriteBoolean("flagged", f.Flagged);
                    json.WriteEndObject();
                }
                json.WriteEndArray();
                json.WriteStartArray("notes");
                foreach (string n in d.Notes) json.WriteStringValue(n);
                json.WriteEndArray();
                json.WriteEndObject();
            }
            json.WriteEndArray();
        }
        output.Write(System.Text.Encoding.UTF8.GetString(stream.ToArray()));
        output.Write('\n');
        output.Flush();
    }
}
