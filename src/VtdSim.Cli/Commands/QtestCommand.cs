using System.CommandLine;
using System.CommandLine.Parsing;
using System.Runtime.InteropServices;
using VtdSim.Cli.Qtest;
using VtdSim.Hardware.Profiles;

namespace VtdSim.Cli.Commands;

/// <summary>
/// `vtdsim qtest`: serves one machine (RAM + the VT-d unit at 0xfed90000) speaking QEMU's qtest line protocol on
/// stdin/stdout, a unix socket or TCP on 127.0.0.1. The protocol is in docs/qtest.md.
/// </summary>
public static class QtestCommand
{
    public static Command Create(Func<Stream> standardOutput)
    {
        var profile = CliOptions.Profile("--profile",
            "VT-d profile to start from (see `vtdsim profiles`); the default is QEMU 7.2's intel-iommu, so QEMU qtest scripts run unchanged",
            BuiltInProfiles.Qemu72Legacy);
        var awBits = CliOptions.OneOf("--aw-bits", "as QEMU's aw-bits (39 or 48): sets CAP.MGAW, CAP.SAGAW and the host address width", [39, 48],
            "QEMU's intel-iommu accepts 39 or 48");
        var scalable = CliOptions.Switch("--scalable-mode", "as QEMU's x-scalable-mode: ECAP.SMTS, SRS and SSTS on (or off with 'false')");
        var caching = CliOptions.Switch("--caching-mode", "as QEMU's caching-mode: CAP.CM on (or off with 'false')");
        var snoop = CliOptions.Switch("--snoop-control", "as QEMU's snoop-control: ECAP.SC on (or off with 'false')");
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
        var command = new Command("qtest", "Serve a machine (RAM + VT-d unit at 0xfed90000) over QEMU's qtest line protocol (docs/qtest.md)")
        {
            profile, awBits, scalable, caching, snoop, ramSize, socket, tcp,
        };
        // (A validator sees null for an option left out: the default comes later.)
        VtdProfile MachineProfile(SymbolResult r) => QtestMachineOptions.ApplyQemuProperties(r.GetValue(profile) ?? BuiltInProfiles.Qemu72Legacy,
            r.GetValue(awBits), r.GetValue(scalable), r.GetValue(caching), r.GetValue(snoop));
        command.Validators.Add(result =>
        {
            if (result.GetResult(socket) is not null && result.GetResult(tcp) is not null)
                result.AddError("choose one of --socket and --tcp (without either, qtest serves stdin/stdout)");
            if (result.Children.Any(c => c.Errors.Any())) return; // the options' own errors say it already
            try
            {
                MachineProfile(result);
            }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException)
            {
                result.AddError(Io.UserText.Message(e));
            }
        });
        command.SetAction(async (parse, cancellationToken) =>
        {
            var machine = new QtestMachine(new QtestMachineOptions { Profile = MachineProfile(parse.CommandResult), RamSize = parse.GetValue(ramSize) });
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
        });
        return command;
    }

    private static async Task Serve(QtestSocketServer server, QtestMachine machine, CancellationToken cancellationToken)
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
        log.WriteLine($"vtdsim qtest: profile {machine.Unit.Profile.Name}, RAM 0x{machine.Machine.Memory.Size:x}, listening on {server.Endpoint}");
        await server.ServeAsync(machine, stop.Token, log);
        log.WriteLine("vtdsim qtest: stopped");
    }
}
