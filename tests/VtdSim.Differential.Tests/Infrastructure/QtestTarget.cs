using System.Diagnostics;
using System.Globalization;

namespace VtdSim.Differential.Tests.Infrastructure;

/// <summary>
/// A machine under test driven only through QEMU's qtest protocol, on the command line QEMU 7.2 is started with
/// (<see cref="BuildArguments"/>): memory and the VT-d registers by qtest's read/write commands, edu's PCI set-up by
/// configuration cycles through 0xCF8/0xCFC, and edu's DMA by its registers, polling its command register until the
/// DMA timer has run. <see cref="QemuTarget"/> sends the lines to a QEMU 7.2 process, <see cref="VtdSimTarget"/> to
/// `vtdsim qtest` serving its guest machine: both get the same lines (<see cref="Transcript"/>).
/// </summary>
public abstract class QtestTarget : IVtdTarget
{
    protected const ulong IommuBase = 0xFED9_0000;
    protected static readonly TimeSpan DmaTimeout = TimeSpan.FromSeconds(10);
    private readonly Queue<string> _recent = new();

    protected QtestTarget(TargetConfig config) => Config = config;

    public TargetConfig Config { get; }
    public abstract string Name { get; }
    public abstract IReadOnlyList<string> CommandLine { get; }

    /// <summary>Every line sent and its reply (a poll's repetitions as one line: its last reply), when recording.</summary>
    public List<(string Line, string Reply)>? Transcript { get; set; }

    /// <summary>The argument list both are started with (without the program), as QEMU 7.2 needs it (docs/differential.md).</summary>
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

    /// <summary>Sends one line and returns its reply line as the target sends it (QEMU's IRQ notices skipped).</summary>
    protected abstract string Exchange(string line);

    /// <summary>What the target said besides its replies (stderr), for failure messages.</summary>
    protected abstract string Extra();

    /// <summary>Sends one line and returns its reply, recorded in the <see cref="Transcript"/>.</summary>
    public string Send(string line)
    {
        Remember(line);
        string reply = Exchange(line);
        Transcript?.Add((line, reply));
        return reply;
    }

    /// <summary>
    /// Sends <paramref name="line"/> (a register read) until the bits of <paramref name="mask"/> in its value are clear
    /// — edu's DMA runs on QEMU's timer, which QEMU fires at some point after the command — and returns the last reply,
    /// which alone is recorded.
    /// </summary>
    public string Poll(string line, ulong mask)
    {
        Remember(line);
        var clock = Stopwatch.StartNew();
        while (true)
        {
            string reply = Exchange(line);
            if (!reply.StartsWith("OK ", StringComparison.Ordinal)) throw new InvalidOperationException($"{Name} answered '{reply}' to '{line}'{Diagnostics()}");
            if ((ParseHex(reply[3..]) & mask) == 0)
            {
                Transcript?.Add((line, reply));
                return reply;
            }
            if (clock.Elapsed > DmaTimeout)
                throw new TimeoutException($"'{line}' still has bits 0x{mask:x} set after {DmaTimeout.TotalSeconds} s{Diagnostics()}");
            Thread.Sleep(2);
        }
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
        Poll($"readq 0x{bar + Edu.RegDmaCommand:x}", Edu.CommandRun);
    }

    // ---- PCI set-up ----

    /// <summary>Finds edu <paramref name="index"/> by its IDs, programs BAR0 and turns on memory decoding and bus mastering.</summary>
    protected void ConfigureEdu(int index)
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

    public uint ConfigRead(int slot, int register)
    {
        Command($"outl 0xcf8 0x{ConfigAddress(slot, register):x}");
        return (uint)ParseHex(Command("inl 0xcfc"));
    }

    public void ConfigWrite(int slot, int register, uint value)
    {
        Command($"outl 0xcf8 0x{ConfigAddress(slot, register):x}");
        Command($"outl 0xcfc 0x{value:x}");
    }

    // ---- qtest protocol ----

    /// <summary>Sends one qtest command and returns what follows "OK" in its answer (empty for writes); a FAIL throws.</summary>
    protected string Command(string command)
    {
        string line = Send(command);
        if (line == "OK") return "";
        if (line.StartsWith("OK ", StringComparison.Ordinal)) return line[3..];
        throw new InvalidOperationException($"{Name} answered '{line}' to '{Shorten(command)}'{Diagnostics()}");
    }

    private void Remember(string command)
    {
        _recent.Enqueue(Shorten(command));
        while (_recent.Count > 12) _recent.Dequeue();
    }

    protected string Diagnostics()
    {
        string extra = Extra();
        return $"\n  command line: {string.Join(' ', CommandLine)}\n  last commands: {string.Join(" | ", _recent)}" + (extra.Length > 0 ? $"\n  {extra}" : "");
    }

    protected static string Shorten(string s) => s.Length <= 80 ? s : s[..77] + "...";

    private static string StripHexPrefix(string s) => s.StartsWith("0x", StringComparison.OrdinalIgnoreCase) ? s[2..] : s;

    public static ulong ParseHex(string s) => ulong.Parse(StripHexPrefix(s.Trim()), NumberStyles.HexNumber, CultureInfo.InvariantCulture);

    public abstract void Dispose();
}
