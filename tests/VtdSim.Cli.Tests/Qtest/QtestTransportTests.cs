using System.Net;
using System.Net.Sockets;
using System.Text;
using VtdSim.Cli.Qtest;

namespace VtdSim.Cli.Tests.Qtest;

/// <summary>
/// The socket transports. Every wait is bounded (a generous limit that only a hang would reach), and nothing asserts
/// on timing: the assertions are about what the server answers and what state it keeps.
/// </summary>
public class QtestTransportTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task UnixSocketKeepsTheMachineAcrossConnectionsAndSurvivesClientsThatLeaveMidLine()
    {
        var dir = Directory.CreateTempSubdirectory("vtdsim-qtest-");
        try
        {
            string path = Path.Combine(dir.FullName, "qtest.sock");
            var machine = new QtestMachine(new QtestMachineOptions());
            using var stop = new CancellationTokenSource();
            Task serving;
            QtestSocketServer server = QtestSocketServer.ListenUnix(path);
            using (server)
            {
                serving = Task.Run(() => server.ServeAsync(machine, stop.Token));
                var endpoint = new UnixDomainSocketEndPoint(path);
                await Exercise(() => Connect(AddressFamily.Unix, ProtocolType.Unspecified, endpoint));
                stop.Cancel();
                await serving.WaitAsync(Limit);
                Assert.Equal(4, server.Connections);
            }
            Assert.False(File.Exists(path)); // the server removes its socket file
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task TcpListensOnLoopbackOnlyAndBehavesTheSame()
    {
        var machine = new QtestMachine(new QtestMachineOptions());
        using var stop = new CancellationTokenSource();
        using var server = QtestSocketServer.ListenTcp(0);
        Assert.NotEqual(0, server.Port);
        Assert.Equal($"127.0.0.1:{server.Port}", server.Endpoint);
        Task serving = Task.Run(() => server.ServeAsync(machine, stop.Token));
        await Exercise(() => Connect(AddressFamily.InterNetwork, ProtocolType.Tcp, new IPEndPoint(IPAddress.Loopback, server.Port)));
        stop.Cancel();
        await serving.WaitAsync(Limit);
    }

    [Theory]
    [InlineData(1024)]
    [InlineData(4096)]
    [InlineData(8192)]
    public async Task ASocketLineThatEndsOnABufferBoundaryIsAnsweredWithoutMoreInput(int lineLength)
    {
        var machine = new QtestMachine(new QtestMachineOptions());
        using var stop = new CancellationTokenSource();
        using var server = QtestSocketServer.ListenTcp(0);
        Task serving = Task.Run(() => server.ServeAsync(machine, stop.Token));
        using var timeout = new CancellationTokenSource(Limit);
        using (var c = new Client(Connect(AddressFamily.InterNetwork, ProtocolType.Tcp, new IPEndPoint(IPAddress.Loopback, server.Port))))
        {
            await c.Send("info".PadRight(lineLength - 1) + "\n", timeout.Token); // then the client only waits
            Assert.StartsWith("OK profile=", await c.ReadLine(timeout.Token));
            await c.Send("readl 0x0\n", timeout.Token);
            Assert.Equal("OK 0x0000000000000000", await c.ReadLine(timeout.Token));
        }
        stop.Cancel();
        await serving.WaitAsync(Limit);
    }

    [Fact]
    public void AUnixSocketPathWhereAServerListensIsRefused()
    {
        var dir = Directory.CreateTempSubdirectory("vtdsim-qtest-");
        try
        {
            string path = Path.Combine(dir.FullName, "qtest.sock");
            using (QtestSocketServer.ListenUnix(path))
            {
                var e = Assert.Throws<ArgumentException>(() => QtestSocketServer.ListenUnix(path));
                Assert.Contains("another server is listening there", e.Message);
            }
            File.WriteAllText(path, "not a socket");
            var e2 = Assert.Throws<ArgumentException>(() => QtestSocketServer.ListenUnix(path));
            Assert.Contains("not a socket", e2.Message);
            Assert.Equal("not a socket", File.ReadAllText(path));
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    /// <summary>Four connections in a row against one server; what one leaves behind the next one sees.</summary>
    private static async Task Exercise(Func<Socket> connect)
    {
        using var timeout = new CancellationTokenSource(Limit);
        CancellationToken ct = timeout.Token;

        // 1: two commands, then a third cut off mid-line before the client disconnects.
        using (var c = new Client(connect()))
        {
            await c.Send("writel 0x1000 0xabcd\nreadl 0x1000\nwritel 0x2000 0x7", ct);
            Assert.Equal("OK", await c.ReadLine(ct));
            Assert.Equal("OK 0x000000000000abcd", await c.ReadLine(ct));
        }
        // 2: the state is still there, the unfinished write was not applied; then it disconnects before its reply.
        using (var c = new Client(connect()))
        {
            await c.Send("readl 0x1000\nreadl 0x2000\n", ct);
            Assert.Equal("OK 0x000000000000abcd", await c.ReadLine(ct));
            Assert.Equal("OK 0x0000000000000000", await c.ReadLine(ct));
            await c.Send("writel 0x3000 0x33\n", ct);
        }
        // 3: garbage and a malformed line end nothing.
        using (var c = new Client(connect()))
        {
            await c.Send("\u0001\u00ff junk\nreadl 0x1000\n", ct);
            Assert.StartsWith("FAIL Unknown command", await c.ReadLine(ct));
            Assert.Equal("OK 0x000000000000abcd", await c.ReadLine(ct));
        }
        // 4: the write whose reply nobody read did happen (its line was complete).
        using (var c = new Client(connect()))
        {
            await c.Send("readl 0x3000\n", ct);
            Assert.Equal("OK 0x0000000000000033", await c.ReadLine(ct));
        }
    }

    private static Socket Connect(AddressFamily family, ProtocolType protocol, EndPoint endpoint)
    {
        var s = new Socket(family, SocketType.Stream, protocol) { ReceiveTimeout = (int)Limit.TotalMilliseconds, SendTimeout = (int)Limit.TotalMilliseconds };
        s.Connect(endpoint);
        return s;
    }

    private sealed class Client(Socket socket) : IDisposable
    {
        private readonly NetworkStream _stream = new(socket, ownsSocket: true);
        private StreamReader Reader => _reader ??= new StreamReader(_stream, new UTF8Encoding(false), false, 1024, leaveOpen: true);
        private StreamReader? _reader;

        public async Task Send(string text, CancellationToken ct) => await _stream.WriteAsync(Encoding.UTF8.GetBytes(text), ct);

        public async Task<string> ReadLine(CancellationToken ct) =>
            await Reader.ReadLineAsync(ct) ?? throw new IOException("the server closed the connection");

        public void Dispose()
        {
            _reader?.Dispose();
            _stream.Dispose();
        }
    }
}
