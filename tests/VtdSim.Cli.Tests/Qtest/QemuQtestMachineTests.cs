using System.Net.Sockets;
using System.Text;
using VtdSim.Cli.Tests.Support;

namespace VtdSim.Cli.Tests.Qtest;

/// <summary>
/// python/qemu/machine's QEMUQtestMachine, step by step (Python's `qemu` package is not installed here): its argv
/// (`-display none -vga none -chardev socket,id=mon,fd=N|path=… -mon chardev=mon,mode=control -qtest unix:path=…
/// -accel qtest ARGS`), the QMP accept with the oob negotiation qemu.qmp does, then the qtest accept, commands, and its
/// soft shutdown: QMP `quit`, then waiting for exit status 0 (decisions Q60, Q64). In process.
/// </summary>
public class QemuQtestMachineTests
{
    [Theory]
    [InlineData(true)]  // QEMU 8.1 and later: one end of a socketpair, inherited
    [InlineData(false)] // QEMU 7.2: a socket path the harness listens on
    public async Task QemuQtestMachineStartsTalksAndShutsDownVtdsim(bool socketpair)
    {
        var dir = Directory.CreateTempSubdirectory("vtdsim-pyqtest-");
        Socket? inherited = null, harnessEnd = null;
        try
        {
            string qtestPath = Path.Combine(dir.FullName, "qemu-7-qtest.sock");
            string monitorPath = Path.Combine(dir.FullName, "qemu-7-monitor.sock");
            using var qtestListener = Listen(qtestPath);
            using Socket? monitorListener = socketpair ? null : Listen(monitorPath);
            if (socketpair)
            {
                // A connected pair of unix stream sockets, as socket.socketpair() gives; vtdsim gets one end's descriptor.
                using var pairListener = Listen(Path.Combine(dir.FullName, "pair.sock"));
                inherited = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                await inherited.ConnectAsync(new UnixDomainSocketEndPoint(Path.Combine(dir.FullName, "pair.sock")));
                harnessEnd = await pairListener.AcceptAsync();
            }
            string monitor = socketpair ? $"socket,id=mon,fd={(int)inherited!.Handle}" : $"socket,id=mon,path={monitorPath}";
            string[] argv = QemuHarnessArgvTests.Python(monitor, qtestPath, "-M", "q35", "-nodefaults", "-device", "intel-iommu", "-S");
            var output = new StringWriter();
            Task<int> run = Task.Run(() => Program.Run(["qtest", .. argv], output));

            Socket qmp = socketpair ? harnessEnd! : harnessEnd = await monitorListener!.AcceptAsync().WaitAsync(CliProcess.Watchdog);
            var qmpIn = new StreamReader(new NetworkStream(qmp), Encoding.UTF8);
            string Qmp(string json)
            {
                qmp.Send(Encoding.UTF8.GetBytes(json + "\n"));
                return qmpIn.ReadLineAsync().WaitAsync(CliProcess.Watchdog).GetAwaiter().GetResult() ?? "(closed)";
            }
            Assert.StartsWith("{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 7}", await qmpIn.ReadLineAsync().WaitAsync(CliProcess.Watchdog));
            Assert.Equal("{\"return\": {}, \"id\": \"__qmp#00000\"}", Qmp("{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": [\"oob\"]}, \"id\": \"__qmp#00000\"}"));

            using Socket qtest = await qtestListener.AcceptAsync().WaitAsync(CliProcess.Watchdog);
            var qtestIn = new StreamReader(new NetworkStream(qtest), Encoding.UTF8);
            qtest.Send("readq 0xfed90008\n"u8);
            Assert.Equal("OK 0x00d2008c22260206", await qtestIn.ReadLineAsync().WaitAsync(CliProcess.Watchdog));
            Assert.Equal("{\"return\": {\"status\": \"prelaunch\", \"singlestep\": false, \"running\": false}}", Qmp("{\"execute\": \"query-status\"}"));

            Assert.StartsWith("{\"timestamp\": {\"seconds\": 0, \"microseconds\": 0}, \"event\": \"SHUTDOWN\"", Qmp("{\"execute\": \"quit\"}"));
            Assert.Equal("{\"return\": {}}", await qmpIn.ReadLineAsync().WaitAsync(CliProcess.Watchdog));
            Assert.Equal(0, await run.WaitAsync(CliProcess.Watchdog));
            Assert.Null(await qtestIn.ReadLineAsync().WaitAsync(CliProcess.Watchdog)); // vtdsim closed the qtest connection too
            Assert.Equal("", output.ToString());
        }
        finally
        {
            inherited?.Dispose();
            harnessEnd?.Dispose();
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task AnInheritedDescriptorThatIsNoSocketIsQemusError()
    {
        var dir = Directory.CreateTempSubdirectory("vtdsim-pyqtest-");
        try
        {
            string file = Path.Combine(dir.FullName, "plain");
            using var plain = File.Create(file);
            int fd = (int)plain.SafeFileHandle.DangerousGetHandle();
            var output = new StringWriter();
            int status = await Task.Run(() => Program.Run(["qtest", "-M", "q35", "-chardev", $"socket,id=mon,fd={fd}", "-mon", "chardev=mon,mode=control",
                "-qtest", $"unix:{Path.Combine(dir.FullName, "q.sock")}"], output));
            Assert.Equal(1, status);
            Assert.Equal($"vtdsim: -chardev socket,id=mon,fd={fd}: File descriptor '{fd}' is not a socket\n", output.ToString().Replace("\r", ""));
            plain.WriteByte(1); // still open: vtdsim does not close what it was not given
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task AQtestLogFileGetsQemusLinesAndOneThatCannotBeOpenedIsSaid()
    {
        var dir = Directory.CreateTempSubdirectory("vtdsim-qtestlog-");
        try
        {
            foreach (string log in new[] { Path.Combine(dir.FullName, "qtest.log"), Path.Combine(dir.FullName, "missing", "qtest.log") })
            {
                string path = Path.Combine(dir.FullName, "q.sock");
                using var listener = Listen(path);
                var output = new StringWriter();
                Task<int> run = Task.Run(() => Program.Run(["qtest", "-M", "q35", "-qtest", $"unix:{path}", "-qtest-log", log], output));
                using (Socket harness = await listener.AcceptAsync().WaitAsync(CliProcess.Watchdog))
                {
                    var reader = new StreamReader(new NetworkStream(harness), Encoding.UTF8);
                    harness.Send("clock_step 1500\nfoo\n"u8);
                    Assert.Equal("OK 1500", await reader.ReadLineAsync().WaitAsync(CliProcess.Watchdog));
                    Assert.Equal("FAIL Unknown command 'foo'", await reader.ReadLineAsync().WaitAsync(CliProcess.Watchdog));
                }
                Assert.Equal(0, await run.WaitAsync(CliProcess.Watchdog));
                File.Delete(path);
                if (log.Contains("missing", StringComparison.Ordinal))
                {
                    // QEMU 7.2 carries on without its log, silently; vtdsim carries on and says so.
                    Assert.StartsWith($"vtdsim: -qtest-log {log}: cannot open it (", output.ToString());
                    Assert.EndsWith("); no qtest log is written\n", output.ToString().Replace("\r", ""));
                    CliProcess.AssertPlain(output.ToString());
                }
                else
                {
                    Assert.Equal("[I 0.000000] OPENED\n[R +0.000000] clock_step 1500\n[S +0.000001] OK 1500\n[R +0.000001] foo\n" +
                        "[S +0.000001] FAIL Unknown command 'foo'\n[I +0.000001] CLOSED\n", File.ReadAllText(log));
                }
            }
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    private static Socket Listen(string path)
    {
        var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        s.Bind(new UnixDomainSocketEndPoint(path));
        s.Listen(1);
        return s;
    }
}
