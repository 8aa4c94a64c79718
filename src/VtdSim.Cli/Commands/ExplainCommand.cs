using System.CommandLine;
using System.Text.Json;
using VtdSim.Kernel.Intel;

namespace VtdSim.Cli.Commands;

/// <summary>
/// `vtdsim explain 'LINE'` (or lines on stdin, or --reason CODE): a DMAR fault line as Linux logs it, read in any of its
/// forms since 4.x, and explained: the device, the address, the PASID, the specification's condition and text, what it
/// means, likely causes and what to check (docs/decode.md). A line that is not a fault line is an error on stderr that
/// names it (its number on stdin) and quotes it; the other lines are still explained, and the status is then 2.
/// </summary>
public static class ExplainCommand
{
    public static Command Create(Func<TextWriter> output, Func<TextWriter> error, Func<TextReader> input)
    {
        var line = new Argument<string[]>("LINE")
        {
            Description = "a DMAR fault line as the kernel logged it (quote it; words given unquoted are joined with spaces); without it, lines are read from stdin",
            Arity = ArgumentArity.ZeroOrMore,
        };
        var reason = new Option<string?>("--reason")
        {
            Description = "explain a fault reason code alone: 0x77 (hex) or 119 (decimal)",
        };
        var json = new Option<bool>("--json") { Description = "print the explanation as JSON (fields in a fixed order: the same input gives the same bytes)" };
        var command = new Command("explain", "Explain a DMAR fault line from the kernel log (dmesg), or a fault reason code: the device, the address, the spec's condition, causes and checks")
        {
            line, reason, json,
        };
        command.Validators.Add(result =>
        {
            string? code = result.GetValue(reason);
            if (code is not null && (result.GetValue(line) ?? []).Length > 0)
                result.AddError("--reason: give a reason code or a line, not both");
            else if (code is not null && !DmarFaultLine.TryParseReason(code, out _, out string problem))
                result.AddError($"--reason: {problem}");
        });
        command.SetAction(parse =>
        {
            TextWriter writer = output();
            bool asJson = parse.GetValue(json);
            if (parse.GetValue(reason) is { } code)
            {
                DmarFaultLine.TryParseReason(code, out byte value, out _);
                if (asJson) WriteJson(writer, [], DmarFaultAdvice.For(value));
                else WriteAdvice(writer, DmarFaultAdvice.For(value));
                writer.Flush();
                return 0;
            }
            string[] words = parse.GetValue(line) ?? [];
            int status = words.Length > 0
                ? ExplainLines(new StringReader(string.Join(' ', words)), writer, error(), numbered: false, asJson)
                : ExplainLines(input(), writer, error(), numbered: true, asJson);
            writer.Flush();
            return status;
        });
        return command;
    }

    /// <summary>
    /// Explains every line of <paramref name="input"/>; blank lines are skipped. A line that cannot be read is said on
    /// <paramref name="error"/> (with its number when <paramref name="numbered"/>) and the rest go on. 0 when every
    /// line was explained, else the usage status.
    /// </summary>
    public static int ExplainLines(TextReader input, TextWriter output, TextWriter error, bool numbered, bool json = false)
    {
        int number = 0, failed = 0, explained = 0;
        var faults = new List<(int Number, string Text, DmarFaultLine Fault)>();
        while (input.ReadLine() is { } text)
        {
            number++;
            if (text.Trim().Length == 0) continue;
            string where = numbered ? $"line {number}: " : "";
            if (!DmarFaultLine.TryParse(text, out DmarFaultLine? fault, out string problem))
            {
                failed++;
                error.WriteLine($"vtdsim: {where}{problem}: '{DmarFaultLine.Quote(text)}'");
                continue;
            }
            if (json)
            {
                explained++;
                faults.Add((number, text.Trim(), fault!));
                continue;
            }
            if (explained++ > 0) output.WriteLine();
            if (numbered) output.WriteLine($"line {number}: {text.Trim()}");
            else output.WriteLine(text.Trim());
            WriteFault(output, fault);
        }
        error.Flush();
        if (json && explained > 0) WriteJson(output, faults, null);
        if (explained == 0 && failed == 0)
        {
            error.WriteLine(numbered
                ? "vtdsim: explain: no line given and nothing but blank lines on stdin; give a DMAR fault line or --reason CODE"
                : "vtdsim: explain: the line is empty; give a DMAR fault line or --reason CODE");
            return Program.Usage;
        }
        return failed > 0 ? Program.Usage : 0;
    }

    private static void WriteFault(TextWriter w, DmarFaultLine f)
    {
        DmarFaultAdvice advice = DmarFaultAdvice.For(f.Reason);
        w.WriteLine($"  device:   {f.Bus:x2}:{f.Device:x2}.{f.Function} (requester id 0x{f.SourceId:x4})");
        if (f.Kind == DmarRequestKind.InterruptRemapping)
            w.WriteLine($"  request:  an interrupt (remapping); interrupt index 0x{f.Address:x}");
        else
        {
            string access = f.Kind == DmarRequestKind.DmaRead ? "DMA read" : "DMA write";
            w.WriteLine($"  request:  {access}, {(f.Pasid is uint p ? $"with PASID 0x{p:x}" : "without PASID")}");
            w.WriteLine($"  address:  0x{f.Address:x} (the faulting page{(f.Address % 4096 != 0 ? "; Linux prints the page address, this one is not page-aligned" : "")})");
        }
        w.WriteLine($"  form:     {FormText(f.Form)}");
        foreach (string warning in f.Warnings) w.WriteLine($"  warning:  {warning}");
        WriteAdvice(w, advice);
    }

    private static string FormText(DmarLineForm form) => form switch
    {
        DmarLineForm.WithoutPasid => "Linux 4.x/5.x's (no PASID; reason code in decimal)",
        DmarLineForm.PasidField => "Linux 5.x's before 5.14 (PASID ffffffff for none; reason code in decimal)",
        _ => "Linux 5.14 and later (NO_PASID or PASID 0x…; reason code in hex)",
    };

    private static void WriteAdvice(TextWriter w, DmarFaultAdvice a)
    {
        w.WriteLine($"  reason:   0x{a.Code:x2} {a.Condition}: {a.SpecText}");
        w.WriteLine($"  Linux:    \"{a.LinuxText}\"");
        w.WriteLine($"  kind:     {a.Group}");
        w.WriteLine($"  meaning:  {a.Meaning}");
        w.WriteLine("  likely causes:");
        foreach (string cause in a.Causes) w.WriteLine($"    - {cause}");
        w.WriteLine("  check:");
        foreach (string check in a.Checks) w.WriteLine($"    - {check}");
    }

    /// <summary>
    /// The explanations as JSON: {"faults": [...]} for lines (each with its line number on stdin, or 1, its text, the
    /// device, request, address, form, warnings and the reason), {"reason": {...}} for --reason. Fixed field order.
    /// </summary>
    private static void WriteJson(TextWriter output, List<(int Number, string Text, DmarFaultLine Fault)> faults, DmarFaultAdvice? reasonOnly)
    {
        using var stream = new MemoryStream();
        using (var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            if (reasonOnly is not null)
            {
                json.WritePropertyName("reason");
                WriteAdviceJson(json, reasonOnly);
            }
            else
            {
                json.WriteStartArray("faults");
                foreach (var (number, text, f) in faults)
                {
                    json.WriteStartObject();
                    json.WriteNumber("line", number);
                    json.WriteString("text", text);
                    json.WriteString("device", $"{f.Bus:x2}:{f.Device:x2}.{f.Function}");
                    json.WriteString("requesterId", $"0x{f.SourceId:x4}");
                    json.WriteString("request", f.Kind switch
                    {
                        DmarRequestKind.DmaRead => "dma-read",
                        DmarRequestKind.DmaWrite => "dma-write",
                        _ => "interrupt-remapping",
                    });
                    if (f.Kind == DmarRequestKind.InterruptRemapping) json.WriteString("interruptIndex", $"0x{f.Address:x}");
                    else
                    {
                        if (f.Pasid is uint p) json.WriteString("pasid", $"0x{p:x}");
                        else json.WriteNull("pasid");
                        json.WriteString("address", $"0x{f.Address:x}");
                    }
                    json.WriteString("form", FormText(f.Form));
                    json.WriteStartArray("warnings");
                    foreach (string w in f.Warnings) json.WriteStringValue(w);
                    json.WriteEndArray();
                    json.WritePropertyName("reason");
                    WriteAdviceJson(json, DmarFaultAdvice.For(f.Reason));
                    json.WriteEndObject();
                }
                json.WriteEndArray();
            }
            json.WriteEndObject();
        }
        output.Write(System.Text.Encoding.UTF8.GetString(stream.ToArray()));
        output.Write('\n');
    }

    private static void WriteAdviceJson(Utf8JsonWriter json, DmarFaultAdvice a)
    {
        json.WriteStartObject();
        json.WriteString("code", $"0x{a.Code:x2}");
        json.WriteString("condition", a.Condition);
        json.WriteString("specification", a.SpecText);
        json.WriteString("linux", a.LinuxText);
        json.WriteString("kind", a.Group);
        json.WriteString("meaning", a.Meaning);
        json.WriteStartArray("causes");
        foreach (string c in a.Causes) json.WriteStringValue(c);
        json.WriteEndArray();
        json.WriteStartArray("checks");
        foreach (string c in a.Checks) json.WriteStringValue(c);
        json.WriteEndArray();
        json.WriteEndObject();
    }
}
