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
public sealed class QemuTarget : IVtdTarget
{
    private const ulong IommuBase = 0xFED9_0000;
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan DmaTimeout = TimeSpan.FromSeconds(10);
    private const int MaxLifetimeSeconds = 300;

    private readonly Process _process;
    private readonly BlockingCollection<string> _lines = new();
    private readonly StringBuilder _stderr = new();
    private readonly Queue<string> _recent = new();
    private readonly string _directory;
    private bool _disposed;

    public QemuTarget(TargetConfig config)
    {
        string qemu = QemuLocator.ExecutablePath ?? throw new InvalidOperationException(QemuLocator.SkipReason);
        Config = config;
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
            for (int i = 0; i < config.Devices; i++) ConfigureEdu(i);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public TargetConfig Config { get; }
    public string Name => $"QEMU 7.2 ({Config.Name})";
    public IReadOnlyList<string> CommandLine { get; }

    /// <summary>The argument list (without the qemu-system-x86_64 itself).</summary>
    public static IReadOnlyList<string> BuildArguments(TargetConfig config, string biosPath)
    {
        var args = new List<string>
        {
            "-M", "q35", "-nodefaults", "-display", "none", "-accel", "tcg", "-icount", "shift=0,sleep=off", "-m", $"{TargetConfig.RamSize >> 20}M",
            "-bios", biosPath, "-qtest", "stdio", "-qtest-log", "/dev/null",
            // intel-iommu must come before the devices it translates for.
            "-device", config.IommuProperties.Length == 0 ? "intel-iommu" : "intel-iommu," + config.IommuProperties,
        };
        for (int i = 0; i < config.Devices; i++)
        {
            // dma_mask all ones: edu would otherwise clamp IOVAs to 28 bits, and print a message on stdout (our qtest channel).
            args.Add("-device");
            args.Add($"edu,addr={Edu.Slot(i):x2}.0,dma_mask=0xffffffffffffffff");
        }
        return args;
    }

    // ---- IVtdTarget ----

    public void WriteMem(ulong address, ReadOnlySpan<byte> bytes)
    {
        for (int done = 0; done < bytes.Length;)
        {
            int chunk = Math.Min(4096, bytes.Length - done);
            Command($"write 0x{address + (ulong)done:x} {chunk} 0x{Convert.ToHexStringLower(bytes.Slice(done, chunk))}");
            done += chunk;
        }
    }

    public byte[] ReadMem(ulong address, int length)
    {
        var result = new byte[length];
        for (int done = 0; done < length;)
        {
            int chunk = Math.Min(4096, length - done);
            string hex = Command($"read 0x{address + (ulong)done:x} {chunk}");
            byte[] bytes = Convert.FromHexString(StripHexPrefix(hex));
            if (bytes.Length != chunk) throw new InvalidDataException($"qtest 'read' returned {bytes.Length} bytes, expected {chunk}");
            bytes.CopyTo(result, done);
            done += chunk;
        }
        return result;
    }

    public uint Read32(int offset) => (uint)ParseHex(Command($"readl 0x{IommuBase + (ulong)offset:x}"));
    public ulong Read64(int offset) => ParseHex(Command($"readq 0x{IommuBase + (ulong)offset:x}"));
    public void Write32(int offset, uint value) => Command($"writel 0x{IommuBase + (ulong)offset:x} 0x{value:x}");
    public void Write64(int offset, ulong value) => Command($"writeq 0x{IommuBase + (ulong)offset:x} 0x{value:x}");

    public void Dma(EduDirection direction, ulong iova, int length, int bufferOffset = 0, int device = 0)
    {
        Edu.CheckBuffer(bufferOffset, length, device);
        if (device >= Config.Devices) throw new ArgumentOutOfRangeException(nameof(device), device, $"this machine has {Config.Devices} edu device(s)");
        ulong bar = Edu.Bar0(device);
        ulong buffer = Edu.BufferBase + (ulong)bufferOffset;
        bool toRam = direction == EduDirection.ToRam;
        Command($"writeq 0x{bar + Edu.RegDmaSource:x} 0x{(toRam ? buffer : iova):x}");
        Command($"writeq 0x{bar + Edu.RegDmaDestination:x} 0x{(toRam ? iova : buffer):x}");
        Command($"writeq 0x{bar + Edu.RegDmaCount:x} 0x{length:x}");
        Command($"writeq 0x{bar + Edu.RegDmaCommand:x} 0x{Edu.CommandRun | (toRam ? Edu.CommandToRam : 0):x}");
        var clock = Stopwatch.StartNew();
        while ((ParseHex(Command($"readq 0x{bar + Edu.RegDmaCommand:x}")) & Edu.CommandRun) != 0)
        {
            if (clock.Elapsed > DmaTimeout)
                throw new TimeoutException($"edu DMA ({direction}, IOVA 0x{iova:x}, {length} bytes) still running after {DmaTimeout.TotalSeconds} s{Diagnostics()}");
            Thread.Sleep(5);
        }
    }

    // ---- PCI set-up ----

    private void ConfigureEdu(int index)
    {
        uint id = ConfigRead(Edu.Slot(index), 0x00);
        if (id != 0x11E8_1234)
            throw new InvalidOperationException($"00:{Edu.Slot(index):x2}.0 has vendor/device 0x{id:x8}, expected edu (0x11e81234){Diagnostics()}");
        ConfigWrite(Edu.Slot(index), 0x10, (uint)Edu.Bar0(index)); // BAR0
        ConfigWrite(Edu.Slot(index), 0x04, 0x6);                    // command: memory space + bus master
        ulong liveness = ParseHex(Command($"readl 0x{Edu.Bar0(index):x}"));
        if (liveness != 0x0100_00ED)
            throw new InvalidOperationException($"edu {index} BAR0 reads ID 0x{liveness:x}, expected 0x010000ed{Diagnostics()}");
    }

    private static uint ConfigAddress(int slot, int register) => 0x8000_0000u | ((uint)slot << 11) | (uint)register;

    private uint ConfigRead(int slot, int register)
    {
        Command($"outl 0xcf8 0x{ConfigAddress(slot, register):x}");
        return (uint)ParseHex(Command("inl 0xcfc"));
    }

    private void ConfigWrite(int slot, int register, uint value)
    {
        Command($"outl 0xcf8 0x{ConfigAddress(slot, register):x}");
        Command($"outl 0xcfc 0x{value:x}");
    }

    // ---- qtest protocol ----

    /// <summary>Sends one qtest command and returns what follows "OK" in its answer (empty for writes).</summary>
    private string Command(string command)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        Remember(command);
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
            if (line == "OK") return "";
            if (line.StartsWith("OK ", StringComparison.Ordinal)) return line[3..];
            throw new InvalidOperationException($"QEMU answered '{line}' to '{Shorten(command)}'{Diagnostics()}");
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

    private void Remember(string command)
    {
        _recent.Enqueue(Shorten(command));
        while (_recent.Count > 12) _recent.Dequeue();
    }

    private string Diagnostics()
    {
        string err;
        lock (_stderr) err = _stderr.ToString().Trim();
        return $"\n  command line: {string.Join(' ', CommandLine)}\n  last commands: {string.Join(" | ", _recent)}" +
            (err.Length > 0 ? $"\n  QEMU stderr: {err}" : "");
    }

    private static string Shorten(string s) => s.Length <= 80 ? s : s[..77] + "...";

    private static string StripHexPrefix(string s) => s.StartsWith("0x", StringComparison.OrdinalIgnoreCase) ? s[2..] : s;

    private static ulong ParseHex(string s) => ulong.Parse(StripHexPrefix(s.Trim()), NumberStyles.HexNumber, CultureInfo.InvariantCulture);

    public void Dispose()
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
