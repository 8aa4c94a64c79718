using System.Text;
using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Events;
using VtdSim.Hardware.Faults;
using VtdSim.Hardware.Translation;

namespace VtdSim.Cli.Qtest;

/// <summary>
/// Executes one qtest command line against an <see cref="IQtestMachine"/> and returns the reply, as QEMU's qtest server
/// words it ("OK", "OK 0x%016x", "FAIL …"), plus VtdSim's extension commands. Never throws: a malformed line gets a
/// FAIL that names the argument and the reason, and the machine is left as it was. After each command the machine idles
/// (<see cref="IQtestMachine.Idle"/>). Commands are listed in docs/qtest.md.
/// </summary>
public sealed class QtestInterpreter
{
    /// <summary>The most bytes one read, write, memset or dma moves (QEMU has no limit; a bad size there just allocates).</summary>
    public const int MaxTransferBytes = 16 << 20;

    private static readonly Dictionary<string, CommandSpec> Commands = BuildCommands();
    private readonly IQtestMachine _machine;

    public QtestInterpreter(IQtestMachine machine)
    {
        ArgumentNullException.ThrowIfNull(machine);
        _machine = machine;
    }

    /// <summary>Every command with its usage, for `help` and the documentation tests.</summary>
    public static IEnumerable<(string Name, string Usage)> CommandList => Commands.Values.Select(c => (c.Name, c.Usage));

    /// <summary>
    /// Whether the last command's reply is withheld: the machine ended while carrying it out (a device's hardware error
    /// aborts QEMU before it answers), so a session sends nothing for it and ends.
    /// </summary>
    public bool ReplyWithheld { get; private set; }

    /// <summary>Runs one line (without its newline) and returns the reply; `events` returns several lines joined by '\n'.</summary>
    public string Execute(string line)
    {
        ArgumentNullException.ThrowIfNull(line);
        ReplyWithheld = false;
        if (_machine.Ended is { } ended && !line.Split([' ', '\t', '\r'], StringSplitOptions.RemoveEmptyEntries).SequenceEqual(["reset"]))
            return $"FAIL the machine has ended ({OneLine(string.Join(" ", ended))}); send 'reset' for a new one";
        string reply = Run(line);
        if (_machine.Ended is not null)
        {
            ReplyWithheld = true;
            return reply;
        }
        _machine.Idle();
        return reply;
    }

    private string Run(string line)
    {
        string[] words = line.Split([' ', '\t', '\r'], StringSplitOptions.RemoveEmptyEntries);
        if (words.Length == 0) return "FAIL empty line; send a command such as 'readq 0xfed90008' (try 'help')";
        string name = words[0];
        if (!Commands.TryGetValue(name, out CommandSpec? spec) || (spec.ClockCommand && !_machine.HasClockCommands))
            return $"FAIL Unknown command '{OneLine(QtestNumbers.Abbreviate(name))}'";
        var args = new Arguments(name, words);
        if (args.Count < spec.MinArgs || args.Count > spec.MaxArgs)
        {
            string expected = spec.MinArgs == spec.MaxArgs ? $"{spec.MinArgs}" : $"{spec.MinArgs} to {spec.MaxArgs}";
            return $"FAIL {name}: takes {expected} argument(s), got {args.Count}; usage: {spec.Usage}";
        }
        try
        {
            return spec.Handler(this, args);
        }
        catch (QtestFailure f)
        {
            return $"FAIL {name}: {OneLine(f.Message)}";
        }
        catch (Exception e)
        {
            // A defect of the model: said as such, without .NET's wording, and the session goes on.
            return $"FAIL {name}: internal error, please report it: {OneLine(Io.UserText.Message(e))}";
        }
    }

    // ---- QEMU commands ----

    private string ReadWidth(Arguments a, int size)
    {
        ulong address = a.Unsigned(0, "ADDR");
        if (!_machine.TryRead(address, size, out ulong value, out string error)) throw new QtestFailure(error);
        return $"OK 0x{value:x16}";
    }

    private string WriteWidth(Arguments a, int size)
    {
        ulong address = a.Unsigned(0, "ADDR");
        ulong value = a.Unsigned(1, "VALUE");
        // QEMU truncates VALUE to the access width.
        if (size < 8) value &= (1UL << (8 * size)) - 1;
        if (!_machine.TryWrite(address, size, value, out string error)) throw new QtestFailure(error);
        return "OK";
    }

    private string Read(Arguments a)
    {
        ulong address = a.Unsigned(0, "ADDR");
        int size = a.Size(1, "SIZE", allowZero: false);
        var data = new byte[size];
        if (!_machine.TryReadBytes(address, data, out string error)) throw new QtestFailure(error);
        return "OK " + QtestNumbers.FormatHexData(data);
    }

    private string Write(Arguments a)
    {
        ulong address = a.Unsigned(0, "ADDR");
        int size = a.Size(1, "SIZE", allowZero: true);
        if (!QtestNumbers.TryParseHexData(a[2], size, out byte[] data, out string error)) throw new QtestFailure($"DATA (argument 3): {error}");
        if (!_machine.TryWriteBytes(address, data, out error)) throw new QtestFailure(error);
        return "OK";
    }

    private string B64Read(Arguments a)
    {
        ulong address = a.Unsigned(0, "ADDR");
        int size = a.Size(1, "SIZE", allowZero: true);
        var data = new byte[size];
        if (!_machine.TryReadBytes(address, data, out string error)) throw new QtestFailure(error);
        // QEMU answers "OK " and the (possibly empty) encoding, so a zero size gives "OK " with the space.
        return "OK " + Convert.ToBase64String(data);
    }

    private string B64Write(Arguments a)
    {
        ulong address = a.Unsigned(0, "ADDR");
        int size = a.Size(1, "SIZE", allowZero: true);
        string text = a[2];
        var decoded = new byte[(text.Length + 3) / 4 * 3];
        if (!Convert.TryFromBase64String(text, decoded, out int decodedLength))
            throw new QtestFailure($"B64_DATA (argument 3) '{QtestNumbers.Abbreviate(text)}' is not base64");
        // Shorter data is zero-filled and longer data truncated to SIZE (QEMU logs the mismatch and truncates).
        var data = new byte[size];
        decoded.AsSpan(0, Math.Min(size, decodedLength)).CopyTo(data);
        if (!_machine.TryWriteBytes(address, data, out string error)) throw new QtestFailure(error);
        return "OK";
    }

    private string Memset(Arguments a)
    {
        ulong address = a.Unsigned(0, "ADDR");
        int size = a.Size(1, "SIZE", allowZero: true);
        byte pattern = (byte)a.Unsigned(2, "VALUE"); // QEMU's memset uses the low byte
        if (size == 0) return "OK";
        if (!_machine.TryFill(address, (ulong)size, pattern, out string error)) throw new QtestFailure(error);
        return "OK";
    }

    private string ClockStep(Arguments a)
    {
        // Without an argument QEMU steps to the next timer deadline.
        long? ns = a.Count == 1 ? a.Signed(0, "NS") : null;
        if (!_machine.TryStepClock(ns, out string error)) throw new QtestFailure(error);
        return $"OK {_machine.ClockNs}";
    }

    private string ClockSet(Arguments a)
    {
        _machine.SetClock(a.Signed(0, "NS"));
        return $"OK {_machine.ClockNs}";
    }

    private static string Endianness(Arguments a) => "OK little";

    private string PortIn(Arguments a, int size)
    {
        ulong port = a.Unsigned(0, "ADDR");
        if (!_machine.TryPortRead(port, size, out uint value, out string error)) throw new QtestFailure(error);
        return $"OK 0x{value:x4}"; // QEMU's "OK 0x%04x"
    }

    private string PortOut(Arguments a, int size)
    {
        ulong port = a.Unsigned(0, "ADDR");
        ulong value = a.Unsigned(1, "VALUE");
        // QEMU passes VALUE to cpu_outb/w/l, which take the low bits of the width.
        if (!_machine.TryPortWrite(port, size, (uint)(value & (size == 4 ? uint.MaxValue : (1u << (8 * size)) - 1)), out string error))
            throw new QtestFailure(error);
        return "OK";
    }

    // ---- extensions ----

    private string Dma(Arguments a)
    {
        SourceId source = a.Source(0);
        ulong address = a.Unsigned(1, "ADDR");
        int length = a.Size(2, "LEN", allowZero: false);
        DmaAccess access = a.Access(3);
        var options = a.RequestOptions(4, allowData: access == DmaAccess.Write);
        if (address > ulong.MaxValue - (ulong)(length - 1))
            throw new QtestFailure($"0x{address:x} + {length} bytes runs past the top of the 64-bit address space");
        var request = new DmaRequest(source, new Iova(address), access, options.Pasid, options.Privileged, options.Execute);
        DmaTransferResult result;
        byte[] buffer;
        if (access == DmaAccess.Read)
        {
            buffer = new byte[length];
            result = _machine.Dma.Read(request, buffer);
        }
        else
        {
            buffer = new byte[length];
            if (options.Data is { } hex && !QtestNumbers.TryParseHexData(hex, length, out buffer, out string error))
                throw new QtestFailure($"data=: {error}");
            result = _machine.Dma.Write(request, buffer);
        }
        if (result.Completed)
            return access == DmaAccess.Read ? $"OK {result.BytesTransferred} {QtestNumbers.FormatHexData(buffer)}" : $"OK {result.BytesTransferred}";
        string moved = $"moved={result.BytesTransferred}";
        if (access == DmaAccess.Read && result.BytesTransferred > 0)
            moved += " data=" + QtestNumbers.FormatHexData(buffer.AsSpan(0, result.BytesTransferred));
        if (result.Fault is { } fault) return FaultReply(fault, moved);
        return $"FAIL unbacked {moved}: {OneLine(result.MemoryError ?? "the translated address is not backed by memory")}";
    }

    private string Translate(Arguments a)
    {
        SourceId source = a.Source(0);
        ulong address = a.Unsigned(1, "ADDR");
        DmaAccess access = a.Access(2);
        var options = a.RequestOptions(3, allowData: false);
        var request = new DmaRequest(source, new Iova(address), access, options.Pasid, options.Privileged, options.Execute);
        TranslationResult t = Unit().Translate(request);
        if (t.Fault is { } fault) return FaultReply(fault, null);
        return $"OK 0x{t.Address.Value:x16} page=0x{t.PageSize:x} rights={Rights(t.Rights)} kind={t.Kind}";
    }

    private string FaultReply(DmaFault fault, string? moved)
    {
        var sb = new StringBuilder("FAIL fault ");
        sb.Append($"fr=0x{fault.Code:x2} condition={fault.Condition} fi=0x{fault.FaultAddress.Value:x16}");
        if (moved is not null) sb.Append(' ').Append(moved);
        FaultDisposition? disposition = ReferenceEquals(_machine.LastFaultEvent?.Fault, fault) ? _machine.LastFaultEvent!.Disposition : null;
        sb.Append(" disposition=").Append(disposition is { } d ? Kebab(d.ToString()) : "unknown");
        sb.Append(": ").Append(OneLine(fault.Explanation));
        return sb.ToString();
    }

    private string Events(Arguments a)
    {
        var events = _machine.TakeEvents(out long dropped);
        var sb = new StringBuilder();
        foreach (var e in events) sb.Append("EVENT ").Append(OneLine(e)).Append('\n');
        sb.Append("OK ").Append(events.Count);
        if (dropped > 0) sb.Append(" dropped=").Append(dropped);
        return sb.ToString();
    }

    private string CacheCounters(Arguments a)
    {
        var sb = new StringBuilder();
        var reports = Unit().CacheReports();
        foreach (var r in reports)
        {
            var c = r.Statistics;
            sb.Append($"CACHE {r.Name} capacity={r.Geometry.Capacity} hits={c.Hits} misses={c.Misses} fills={c.Fills} ")
              .Append($"evictions={c.Evictions} invalidated={c.Invalidated} holding={c.Occupancy}\n");
        }
        return sb.Append("OK ").Append(reports.Count).ToString();
    }

    private string Reset(Arguments a)
    {
        _machine.Reset();
        return "OK";
    }

    private string Info(Arguments a) => "OK " + _machine.Info();

    /// <summary>The remapping unit `translate` and `caches` look at; a machine without one says so.</summary>
    private VtdSim.Hardware.VtdUnit Unit() =>
        _machine.Unit ?? throw new QtestFailure("the machine has no remapping unit (give -device intel-iommu)");

    private string Help(Arguments a) => "OK " + string.Join(' ', Commands.Values.Where(c => !c.ClockCommand || _machine.HasClockCommands).Select(c => c.Name));

    // ---- helpers ----

    private static string Rights(AccessRights r)
    {
        var sb = new StringBuilder();
        if (r.HasFlag(AccessRights.Read)) sb.Append('r');
        if (r.HasFlag(AccessRights.Write)) sb.Append('w');
        if (r.HasFlag(AccessRights.Execute)) sb.Append('x');
        if (r.HasFlag(AccessRights.User)) sb.Append('u');
        return sb.Length == 0 ? "-" : sb.ToString();
    }

    private static string Kebab(string pascal)
    {
        var sb = new StringBuilder();
        foreach (char c in pascal)
        {
            if (char.IsUpper(c) && sb.Length > 0) sb.Append('-');
            sb.Append(char.ToLowerInvariant(c));
        }
        return sb.ToString();
    }

    /// <summary>Keeps a reply on one line and free of control characters (a client's garbage is echoed as \xNN).</summary>
    private static string OneLine(string text)
    {
        text = text.ReplaceLineEndings(" ");
        if (!text.Any(char.IsControl)) return text;
        var sb = new StringBuilder(text.Length + 8);
        foreach (char c in text)
        {
            if (char.IsControl(c)) sb.Append($"\\x{(int)c:x2}");
            else sb.Append(c);
        }
        return sb.ToString();
    }

    private sealed record CommandSpec(string Name, string Usage, int MinArgs, int MaxArgs, Func<QtestInterpreter, Arguments, string> Handler)
    {
        /// <summary>clock_step and clock_set: QEMU knows them only with the qtest accelerator.</summary>
        public bool ClockCommand => Name is "clock_step" or "clock_set";
    }

    private static Dictionary<string, CommandSpec> BuildCommands()
    {
        var list = new List<CommandSpec>();
        void Add(string usage, int min, int max, Func<QtestInterpreter, Arguments, string> handler) =>
            list.Add(new CommandSpec(usage.Split(' ')[0], usage, min, max, handler));
        foreach (var (suffix, size) in new[] { ("b", 1), ("w", 2), ("l", 4), ("q", 8) })
        {
            Add($"read{suffix} ADDR", 1, 1, (q, a) => q.ReadWidth(a, size));
            Add($"write{suffix} ADDR VALUE", 2, 2, (q, a) => q.WriteWidth(a, size));
        }
        Add("read ADDR SIZE", 2, 2, (q, a) => q.Read(a));
        Add("write ADDR SIZE 0xDATA", 3, 3, (q, a) => q.Write(a));
        Add("b64read ADDR SIZE", 2, 2, (q, a) => q.B64Read(a));
        Add("b64write ADDR SIZE B64_DATA", 3, 3, (q, a) => q.B64Write(a));
        Add("memset ADDR SIZE VALUE", 3, 3, (q, a) => q.Memset(a));
        Add("clock_step [NS]", 0, 1, (q, a) => q.ClockStep(a));
        Add("clock_set NS", 1, 1, (q, a) => q.ClockSet(a));
        Add("endianness", 0, 0, (_, a) => Endianness(a));
        foreach (var (w, size) in new[] { ("b", 1), ("w", 2), ("l", 4) })
        {
            Add($"in{w} ADDR", 1, 1, (q, a) => q.PortIn(a, size));
            Add($"out{w} ADDR VALUE", 2, 2, (q, a) => q.PortOut(a, size));
        }
        Add("irq_intercept_in QOM-PATH", 1, 1, (q, a) => q._machine.IrqReply("irq_intercept_in"));
        Add("irq_intercept_out QOM-PATH", 1, 1, (q, a) => q._machine.IrqReply("irq_intercept_out"));
        Add("set_irq_in QOM-PATH NAME NUM LEVEL", 4, 4, (q, a) => q._machine.IrqReply("set_irq_in"));
        Add("dma SID ADDR LEN read|write [pasid=N] [priv] [exec] [data=0xHEX]", 4, 8, (q, a) => q.Dma(a));
        Add("translate SID ADDR read|write [pasid=N] [priv] [exec]", 3, 6, (q, a) => q.Translate(a));
        Add("events", 0, 0, (q, a) => q.Events(a));
        Add("caches", 0, 0, (q, a) => q.CacheCounters(a));
        Add("reset", 0, 0, (q, a) => q.Reset(a));
        Add("info", 0, 0, (q, a) => q.Info(a));
        Add("help", 0, 0, (q, a) => q.Help(a));
        return list.ToDictionary(c => c.Name, StringComparer.Ordinal);
    }

    private sealed class QtestFailure(string message) : Exception(message);

    private readonly record struct RequestOptions(uint? Pasid, bool Privileged, bool Execute, string? Data);

    /// <summary>A command's words after the name, with parsers that fail naming the argument.</summary>
    private sealed class Arguments(string command, string[] words)
    {
        public int Count => words.Length - 1;
        public string this[int index] => words[index + 1];

        public ulong Unsigned(int index, string name)
        {
            if (!QtestNumbers.TryParseUnsigned(this[index], out ulong v, out string error))
                throw new QtestFailure($"{name} (argument {index + 1}) {error}");
            return v;
        }

        public long Signed(int index, string name)
        {
            if (!QtestNumbers.TryParseSigned(this[index], out long v, out string error))
                throw new QtestFailure($"{name} (argument {index + 1}) {error}");
            return v;
        }

        public int Size(int index, string name, bool allowZero)
        {
            ulong v = Unsigned(index, name);
            if (v == 0 && !allowZero)
                throw new QtestFailure($"{name} (argument {index + 1}) must not be 0" + (command == "read" ? " (QEMU would abort on it)" : ""));
            if (v > MaxTransferBytes)
                throw new QtestFailure($"{name} (argument {index + 1}) 0x{v:x} exceeds the limit of 0x{MaxTransferBytes:x} bytes (16 MiB) per command; split it");
            return (int)v;
        }

        /// <summary>A requester id: bus:device.function in hex as lspci prints it (00:01.0), or the 16-bit number.</summary>
        public SourceId Source(int index)
        {
            string text = this[index];
            if (text.Contains(':'))
            {
                if (!QtestNumbers.TryParseSourceId(text, out ushort sid, out string sidError))
                    throw new QtestFailure($"SID (argument {index + 1}): {sidError}");
                return new SourceId(sid);
            }
            if (!QtestNumbers.TryParseUnsigned(text, out ulong v, out string error))
                throw new QtestFailure($"SID (argument {index + 1}) {error}; or write bus:device.function, e.g. 00:01.0");
            if (v > 0xFFFF) throw new QtestFailure($"SID (argument {index + 1}) 0x{v:x} does not fit in 16 bits");
            return new SourceId((ushort)v);
        }

        public DmaAccess Access(int index) => this[index] switch
        {
            "read" => DmaAccess.Read,
            "write" => DmaAccess.Write,
            _ => throw new QtestFailure($"argument {index + 1} '{QtestNumbers.Abbreviate(this[index])}' must be 'read' or 'write'"),
        };

        public RequestOptions RequestOptions(int first, bool allowData)
        {
            uint? pasid = null;
            bool priv = false, exec = false;
            string? data = null;
            var seen = new HashSet<string>();
            for (int i = first; i < Count; i++)
            {
                string word = this[i];
                int eq = word.IndexOf('=');
                string key = eq < 0 ? word : word[..eq];
                if (!seen.Add(key)) throw new QtestFailure($"argument {i + 1}: '{key}' is given twice");
                switch (key)
                {
                    case "pasid" when eq > 0:
                        if (!QtestNumbers.TryParseUnsigned(word[(eq + 1)..], out ulong p, out string error))
                            throw new QtestFailure($"pasid= (argument {i + 1}) {error}");
                        if (p > 0xFFFFF) throw new QtestFailure($"pasid= (argument {i + 1}) 0x{p:x} does not fit in 20 bits");
                        pasid = (uint)p;
                        break;
                    case "data" when eq > 0:
                        if (!allowData) throw new QtestFailure($"data= (argument {i + 1}) only goes with a dma write");
                        data = word[(eq + 1)..];
                        break;
                    case "priv" when eq < 0:
                        priv = true;
                        break;
                    case "exec" when eq < 0:
                        exec = true;
                        break;
                    default:
                        throw new QtestFailure($"argument {i + 1} '{QtestNumbers.Abbreviate(word)}' is not an option; options are pasid=N, priv, exec" +
                            (allowData ? ", data=0xHEX" : ""));
                }
            }
            if ((priv || exec) && pasid is null)
                throw new QtestFailure("priv and exec travel in the PASID prefix, so they need pasid=N");
            return new RequestOptions(pasid, priv, exec, data);
        }
    }
}
