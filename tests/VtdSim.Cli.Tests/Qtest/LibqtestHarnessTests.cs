using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using VtdSim.Cli.Tests.Support;

namespace VtdSim.Cli.Tests.Qtest;

/// <summary>
/// The proof that QEMU's own qtest harnesses run vtdsim unchanged (issue 9 §5; decisions Q60–Q64): a harness that does
/// exactly what QEMU 7.2's libqtest does — listen on a qtest and a QMP socket, start `sh -c "exec BINARY -qtest unix:…
/// -qtest-log … -chardev socket,path=…,id=char0 -mon chardev=char0,mode=control -display none EXTRA -accel qtest"`,
/// accept both, ask the endianness, read the QMP greeting, negotiate, run qtest commands, and end with qtest_quit's
/// SIGTERM, accepting only exit status 0 — against vtdsim and against Debian's QEMU 7.2 with the same argv, and a
/// script that programs intel-iommu and makes edu DMA through it gets the same replies from both.
/// </summary>
public class LibqtestHarnessTests
{
    private const ulong Bar = 0xE000_0000, Regs = 0xFED9_0000;

    /// <summary>What both get after libqtest's own options: Debian's QEMU 7.2 has no qtest accelerator, so tcg with
    /// icount comes first (QEMU takes the first accelerator that works; libqtest's trailing -accel qtest is not tried).</summary>
    private static string Extra(string bios) =>
        $"-M q35 -nodefaults -bios {bios} -accel tcg -icount shift=0,sleep=off -device intel-iommu -device edu,addr=04.0";

    [Fact]
    public async Task LibqtestRunsVtdsimAndQuitsWithSigterm()
    {
        using var dir = new TempDir();
        string bios = TinyBios(dir.Path);
        string vtdsim = $"'{CliProcess.Host}' '{CliProcess.Dll}' qtest";
        await using var h = await Libqtest.Start(vtdsim, Extra(bios), dir.Path, log: true);
        var replies = Script(h);
        AssertScriptSaw(replies);
        (int status, string stderr) = await h.Quit();
        Assert.Equal(0, status);
        // QTEST_LOG: the log on stderr, QEMU's format, virtual time (decision Q62).
        Assert.StartsWith("[I 0.000000] OPENED\n[R +0.000000] endianness\n[S +0.000000] OK little\n", stderr.Replace("\r", ""));
        Assert.Contains("[R +0.", stderr);
    }

    [Qemu72Fact]
    public async Task LibqtestGetsTheSameRepliesFromVtdsimAndQemu72()
    {
        string qemu = Qemu72()!;
        using var dir = new TempDir();
        string bios = TinyBios(dir.Path);
        List<(string, string)> sim, real;
        await using (var h = await Libqtest.Start($"'{CliProcess.Host}' '{CliProcess.Dll}' qtest", Extra(bios), dir.Path))
        {
            sim = Script(h);
            Assert.Equal(0, (await h.Quit()).Status);
        }
        await using (var h = await Libqtest.Start(qemu, Extra(bios), dir.Path))
        {
            real = Script(h);
            Assert.Equal(0, (await h.Quit()).Status);
        }
        Assert.Equal(real, sim);
        AssertScriptSaw(real);
    }

    /// <summary>The same conversation in process (coverage; decision Q64's other ending): QMP `quit` ends vtdsim with 0.</summary>
    [Fact]
    public async Task InProcessTheHarnessEndsVtdsimWithQmpQuit()
    {
        using var dir = new TempDir();
        var output = new StringWriter();
        await using var h = await Libqtest.Start(null, Extra(TinyBios(dir.Path)), dir.Path, log: true,
            inProcess: argv => Task.Run(() => Program.Run(["qtest", .. argv], output)));
        AssertScriptSaw(Script(h));
        Assert.Equal("{\"return\": {\"status\": \"running\", \"singlestep\": false, \"running\": true}}", h.Qmp("{\"execute\": \"query-status\"}"));
        h.QmpSend("{\"execute\": \"quit\"}");
        Assert.Equal("{\"timestamp\": {\"seconds\": 0, \"microseconds\": 300000}, \"event\": \"SHUTDOWN\", \"data\": {\"guest\": false, \"reason\": \"host-qmp-quit\"}}",
            h.QmpLine()); // the virtual clock: three edu DMAs, each 100 ms after its command
        Assert.Equal("{\"return\": {}}", h.QmpLine());
        Assert.Equal(0, await h.InProcess!.WaitAsync(CliProcess.Watchdog));
        Assert.Null(h.QmpLineOrEnd()); // vtdsim closed the monitor
        Assert.Contains("] CLOSED\n", output.ToString().Replace("\r", ""));
    }

    /// <summary>
    /// A driver's script: find edu by PCI configuration cycles, program its BAR and command register; legacy
    /// second-level tables mapping IOVA 0x345000 to 0x800000 for 00:04.0; edu DMA from the IOVA into its buffer and
    /// back to the IOVA + 0x100; then one to an IOVA nothing maps, which faults. Returns each line with its reply (a poll
    /// of edu's command register counts once, by its last reply).
    /// </summary>
    private static List<(string, string)> Script(Libqtest h)
    {
        var seen = new List<(string, string)>();
        void Do(string line) => seen.Add((line, h.Qtest(line)));
        void Poll()
        {
            string line = $"readq 0x{Bar + 0x98:x}", reply = "";
            for (int i = 0; i < 1000 && (reply = h.Qtest(line)) != "OK 0x0000000000000000"; i++) { }
            seen.Add((line, reply));
        }
        Do("outl 0xcf8 0x80002000");
        Do("inl 0xcfc");
        Do("outl 0xcf8 0x80002010");
        Do($"outl 0xcfc 0x{Bar:x}");
        Do("outl 0xcf8 0x80002004");
        Do("outw 0xcfc 0x6");
        Do($"readl 0x{Bar:x}");
        Do($"readq 0x{Regs + 0x08:x}");
        Do("writeq 0x100000 0x101001");                 // root entry, bus 0 -> context table
        Do($"writeq 0x{0x101000 + 0x20 * 16:x} 0x102001"); // context entry of devfn 0x20 (04.0) -> SL table
        Do($"writeq 0x{0x101000 + 0x20 * 16 + 8:x} 0x101"); // AW 39-bit, domain 1
        Do("writeq 0x102000 0x103003");
        Do($"writeq 0x{0x103000 + 1 * 8:x} 0x104003");
        Do($"writeq 0x{0x104000 + 0x145 * 8:x} 0x800003");  // IOVA 0x345000 -> 0x800000, R+W
        Do($"writeq 0x{Regs + 0x20:x} 0x100000");
        Do($"writel 0x{Regs + 0x18:x} 0x40000000");
        Do($"readl 0x{Regs + 0x1c:x}");
        Do($"writel 0x{Regs + 0x18:x} 0x80000000");
        Do($"readl 0x{Regs + 0x1c:x}");
        Do("writeq 0x800000 0x1122334455667788");
        foreach ((ulong src, ulong dst, ulong cmd) in new[] { (0x345000UL, 0x40000UL, 1UL), (0x40000UL, 0x345100UL, 3UL) })
        {
            Do($"writeq 0x{Bar + 0x80:x} 0x{src:x}");
            Do($"writeq 0x{Bar + 0x88:x} 0x{dst:x}");
            Do($"writeq 0x{Bar + 0x90:x} 0x8");
            Do($"writeq 0x{Bar + 0x98:x} 0x{cmd:x}");
            Poll();
        }
        Do("readq 0x800100");
        Do($"readl 0x{Regs + 0x34:x}");
        Do($"writeq 0x{Bar + 0x80:x} 0x999000");
        Do($"writeq 0x{Bar + 0x88:x} 0x40000");
        Do($"writeq 0x{Bar + 0x90:x} 0x8");
        Do($"writeq 0x{Bar + 0x98:x} 0x1");
        Poll();
        Do($"readl 0x{Regs + 0x34:x}");
        return seen;
    }

    private static void AssertScriptSaw(List<(string Line, string Reply)> replies)
    {
        Assert.Equal("OK 0x11e81234", replies[1].Reply);                                // edu's vendor and device
        Assert.Equal("OK 0x00000000010000ed", replies[6].Reply);                        // edu's ID register
        Assert.Equal("OK 0x00d2008c22260206", replies[7].Reply);                        // QEMU 7.2's CAP
        Assert.Equal("OK 0x00000000c0000000", replies[18].Reply);                       // GSTS: TES, RTPS
        Assert.Equal("OK 0x1122334455667788", replies.Single(r => r.Line == "readq 0x800100").Reply); // there and back through the vIOMMU
        Assert.Equal("OK 0x0000000000000000", replies.First(r => r.Line == $"readl 0x{Regs + 0x34:x}").Reply);
        Assert.Equal("OK 0x0000000000000002", replies.Last().Reply);                    // FSTS.PPF: the unmapped IOVA faulted
    }

    private static string TinyBios(string dir)
    {
        var image = new byte[64 * 1024];
        Array.Fill(image, (byte)0xFF);
        image[0xFFF0] = 0xFA; // cli
        image[0xFFF1] = 0xF4; // hlt
        string path = System.IO.Path.Combine(dir, "tiny-bios.bin");
        File.WriteAllBytes(path, image);
        return path;
    }

    private static string? Qemu72()
    {
        foreach (string d in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            string candidate = System.IO.Path.Combine(d, "qemu-system-x86_64");
            if (!File.Exists(candidate)) continue;
            using var p = Process.Start(new ProcessStartInfo(candidate, "--version") { RedirectStandardOutput = true, UseShellExecute = false })!;
            string version = p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            return version.Contains("version 7.2.", StringComparison.Ordinal) ? candidate : null;
        }
        return null;
    }

    /// <summary>A fact that needs Debian's QEMU 7.2 (as the differential suite finds it: on PATH); skipped without it.</summary>
    private sealed class Qemu72FactAttribute : FactAttribute
    {
        public Qemu72FactAttribute()
        {
            if (Qemu72() is null) Skip = "qemu-system-x86_64 7.2 is not installed (Debian's qemu-system-x86 provides it)";
        }
    }

    private sealed class TempDir : IDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("vtdsim-libqtest-").FullName;
        public void Dispose() => Directory.Delete(Path, recursive: true);
    }

    /// <summary>libqtest's qtest_init and qtest_quit, step by step (tests/qtest/libqtest.c in QEMU 7.2).</summary>
    private sealed class Libqtest : IAsyncDisposable
    {
        private Process? _process;
        private Socket _qtest = null!, _qmp = null!;
        private StreamReader _qtestIn = null!, _qmpIn = null!;
        private Task<string>? _stderr;
        public Task<int>? InProcess { get; private set; }

        public static async Task<Libqtest> Start(string? binary, string extra, string dir, bool log = false, Func<string[], Task<int>>? inProcess = null)
        {
            var h = new Libqtest();
            string socketPath = System.IO.Path.Combine(dir, $"qtest-{Environment.ProcessId}.sock");
            string qmpPath = System.IO.Path.Combine(dir, $"qtest-{Environment.ProcessId}.qmp");
            using var sock = Listen(socketPath);
            using var qmpSock = Listen(qmpPath);
            string args = $"-qtest unix:{socketPath} -qtest-log {(log ? "/dev/fd/2" : "/dev/null")} -chardev socket,path={qmpPath},id=char0 " +
                $"-mon chardev=char0,mode=control -display none {extra} -accel qtest";
            if (inProcess is not null) h.InProcess = inProcess(args.Split(' ', StringSplitOptions.RemoveEmptyEntries));
            else
            {
                var info = new ProcessStartInfo("/bin/sh") { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
                info.ArgumentList.Add("-c");
                info.ArgumentList.Add($"exec {binary} {args}");
                info.Environment["QEMU_AUDIO_DRV"] = "none";
                h._process = Process.Start(info)!;
                h._stderr = h._process.StandardError.ReadToEndAsync();
            }
            h._qtest = await sock.AcceptAsync().WaitAsync(CliProcess.Watchdog);
            h._qmp = await qmpSock.AcceptAsync().WaitAsync(CliProcess.Watchdog);
            File.Delete(socketPath);
            File.Delete(qmpPath);
            h._qtestIn = new StreamReader(new NetworkStream(h._qtest), Encoding.UTF8);
            h._qmpIn = new StreamReader(new NetworkStream(h._qmp), Encoding.UTF8);
            Assert.Equal("OK little", h.Qtest("endianness"));
            using (var greeting = JsonDocument.Parse(h.QmpLine()))
                Assert.Equal(JsonValueKind.Object, greeting.RootElement.GetProperty("QMP").GetProperty("version").GetProperty("qemu").ValueKind);
            Assert.Equal("{\"return\": {}}", h.Qmp("{\"execute\": \"qmp_capabilities\"}"));
            return h;
        }

        public string Qtest(string line)
        {
            _qtest.Send(Encoding.UTF8.GetBytes(line + "\n"));
            return _qtestIn.ReadLineAsync().WaitAsync(CliProcess.Watchdog).GetAwaiter().GetResult() ?? "(closed)";
        }

        public void QmpSend(string json) => _qmp.Send(Encoding.UTF8.GetBytes(json));

        public string QmpLine() => QmpLineOrEnd() ?? "(closed)";

        public string? QmpLineOrEnd() => _qmpIn.ReadLineAsync().WaitAsync(CliProcess.Watchdog).GetAwaiter().GetResult();

        /// <summary>A command's reply, skipping events (qtest_qmp_receive stashes them).</summary>
        public string Qmp(string json)
        {
            QmpSend(json);
            string line;
            while ((line = QmpLine()).StartsWith("{\"timestamp\"", StringComparison.Ordinal)) { }
            return line;
        }

        /// <summary>qtest_quit: SIGTERM, wait; libqtest aborts unless QEMU exited (not signalled) with status 0.</summary>
        public async Task<(int Status, string Stderr)> Quit()
        {
            using (var kill = Process.Start("kill", ["-TERM", _process!.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])) await kill.WaitForExitAsync();
            await CliProcess.Exited(_process);
            return (_process.ExitCode, await _stderr!);
        }

        private static Socket Listen(string path)
        {
            var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            s.Bind(new UnixDomainSocketEndPoint(path));
            s.Listen(1);
            return s;
        }

        public async ValueTask DisposeAsync()
        {
            _qtest?.Dispose();
            _qmp?.Dispose();
            if (_process is { HasExited: false }) _process.Kill(entireProcessTree: true);
            if (_process is not null) await _process.WaitForExitAsync();
            _process?.Dispose();
            if (InProcess is not null) await InProcess.WaitAsync(CliProcess.Watchdog);
        }
    }
}
