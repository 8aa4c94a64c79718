using System.Globalization;
using VtdSim.Cli.Qtest;
using VtdSim.Hardware.Profiles;

namespace VtdSim.Cli.Tests.Qtest;

/// <summary>
/// A seeded fuzz of the guest machine over qtest (decisions Q40–Q46): configuration cycles to every function and
/// register (BARs, command registers, PAM, PCIEXBAR), port I/O anywhere, CPU accesses of every width around RAM, the
/// ROMs, MMCONFIG, edu's BAR and the vIOMMU's registers, edu DMA commands with random addresses and counts (some make
/// it call hw_error, which ends the machine until `reset`), clock steps, and vtdsim's own commands. Checked: every line
/// gets one reply starting with OK or FAIL (EVENT/CACHE lines before it), none shows exception text or "internal
/// error", and the same seed gives the same replies.
/// </summary>
public class QtestGuestMachineFuzzTests
{
    private const int Lines = 4000;

    [Theory]
    [InlineData(false, 0x6E57_0001)]
    [InlineData(true, 0x6E57_0002)]
    public void RandomLinesOnTheGuestMachineAnswerPlainlyAndTheSameWayEachTime(bool tcg, int seed)
    {
        string[] script = Script(seed);
        List<string> first = Run(tcg, script), second = Run(tcg, script);
        Assert.Equal(first, second);
        foreach (string reply in first)
        {
            string last = reply.Split('\n')[^1];
            Assert.True(last.StartsWith("OK", StringComparison.Ordinal) || last.StartsWith("FAIL", StringComparison.Ordinal), $"not a reply: {reply}");
            foreach (string leak in new[] { "internal error", "Exception", "System.", "(Parameter '", "   at " })
                Assert.False(reply.Contains(leak, StringComparison.Ordinal), $"a reply shows '{leak}': {reply}");
        }
        // The fuzz reached what matters: edu's DMA ran, and at least once it ended the machine.
        Assert.Contains(first, r => r.StartsWith("FAIL the machine has ended (qemu: hardware error: EDU:", StringComparison.Ordinal));
        Assert.Contains(first, r => r == "OK 0x00000000010000ed");
    }

    private static List<string> Run(bool tcg, string[] script)
    {
        string[] args = tcg
            ? ["-M", "q35", "-accel", "tcg", "-icount", "shift=0,sleep=off", "-m", "64M", "-device", "intel-iommu", "-device", "edu,addr=04.0"]
            : ["-M", "q35,accel=qtest", "-m", "64M", "-device", "intel-iommu,x-scalable-mode=on", "-device", "edu,addr=04.0", "-device", "edu,addr=05.0,dma_mask=0xffffffff"];
        Assert.True(QemuCommandLine.TryParse(args, QemuVersion.Qemu72, out QemuCommandLine q, out var error), error.Message);
        Assert.True(QtestServedMachine.TryBuild(q, new LegacyUnit(null, null, null, null, null, QemuVersion.Qemu72), null, out IQtestMachine? machine, out error),
            error.Message);
        var interpreter = new QtestInterpreter(machine);
        return script.Select(interpreter.Execute).ToList();
    }

    private static string[] Script(int seed)
    {
        var random = new Random(seed);
        var lines = new List<string>();
        string Hex(ulong v) => "0x" + v.ToString("x", CultureInfo.InvariantCulture);
        ulong Address() => random.Next(9) switch
        {
            0 => (ulong)random.Next(0x110000),
            1 => 0xe000_0000UL + (ulong)random.Next(0x200000),
            2 => 0xfed9_0000UL + (ulong)random.Next(0x1000),
            3 => 0xb000_0000UL + (ulong)random.Next(0x10_0000),
            4 => 0xfffc_0000UL + (ulong)random.Next(0x40000),
            5 => (ulong)random.NextInt64(),
            6 => 0x0400_0000UL - (ulong)random.Next(16),
            7 => 0xfee0_0000UL + (ulong)random.Next(0x1000),
            _ => (ulong)random.Next(0x0400_0000),
        };
        // edu at 04.0 (and 05.0) with BAR0 placed; MMCONFIG on.
        lines.AddRange(["outl 0xcf8 0x80002010", "outl 0xcfc 0xe0000000", "outl 0xcf8 0x80002004", "outw 0xcfc 0x6", "readl 0xe0000000",
            "outl 0xcf8 0x80000060", "outl 0xcfc 0xb0000001"]);
        while (lines.Count < Lines)
        {
            switch (random.Next(12))
            {
                case 0:
                    lines.Add($"outl 0xcf8 {Hex(0x8000_0000UL | (ulong)random.Next(0x10000) << 8 & 0xffff00 | (ulong)random.Next(0x100) & 0xfc)}");
                    lines.Add(random.Next(2) == 0 ? $"in{"bwl"[random.Next(3)]} {Hex(0xcfcUL + (ulong)random.Next(4))}"
                        : $"out{"bwl"[random.Next(3)]} {Hex(0xcfcUL + (ulong)random.Next(4))} {Hex((ulong)random.NextInt64())}");
                    break;
                case 1:
                    lines.Add(random.Next(2) == 0 ? $"in{"bwl"[random.Next(3)]} {Hex((ulong)random.Next(0x10010))}"
                        : $"out{"bwl"[random.Next(3)]} {Hex((ulong)random.Next(0x10010))} {Hex((ulong)random.Next())}");
                    break;
                case 2:
                case 3:
                    lines.Add($"read{"bwlq"[random.Next(4)]} {Hex(Address())}");
                    break;
                case 4:
                    lines.Add($"write{"bwlq"[random.Next(4)]} {Hex(Address())} {Hex((ulong)random.NextInt64())}");
                    break;
                case 5:
                    int size = random.Next(1, 64);
                    lines.Add(random.Next(3) switch
                    {
                        0 => $"read {Hex(Address())} {size}",
                        1 => $"memset {Hex(Address())} {size} {random.Next(256)}",
                        _ => $"write {Hex(Address())} {size} 0x{Convert.ToHexStringLower(Enumerable.Range(0, size).Select(_ => (byte)random.Next(256)).ToArray())}",
                    });
                    break;
                case 6:
                case 7:
                    // edu's DMA: mostly inside its buffer, sometimes not (hw_error).
                    ulong buffer = random.Next(8) == 0 ? (ulong)random.Next(0x42000) : 0x40000UL + (ulong)random.Next(0x800);
                    bool toRam = random.Next(2) == 0;
                    lines.Add($"writeq 0xe0000080 {Hex(toRam ? buffer : Address())}");
                    lines.Add($"writeq 0xe0000088 {Hex(toRam ? Address() : buffer)}");
                    lines.Add($"writeq 0xe0000090 {Hex((ulong)random.Next(1, 0x800))}");
                    lines.Add($"writeq 0xe0000098 {Hex((ulong)random.Next(8))}");
                    break;
                case 8:
                    lines.Add(random.Next(3) == 0 ? "clock_step" : $"clock_step {random.Next(200_000_000)}");
                    break;
                case 9:
                    lines.Add(random.Next(20) == 0 ? "reset" : new[] { "events", "caches", "info", "help" }[random.Next(4)]);
                    break;
                case 10:
                    lines.Add($"dma 00:0{4 + random.Next(2)}.0 {Hex(Address() & 0xffff_ffff)} {random.Next(1, 32)} {(random.Next(2) == 0 ? "read" : "write")}");
                    break;
                default:
                    lines.Add($"writel {Hex(0xfed9_0000UL + (ulong)random.Next(0x240) & ~3UL)} {Hex((ulong)random.Next())}");
                    break;
            }
        }
        return [.. lines];
    }
}
