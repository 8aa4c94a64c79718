using System.Net.Sockets;
using System.Text;
using VtdSim.Hardware.Profiles;

namespace VtdSim.Cli.Qtest;

/// <summary>What a harness's command line asks of the connections besides the qtest channel.</summary>
/// <param name="Monitor">`-mon chardev=ID,mode=control`'s chardev (null: no monitor).</param>
/// <param name="MonitorOption">The `-chardev …` text of the monitor, for a connect failure's message.</param>
/// <param name="Log">Where the qtest log goes (null: nowhere).</param>
/// <param name="Prelaunch">`-S`: `query-status` says prelaunch until `cont`.</param>
public sealed record QtestHarnessOptions(QtestChannel? Monitor = null, string? MonitorOption = null, TextWriter? Log = null,
    QemuVersion Version = QemuVersion.Qemu72, bool Prelaunch = false);

/// <summary>
/// The emulator's side of a harness that listens (QEMU's libqtest, python/qemu/machine's QEMUQtestMachine; decisions
/// P16, Q60): vtdsim connects to the harness's QMP socket and then to its qtest socket (or takes inherited descriptors
/// for them), sends the QMP greeting, and serves both connections on one machine. Each connection has its own reader,
/// but a command of either is carried out only while holding one gate, so the machine (single-threaded, like the
/// model) sees one command at a time, whole, in the order the commands were taken. The session ends when the harness
/// closes the qtest connection, when QMP `quit` has been answered, when the machine ends, or on
/// <paramref name="cancellationToken"/> (SIGTERM); closing only the monitor's connection ends nothing, as in QEMU.
/// </summary>
public static class QtestHarnessClient
{
    private static readonly byte[] CrLf = "\r\n"u8.ToArray();

    /// <summary>
    /// Connects and serves. Null when the session ended; otherwise the failure, with the option it concerns first
    /// (QEMU's `-chardev socket,…: Failed to connect to 'PATH': No such file or directory`).
    /// </summary>
    public static async Task<string?> ServeAsync(IQtestMachine machine, QtestChannel qtest, string qtestOption, QtestHarnessOptions options,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(machine);
        ArgumentNullException.ThrowIfNull(qtest);
        ArgumentNullException.ThrowIfNull(options);
        Socket? monitorSocket = null;
        Socket? qtestSocket = null;
        try
        {
            // QEMU opens the -chardev of the monitor before qtest's chardev.
            if (options.Monitor is { } monitor)
            {
                (monitorSocket, string? failure) = await Connect(monitor, cancellationToken).ConfigureAwait(false);
                if (failure is not null) return $"{options.MonitorOption ?? "-mon"}: {failure}";
                if (monitorSocket is null) return null;
            }
            (qtestSocket, string? qtestFailure) = await Connect(qtest, cancellationToken).ConfigureAwait(false);
            if (qtestFailure is not null) return $"{qtestOption}: {qtestFailure}";
            if (qtestSocket is null) return null;

            using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            var gate = new object();
            QtestLog? log = options.Log is null ? null : new QtestLog(options.Log);
            Task monitorTask = Task.CompletedTask;
            if (monitorSocket is not null)
            {
                var qmp = new QmpMonitor(machine, options.Version, options.Prelaunch);
                monitorTask = ServeMonitor(qmp, monitorSocket, gate, stop);
            }
            await using var stream = new NetworkStream(qtestSocket, ownsSocket: false);
            log?.Opened(machine.ClockNs);
            try
            {
                await new QtestSession(machine, stream, stream, log: log, gate: gate).RunAsync(stop.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or OperationCanceledException)
            {
                // The harness went away, or quit/SIGTERM ended the session: as QEMU's ends when it exits.
            }
            lock (gate) log?.Closed(machine.ClockNs);
            await stop.CancelAsync().ConfigureAwait(false);
            await monitorTask.ConfigureAwait(false);
            return null;
        }
        finally
        {
            qtestSocket?.Dispose();
            monitorSocket?.Dispose();
        }
    }

    /// <summary>The monitor's loop: greeting, then each complete input in arrival order, its lines ended with CR LF as QEMU's.</summary>
    private static async Task ServeMonitor(QmpMonitor qmp, Socket socket, object gate, CancellationTokenSource stop)
    {
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        var splitter = new QmpInputSplitter();
        var buffer = new byte[64 * 1024];
        try
        {
            await Send(stream, [qmp.Greeting()], stop.Token).ConfigureAwait(false);
            while (true)
            {
                int n = await stream.ReadAsync(buffer, stop.Token).ConfigureAwait(false);
                if (n == 0) return; // the harness closed the monitor: the machine goes on
                foreach ((string text, string? error) in splitter.Feed(buffer.AsSpan(0, n)))
                {
                    IReadOnlyList<string> lines;
                    lock (gate) lines = qmp.Execute(text, error);
                    await Send(stream, lines, stop.Token).ConfigureAwait(false);
                    if (qmp.QuitRequested)
                    {
                        await stop.CancelAsync().ConfigureAwait(false); // quit answered: the process ends
                        return;
                    }
                }
            }
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or OperationCanceledException)
        {
            // The session is over, or the harness dropped the monitor.
        }
    }

    private static async Task Send(NetworkStream stream, IReadOnlyList<string> lines, CancellationToken cancellationToken)
    {
        var bytes = new MemoryStream();
        foreach (string line in lines)
        {
            bytes.Write(Encoding.UTF8.GetBytes(line));
            bytes.Write(CrLf);
        }
        await stream.WriteAsync(bytes.GetBuffer().AsMemory(0, (int)bytes.Length), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>A connected socket for a chardev that connects (path, server=off) or was inherited (fd=N); or QEMU's failure text.</summary>
    private static async Task<(Socket?, string?)> Connect(QtestChannel channel, CancellationToken cancellationToken)
    {
        switch (channel)
        {
            case QtestChannel.Descriptor { Fd: var fd }:
                {
                    Socket? socket = null;
                    try
                    {
                        // Not owned: a descriptor that turns out not to be a socket (or the harness's) is left open, as QEMU leaves it.
                        socket = new Socket(new SafeSocketHandle(fd, ownsHandle: false));
                        if (socket.SocketType != SocketType.Stream) throw new SocketException((int)SocketError.NotSocket);
                        return (socket, null);
                    }
                    catch (Exception e) when (e is SocketException or ArgumentException or IOException)
                    {
                        socket?.Dispose();
                        return (null, $"File descriptor '{fd}' is not a socket");
                    }
                }
            case QtestChannel.UnixSocket { Path: var path, Server: false }:
                {
                    var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                    try
                    {
                        await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), cancellationToken).ConfigureAwait(false);
                        return (socket, null);
                    }
                    catch (SocketException e)
                    {
                        socket.Dispose();
                        return (null, $"Failed to connect to '{path}': {Reason(e)}");
                    }
                    catch (ArgumentException e)
                    {
                        socket.Dispose();
                        return (null, $"Failed to connect to '{path}': {e.Message}");
                    }
                    catch (OperationCanceledException)
                    {
                        socket.Dispose();
                        return (null, null);
                    }
                }
            default:
                throw new ArgumentException("the harness's channel connects (a socket path with server=off, or fd=N)", nameof(channel));
        }
    }

    private static string Reason(SocketException e) => e.SocketErrorCode switch
    {
        SocketError.AddressNotAvailable or SocketError.HostNotFound => "No such file or directory",
        SocketError.ConnectionRefused => "Connection refused",
        SocketError.AccessDenied => "Permission denied",
        _ => e.Message,
    };
}
