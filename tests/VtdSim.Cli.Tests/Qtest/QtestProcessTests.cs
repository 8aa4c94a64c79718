using System.Net.Sockets;
using System.Text;
using VtdSim.Cli.Tests.Support;

namespace VtdSim.Cli.Tests.Qtest;

/// <summary>
/// `vtdsim` as a process: its standard input and output as pipes, outputs that close or fill up, signals. Each test
/// starts the built vtdsim; every wait has a watchdog that only a hang reaches.
/// </summary>
public class QtestProcessTests
{
    [Theory]
    [InlineData(1024)]
    [InlineData(2048)]
    [InlineData(4096)]
    [InlineData(65536)]
    public async Task AStdinLineThatEndsOnABufferBoundaryIsAnsweredWithoutMoreInput(int lineLength)
    {
        using var process = CliProcess.Start("qtest");
        // "info", padded with spaces to exactly lineLength bytes with its newline; the client then waits.
        string line = "info".PadRight(lineLength - 1) + "\n";
        await process.StandardInput.BaseStream.WriteAsync(Encoding.ASCII.GetBytes(line));
        await process.StandardInput.BaseStream.FlushAsync();

        string? reply = await process.StandardOutput.ReadLineAsync().WaitAsync(CliProcess.Watchdog);
        Assert.StartsWith("OK profile=qemu-7.2", reply);

        process.StandardInput.Close();
        await CliProcess.Exited(process);
        Assert.Equal(0, process.ExitCode);
    }

    [Fact]
    public async Task WhenTheReaderOfItsOutputGoesAwayQtestEndsWithAShortMessage()
    {
        // The repro: head takes one line and leaves; vtdsim must notice and end, not answer into the void.
        var (_, error) = await CliProcess.Shell("yes info 2>/dev/null | { vtdsim qtest; echo \"status=$?\" >&2; } | head -1 > /dev/null");
        AssertOutputFailure(error);
    }

    /// <summary>Each command, with its output a pipe nobody reads any more (EPIPE), or a full device (ENOSPC), or closed.</summary>
    [Theory]
    [InlineData("profiles")]
    [InlineData("faults")]
    [InlineData("demo")]
    [InlineData("--help")]
    [InlineData("qtest")]
    public async Task EveryCommandEndsWithAShortMessageWhenItsOutputFails(string command)
    {
        string run = command == "qtest" ? "echo info | vtdsim qtest" : $"vtdsim {command}";
        // A FIFO opened read-write and then left without a reader: writing to it fails with EPIPE, without any race.
        string brokenPipe = $"d=$(mktemp -d) && mkfifo \"$d/f\" && exec 3<>\"$d/f\" 4>\"$d/f\" 3<&- && rm -r \"$d\" && {{ {run} >&4; echo \"status=$?\" >&2; }}";
        AssertOutputFailure((await CliProcess.Shell(brokenPipe)).Error);
        AssertOutputFailure((await CliProcess.Shell($"{run} > /dev/full; echo \"status=$?\" >&2")).Error);
        AssertOutputFailure((await CliProcess.Shell($"{run} >&-; echo \"status=$?\" >&2")).Error);
    }

    private static void AssertOutputFailure(string error)
    {
        string[] lines = error.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        string status = Assert.Single(lines, l => l.StartsWith("status=", StringComparison.Ordinal));
        Assert.NotEqual("status=0", status);
        string message = Assert.Single(lines, l => !l.StartsWith("status=", StringComparison.Ordinal));
        Assert.StartsWith("vtdsim: ", message);
        Assert.Contains("output", message);
        CliProcess.AssertPlain(error);
    }

    [Fact]
    public Task ASocketServerUnderLoadEndsOnSigtermAndRemovesItsSocket() => EndsOnASignalAndRemovesItsSocket(15);

    /// <summary>
    /// SIGINT too, unless this test runs with SIGINT ignored: a background job of a non-interactive shell starts so
    /// (`cmd &`), vtdsim inherits the ignored signal, and the .NET runtime keeps an inherited ignored SIGINT ignored.
    /// </summary>
    [SigintFact]
    public Task ASocketServerUnderLoadEndsOnSigintAndRemovesItsSocket() => EndsOnASignalAndRemovesItsSocket(2);

    private static async Task EndsOnASignalAndRemovesItsSocket(int signal)
    {
        var dir = Directory.CreateTempSubdirectory("vtdsim-qtest-");
        try
        {
            string path = Path.Combine(dir.FullName, "q.sock");
            using var process = CliProcess.Start("qtest", "--socket", path);
            using var cancel = new CancellationTokenSource(CliProcess.Watchdog);
            while (!File.Exists(path)) await Task.Delay(50, cancel.Token);
            using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), cancel.Token);

            // The spinning queue, then a stream of full queue passes, none of whose replies is read.
            var script = new StringBuilder();
            script.Append("writeq 0xfed90090 0x100001\nwritel 0xfed90088 0x1ff0\nwriteq 0xfed90090 0x100000\n");
            script.Append("write 0x100000 4096 0x").Append(string.Concat(Enumerable.Repeat("0500000000000000" + "0000000000000000", 256))).Append('\n');
            script.Append("writel 0xfed90018 0x04000000\n");
            script.Append("writel 0xfed90034 0x10\nwritel 0xfed90088 0xff0\n");
            for (int i = 0; i < 200; i++) script.Append("writel 0xfed90018 0\nwritel 0xfed90018 0x04000000\n");
            await socket.SendAsync(Encoding.ASCII.GetBytes(script.ToString()), cancel.Token);
            using (var reader = new StreamReader(new NetworkStream(socket, ownsSocket: false), leaveOpen: false))
                Assert.Equal("OK", await reader.ReadLineAsync(cancel.Token)); // the server has started on it

            Assert.Equal(0, Kill(process.Id, signal));
            await CliProcess.Exited(process);
            Assert.False(File.Exists(path), "the socket file was left behind");
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    /// <summary>
    /// docs/qtest.md's Python client, run as written: `vtdsim` on the PATH is a shim that runs the built vtdsim, and
    /// the script must print what its comments say, reading the multi-line `events` and `caches` replies.
    /// </summary>
    [PythonFact]
    public async Task ThePythonExampleInTheQtestDocumentRunsAsWritten()
    {
        string? root = AppContext.BaseDirectory;
        while (root is not null && !File.Exists(Path.Combine(root, "VtdSim.slnx"))) root = Path.GetDirectoryName(root);
        Assert.NotNull(root);
        string doc = File.ReadAllText(Path.Combine(root, "docs", "qtest.md"));
        int start = doc.IndexOf("```python\n", doc.IndexOf("## A Python client", StringComparison.Ordinal), StringComparison.Ordinal) + "```python\n".Length;
        string script = doc[start..doc.IndexOf("```", start, StringComparison.Ordinal)];

        var dir = Directory.CreateTempSubdirectory("vtdsim-python-");
        try
        {
            File.WriteAllText(Path.Combine(dir.FullName, "example.py"), script);
            string shim = Path.Combine(dir.FullName, "vtdsim");
            File.WriteAllText(shim, $"#!/bin/sh\nexec '{CliProcess.Host}' '{CliProcess.Dll}' \"$@\"\n");
            var (exit, error) = await CliProcess.Shell($"chmod +x '{shim}' && PATH=\"{dir.FullName}:$PATH\" python3 '{dir.FullName}/example.py' >&2");
            Assert.True(exit == 0, error);
            foreach (string expected in new[] { "0xd2008c22260206", "0xdeadbeef", "FAIL fault fr=0x06 condition=LGN.3", "0xc000000600000008",
                "fault LGN.3 (0x06) read from 00:01.0", "{'capacity': 1024, 'hits': 0, 'misses': 2, 'fills': 1" })
                Assert.Contains(expected, error);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    /// <summary>A fact that needs python3 on the PATH; skipped, with the reason, where there is none.</summary>
    private sealed class PythonFactAttribute : FactAttribute
    {
        public PythonFactAttribute()
        {
            bool found = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Any(d => d.Length > 0 && File.Exists(Path.Combine(d, "python3")));
            if (!found) Skip = "python3 is not installed";
        }
    }

    /// <summary>A fact that needs SIGINT delivered to the processes this test starts; skipped, with the reason, when this process ignores it (and they would inherit that).</summary>
    private sealed class SigintFactAttribute : FactAttribute
    {
        public SigintFactAttribute()
        {
            string? mask = File.Exists("/proc/self/status")
                ? File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("SigIgn:", StringComparison.Ordinal))?[7..].Trim()
                : null;
            if (mask is not null && (Convert.ToUInt64(mask, 16) & (1UL << (2 - 1))) != 0)
                Skip = "this test process ignores SIGINT (started as a background job of a shell), so vtdsim would inherit that";
        }
    }

    private static int Kill(int pid, int signal)
    {
        using var kill = System.Diagnostics.Process.Start("kill", [$"-{signal}", pid.ToString()]);
        kill.WaitForExit();
        return kill.ExitCode;
    }
}
