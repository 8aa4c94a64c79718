using System.Globalization;
using System.Text;
using System.Text.Json;
using VtdSim.Hardware.Profiles;

namespace VtdSim.Cli.Qtest;

/// <summary>
/// QEMU's QMP monitor (`-mon chardev=ID,mode=control`) for a served machine, as much of it as a qtest harness uses
/// (decisions Q60, Q61, Q63): the greeting, capabilities negotiation, `qmp_capabilities`, `query-status`,
/// `query-version`, `stop`, `cont`, `quit`; QEMU's CommandNotFound for every other command and GenericError texts for
/// input that is not a command. Replies and events are QEMU's, byte for byte (<see cref="QmpJson"/>); an event's
/// timestamp is the machine's virtual clock, not the wall clock, so a session's output is the same on every run.
/// Not thread-safe: the caller serializes it with the qtest session (<see cref="QtestHarnessClient"/>).
/// </summary>
public sealed class QmpMonitor
{
    private readonly IQtestMachine _machine;
    private readonly QemuVersion _version;
    private bool _negotiated;

    /// <param name="prelaunch">`-S`: the run state starts as `prelaunch` until `cont`.</param>
    public QmpMonitor(IQtestMachine machine, QemuVersion version, bool prelaunch)
    {
        ArgumentNullException.ThrowIfNull(machine);
        _machine = machine;
        _version = version;
        Status = prelaunch ? "prelaunch" : "running";
    }

    /// <summary>QEMU's run state as `query-status` reports it: `running`, `prelaunch` (-S) or `paused` (after `stop`).</summary>
    public string Status { get; private set; }
    /// <summary>Set once `quit` has been answered: the process ends.</summary>
    public bool QuitRequested { get; private set; }

    /// <summary>The greeting QEMU sends when the monitor's connection opens.</summary>
    public string Greeting() =>
        QmpJson.Object(("QMP", QmpJson.Object(("version", VersionInfo()), ("capabilities", "[\"oob\"]"))));

    /// <summary>
    /// Carries out one input: a complete JSON value, or text that is none (<paramref name="parseError"/> set), and
    /// returns the lines to send: the events it caused, then its reply.
    /// </summary>
    public IReadOnlyList<string> Execute(string input, string? parseError = null)
    {
        if (parseError is not null) return [Error("GenericError", parseError, null)];
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(input);
        }
        catch (JsonException)
        {
            return [Error("GenericError", "JSON parse error, invalid syntax", null)];
        }
        using (document)
        {
            JsonElement root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object) return [Error("GenericError", "QMP input must be a JSON object", null)];
            string? id = root.TryGetProperty("id", out JsonElement idValue) ? QmpJson.Value(idValue) : null;
            string? command = null;
            JsonElement? arguments = null;
            bool oob = false;
            // QEMU looks at the members in its QDict's order.
            foreach (JsonProperty member in root.EnumerateObject().OrderBy(p => QmpJson.Bucket(p.Name)))
            {
                switch (member.Name)
                {
                    case "execute":
                    case "exec-oob":
                        if (member.Value.ValueKind != JsonValueKind.String)
                            return [Error("GenericError", $"QMP input member '{member.Name}' must be a string", id)];
                        command = member.Value.GetString();
                        oob |= member.Name == "exec-oob";
                        break;
                    case "arguments":
                        if (member.Value.ValueKind != JsonValueKind.Object)
                            return [Error("GenericError", "QMP input member 'arguments' must be an object", id)];
                        arguments = member.Value;
                        break;
                    case "id":
                        break;
                    default:
                        return [Error("GenericError", $"QMP input member '{member.Name}' is unexpected", id)];
                }
            }
            if (command is null) return [Error("GenericError", "QMP input lacks member 'execute'", id)];
            return Dispatch(command, oob, arguments, id);
        }
    }

    private IReadOnlyList<string> Dispatch(string command, bool oob, JsonElement? arguments, string? id)
    {
        if (!_negotiated && command != "qmp_capabilities")
            return [Error("CommandNotFound", "Expecting capabilities negotiation with 'qmp_capabilities'", id)];
        if (!Known(command)) return [Error("CommandNotFound", $"The command {command} has not been found", id)];
        if (oob) return [Error("GenericError", $"The command {command} does not support OOB", id)];
        if (command == "qmp_capabilities") return Capabilities(arguments, id);
        // None of these commands takes an argument (an empty object is no argument).
        if (arguments is { } args && args.EnumerateObject().Select(p => p.Name).OrderBy(QmpJson.Bucket).FirstOrDefault() is { } extra)
            return [Error("GenericError", $"Parameter '{extra}' is unexpected", id)];
        switch (command)
        {
            case "query-status":
                return [Return(_version == QemuVersion.Qemu72
                    ? QmpJson.Object(("running", Bool(Status == "running")), ("singlestep", "false"), ("status", QmpJson.String(Status)))
                    : QmpJson.Object(("running", Bool(Status == "running")), ("status", QmpJson.String(Status))), id)];
            case "query-version":
                return [Return(VersionInfo(), id)];
            case "stop":
                if (Status != "running") return [Return("{}", id)]; // QEMU stops only a running VM (prelaunch stays)
                Status = "paused";
                return [Event("STOP", null), Return("{}", id)];
            case "cont":
                if (Status == "running") return [Return("{}", id)];
                Status = "running";
                return [Event("RESUME", null), Return("{}", id)];
            case "quit":
                QuitRequested = true;
                // QEMU 7.2 sends the SHUTDOWN event before quit's reply.
                return [Event("SHUTDOWN", QmpJson.Object(("guest", "false"), ("reason", "\"host-qmp-quit\""))), Return("{}", id)];
            default: // system_reset
                return [Error("GenericError",
                    "The command system_reset is not modelled by vtdsim (QEMU's reset keeps RAM and the clock; the qtest command reset builds the machine anew)", id)];
        }
    }

    private static bool Known(string command) =>
        command is "qmp_capabilities" or "query-status" or "query-version" or "stop" or "cont" or "quit" or "system_reset";

    private IReadOnlyList<string> Capabilities(JsonElement? arguments, string? id)
    {
        if (_negotiated) return [Error("CommandNotFound", "Capabilities negotiation is already complete, command ignored", id)];
        if (arguments is { } args)
        {
            foreach (JsonProperty p in args.EnumerateObject())
            {
                if (p.Name != "enable") return [Error("GenericError", $"Parameter '{p.Name}' is unexpected", id)];
                if (p.Value.ValueKind != JsonValueKind.Array) return [Error("GenericError", "Invalid parameter type for 'enable', expected: array", id)];
                int i = 0;
                foreach (JsonElement capability in p.Value.EnumerateArray())
                {
                    if (capability.ValueKind != JsonValueKind.String || capability.GetString() != "oob")
                        return [Error("GenericError", $"Parameter 'enable[{i}]' does not accept value '{(capability.ValueKind == JsonValueKind.String ? capability.GetString() : capability.GetRawText())}'", id)];
                    i++;
                }
            }
        }
        _negotiated = true;
        return [Return("{}", id)];
    }

    private string VersionInfo()
    {
        (int major, int minor) = _version == QemuVersion.Qemu72 ? (7, 2) : (11, 0);
        // The release whose behaviour is modelled; the package names the model, so a harness can tell it from QEMU.
        return QmpJson.Object(("qemu", QmpJson.Object(("major", Int(major)), ("minor", Int(minor)), ("micro", "0"))), ("package", "\"vtdsim\""));
    }

    private string Event(string name, string? data)
    {
        long ns = _machine.ClockNs;
        string timestamp = QmpJson.Object(("seconds", Int(ns / 1_000_000_000)), ("microseconds", Int(ns % 1_000_000_000 / 1000)));
        return data is null
            ? QmpJson.Object(("event", QmpJson.String(name)), ("timestamp", timestamp))
            : QmpJson.Object(("event", QmpJson.String(name)), ("data", data), ("timestamp", timestamp));
    }

    private static string Return(string value, string? id) =>
        id is null ? QmpJson.Object(("return", value)) : QmpJson.Object(("return", value), ("id", id));

    private static string Error(string errorClass, string desc, string? id)
    {
        string error = QmpJson.Object(("class", QmpJson.String(errorClass)), ("desc", QmpJson.String(desc)));
        return id is null ? QmpJson.Object(("error", error)) : QmpJson.Object(("error", error), ("id", id));
    }

    private static string Bool(bool value) => value ? "true" : "false";
    private static string Int(long value) => value.ToString(CultureInfo.InvariantCulture);
}

/// <summary>
/// Splits the monitor's input stream into the JSON values QEMU's streaming parser would see: objects and arrays by
/// their brackets (strings and escapes respected, across any number of reads and lines), and anything else at the top
/// level as a word ended by white space or a bracket — a scalar (`QMP input must be a JSON object`) or junk (`JSON parse
/// error, invalid keyword 'WORD'`). A value longer than <see cref="MaxValueBytes"/> is dropped with an error.
/// </summary>
public sealed class QmpInputSplitter
{
    /// <summary>The longest JSON value taken (QEMU's limit for a token is 64 MiB; the model takes 1 MiB).</summary>
    public const int MaxValueBytes = 1 << 20;

    private readonly List<byte> _value = [];
    private int _depth;
    private bool _inString, _escape, _word;

    /// <summary>Feeds bytes; returns the complete inputs: (JSON text, null) or (text, QEMU's parse error).</summary>
    public IReadOnlyList<(string Text, string? Error)> Feed(ReadOnlySpan<byte> bytes)
    {
        var done = new List<(string, string?)>();
        foreach (byte b in bytes)
        {
            if (_word)
            {
                if (b is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n' or (byte)'{' or (byte)'[')
                {
                    done.Add(EndWord());
                    if (b is not ((byte)'{' or (byte)'[')) continue;
                }
                else
                {
                    Add(b, done);
                    continue;
                }
            }
            if (_depth == 0 && !_inString)
            {
                if (b is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n') continue;
                if (b is (byte)'{' or (byte)'[') _depth = 1;
                else if (b == (byte)'"') _inString = true;
                else _word = true;
                Add(b, done);
                continue;
            }
            Add(b, done);
            if (_inString)
            {
                if (_escape) _escape = false;
                else if (b == (byte)'\\') _escape = true;
                else if (b == (byte)'"')
                {
                    _inString = false;
                    if (_depth == 0) done.Add(Take("QMP input must be a JSON object"));
                }
                continue;
            }
            if (b == (byte)'"') _inString = true;
            else if (b is (byte)'{' or (byte)'[') _depth++;
            else if (b is (byte)'}' or (byte)']' && --_depth == 0) done.Add(Take(null));
        }
        return done;
    }

    private (string, string?) EndWord()
    {
        _word = false;
        string word = Encoding.UTF8.GetString([.. _value]);
        _value.Clear();
        bool scalar = word is "true" or "false" or "null"
            || double.TryParse(word, NumberStyles.Float, CultureInfo.InvariantCulture, out _);
        return (word, scalar ? "QMP input must be a JSON object" : $"JSON parse error, invalid keyword '{word}'");
    }

    private (string, string?) Take(string? error)
    {
        string text = Encoding.UTF8.GetString([.. _value]);
        _value.Clear();
        return (text, error);
    }

    private void Add(byte b, List<(string, string?)> done)
    {
        if (_value.Count < MaxValueBytes)
        {
            _value.Add(b);
            return;
        }
        _value.Clear();
        _depth = 0;
        _inString = _escape = _word = false;
        done.Add(("", "JSON parse error, input too large"));
    }
}
