using System.CommandLine;
using System.CommandLine.Parsing;
using System.Runtime.InteropServices;
using VtdSim.Cli.Qtest;
using VtdSim.Hardware.Profiles;

namespace VtdSim.Cli.Commands;

/// <summary>
/// `vtdsim qtest`: serves one machine (RAM + the VT-d unit at 0xfed90000) speaking QEMU's qtest line protocol on
/// stdin/stdout, a unix socket or TCP on 127.0.0.1 — or, given QEMU's own command line (<see cref="QemuCommandLine"/>),
/// the VMM's guest machine it describes on the channel it names, connecting to the harness for `-qtest unix:PATH`.
/// The protocol is in docs/qtest.md.
/// </summary>
public static class QtestCommand
{
    public static Command Create(Func<Stream> standardOutput)
    {
        var profile = CliOptions.Profile("--profile",
            "VT-d profile to start from (see `vtdsim profiles`); the default is QEMU 7.2's intel-iommu, so QEMU qtest scripts run unchanged",
            BuiltInProfiles.Qemu72Legacy);
        var awBits = CliOptions.OneOf("--aw-bits", "intel-iommu's aw-bits (39 or 48): CAP.MGAW, CAP.SAGAW and the host address width", [39, 48],
            "QEMU's intel-iommu accepts 39 or 48");
        var scalable = CliOptions.Switch("--scalable-mode", "intel-iommu's x-scalable-mode: ECAP.SMTS, SRS and SSTS on (or off with 'false')");
        var caching = CliOptions.Switch("--caching-mode", "intel-iommu's caching-mode: CAP.CM on (or off with 'false')");
        var snoop = CliOptions.Switch("--snoop-control", "intel-iommu's snoop-control: ECAP.SC on (or off with 'false')");
        var ramSize = new Option<ulong>("--ram-size")
        {
            Description = "RAM size with a K, M, G or T suffix, or B for bytes; a bare number is MiB, as QEMU's -m. RAM is sparse: only touched pages cost memory [default: 4G]",
            DefaultValueFactory = _ => QtestMachineOptions.DefaultRamSize,
            CustomParser = result =>
            {
                string text = result.Tokens.Count == 0 ? "" : result.Tokens[0].Value;
                if (QtestNumbers.TryParseRamSize(text, out ulong bytes, out string error)) return bytes;
                result.AddError($"--ram-size: {error}");
                return QtestMachineOptions.DefaultRamSize;
            },
        };
        var socket = new Option<string?>("--socket")
        {
            Description = "serve on a unix socket at this path instead of stdin/stdout",
            CustomParser = result =>
            {
                string text = result.Tokens.Count == 0 ? "" : result.Tokens[0].Value;
                if (QtestSocketServer.SocketPathProblem(text) is { } problem)
                {
                    result.AddError(problem);
                    return null;
                }
                return text;
            },
        };
        var tcp = CliOptions.OptionalInteger("--tcp", "serve on TCP 127.0.0.1:PORT instead of stdin/stdout (0 lets the system choose; the port is printed on stderr)",
            0, 65535, "give a port number, 0 to 65535 (0 lets the system choose)");
        var qemuVersion = new Option<QemuVersion>("--qemu")
        {
            Description = "the QEMU release whose intel-iommu -device intel-iommu (and, without --profile, --aw-bits and the like) describe: 7.2 or 11 [default: 7.2]",
            DefaultValueFactory = _ => QemuVersion.Qemu72,
            CustomParser = result =>
            {
                string text = result.Tokens.Count == 0 ? "" : result.Tokens[0].Value;
                if (text is "7.2") return QemuVersion.Qemu72;
                if (text is "11") return QemuVersion.Qemu11;
                result.AddError($"--qemu: '{text}' is not a QEMU release the model knows (7.2 or 11)");
                return QemuVersion.Qemu72;
            },
        };
        var qemuArguments = new Option<string[]>(QemuArgumentOption)
        {
            Description = "(internal) QEMU's own options, in order, as Program.Run passes them on",
            Hidden = true,
            Arity = ArgumentArity.ZeroOrMore,
            AllowMultipleArgumentsPerToken = false,
        };
        var command = new Command("qtest",
            "Serve a machine over QEMU's qtest line protocol (docs/qtest.md): RAM + VT-d unit at 0xfed90000 for vtdsim's own options; for QEMU's own " +
            "options, as a qtest harness gives them, the guest machine of a VMM (memory, MMIO, port I/O, PCI, intel-iommu, edu): -M q35|pc, " +
            "-machine q35,accel=qtest, -m SIZE, -nodefaults, -device intel-iommu,PROP=VALUE,..., -device edu,addr=DD.F,dma_mask=N, -bios FILE, " +
            "-accel qtest|tcg, -icount shift=0,sleep=off, -display none, -qtest stdio|unix:PATH|chardev:ID, -qtest-log /dev/null, -S, " +
            "-chardev socket,id=ID,path=PATH; with -qtest unix:PATH vtdsim connects to the harness. Other QEMU options are refused by name (status 64).")
        {
            profile, awBits, scalable, caching, snoop, ramSize, socket, tcp, qemuVersion, qemuArguments,
        };
        // (A validator sees null for an option left out: the default comes later.)
        LegacyUnit Legacy(SymbolResult r) => new(r.GetResult(profile) is { Implicit: false } ? r.GetValue(profile) : null, r.GetValue(awBits), r.GetValue(scalable),
            r.GetValue(caching), r.GetValue(snoop), r.GetValue(qemuVersion));
        command.Validators.Add(result =>
        {
            if (result.GetResult(socket) is not null && result.GetResult(tcp) is not null)
                result.AddError("choose one of --socket and --tcp (without either, qtest serves stdin/stdout)");
            if (result.Children.Any(c => c.Errors.Any())) return; // the options' own errors say it already
            try
            {
                if (!Legacy(result).TryProfile(out _, out string error)) result.AddError(error);
            }
            catch (InvalidOperationException e)
            {
                result.AddError(Io.UserText.Message(e)); // an option's own parse error, raised when its value is read
            }
        });
        command.SetAction(async (parse, cancellationToken) =>
        {
            TextWriter errors = parse.InvocationConfiguration.Error;
            if (!QemuCommandLine.TryParse(parse.GetValue(qemuArguments) ?? [], parse.GetValue(qemuVersion), out QemuCommandLine qemu, out QemuCommandLineError refused))
                return Refuse(errors, refused);
            foreach (string warning in qemu.Warnings) errors.WriteLine($"vtdsim: {warning}");
            bool transportOption = parse.GetResult(socket) is not null || parse.GetResult(tcp) is not null;
            if (qemu.Channel is not null && transportOption)
                return Refuse(errors, new("choose one of -qtest and --socket/--tcp", Program.Usage));
            var legacy = Legacy(parse.CommandResult);
            if (!QtestServedMachine.TryBuild(qemu, legacy, parse.GetResult(ramSize) is { Implicit: false } ? parse.GetValue(ramSize) : null, out IQtestMachine? machine,
                    out refused))
                return Refuse(errors, refused);
            int served = await ServeChannel(qemu, machine, parse, errors, cancellationToken);
            return Ended(errors, machine) ?? served;
        });
        return command;

        async Task<int> ServeChannel(QemuCommandLine qemu, IQtestMachine machine, ParseResult parse, TextWriter errors, CancellationToken cancellationToken)
        {
            switch (qemu.Channel)
            {
                case QtestChannel.UnixSocket { Server: false } or QtestChannel.Descriptor:
                    return await ServeHarness(qemu, machine, errors, cancellationToken);
                case QtestChannel.UnixSocket listening:
                    {
                        using var server = QtestSocketServer.ListenUnix(listening.Path);
                        await Serve(server, machine, cancellationToken);
                        return 0;
                    }
            }
            if (parse.GetValue(socket) is { } path)
            {
                using var server = QtestSocketServer.ListenUnix(path);
                await Serve(server, machine, cancellationToken);
            }
            else if (parse.GetValue(tcp) is int port)
            {
                using var server = QtestSocketServer.ListenTcp(port);
                await Serve(server, machine, cancellationToken);
            }
            else
            {
                // stdio ends at end of input; a signal ends the process as it would any filter (nothing to clean up).
                await QtestStdio.ServeAsync(machine, standardOutput(), cancellationToken);
            }
            return 0;
        }
    }

    /// <summary>
    /// The harness listens and vtdsim connects (`-qtest unix:PATH`, a chardev with server=off or fd=N; decisions P16,
    /// Q60, Q64): the qtest session, with the QMP monitor and the log if asked for. SIGTERM and SIGINT end it as they
    /// end QEMU — after the command being carried out, with status 0 (libqtest's qtest_quit accepts nothing else).
    /// </summary>
    private static async Task<int> ServeHarness(QemuCommandLine qemu, IQtestMachine machine, TextWriter errors, CancellationToken cancellationToken)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        void Stop(PosixSignalContext context)
        {
            context.Cancel = true;
            stop.Cancel();
        }
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
        TextWriter? log = null;
        if (qemu.QtestLog is { } path)
        {
            if (path is "/dev/fd/2" or "/dev/stderr") log = errors;
            else
            {
                try
                {
                    log = new StreamWriter(path, append: false, new System.Text.UTF8Encoding(false)) { NewLine = "\n" };
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException or ArgumentException)
                {
                    // QEMU 7.2 carries on without a log, silently; vtdsim says so (decision Q62).
                    errors.WriteLine($"vtdsim: -qtest-log {path}: cannot open it ({Io.UserText.Message(e)}); no qtest log is written");
                }
            }
        }
        string qtestOption = qemu.Channel is QtestChannel.UnixSocket u ? $"-qtest unix:{u.Path}" : "-qtest";
        try
        {
            var options = new QtestHarnessOptions(qemu.Monitor, qemu.MonitorOption, log, qemu.Version, qemu.Prelaunch);
            if (await QtestHarnessClient.ServeAsync(machine, qemu.Channel!, qtestOption, options, stop.Token) is { } failure)
                return Refuse(errors, new(failure, QemuCommandLineError.QemuError));
            return 0;
        }
        finally
        {
            if (log is not null && log != errors) await log.DisposeAsync();
        }
    }

    /// <summary>QEMU's abort() after a hardware error ends the process by SIGABRT; a shell reports that as 128 + 6.</summary>
    public const int AbortStatus = 134;

    /// <summary>When the machine ended (a device's hardware error), what QEMU prints on stderr and its status (decision Q46).</summary>
    private static int? Ended(TextWriter errors, IQtestMachine machine)
    {
        if (machine.Ended is not { } lines) return null;
        foreach (string line in lines) errors.WriteLine(line);
        return AbortStatus;
    }

    /// <summary>The hidden option that carries QEMU's own options to the command (see <see cref="PassQemuOptions"/>).</summary>
    public const string QemuArgumentOption = "--qemu-argument";

    /// <summary>
    /// Rewrites a `vtdsim qtest` command line so that QEMU's single-dash options (and the argument of those that take
    /// one) reach the command in order, each as `--qemu-argument=TOKEN`: vtdsim's own options are `--NAME` (and the
    /// help aliases `-h`, `-?`), so any other `-NAME` is QEMU's. An option QEMU's qtest harnesses use is known to take
    /// an argument or not; an unknown one takes the next token unless that is an option, so that it can be refused by
    /// name with its argument.
    /// </summary>
    public static string[] PassQemuOptions(string[] args)
    {
        ArgumentNullException.ThrowIfNull(args);
        if (args.Length == 0 || args[0] != "qtest") return args;
        var result = new List<string> { args[0] };
        for (int i = 1; i < args.Length; i++)
        {
            string token = args[i];
            bool qemu = token.Length > 1 && token[0] == '-' && token[1] != '-' && token is not ("-h" or "-?");
            if (!qemu)
            {
                result.Add(token);
                continue;
            }
            result.Add($"{QemuArgumentOption}={token}");
            bool takes = QemuCommandLine.TakesArgument(token[1..]) ?? (i + 1 < args.Length && !args[i + 1].StartsWith('-'));
            if (takes && i + 1 < args.Length) result.Add($"{QemuArgumentOption}={args[++i]}");
        }
        return [.. result];
    }

    private static int Refuse(TextWriter errors, QemuCommandLineError refused)
    {
        errors.WriteLine($"vtdsim: {refused.Message}");
        return refused.ExitStatus;
    }

    private static async Task Serve(QtestSocketServer server, IQtestMachine machine, CancellationToken cancellationToken)
    {
        // SIGINT/SIGTERM stop the server cleanly (the unix socket file is removed) instead of killing the process. If a
        // command is being carried out, or a signal comes a second time, the server does not wait for it: it removes
        // the socket file and lets the signal end the process.
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        int signals = 0;
        var log = Console.Error;
        void Stop(PosixSignalContext context)
        {
            if (Interlocked.Increment(ref signals) == 1 && !server.Busy)
            {
                context.Cancel = true;
                stop.Cancel();
                return;
            }
            server.RemoveSocketFile();
            log.WriteLine($"vtdsim qtest: {context.Signal} while {(server.Busy ? "a command was being carried out" : "stopping")}; ended without finishing it");
        }
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
        log.WriteLine($"vtdsim qtest: {machine.Description}, listening on {server.Endpoint}");
        await server.ServeAsync(machine, stop.Token, log);
        log.WriteLine("vtdsim qtest: stopped");
    }
}
