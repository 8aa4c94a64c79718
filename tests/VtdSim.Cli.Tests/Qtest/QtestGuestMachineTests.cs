using System.Net.Sockets;
using System.Text;
using VtdSim.Cli.Qtest;
using VtdSim.Cli.Tests.Support;
using VtdSim.Hardware.Profiles;

namespace VtdSim.Cli.Tests.Qtest;

/// <summary>
/// `vtdsim qtest` with QEMU's command line serves the VMM's guest machine (decisions Q40–Q47). The expected replies are
/// Debian's QEMU 7.2.22 answers to the same lines on the same command line (`-M q35 -nodefaults -accel tcg -icount
/// shift=0,sleep=off -m 256M -bios TINY -device intel-iommu -device edu,addr=04.0`, TINY being 64 KiB of 0xff with
/// `cli; hlt` at 0xfff0), captured by hand; the differential suite compares with a live QEMU where one is installed.
/// </summary>
public sealed class QtestGuestMachineTests : IDisposable
{
    private static readonly LegacyUnit NoUnit = new(null, null, null, null, null, QemuVersion.Qemu72);
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("vtdsim-guest-");

    public void Dispose() => _directory.Delete(recursive: true);

    /// <summary>The differential suite's firmware: 64 KiB of 0xff, `cli; hlt` (fa f4) at the reset vector.</summary>
    private string TinyBios()
    {
        var image = new byte[0x10000];
        Array.Fill(image, (byte)0xff);
        image[0xfff0] = 0xfa;
        image[0xfff1] = 0xf4;
        string path = Path.Combine(_directory.FullName, "tiny.bin");
        File.WriteAllBytes(path, image);
        return path;
    }

    private string[] AsQemuGetsIt(params string[] devices) =>
        ["-M", "q35", "-nodefaults", "-display", "none", "-accel", "tcg", "-icount", "shift=0,sleep=off", "-m", "256M", "-bios", TinyBios(),
            "-qtest", "stdio", "-qtest-log", "/dev/null", .. devices.SelectMany(d => new[] { "-device", d })];

    private static QtestInterpreter Serve(params string[] qemuArguments) => new(Build(qemuArguments));

    private static QtestGuestMachine Build(params string[] qemuArguments)
    {
        Assert.True(QemuCommandLine.TryParse(qemuArguments, QemuVersion.Qemu72, out QemuCommandLine q, out QemuCommandLineError error), error.Message);
        Assert.True(QtestServedMachine.TryBuild(q, NoUnit, null, out IQtestMachine? machine, out error), error.Message);
        return Assert.IsType<QtestGuestMachine>(machine);
    }

    /// <summary>Runs "line -> reply" pairs and compares every reply.</summary>
    private static void Expect(QtestInterpreter q, params string[] exchanges)
    {
        foreach (string exchange in exchanges)
        {
            int arrow = exchange.IndexOf(" -> ", StringComparison.Ordinal);
            string line = exchange[..arrow], reply = exchange[(arrow + 4)..];
            Assert.Equal($"{line} -> {reply}", $"{line} -> {q.Execute(line)}");
        }
    }

    [Fact]
    public void MemoryRomMmioAndNothingAnswerAsQemu()
    {
        Expect(Serve(AsQemuGetsIt("intel-iommu", "edu,addr=04.0")),
            "readq 0xfed90008 -> OK 0x00d2008c22260206",       // CAP through the flat view's intel_iommu region
            "readb 0xfed90008 -> OK 0x0000000000000000",       // a size the register page does not take: unassigned
            "read 0xfed90000 16 -> OK 0x1000000000000000060226228c00d200",
            "readl 0xfed90002 -> OK 0x0000000000000000",
            "readq 0xfffffff0 -> OK 0xfffffffffffff4fa",       // the -bios image at the top of 4 GiB
            "read 0xfffffff0 16 -> OK 0xfaf4ffffffffffffffffffffffffffff",
            "writel 0xfffffff0 0x12345678 -> OK",              // ROM: the write is dropped
            "readl 0xfffffff0 -> OK 0x00000000fffff4fa",
            "readl 0xffff0 -> OK 0x00000000fffff4fa",          // isa-bios shows it below 1 MiB
            "readl 0xc0000 -> OK 0x0000000000000000",          // pc.rom is empty at reset
            "writel 0xc0000 0x1234 -> OK",
            "readl 0xc0000 -> OK 0x0000000000000000",
            "readl 0x100000 -> OK 0x0000000000000000",
            "writel 0x100000 0xabcd -> OK",
            "readl 0x100000 -> OK 0x000000000000abcd",
            "readl 0x20000000 -> OK 0x0000000000000000",       // beyond -m 256M: nothing there
            "readq 0x10000000 -> OK 0x0000000000000000",
            "readl 0xe0000000 -> OK 0x0000000000000000",       // edu's BAR is not programmed yet
            "memset 0x1000 8 0xab -> OK",
            "read 0x1000 8 -> OK 0xabababababababab",
            "b64read 0x1000 8 -> OK q6urq6urq6s=",
            "endianness -> OK little");
    }

    [Fact]
    public void PciConfigurationCyclesFindEduAndPlaceItsBarAsQemu()
    {
        Expect(Serve(AsQemuGetsIt("intel-iommu", "edu,addr=04.0")),
            "inl 0xcfc -> OK 0xffffffff",                      // CONFIG_ADDRESS not enabled
            "outl 0xcf8 0x80002000 -> OK",                     // 00:04.0, register 0
            "inl 0xcfc -> OK 0x11e81234",
            "inw 0xcfc -> OK 0x1234",
            "inb 0xcfe -> OK 0x00e8",
            "inb 0xcfd -> OK 0x0012",
            "inw 0xcfe -> OK 0x11e8",
            "inl 0xcfe -> OK 0xffff11e8",
            "outl 0xcf8 0x80002004 -> OK",
            "inl 0xcfc -> OK 0x100000",                        // status: capability list; command 0
            "outl 0xcf8 0x80002010 -> OK",
            "inl 0xcfc -> OK 0x0000",
            "outl 0xcfc 0xffffffff -> OK",
            "inl 0xcfc -> OK 0xfff00000",                      // 1 MiB BAR
            "outl 0xcfc 0xe0000000 -> OK",
            "outl 0xcf8 0x80002004 -> OK",
            "outw 0xcfc 0x6 -> OK",
            "readl 0xe0000000 -> OK 0x00000000010000ed",       // edu's ID register
            "readq 0xe0000000 -> OK 0xffffffffffffffff",       // 8 bytes below 0x80: edu answers all ones
            "readw 0xe0000000 -> OK 0x0000000000000000",       // 2 bytes: edu does not take it
            "readl 0xe0000004 -> OK 0x0000000000000000",
            "readl 0xe0000100 -> OK 0x00000000ffffffff",
            "readl 0xd0000000 -> OK 0x0000000000000000",
            "inb 0x300 -> OK 0x00ff",                          // an empty port reads all ones
            "inw 0x300 -> OK 0xffff",
            "inl 0x300 -> OK 0xffffffff");
    }

    [Fact]
    public void MmconfigAndTheWindowsBelow1MiBAsQemu()
    {
        Expect(Serve(AsQemuGetsIt("intel-iommu", "edu,addr=04.0")),
            "readl 0xb0000000 -> OK 0x0000000000000000",       // MMCONFIG is off at reset
            "readl 0xa0000 -> OK 0x0000000000000000",          // no VGA (-nodefaults): the SMRAM window shows PCI, nothing
            "writel 0xa0000 0x55 -> OK",
            "readl 0xa0000 -> OK 0x0000000000000055",
            "writel 0x30000 0x77 -> OK",                       // the SMBASE blackhole is off: RAM
            "readl 0x30000 -> OK 0x0000000000000077",
            "outl 0xcf8 0x80000060 -> OK",                     // PCIEXBAR of 00:00.0
            "inl 0xcfc -> OK 0xb0000000",
            "outl 0xcfc 0xb0000001 -> OK",                     // enabled: 256 MiB at 0xb0000000
            "readl 0xb0000000 -> OK 0x0000000029c08086",       // the MCH
            "readl 0xb0020000 -> OK 0x0000000011e81234",       // edu at 04.0
            "readl 0xb0020008 -> OK 0x0000000000ff0010",
            "readw 0xb0020002 -> OK 0x00000000000011e8",
            "readq 0xb0020000 -> OK 0x0010000011e81234",
            "writel 0xb0020010 0xe0000000 -> OK",              // BAR0 and memory decoding through MMCONFIG
            "writew 0xb0020004 0x2 -> OK",
            "readl 0xe0000000 -> OK 0x00000000010000ed",
            "readl 0xb00f8000 -> OK 0x0000000029188086",       // the ICH9 LPC bridge at 1f.0
            "outl 0xcf8 0x8000fa00 -> OK",                     // AHCI at 1f.2
            "inl 0xcfc -> OK 0x29228086",
            "outl 0xcf8 0x80000008 -> OK",
            "inl 0xcfc -> OK 0x6000000");                      // the MCH's class: host bridge
    }

    [Fact]
    public void PamSegmentsAsQemusQtestSeesThem()
    {
        // PAM0 (0x90 of 00:00.0) bits 5:4 select what 0xf0000-0xfffff shows. qtest writes into RAM where a PAM segment
        // shows it read-only, as QEMU's do: its address_space_write drops a write only where the region itself is ROM.
        Expect(Serve(AsQemuGetsIt("intel-iommu")),
            "readl 0xf0000 -> OK 0x00000000ffffffff",
            "outl 0xcf8 0x80000090 -> OK",
            "inl 0xcfc -> OK 0x0000",
            "outb 0xcfc 0x30 -> OK",                           // read-write RAM
            "readl 0xf0000 -> OK 0x0000000000000000",
            "writel 0xf0000 0xdead -> OK",
            "readl 0xf0000 -> OK 0x000000000000dead",
            "outb 0xcfc 0x10 -> OK",                           // read-only RAM
            "readl 0xf0000 -> OK 0x000000000000dead",
            "writel 0xf0000 0xbeef -> OK",
            "readl 0xf0000 -> OK 0x000000000000beef",
            "write 0xf0000 4 0x01020304 -> OK",
            "read 0xeffff 6 -> OK 0x000102030400",
            "outb 0xcfc 0x20 -> OK",                           // write-only: QEMU 7.2 shows RAM for reads too
            "readl 0xf0000 -> OK 0x0000000004030201",
            "outb 0xcfc 0x00 -> OK",                           // PCI: isa-bios again
            "readl 0xf0000 -> OK 0x00000000ffffffff");
    }

    [Fact]
    public void UnderTcgTheClockCommandsAreUnknownAsInQemu72AndEdusTimerRunsBeforeTheNextCommand()
    {
        QtestInterpreter q = Serve(AsQemuGetsIt("intel-iommu", "edu,addr=04.0"));
        Expect(q,
            "clock_step 10 -> FAIL Unknown command 'clock_step'",
            "clock_set 10 -> FAIL Unknown command 'clock_set'",
            "outl 0xcf8 0x80002010 -> OK", "outl 0xcfc 0xe0000000 -> OK", "outl 0xcf8 0x80002004 -> OK", "outw 0xcfc 0x6 -> OK",
            "writel 0x1000 0xdeadbeef -> OK",
            "writeq 0xe0000080 0x1000 -> OK",                  // source: guest-physical (translation is off)
            "writeq 0xe0000088 0x40000 -> OK",                 // destination: edu's buffer
            "writeq 0xe0000090 4 -> OK",
            "writeq 0xe0000098 1 -> OK",                       // RUN: the timer is armed 100 ms ahead ...
            "readq 0xe0000098 -> OK 0x0000000000000000",       // ... and ran while the vCPU idled
            "writeq 0xe0000080 0x40000 -> OK",
            "writeq 0xe0000088 0x2000 -> OK",
            "writeq 0xe0000098 3 -> OK",                       // RUN | to RAM
            "readl 0x2000 -> OK 0x00000000deadbeef");
        Assert.DoesNotContain("clock_step", q.Execute("help"));
        Assert.Equal("OK machine=q35 ram=0x10000000 viommu=0xfed90000 cap=0x00d2008c22260206 ecap=0x0000000000f00f4a devices=edu@04.0 " +
            "accel=tcg,icount-sleep=off clock=200000000", q.Execute("info"));
    }

    [Fact]
    public void UnderTheQtestAcceleratorOnlyClockStepRunsEdusTimer()
    {
        QtestInterpreter q = Serve("-machine", "q35,accel=qtest", "-nodefaults", "-device", "edu,addr=04.0");
        Expect(q,
            "outl 0xcf8 0x80002010 -> OK", "outl 0xcfc 0xe0000000 -> OK", "outl 0xcf8 0x80002004 -> OK", "outw 0xcfc 0x6 -> OK",
            "clock_step -> OK 0",                              // no timer armed: the clock stays
            "writel 0x1000 0x600dcafe -> OK",
            "writeq 0xe0000080 0x1000 -> OK", "writeq 0xe0000088 0x40000 -> OK", "writeq 0xe0000090 4 -> OK",
            "writeq 0xe0000098 1 -> OK",
            "readq 0xe0000098 -> OK 0x0000000000000001",       // still running: nothing moved the clock
            "clock_step 99999999 -> OK 99999999",
            "readq 0xe0000098 -> OK 0x0000000000000001",
            "clock_step 1 -> OK 100000000",                    // the deadline: the DMA runs
            "readq 0xe0000098 -> OK 0x0000000000000000",
            "writeq 0xe0000080 0x40000 -> OK", "writeq 0xe0000088 0x3000 -> OK",
            "writeq 0xe0000098 3 -> OK",
            "clock_step -> OK 200000000",                      // to the next deadline
            "readl 0x3000 -> OK 0x00000000600dcafe",
            "clock_set 150000000 -> OK 200000000",             // never back
            "clock_set 300000000 -> OK 300000000");
    }

    [Fact]
    public void InterruptInterceptionIsRefusedByName()
    {
        QtestInterpreter q = Serve(AsQemuGetsIt("intel-iommu", "edu,addr=04.0"));
        Assert.Equal("FAIL irq_intercept_in: not modelled: the guest machine has no interrupt lines to intercept (INTx and the IOAPIC are not " +
            "modelled; an MSI is a DMA write to 0xfee00000)", q.Execute("irq_intercept_in ioapic"));
        Assert.StartsWith("FAIL irq_intercept_out: not modelled", q.Execute("irq_intercept_out /machine/ioapic"));
        Assert.StartsWith("FAIL set_irq_in: not modelled", q.Execute("set_irq_in ioapic irq 0 1"));
    }

    private const string EduSetUp = "outl 0xcf8 0x80002010\noutl 0xcfc 0xe0000000\noutl 0xcf8 0x80002004\noutw 0xcfc 0x6\n";

    /// <summary>edu told to copy from outside its buffer: QEMU 7.2's edu calls hw_error, which aborts QEMU.</summary>
    private const string EduOutOfBounds = "writeq 0xe0000080 0x40ff8\nwriteq 0xe0000088 0x1000\nwriteq 0xe0000090 8\nwriteq 0xe0000098 3\n";

    [Fact]
    public async Task AHardwareErrorEndsTheSessionAndTheProcessAsQemusAbort()
    {
        // QEMU 7.2.22 on this input: eight OKs, then on stderr "qemu: hardware error: EDU: DMA range …" (and its CPU
        // dump, which has no counterpart here) and status 134, SIGABRT's. The timer runs after the OK of the RUN write.
        // Run in this process as a harness runs it (-qtest unix:PATH, vtdsim connects): a child process running the
        // coverage-instrumented vtdsim.dll through to this exit spoils the suite's coverage report (docs/testing.md).
        var dir = Directory.CreateTempSubdirectory("vtdsim-abort-");
        try
        {
            string path = Path.Combine(dir.FullName, "qtest.sock");
            using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            listener.Bind(new UnixDomainSocketEndPoint(path));
            listener.Listen(1);
            string[] args = [.. AsQemuGetsIt("intel-iommu", "edu,addr=04.0").Select(a => a == "stdio" ? $"unix:{path}" : a)];
            var errors = new StringWriter();
            Task<int> run = Task.Run(() => Program.Run(["qtest", .. args], errors));
            using Socket harness = await listener.AcceptAsync().WaitAsync(CliProcess.Watchdog);
            await using var stream = new NetworkStream(harness, ownsSocket: false);
            await stream.WriteAsync(Encoding.ASCII.GetBytes(EduSetUp + EduOutOfBounds + "readq 0xe0000098\n")).AsTask().WaitAsync(CliProcess.Watchdog);
            string output = await new StreamReader(stream).ReadToEndAsync().WaitAsync(CliProcess.Watchdog); // the session ends
            Assert.Equal(string.Concat(Enumerable.Repeat("OK\n", 8)), output);
            Assert.Equal(134, await run.WaitAsync(CliProcess.Watchdog));
            Assert.Equal("qemu: hardware error: EDU: DMA range 0x0000000000040ff8-0x0000000000040fff out of bounds (0x0000000000040000-0x0000000000040fff)!\n",
                errors.ToString().Replace("\r", ""));
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task UnderTheQtestAcceleratorTheStepThatAbortsGetsNoReply()
    {
        QtestGuestMachine machine = Build("-M", "q35,accel=qtest", "-nodefaults", "-device", "edu,addr=04.0");
        var output = new MemoryStream();
        await new QtestSession(machine, new MemoryStream(Encoding.ASCII.GetBytes(EduSetUp + EduOutOfBounds + "clock_step\nreadq 0xe0000098\n")), output)
            .RunAsync();
        Assert.Equal(string.Concat(Enumerable.Repeat("OK\n", 8)), Encoding.ASCII.GetString(output.ToArray())); // clock_step: none; then the end
        Assert.NotNull(machine.Ended);
        var q = new QtestInterpreter(machine);
        Assert.StartsWith("FAIL the machine has ended (qemu: hardware error: EDU: DMA range", q.Execute("readq 0"));
        Assert.Equal("OK", q.Execute("reset")); // vtdsim's reset brings a new one
        Assert.Null(machine.Ended);
        Assert.Equal("OK 0x0000000000000000", q.Execute("readq 0"));
    }

    [Fact]
    public void VtdsimsOwnCommandsWorkOnTheGuestMachineThroughTheVIommu()
    {
        QtestInterpreter q = Serve("-M", "q35", "-nodefaults", "-m", "256M", "-device", "intel-iommu", "-device", "edu,addr=04.0,dma_mask=0xfff");
        Assert.Equal("OK machine=q35 ram=0x10000000 viommu=0xfed90000 cap=0x00d2008c22260206 ecap=0x0000000000f00f4a devices=edu@04.0 accel=qtest clock=0",
            q.Execute("info"));
        // dma: a device's request through the vIOMMU; with translation off the address is guest-physical.
        Assert.Equal("OK", q.Execute("writel 0x5000 0xc0ffee"));
        Assert.Equal("OK 4 0xeeffc000", q.Execute("dma 00:04.0 0x5000 4 read")); // little-endian bytes
        Assert.Equal("OK 0x0000000000005000 page=0x1000 rights=rwxu kind=Disabled", q.Execute("translate 00:04.0 0x5000 read"));
        // With translation on and no root entry, the vIOMMU faults; the fault is its event, and FRCD shows it.
        Assert.Equal("OK", q.Execute("writeq 0xfed90020 0x100000"));
        Assert.Equal("OK", q.Execute("writel 0xfed90018 0x40000000"));
        Assert.Equal("OK", q.Execute("writel 0xfed90018 0x80000000"));
        Assert.StartsWith("FAIL fault fr=0x01 condition=LRT.2 ", q.Execute("dma 00:04.0 0x5000 4 write"));
        string events = q.Execute("events");
        Assert.Contains("EVENT #", events);
        Assert.EndsWith("OK 1", events);
        Assert.Equal("OK 0x8000000100000020", q.Execute("readq 0xfed90228")); // F, write, FR 1, SID 0x0020
        Assert.EndsWith("OK 5", q.Execute("caches"));
        // What edu prints on the VMM's stdout comes as an event: its dma_mask clamps an address.
        foreach (string line in (EduSetUp + "writeq 0xe0000080 0x40000\nwriteq 0xe0000088 0x12345\nwriteq 0xe0000090 4\nwriteq 0xe0000098 3\nclock_step\n").Split('\n', StringSplitOptions.RemoveEmptyEntries))
            Assert.StartsWith("OK", q.Execute(line));
        Assert.Contains("EVENT stdout: EDU: clamping DMA 0x0000000000012345 to 0x0000000000000345!", q.Execute("events"));
    }

    [Fact]
    public void WithoutAVIommuTheUnitCommandsSaySo()
    {
        QtestInterpreter q = Serve("-M", "pc", "-nodefaults", "-device", "edu");
        Assert.Equal("FAIL translate: the machine has no remapping unit (give -device intel-iommu)", q.Execute("translate 00:02.0 0x1000 read"));
        Assert.Equal("FAIL caches: the machine has no remapping unit (give -device intel-iommu)", q.Execute("caches"));
        Assert.Equal("OK 0", q.Execute("events"));
        Assert.StartsWith("OK machine=pc ram=0x8000000 viommu=none devices=edu@02.0 accel=qtest", q.Execute("info"));
        Assert.Equal("OK", q.Execute("writel 0x5000 0x1234"));
        Assert.Equal("OK 2 0x3412", q.Execute("dma 00:02.0 0x5000 2 read")); // straight to guest memory
    }

    [Fact]
    public void ResetGivesTheMachineAsAtStartup()
    {
        QtestInterpreter q = Serve("-M", "q35", "-nodefaults", "-device", "intel-iommu");
        Assert.Equal("OK", q.Execute("writel 0x1000 0x1"));
        Assert.Equal("OK", q.Execute("writel 0xfed90018 0x40000000"));
        Assert.Equal("OK", q.Execute("reset"));
        Assert.Equal("OK 0x0000000000000000", q.Execute("readl 0x1000"));
        Assert.Equal("OK 0x0000000000000000", q.Execute("readl 0xfed9001c"));
    }

    [Theory]
    [InlineData(0x1000, 1, "vtdsim: -bios {0}: could not load PC BIOS '{0}'")]          // not a multiple of 64 KiB: QEMU's refusal
    [InlineData(0, 1, "vtdsim: -bios {0}: could not load PC BIOS '{0}'")]
    [InlineData(0x80000, 64, "vtdsim: -bios {0}: an image of 0x80000 bytes is not modelled (the model's pc.bios is 256 KiB)")]
    public void BiosImagesQemuOrTheModelRefuse(int size, int status, string message)
    {
        string path = Path.Combine(_directory.FullName, "bios.bin");
        File.WriteAllBytes(path, new byte[size]);
        var output = new StringWriter();
        Assert.Equal(status, Program.Run(["qtest", "-M", "q35", "-bios", path], output));
        Assert.Equal(string.Format(System.Globalization.CultureInfo.InvariantCulture, message, path), output.ToString().TrimEnd());
    }

    [Fact]
    public void ABiosOf256KiBFillsPcBios()
    {
        var image = new byte[0x40000];
        image[0] = 0x11;
        image[^1] = 0x22;
        string path = Path.Combine(_directory.FullName, "bios.bin");
        File.WriteAllBytes(path, image);
        QtestInterpreter q = Serve("-M", "q35", "-nodefaults", "-bios", path);
        Assert.Equal("OK 0x11", q.Execute("read 0xfffc0000 1"));
        Assert.Equal("OK 0x22", q.Execute("read 0xffffffff 1"));
        Assert.Equal("OK 0x22", q.Execute("read 0xfffff 1")); // isa-bios: the last 128 KiB below 1 MiB
    }

    [Fact]
    public async Task ASocketServerStopsWhenTheMachineEnds()
    {
        string path = Path.Combine(_directory.FullName, "qtest.sock");
        QtestGuestMachine machine = Build("-M", "q35", "-nodefaults", "-device", "edu,addr=04.0");
        var log = new StringWriter();
        using var server = QtestSocketServer.ListenUnix(path);
        Task serving = Task.Run(() => server.ServeAsync(machine, CancellationToken.None, log));
        using var client = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await client.ConnectAsync(new UnixDomainSocketEndPoint(path));
        await using var stream = new NetworkStream(client);
        await stream.WriteAsync(Encoding.ASCII.GetBytes(EduSetUp + EduOutOfBounds + "clock_step\n"));
        string replies = await new StreamReader(stream).ReadToEndAsync().WaitAsync(CliProcess.Watchdog); // the server closes it
        Assert.Equal(string.Concat(Enumerable.Repeat("OK\n", 8)), replies);
        await serving.WaitAsync(CliProcess.Watchdog); // and takes no further connection
        Assert.Equal(1, server.Connections);
        Assert.Equal("q35, RAM 0x8000000, edu at 04.0", machine.Description);
    }

    [Fact]
    public void TheClockAndThePortsRefuseWhatQemuWouldAssertOn()
    {
        QtestInterpreter q = Serve("-M", "q35", "-nodefaults", "-device", "edu,addr=04.0");
        Assert.Contains("clock_step", q.Execute("help")); // the qtest accelerator: the clock commands exist
        Expect(q,
            "inb 0x10000 -> FAIL inb: ADDR (argument 1) 0x10000 is beyond the port I/O space (0x0..0xffff)",
            "outl 0x10000 1 -> FAIL outl: ADDR (argument 1) 0x10000 is beyond the port I/O space (0x0..0xffff)",
            "clock_step -5 -> OK 0",
            "clock_set -5 -> OK 0",
            "clock_step 1000 -> OK 1000",
            "clock_set 10 -> OK 1000",
            "clock_step 9223372036854775807 -> FAIL clock_step: stepping 9223372036854775807 ns from 1000 ns would overflow the 64-bit clock",
            "readq 0xfffffffffffffffc -> FAIL readq: 0xfffffffffffffffc + 0x8 bytes runs past the top of the 64-bit address space",
            // Accesses that straddle the two ports, as QEMU 7.2.22 answers them: each port gets its part, CONFIG_ADDRESS
            // answers with its low bytes whatever the offset, and a 1-byte write does not set it.
            "outb 0xcfb 0x1ff -> OK",
            "inl 0xcf8 -> OK 0x0000",
            "outl 0xcf8 0x80002000 -> OK",
            "inl 0xcfa -> OK 0x12342000",
            "inw 0xcfb -> OK 0x3400");
    }

    [Theory]
    [InlineData("-accel", "qtest:tcg", true)]   // the first accelerator the model knows
    [InlineData("-accel", "tcg:qtest", false)]
    public void TheFirstAcceleratorDecidesTheClock(string option, string value, bool clockCommands)
    {
        string[] args = ["-M", "q35", option, value, .. clockCommands ? Array.Empty<string>() : ["-icount", "auto,sleep=off"]];
        Assert.Equal(clockCommands, Build(args).HasClockCommands);
    }
}
