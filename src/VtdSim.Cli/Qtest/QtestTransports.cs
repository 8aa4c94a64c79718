using System.Net;
using System.Net.Sockets;
using System.Text;

namespace VtdSim.Cli.Qtest;

/// <summary>Serves a qtest session on this process's standard input and an output stream (standard output).</summary>
public static class QtestStdio
{
    /// <summary>
    /// Serves until standard input ends. A failed write to <paramref name="output"/> ends the session with the stream's
    /// exception (the command line turns it into a short message and a non-zero status).
    /// </summary>
    public static async Task ServeAsync(IQtestMachine machine, Stream output, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(output);
        await using var stdin = Console.OpenStandardInput();
        await new QtestSession(machine, stdin, output).RunAsync(cancellationToken).ConfigureAwait(false);
    }
}

/// <summary>
/// A qtest server on a unix socket or on TCP bound to 127.0.0.1. It serves one connection at a time, in the order they
/// arrive; every connection drives the same <see cref="IQtestMachine"/>, so a client that reconnects finds the state it
/// left (use `reset` for a fresh machine). A connection that breaks, mid-line or otherwise, ends only itself. When the
/// machine ends (a hardware error), the server stops, as QEMU would be gone.
/// </summary>
public sealed class QtestSocketServer : IDisposable
{
    private readonly Socket _listener;
    private readonly string? _unixPath;
    private volatile QtestSession? _session;

    private QtestSocketServer(Socket listener, string? unixPath, string endpoint)
    {
        _listener = listener;
        _unixPath = unixPath;
        Endpoint = endpoint;
    }

    /// <summary>Where clients connect: the socket path, or 127.0.0.1:PORT.</summary>
    public string Endpoint { get; }
    /// <summary>The TCP port (the one the system chose when 0 was asked for), or 0 for a unix socket.</summary>
    public int Port => _listener.LocalEndPoint is IPEndPoint ip ? ip.Port : 0;
    /// <summary>Connections accepted so far.</summary>
    public int Connections { get; private set; }
    /// <summary>True while the current connection's command is being carried out.</summary>
    public bool Busy => _session?.Busy ?? false;

    /// <summary>
    /// Listens on a unix socket at <paramref name="path"/>. A stale socket file left by a server that died is replaced;
    /// a path where a server still answers, or that is not a socket, is refused.
    /// </summary>
    public static QtestSocketServer ListenUnix(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (SocketPathProblem(path) is { } problem) throw new ArgumentException(problem);
        string full = Path.GetFullPath(path);
        var endpoint = new UnixDomainSocketEndPoint(full);
        if (File.Exists(full) || Directory.Exists(full)) RemoveStaleSocket(full, endpoint);
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            listener.Bind(endpoint);
            listener.Listen(8);
        }
        catch (SocketException e)
        {
            listener.Dispose();
            throw new ArgumentException($"--socket {path}: cannot listen there: {e.Message}", e);
        }
        return new QtestSocketServer(listener, full, full);
    }

    /// <summary>The longest unix socket path: sun_path holds 108 bytes with the terminating zero.</summary>
    public const int MaxSocketPathBytes = 107;

    /// <summary>Why <paramref name="path"/> cannot be a unix socket's path (worded for the --socket option), or null.</summary>
    public static string? SocketPathProblem(string path)
    {
        if (path.Length == 0) return "--socket: give the path of the socket to create";
        if (path.Contains('\0')) return "--socket: a path cannot contain a zero byte";
        int bytes = Encoding.UTF8.GetByteCount(Path.GetFullPath(path));
        return bytes > MaxSocketPathBytes
            ? $"--socket {QtestNumbers.Abbreviate(path)}: the full path is {bytes} bytes long; unix socket paths are limited to {MaxSocketPathBytes} bytes"
            : null;
    }

    /// <summary>Listens on TCP 127.0.0.1:<paramref name="port"/> (0 lets the system choose); never on other interfaces.</summary>
    public static QtestSocketServer ListenTcp(int port)
    {
        if (port is < 0 or > 65535) throw new ArgumentException($"--tcp {port}: a port is 0..65535 (0 lets the system choose)");
        var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            listener.Bind(new IPEndPoint(IPAddress.Loopback, port));
            listener.Listen(8);
        }
        catch (SocketException e)
        {
            listener.Dispose();
            throw new ArgumentException($"--tcp {port}: cannot listen on 127.0.0.1:{port}: {e.Message}", e);
        }
        int actual = ((IPEndPoint)listener.LocalEndPoint!).Port;
        return new QtestSocketServer(listener, null, $"127.0.0.1:{actual}");
    }

    /// <summary>Accepts and serves connections one after another until <paramref name="cancellationToken"/> fires.</summary>
    public async Task ServeAsync(IQtestMachine machine, CancellationToken cancellationToken = default, TextWriter? log = null)
    {
        ArgumentNullException.ThrowIfNull(machine);
        while (!cancellationToken.IsCancellationRequested && machine.Ended is null)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            Connections++;
            int number = Connections;
            log?.WriteLine($"vtdsim qtest: connection {number} opened");
            string how = "closed";
            using (client)
            {
                var stream = new NetworkStream(client, ownsSocket: false);
                try
                {
                    _session = new QtestSession(machine, stream, stream);
                    await _session.RunAsync(cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
                {
                    how = "closed by server shutdown";
                }
                catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
                {
                    how = $"broken ({e.Message})";
                }
                finally
                {
                    _session = null;
                    stream.Dispose();
                }
            }
            log?.WriteLine($"vtdsim qtest: connection {number} {how}");
        }
    }

    public void Dispose()
    {
        _listener.Dispose();
        RemoveSocketFile();
    }

    /// <summary>Removes the unix socket file (nothing for TCP); safe to call from a signal handler, and more than once.</summary>
    public void RemoveSocketFile()
    {
        if (_unixPath is null) return;
        try
        {
            File.Delete(_unixPath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // best effort: a later server replaces a stale socket file anyway
        }
    }

    private static void RemoveStaleSocket(string path, UnixDomainSocketEndPoint endpoint)
    {
        if (Directory.Exists(path)) throw new ArgumentException($"--socket {path}: that is a directory");
        if (new FileInfo(path).Length > 0) // a socket file has no length
            throw new ArgumentException($"--socket {path}: a file is already there and it is not a socket");
        using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            probe.Connect(endpoint);
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionRefused)
        {
            File.Delete(path); // nobody listens: a socket file left behind by a server that died
            return;
        }
        catch (SocketException e)
        {
            throw new ArgumentException($"--socket {path}: something is already there ({e.Message}); remove it or choose another path", e);
        }
        throw new ArgumentException($"--socket {path}: another server is listening there");
    }
}
