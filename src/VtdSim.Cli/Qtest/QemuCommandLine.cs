using VtdSim.Hardware.Profiles;
using VtdSim.Vmm;
using VtdSim.Vmm.Devices;
using VtdSim.Vmm.Machines;
using VtdSim.Vmm.Vfio;

namespace VtdSim.Cli.Qtest;

/// <summary>How the qtest protocol reaches its client, as QEMU's `-qtest` and `-chardev socket` say it.</summary>
public abstract record QtestChannel
{
    /// <summary>`-qtest stdio`.</summary>
    public sealed record Stdio : QtestChannel;

    /// <summary>
    /// `-qtest unix:PATH` or a `-chardev socket,path=PATH` named by `-qtest chardev:ID`: with server=off (QEMU's
    /// default, what libqtest and QEMUQtestMachine use) the harness listens and vtdsim connects; with server=on
    /// vtdsim listens.
    /// </summary>
    public sealed record UnixSocket(string Path, bool Server) : QtestChannel;

    /// <summary>
    /// `-chardev socket,id=ID,fd=N`: a connected socket the harness passed down as descriptor N (python/qemu/machine
    /// since QEMU 8.1 gives the monitor one end of a socketpair this way).
    /// </summary>
    public sealed record Descriptor(int Fd) : QtestChannel;
}

/// <summary>Why a QEMU-shaped command line was refused: the message (without the program name) and the exit status.</summary>
public readonly record struct QemuCommandLineError(string Message, int ExitStatus)
{
    /// <summary>QEMU's own refusals (a bad property, an unsupported combination) end with QEMU's status 1.</summary>
    public const int QemuError = 1;

    /// <summary>An option or device the model does not model: EX_USAGE (64), never silently ignored.</summary>
    public const int NotModelled = 64;
}

/// <summary>
/// The QEMU options a qtest harness gives (`-M q35`, `-machine q35,accel=qtest`, `-m`, `-nodefaults`, `-device
/// intel-iommu,…`, `-device edu,…`, `-device iommu-testdev,…`, `-bios`, `-icount`, `-display none`, `-accel qtest`,
/// `-qtest …`, `-qtest-log`, `-S`, `-chardev socket,…`), parsed as QEMU parses them. Everything else is refused by
/// name (docs/qtest.md "QEMU's command line", decisions P14–P16, Q41–Q44).
/// </summary>
public sealed record QemuCommandLine
{
    /// <summary>QEMU's default `-m`: 128 MiB.</summary>
    public const ulong DefaultRamSize = 128UL << 20;

    /// <summary>The machine type; QEMU's x86 default is `pc` when neither -M nor -machine names one.</summary>
    public MachineType Machine { get; init; } = MachineType.Pc;
    /// <summary>Whether -M, -machine, -device or -bios was given: the command line describes a QEMU machine.</summary>
    public bool DescribesMachine { get; init; }
    public ulong RamSize { get; init; } = DefaultRamSize;
    public bool RamSizeGiven { get; init; }
    public bool NoDefaults { get; init; }
    /// <summary>`-device intel-iommu,…` (null without one).</summary>
    public IntelIommuProperties? IntelIommu { get; init; }
    /// <summary>The `-device intel-iommu…` text as given, for messages.</summary>
    public string? IntelIommuText { get; init; }
    /// <summary>The emulated devices (`-device edu,…`, `-device iommu-testdev,…`), in command-line order.</summary>
    public IReadOnlyList<DeviceOptions> Devices { get; init; } = [];
    /// <summary>`-bios FILE`: the firmware image's path (null: the model's own image).</summary>
    public string? Bios { get; init; }
    /// <summary>
    /// The accelerator the machine runs under: `qtest` (what qtest harnesses ask for, and the model's choice when none
    /// is given) or `tcg` (the first of an `-accel`/`accel=` list that the model knows).
    /// </summary>
    public bool Tcg { get; init; }
    /// <summary>`-icount …,sleep=off`: with an idle vCPU the virtual clock jumps to the next timer deadline (decision Q43).</summary>
    public bool IcountNoSleep { get; init; }
    /// <summary>The QEMU release whose options these are.</summary>
    public QemuVersion Version { get; init; } = QemuVersion.Qemu72;
    /// <summary>Where qtest talks (null: not given on the command line).</summary>
    public QtestChannel? Channel { get; init; }
    /// <summary>`-mon chardev=ID,mode=control`: where the QMP monitor talks (null: no monitor).</summary>
    public QtestChannel? Monitor { get; init; }
    /// <summary>The monitor's `-chardev socket,…` as given, for messages.</summary>
    public string? MonitorOption { get; init; }
    /// <summary>`-S`: the VM starts in prelaunch (QMP `query-status`); the model has no CPU to hold.</summary>
    public bool Prelaunch { get; init; }
    /// <summary>`-qtest-log FILE`: where the qtest log goes (null: /dev/null, `none`, or not given; decision Q62).</summary>
    public string? QtestLog { get; init; }
    /// <summary>Warnings QEMU would print (deprecated short-form booleans).</summary>
    public IReadOnlyList<string> Warnings { get; init; } = [];
    /// <summary>Whether any QEMU option was given at all.</summary>
    public bool Any { get; init; }

    private static readonly HashSet<string> WithArgument =
        ["M", "machine", "m", "device", "display", "accel", "qtest", "qtest-log", "chardev", "bios", "icount", "mon", "vga"];
    private static readonly HashSet<string> WithoutArgument = ["nodefaults", "S"];

    /// <summary>Whether QEMU option NAME (without its dash) takes an argument; null for an option the model does not know.</summary>
    public static bool? TakesArgument(string name) => WithArgument.Contains(name) ? true : WithoutArgument.Contains(name) ? false : null;

    /// <summary>
    /// Parses QEMU options (the tokens in order; `-NAME` or `--NAME`) for a machine of <paramref name="version"/>'s QEMU.
    /// False with the first refusal: QEMU's message and status 1 where QEMU refuses, "not modelled" and 64 where the
    /// model has nothing for it.
    /// </summary>
    public static bool TryParse(IReadOnlyList<string> tokens, QemuVersion version, out QemuCommandLine result, out QemuCommandLineError error)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        result = new QemuCommandLine();
        error = default;
        var warnings = new List<string>();
        var chardevs = new Dictionary<string, QtestChannel>(StringComparer.Ordinal);
        var chardevTexts = new Dictionary<string, string>(StringComparer.Ordinal);
        string? machineType = null;
        string? qtest = null;
        var devices = new List<string>();
        string? accel = null;
        string? mon = null;
        bool vgaNone = false;
        var r = new QemuCommandLine { Any = tokens.Count > 0, Version = version };
        for (int i = 0; i < tokens.Count; i++)
        {
            string token = tokens[i];
            if (!token.StartsWith('-') || token == "-" || token == "--")
                return Fail(out result, out error, $"{token}: a disk image is not modelled", QemuCommandLineError.NotModelled);
            string name = token.StartsWith("--", StringComparison.Ordinal) ? token[2..] : token[1..];
            if (WithoutArgument.Contains(name))
            {
                r = name == "nodefaults" ? r with { NoDefaults = true } : r with { Prelaunch = true };
                continue; // -S: the model has no CPU to hold; QMP reports prelaunch
            }
            if (!WithArgument.Contains(name))
                return Fail(out result, out error, $"{token}: not modelled", QemuCommandLineError.NotModelled);
            if (i + 1 >= tokens.Count)
                return Fail(out result, out error, $"{token}: requires an argument", QemuCommandLineError.QemuError);
            string value = tokens[++i];
            string where = $"{token} {value}";
            switch (name)
            {
                case "M":
                case "machine":
                    foreach (QemuOption o in QemuOptionText.Split(value, "type", warnings))
                    {
                        switch (o.Name)
                        {
                            case "type":
                                machineType = o.Value;
                                break;
                            case "accel":
                                if (AccelProblem(o.Value) is { } problem) return Fail(out result, out error, $"{where}: {problem}", QemuCommandLineError.NotModelled);
                                accel ??= o.Value.Split(':')[0];
                                break;
                            default:
                                return Fail(out result, out error, $"{where}: machine property '{o.Name}' is not modelled", QemuCommandLineError.NotModelled);
                        }
                    }
                    r = r with { DescribesMachine = true };
                    break;
                case "accel":
                    {
                        var parts = QemuOptionText.Split(value, "accel", warnings);
                        if (parts.FirstOrDefault(o => o.Name != "accel") is { Name.Length: > 0 } extra)
                            return Fail(out result, out error, $"{where}: accelerator property '{extra.Name}' is not modelled", QemuCommandLineError.NotModelled);
                        foreach (QemuOption o in parts)
                        {
                            if (AccelProblem(o.Value) is { } problem) return Fail(out result, out error, $"{where}: {problem}", QemuCommandLineError.NotModelled);
                            accel ??= o.Value.Split(':')[0];
                        }
                        break;
                    }
                case "m":
                    {
                        string size = value;
                        var parts = QemuOptionText.Split(value, "size", warnings);
                        foreach (QemuOption o in parts)
                        {
                            if (o.Name != "size")
                                return Fail(out result, out error, $"{where}: memory option '{o.Name}' is not modelled", QemuCommandLineError.NotModelled);
                            size = o.Value;
                        }
                        if (!QtestNumbers.TryParseRamSize(size, out ulong bytes, out string problem))
                            return Fail(out result, out error, $"{where}: {problem}", QemuCommandLineError.QemuError);
                        r = r with { RamSize = bytes, RamSizeGiven = true };
                        break;
                    }
                case "device":
                    devices.Add(value);
                    r = r with { DescribesMachine = true };
                    break;
                case "bios":
                    r = r with { Bios = value, DescribesMachine = true };
                    break;
                case "icount":
                    if (!TryParseIcount(value, out bool noSleep, out string icountProblem, out int icountStatus, warnings))
                        return Fail(out result, out error, $"{where}: {icountProblem}", icountStatus);
                    r = r with { IcountNoSleep = noSleep };
                    break;
                case "display":
                    if (value != "none") return Fail(out result, out error, $"{where}: not modelled (only -display none)", QemuCommandLineError.NotModelled);
                    break;
                case "qtest":
                    qtest = value;
                    break;
                case "qtest-log":
                    // QEMU 7.2 opens the file when qtest starts and logs nothing, silently, where it cannot (Q62).
                    r = r with { QtestLog = value is "/dev/null" or "none" ? null : value };
                    break;
                case "mon":
                    if (mon is not null)
                        return Fail(out result, out error, $"{where}: a second monitor is not modelled", QemuCommandLineError.NotModelled);
                    mon = value;
                    break;
                case "vga":
                    if (value != "none") return Fail(out result, out error, $"{where}: not modelled (only -vga none)", QemuCommandLineError.NotModelled);
                    vgaNone = true;
                    break;
                case "chardev":
                    {
                        if (!TryParseChardev(value, out string id, out QtestChannel? channel, out string problem, out int status, warnings))
                            return Fail(out result, out error, $"{where}: {problem}", status);
                        if (chardevs.ContainsKey(id))
                            return Fail(out result, out error, $"{where}: duplicate chardev id '{id}'", QemuCommandLineError.QemuError);
                        chardevs[id] = channel!;
                        chardevTexts[id] = where;
                        break;
                    }
            }
        }

        if (machineType is not null)
        {
            switch (machineType)
            {
                case "q35":
                    r = r with { Machine = MachineType.Q35 };
                    break;
                case "pc":
                    r = r with { Machine = MachineType.Pc };
                    break;
                default:
                    return Fail(out result, out error, $"-M {machineType}: machine type not modelled (q35 and pc are)", QemuCommandLineError.NotModelled);
            }
        }

        var emulated = new List<DeviceOptions>();
        foreach (string device in devices)
        {
            string driver = QemuOptionText.Split(device, "driver").FirstOrDefault(o => o.Name == "driver").Value ?? "";
            int comma = device.IndexOf(',');
            string rest = comma < 0 ? "" : device[(comma + 1)..];
            string where = $"-device {device}";
            if (driver.Length == 0)
                return Fail(out result, out error, $"{where}: Parameter 'driver' is missing", QemuCommandLineError.QemuError);
            if (DeviceOptions.Models.Contains(driver))
            {
                // iommu-testdev is a newer QEMU's device: QEMU 7.2 does not know the name.
                if (driver != "edu" && version == QemuVersion.Qemu72)
                    return Fail(out result, out error, $"{where}: '{driver}' is not a valid device model name", QemuCommandLineError.QemuError);
                if (!DeviceOptions.TryParse(device, out DeviceOptions? parsed, out string deviceProblem))
                    return Fail(out result, out error, $"{where}: {deviceProblem}", QemuCommandLineError.QemuError);
                emulated.Add(parsed!);
                continue;
            }
            if (driver != "intel-iommu")
                return Fail(out result, out error, $"-device {driver}: not modelled", QemuCommandLineError.NotModelled);
            if (emulated.Count > 0)
                return Fail(out result, out error,
                    $"{where}: after -device {emulated[0].Text}: not modelled (QEMU leaves the DMA of a PCI device created before intel-iommu " +
                    "untranslated; give intel-iommu first)",
                    QemuCommandLineError.NotModelled);
            if (r.Machine != MachineType.Q35)
                return Fail(out result, out error, $"{where}: Parameter 'driver' expects a dynamic sysbus device type for the machine", QemuCommandLineError.QemuError);
            if (r.IntelIommu is not null)
                return Fail(out result, out error, $"{where}: QEMU does not support multiple vIOMMUs for x86 yet.", QemuCommandLineError.QemuError);
            if (!IntelIommuProperties.TryParse(version, rest, out IntelIommuProperties properties, out string problem, warnings))
                return Fail(out result, out error, $"{where}: {problem}", QemuCommandLineError.QemuError);
            if (!properties.TryRealize(out _, out problem))
                return Fail(out result, out error, $"{where}: {problem}", QemuCommandLineError.QemuError);
            r = r with { IntelIommu = properties, IntelIommuText = device };
        }
        r = r with { Devices = emulated, Tcg = accel == "tcg" };
        if (r.IcountNoSleep && !r.Tcg)
            return Fail(out result, out error, "-icount: not modelled without -accel tcg (with the qtest accelerator, clock_step moves the clock)",
                QemuCommandLineError.NotModelled);
        if (r.Tcg && r.DescribesMachine && !r.IcountNoSleep)
            return Fail(out result, out error,
                "-accel tcg: not modelled without -icount shift=0,sleep=off (the virtual clock would follow the host's; the model has no wall clock)",
                QemuCommandLineError.NotModelled);

        if (vgaNone && !r.NoDefaults)
            return Fail(out result, out error, "-vga none: not modelled without -nodefaults (the model's default VGA and NIC come together)", QemuCommandLineError.NotModelled);
        if (mon is not null)
        {
            if (!TryParseMonitor(mon, chardevs, out QtestChannel? monitor, out string problem, out int status, warnings))
                return Fail(out result, out error, $"-mon {mon}: {problem}", status);
            string id = QemuOptionText.Split(mon, "chardev").FirstOrDefault(o => o.Name == "chardev").Value ?? "";
            r = r with { Monitor = monitor, MonitorOption = chardevTexts[id] };
        }

        if (qtest is not null)
        {
            QtestChannel? channel;
            if (qtest == "stdio") channel = new QtestChannel.Stdio();
            else if (qtest.StartsWith("unix:", StringComparison.Ordinal))
            {
                if (!TryParseUnix(qtest[5..], out channel, out string problem, out int status, warnings))
                    return Fail(out result, out error, $"-qtest {qtest}: {problem}", status);
            }
            else if (qtest.StartsWith("chardev:", StringComparison.Ordinal))
            {
                if (!chardevs.TryGetValue(qtest[8..], out channel))
                    return Fail(out result, out error, $"-qtest {qtest}: chardev '{qtest[8..]}' not found", QemuCommandLineError.QemuError);
            }
            else return Fail(out result, out error, $"-qtest {qtest}: not modelled (stdio, unix:PATH and chardev:ID are)", QemuCommandLineError.NotModelled);
            r = r with { Channel = channel };
        }
        bool connects = r.Channel is QtestChannel.UnixSocket { Server: false } or QtestChannel.Descriptor;
        if (r.Monitor is not null && !connects)
            return Fail(out result, out error, $"-mon {mon}: not modelled without -qtest on the harness's socket (unix:PATH, or a chardev that connects)",
                QemuCommandLineError.NotModelled);
        if (r.QtestLog is not null && !connects)
            return Fail(out result, out error, $"-qtest-log {r.QtestLog}: not modelled without -qtest on the harness's socket (unix:PATH, or a chardev that connects)",
                QemuCommandLineError.NotModelled);
        result = r with { Warnings = warnings };
        return true;
    }

    /// <summary>
    /// The VMM this command line describes (decision Q41): the machine at reset (no firmware runs: the model has no
    /// CPU), its RAM, default devices, intel-iommu and emulated devices, as a VMM of this QEMU release (the erratum
    /// policy of that release; nothing is passed through).
    /// </summary>
    public VmmOptions ToVmmOptions() => new VmmOptions
    {
        Machine = new MachineOptions { Type = Machine, RamSize = RamSize, Defaults = !NoDefaults, Devices = Devices, Booted = false },
        ErratumPolicy = Version == QemuVersion.Qemu72 ? ErratumPolicy.Qemu72 : ErratumPolicy.Qemu11,
    }.WithIntelIommu(IntelIommu);

    /// <summary>
    /// `-icount [shift=]N|auto[,sleep=on|off][,align=…]`: the model has no instructions to count, so only sleep=off is
    /// modelled (the clock jumps to the next deadline while the vCPU idles); a shift of 0 to 10 or auto is accepted.
    /// </summary>
    private static bool TryParseIcount(string text, out bool noSleep, out string problem, out int status, List<string> warnings)
    {
        noSleep = false;
        problem = "";
        status = QemuCommandLineError.NotModelled;
        bool sleep = true;
        foreach (QemuOption o in QemuOptionText.Split(text, "shift", warnings))
        {
            switch (o.Name)
            {
                case "shift":
                    if (o.Value != "auto"
                        && !(int.TryParse(o.Value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int shift) && shift <= 10))
                    {
                        problem = $"icount shift '{o.Value}' is not modelled (0 to 10 or auto)";
                        return false;
                    }
                    break;
                case "sleep":
                    if (!TryBool(o, out sleep, out problem))
                    {
                        status = QemuCommandLineError.QemuError;
                        return false;
                    }
                    break;
                default:
                    problem = $"icount property '{o.Name}' is not modelled";
                    return false;
            }
        }
        if (sleep)
        {
            problem = "not modelled with sleep=on (the virtual clock would follow the host's; give sleep=off)";
            return false;
        }
        noSleep = true;
        return true;
    }

    private static string? AccelProblem(string accel)
    {
        foreach (string a in accel.Split(':'))
            if (a is not ("qtest" or "tcg")) return $"accelerator '{a}' is not modelled (qtest and tcg are)";
        return null;
    }

    /// <summary>
    /// `-mon chardev=ID,mode=control[,pretty=off]`: the QMP monitor on a chardev that connects to the harness (its
    /// socket path with server=off, or an inherited descriptor), as libqtest and QEMUQtestMachine give it (decision Q60).
    /// </summary>
    private static bool TryParseMonitor(string text, Dictionary<string, QtestChannel> chardevs, out QtestChannel? monitor, out string problem,
        out int status, List<string> warnings)
    {
        monitor = null;
        problem = "";
        status = QemuCommandLineError.NotModelled;
        string? id = null;
        bool control = false; // QEMU's default mode is readline, the human monitor
        foreach (QemuOption o in QemuOptionText.Split(text, "chardev", warnings))
        {
            switch (o.Name)
            {
                case "chardev":
                    id = o.Value;
                    break;
                case "mode":
                    control = o.Value == "control";
                    break;
                case "pretty":
                    if (!TryBool(o, out bool pretty, out problem))
                    {
                        status = QemuCommandLineError.QemuError;
                        return false;
                    }
                    if (pretty)
                    {
                        problem = "monitor property 'pretty' is not modelled";
                        return false;
                    }
                    break;
                default:
                    problem = $"monitor property '{o.Name}' is not modelled";
                    return false;
            }
        }
        if (!control)
        {
            problem = "the human monitor is not modelled (mode=control is)";
            return false;
        }
        if (id is null)
        {
            problem = "Parameter 'chardev' is missing";
            status = QemuCommandLineError.QemuError;
            return false;
        }
        if (!chardevs.TryGetValue(id, out monitor))
        {
            problem = $"chardev \"{id}\" not found";
            status = QemuCommandLineError.QemuError;
            return false;
        }
        if (monitor is QtestChannel.UnixSocket { Server: true })
        {
            monitor = null;
            problem = "a monitor on a listening socket is not modelled (give the harness's socket: server=off, or fd=N)";
            return false;
        }
        return true;
    }

    /// <summary>STATUS: QEMU's own refusal (a malformed boolean) is QemuError; what the model lacks is NotModelled.</summary>
    private static bool TryParseUnix(string text, out QtestChannel? channel, out string problem, out int status, List<string> warnings)
    {
        channel = null;
        problem = "";
        status = QemuCommandLineError.QemuError;
        string? path = null;
        bool server = false;
        foreach (QemuOption o in QemuOptionText.Split(text, "path", warnings))
        {
            switch (o.Name)
            {
                case "path":
                    path = o.Value;
                    break;
                case "server":
                    if (!TryBool(o, out server, out problem)) return false;
                    break;
                case "wait":
                    // With server=on QEMU waits for a client unless wait=off; vtdsim has nothing to run before a
                    // client comes, so both are the same here.
                    if (!TryBool(o, out _, out problem)) return false;
                    break;
                default:
                    problem = $"socket property '{o.Name}' is not modelled";
                    status = QemuCommandLineError.NotModelled;
                    return false;
            }
        }
        if (string.IsNullOrEmpty(path))
        {
            problem = "give the socket's path";
            status = QemuCommandLineError.NotModelled;
            return false;
        }
        channel = new QtestChannel.UnixSocket(path, server);
        return true;
    }

    private static bool TryParseChardev(string text, out string id, out QtestChannel? channel, out string problem, out int status, List<string> warnings)
    {
        id = "";
        channel = null;
        status = QemuCommandLineError.NotModelled;
        var options = QemuOptionText.Split(text, "backend", warnings);
        string backend = options.FirstOrDefault(o => o.Name == "backend").Value ?? "";
        if (backend != "socket")
        {
            problem = $"chardev backend '{backend}' is not modelled (socket is)";
            return false;
        }
        id = options.FirstOrDefault(o => o.Name == "id").Value ?? "";
        if (id.Length == 0)
        {
            problem = "a chardev needs an id";
            return false;
        }
        var rest = options.Where(o => o.Name is not ("backend" or "id")).ToList();
        if (rest.FirstOrDefault(o => o.Name == "fd") is { Name: "fd" } fd)
        {
            status = QemuCommandLineError.QemuError;
            if (rest.Any(o => o.Name is "path" or "host"))
            {
                problem = "None or one of 'path', 'fd' or 'host' option required.";
                return false;
            }
            if (!int.TryParse(fd.Value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int descriptor))
            {
                problem = $"Unable to parse FD number {fd.Value}";
                return false;
            }
            if (rest.FirstOrDefault(o => o.Name != "fd") is { Name.Length: > 0 } other)
            {
                problem = $"socket property '{other.Name}' is not modelled with fd=";
                status = QemuCommandLineError.NotModelled;
                return false;
            }
            channel = new QtestChannel.Descriptor(descriptor);
            problem = "";
            return true;
        }
        return TryParseUnix(string.Join(",", rest.Select(o => $"{o.Name}={o.Value.Replace(",", ",,")}")), out channel, out problem, out status, warnings);
    }

    private static bool TryBool(QemuOption o, out bool value, out string problem) =>
        QemuProperties.TryParseBool(o.Name, o.Value, out value, out problem);

    private static bool Fail(out QemuCommandLine result, out QemuCommandLineError error, string message, int status)
    {
        result = new QemuCommandLine();
        error = new QemuCommandLineError(message, status);
        return false;
    }
}
