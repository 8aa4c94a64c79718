using System.Net;
using System.Net.Sockets;
using System.Text;

namespace VtdSim.Cli.Qtest;

/// <summary>Serves a qtest session on this process's standard input and output.</summary>
public static class QtestStdio
{
    public static async Task ServeAsync(QtestMachine machine, CancellationToken cancellationToken = default)
    {
        var encoding = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false);
        await using var stdin = Console.OpenStandardInput();
        await using var stdout = Console.OpenStandardOutput();
        using var reader = new StreamReader(stdin, encoding, detectEncodingFromByteOrderMarks: false);
        await using var writer = new StreamWriter(stdout, encoding) { NewLine = "\n" };
        await new QtestSession(machine, reader, writer).RunAsync(cancellationToken).ConfigureAwait(false);
    }
}

/// <summary>
/// A qtest server on a unix socket or on TCP bound to 127.0.0.1. It serves one connection at a time, in the order they
/// arrive; every connection drives the same <see cref="QtestMachine"/>, so a client that reconnects finds the state it
/// left (use `reset` for a fresh machine). A connection that breaks, mid-line or otherwise, ends only itself.
/// </summary>
public sealed class QtestSocketServer : IDisposable
{
    private readonly Socket _listener;
    private readonly string? _unixPath;

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

    /// <summary>
    /// Listens on a unix socket at <paramref name="path"/>. A stale socket file left by a server that died is replaced;
    /// a path where a server still answers, or that is not a socket, is refused.
    /// </summary>
    public static QtestSocketServer ListenUnix(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string full = Path.GetFullPath(path);
        UnixDomainSocketEndPoint endpoint;
        try
        {
            endpoint = new UnixDomainSocketEndPoint(full);
        }
        catch (ArgumentException e)
        {
            throw new ArgumentException($"--socket {path}: {e.Message} (unix socket paths are limited to about 107 bytes)", e);
        }
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
    public async Task ServeAsync(QtestMachine machine, CancellationToken cancellationToken = default, TextWriter? log = null)
    {
        ArgumentNullException.ThrowIfNull(machine);
        var encoding = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false);
        while (!cancellationToken.IsCancellationRequested)
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
                var reader = new StreamReader(stream, encoding, detectEncodingFromByteOrderMarks: false, bufferSize: 4096, leaveOpen: true);
                var writer = new StreamWriter(stream, encoding, bufferSize: 4096, leaveOpen: true) { NewLine = "\n" };
                try
                {
                    await new QtestSession(machine, reader, writer).RunAsync(cancellationToken).ConfigureAwait(false);
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
                    reader.Dispose();
                    try
                    {
                        writer.Dispose();
                    }
                    catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
                    {
                        // the peer is gone; nothing is left to flush to
                    }
                    stream.Dispose();
                }
            }
            log?.WriteLine($"vtdsim qtest: connection {number} {how}");
        }
    }

    public void Dispose()
    {
        _listener.Dispose();
        if (_unixPath is not null)
        {
            try
            {
                File.Delete(_unixPath);
            }
            catch (IOException)
            {
                // best effort: a later server replaces a stale socket file anyway
            }
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
