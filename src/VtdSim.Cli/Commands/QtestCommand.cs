using System.CommandLine;
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
    public static Command Create()
    {
        var profile = new Option<string>("--profile")
        {
            Description = "VT-d profile to start from (see `vtdsim profiles`); the default is QEMU 7.2's intel-iommu, so QEMU qtest scripts run unchanged",
            DefaultValueFactory = _ => BuiltInProfiles.Qemu72Legacy.Name,
        };
        var awBits = new Option<int?>("--aw-bits") { Description = "as QEMU's aw-bits (39 or 48): sets CAP.MGAW, CAP.SAGAW and the host address width" };
        var scalable = new Option<bool?>("--scalable-mode") { Description = "as QEMU's x-scalable-mode: ECAP.SMTS, SRS and SSTS on (or off with 'false')" };
        var caching = new Option<bool?>("--caching-mode") { Description = "as QEMU's caching-mode: CAP.CM on (or off with 'false')" };
        var snoop = new Option<bool?>("--snoop-control") { Description = "as QEMU's snoop-control: ECAP.SC on (or off with 'false')" };
        var ramSize = new Option<string>("--ram-size")
        {
            Description = "RAM size with a K, M, G or T suffix, or B for bytes; a bare number is MiB, as QEMU's -m. RAM is sparse: only touched pages cost memory",
            DefaultValueFactory = _ => "4G",
        };
        var socket = new Option<string?>("--socket") { Description = "serve on a unix socket at this path instead of stdin/stdout" };
        var tcp = new Option<int?>("--tcp") { Description = "serve on TCP 127.0.0.1:PORT instead of stdin/stdout (0 lets the system choose; the port is printed on stderr)" };
        var command = new Command("qtest", "Serve a machine (RAM + VT-d unit at 0xfed90000) over QEMU's qtest line protocol (docs/qtest.md)")
        {
            profile, awBits, scalable, caching, snoop, ramSize, socket, tcp,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            if (parse.GetValue(socket) is not null && parse.GetValue(tcp) is not null)
                throw new ArgumentException("choose one of --socket and --tcp (without either, qtest serves stdin/stdout)");
            if (!QtestNumbers.TryParseRamSize(parse.GetValue(ramSize)!, out ulong ram, out string error)) throw new ArgumentException(error);
            var options = new QtestMachineOptions
            {
                Profile = QtestMachineOptions.ApplyQemuProperties(BuiltInProfiles.Find(parse.GetValue(profile)!),
                    parse.GetValue(awBits), parse.GetValue(scalable), parse.GetValue(caching), parse.GetValue(snoop)),
                RamSize = ram,
            };
            var machine = new QtestMachine(options);
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
                // stdio ends at end of input; a signal simply ends the process (there is nothing to clean up).
                await QtestStdio.ServeAsync(machine, cancellationToken);
            }
            return 0;
        });
        return command;
    }

    private static async Task Serve(QtestSocketServer server, QtestMachine machine, CancellationToken cancellationToken)
    {
        // SIGINT/SIGTERM stop the server cleanly (the unix socket file is removed) instead of killing the process.
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
        void Stop(PosixSignalContext context)
        {
            context.Cancel = true;
            stop.Cancel();
        }
        var log = Console.Error;
        log.WriteLine($"vtdsim qtest: profile {machine.Unit.Profile.Name}, RAM 0x{machine.Machine.Memory.Size:x}, listening on {server.Endpoint}");
        await server.ServeAsync(machine, stop.Token, log);
        log.WriteLine("vtdsim qtest: stopped");
    }
}
