using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace VtdSim.Differential.Tests.Infrastructure;

/// <summary>
/// QEMU 7.2's intel-iommu with edu devices, driven over the qtest protocol on stdin/stdout (qemu-facts §7.3):
/// <c>-M q35 -nodefaults -display none -accel tcg -icount shift=0,sleep=off -qtest stdio -bios tiny</c>. The tiny BIOS
/// halts the vCPU, but the VM runs, so edu's 100 ms DMA timer fires — at once, since icount without sleep lets the
/// virtual clock jump to the next deadline while the vCPU is idle. PCI configuration is done by hand through 0xCF8/0xCFC. Every wait is bounded;
/// the process is killed in <see cref="Dispose"/> and, as a last resort, by <c>timeout</c> after a few minutes.
/// </summary>
public sealed class QemuTarget : QtestTarget
{
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(10);
    private const int MaxLifetimeSeconds = 300;

    private readonly Process _process;
    private readonly BlockingCollection<string> _lines = new();
    private readonly StringBuilder _stderr = new();
    private readonly string _directory;
    private bool _disposed;

    public QemuTarget(TargetConfig config, bool configureEdu = true) : base(config)
    {
        string qemu = QemuLocator.ExecutablePath ?? throw new InvalidOperationException(QemuLocator.SkipReason);
        _directory = Directory.CreateTempSubdirectory("vtdsim-qemu-").FullName;
        string bios = TinyBios.WriteTo(_directory);
        CommandLine = BuildArguments(config, bios);

        var start = new ProcessStartInfo
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = _directory,
        };
        // A safety net for a test host that dies without running Dispose: coreutils' timeout kills QEMU eventually.
        const string timeoutTool = "/usr/bin/timeout";
        if (File.Exists(timeoutTool))
        {
            start.FileName = timeoutTool;
            foreach (string a in new[] { "-s", "KILL", MaxLifetimeSeconds.ToString(CultureInfo.InvariantCulture), qemu }) start.ArgumentList.Add(a);
        }
        else
        {
            start.FileName = qemu;
        }
        foreach (string a in CommandLine) start.ArgumentList.Add(a);

        _process = new Process { StartInfo = start };
        try
        {
            _process.Start();
            var reader = new Thread(ReadStdout) { IsBackground = true, Name = "qemu-qtest-stdout" };
            reader.Start();
            _process.ErrorDataReceived += (_, e) =>
            {
                if (e.Data is null) return;
                lock (_stderr) _stderr.AppendLine(e.Data);
            };
            _process.BeginErrorReadLine();
            if (configureEdu)
                for (int i = 0; i < config.Devices; i++) ConfigureEdu(i);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public override string Name => $"QEMU 7.2 ({Config.Name})";
    public override IReadOnlyList<string> CommandLine { get; }

    protected override string Exchange(string command)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        try
        {
            _process.StandardInput.Write(command + "\n");
            _process.StandardInput.Flush();
        }
        catch (IOException e)
        {
            throw new InvalidOperationException($"QEMU is gone (writing '{Shorten(command)}': {e.Message}){Diagnostics()}", e);
        }
        var clock = Stopwatch.StartNew();
        while (true)
        {
            TimeSpan left = CommandTimeout - clock.Elapsed;
            if (left <= TimeSpan.Zero || !_lines.TryTake(out string? line, left))
            {
                if (_lines.IsCompleted && _process.WaitForExit(2000)) throw new InvalidOperationException($"QEMU exited while answering '{Shorten(command)}'{Diagnostics()}");
                throw new TimeoutException($"QEMU did not answer '{Shorten(command)}' within {CommandTimeout.TotalSeconds} s{Diagnostics()}");
            }
            if (line.StartsWith("IRQ", StringComparison.Ordinal)) continue; // asynchronous interrupt notices
            return line;
        }
    }

    private void ReadStdout()
    {
        try
        {
            while (_process.StandardOutput.ReadLine() is { } line) _lines.Add(line.TrimEnd());
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or InvalidOperationException)
        {
        }
        finally
        {
            _lines.CompleteAdding();
        }
    }

    protected override string Extra()
    {
        string err;
        lock (_stderr) err = _stderr.ToString().Trim();
        return err.Length > 0 ? $"QEMU stderr: {err}" : "";
    }

    public override void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        try { _process.StandardInput.Close(); } catch (Exception e) when (e is IOException or InvalidOperationException) { }
        try
        {
            if (!_process.HasExited) _process.Kill(entireProcessTree: true);
            _process.WaitForExit(5000);
        }
        catch (InvalidOperationException)
        {
            // never started
        }
        _process.Dispose();
        try { Directory.Delete(_directory, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
