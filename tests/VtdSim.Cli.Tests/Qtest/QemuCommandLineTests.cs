using System.Net.Sockets;
using System.Text;
using VtdSim.Cli.Qtest;
using VtdSim.Hardware.Profiles;
using VtdSim.Vmm.Machines;

namespace VtdSim.Cli.Tests.Qtest;

/// <summary>
/// `vtdsim qtest` with QEMU's own command line, as a qtest harness starts the emulator (docs/qtest.md "QEMU's command
/// line"): the options it takes, those it refuses by name, and client mode (`-qtest unix:PATH`: the harness listens,
/// vtdsim connects). Every wait is bounded; nothing asserts on timing.
/// </summary>
public class QemuCommandLineTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(60);

    [Fact]
    public void AHarnesssOptionsDescribeTheMachine()
    {
        string[] args = ["-machine", "q35,accel=qtest", "-m", "1G", "-nodefaults", "-device", "intel-iommu,aw-bits=48,caching-mode=on",
            "-display", "none", "-accel", "qtest", "-qtest", "unix:/tmp/h.sock", "-qtest-log", "/dev/null", "-S"];
        Assert.True(QemuCommandLine.TryParse(args, QemuVersion.Qemu72, out QemuCommandLine q, out var error), error.Message);
        Assert.Equal(MachineType.Q35, q.Machine);
        Assert.Equal(1UL << 30, q.RamSize);
        Assert.True(q.NoDefaults);
        Assert.Equal(new QtestChannel.UnixSocket("/tmp/h.sock", Server: false), q.Channel);
        Assert.True(q.IntelIommu!.TryToProfile(out VtdProfile? profile, out string problem), problem);
        Assert.Equal(0x00d2008c222f0686UL, profile.Cap.Raw); // 7.2.22 with aw-bits=48 and caching-mode=on: MGAW 47, SAGAW 39|48, CM
    }

    [Theory]
    [InlineData("-qtest", "stdio")]
    [InlineData("-qtest", "unix:path=/tmp/x.sock,server=on,wait=off")]
    public void QtestChannels(string option, string value)
    {
        Assert.True(QemuCommandLine.TryParse(["-M", "q35", "-device", "intel-iommu", option, value], QemuVersion.Qemu72, out var q, out var error), error.Message);
        Assert.Equal(value == "stdio" ? new QtestChannel.Stdio() : new QtestChannel.UnixSocket("/tmp/x.sock", true), q.Channel);
    }

    [Fact]
    public void AChardevNamedByQtestIsTheChannel()
    {
        Assert.True(QemuCommandLine.TryParse(["-chardev", "socket,path=/tmp/c.sock,id=qt", "-qtest", "chardev:qt"], QemuVersion.Qemu72, out var q, out var error),
            error.Message);
        Assert.Equal(new QtestChannel.UnixSocket("/tmp/c.sock", false), q.Channel);
    }

    [Theory]
    // Not modelled: refused by name, status 64, never ignored.
    [InlineData(new[] { "-M", "q35", "-device", "virtio-net-pci" }, "-device virtio-net-pci: not modelled", 64)]
    [InlineData(new[] { "-M", "q35", "-device", "edu,addr=04.0", "-device", "intel-iommu" },
        "-device intel-iommu: after -device edu,addr=04.0: not modelled (QEMU leaves the DMA of a PCI device created before intel-iommu untranslated; give intel-iommu first)", 64)]
    [InlineData(new[] { "-M", "q35,accel=tcg" }, "-accel tcg: not modelled without -icount shift=0,sleep=off (the virtual clock would follow the host's; the model has no wall clock)", 64)]
    [InlineData(new[] { "-M", "q35", "-icount", "shift=0,sleep=off" }, "-icount: not modelled without -accel tcg (with the qtest accelerator, clock_step moves the clock)", 64)]
    [InlineData(new[] { "-icount", "shift=0" }, "-icount shift=0: not modelled with sleep=on (the virtual clock would follow the host's; give sleep=off)", 64)]
    [InlineData(new[] { "-icount", "shift=0,sleep=off,align=on" }, "-icount shift=0,sleep=off,align=on: icount property 'align' is not modelled", 64)]
    [InlineData(new[] { "-icount", "shift=12,sleep=off" }, "-icount shift=12,sleep=off: icount shift '12' is not modelled (0 to 10 or auto)", 64)]
    [InlineData(new[] { "-audio", "none" }, "-audio: not modelled", 64)]
    [InlineData(new[] { "disk.img" }, "disk.img: a disk image is not modelled", 64)]
    [InlineData(new[] { "-M", "microvm" }, "-M microvm: machine type not modelled (q35 and pc are)", 64)]
    [InlineData(new[] { "-machine", "q35,smm=off" }, "-machine q35,smm=off: machine property 'smm' is not modelled", 64)]
    [InlineData(new[] { "-accel", "kvm" }, "-accel kvm: accelerator 'kvm' is not modelled (qtest and tcg are)", 64)]
    [InlineData(new[] { "-machine", "q35,accel=kvm:tcg" }, "-machine q35,accel=kvm:tcg: accelerator 'kvm' is not modelled (qtest and tcg are)", 64)]
    [InlineData(new[] { "-display", "gtk" }, "-display gtk: not modelled (only -display none)", 64)]
    [InlineData(new[] { "-qtest", "tcp:localhost:4444" }, "-qtest tcp:localhost:4444: not modelled (stdio, unix:PATH and chardev:ID are)", 64)]
    [InlineData(new[] { "-chardev", "pty,id=q" }, "-chardev pty,id=q: chardev backend 'pty' is not modelled (socket is)", 64)]
    [InlineData(new[] { "-m", "4G,slots=2,maxmem=8G" }, "-m 4G,slots=2,maxmem=8G: memory option 'slots' is not modelled", 64)]
    // QEMU's refusals: QEMU's text, QEMU's status 1.
    [InlineData(new[] { "-M", "q35", "-device", "intel-iommu,aw-bits=40" }, "-device intel-iommu,aw-bits=40: Supported values for aw-bits are: 39, 48", 1)]
    [InlineData(new[] { "-M", "q35", "-device", "intel-iommu,x-flts=on" }, "-device intel-iommu,x-flts=on: Property 'intel-iommu.x-flts' not found", 1)]
    [InlineData(new[] { "-M", "q35", "-device", "intel-iommu", "-device", "intel-iommu" }, "-device intel-iommu: QEMU does not support multiple vIOMMUs for x86 yet.", 1)]
    [InlineData(new[] { "-device", "intel-iommu" }, "-device intel-iommu: Parameter 'driver' expects a dynamic sysbus device type for the machine", 1)]
    [InlineData(new[] { "-M", "q35", "-device", "iommu-testdev" }, "-device iommu-testdev: 'iommu-testdev' is not a valid device model name", 1)]
    [InlineData(new[] { "-M", "q35", "-device", "edu,foo=1" }, "-device edu,foo=1: Property 'edu.foo' not found", 1)]
    [InlineData(new[] { "-icount", "shift=0,sleep=maybe" }, "-icount shift=0,sleep=maybe: Parameter 'sleep' expects 'on' or 'off'", 1)]
    [InlineData(new[] { "-M", "pc", "-device", "intel-iommu" }, "-device intel-iommu: Parameter 'driver' expects a dynamic sysbus device type for the machine", 1)]
    [InlineData(new[] { "-qtest", "chardev:nope" }, "-qtest chardev:nope: chardev 'nope' not found", 1)]
    [InlineData(new[] { "-m" }, "-m: requires an argument", 1)]
    public void RefusalsNameWhatIsRefused(string[] args, string message, int status)
    {
        Assert.False(QemuCommandLine.TryParse(args, QemuVersion.Qemu72, out _, out var error));
        Assert.Equal(message, error.Message);
        Assert.Equal(status, error.ExitStatus);
    }

    [Theory]
    [InlineData(new[] { "qtest", "-M", "q35", "-device", "virtio-net-pci" }, 64, "vtdsim: -device virtio-net-pci: not modelled")]
    [InlineData(new[] { "qtest", "-M", "q35", "-device", "edu,addr=04.0", "-device", "edu,addr=04.0" }, 1,
        "vtdsim: -device edu,addr=04.0: PCI: slot 4 function 0 not available for edu, in use by edu,id=(null)")]
    [InlineData(new[] { "qtest", "-M", "q35", "-device", "edu,addr=1f.0" }, 1,
        "vtdsim: -device edu,addr=1f.0: PCI: slot 31 function 0 not available for edu, in use by ICH9-LPC,id=(null)")]
    [InlineData(new[] { "qtest", "-M", "q35", "-bios", "/nonexistent/bios.bin" }, 1, "vtdsim: -bios /nonexistent/bios.bin: could not load PC BIOS '/nonexistent/bios.bin'")]
    [InlineData(new[] { "qtest", "-M", "q35", "--ram-size", "8T" }, 64, "vtdsim: --ram-size 0x80000000000: not modelled (the model's machines take 1M to 4T)")]
    [InlineData(new[] { "qtest", "-M", "q35", "-m", "512K" }, 64, "vtdsim: -m 0x80000: not modelled (the model's machines take 1M to 4T)")]
    [InlineData(new[] { "qtest", "-M", "q35", "-device", "intel-iommu,dma-translation=off" }, 64,
        "vtdsim: -device intel-iommu,dma-translation=off: dma-translation=off (an IOMMU for interrupt remapping only) is not modelled")]
    [InlineData(new[] { "qtest", "-M", "q35", "-device", "intel-iommu,x-pasid-mode=on" }, 1,
        "vtdsim: -device intel-iommu,x-pasid-mode=on: Need to set scalable mode for PASID")]
    [InlineData(new[] { "qtest", "--aw-bits", "48", "-M", "q35", "-device", "intel-iommu" }, 2, "vtdsim: give the unit either as -device intel-iommu")]
    [InlineData(new[] { "qtest", "-m", "1G", "--ram-size", "2G" }, 2, "vtdsim: choose one of -m and --ram-size")]
    [InlineData(new[] { "qtest", "-qtest", "stdio", "--tcp", "0" }, 2, "vtdsim: choose one of -qtest and --socket/--tcp")]
    public void TheCommandRefusesBeforeServingWithItsStatus(string[] args, int status, string message)
    {
        var output = new StringWriter();
        Assert.Equal(status, Program.Run(args, output));
        Assert.StartsWith(message, output.ToString());
    }

    [Fact]
    public async Task WithQtestUnixVtdsimConnectsToTheHarnessAndAnswersItsLines()
    {
        var dir = Directory.CreateTempSubdirectory("vtdsim-harness-");
        try
        {
            string path = Path.Combine(dir.FullName, "qtest.sock");
            using var listener = Listen(path);
            var output = new StringWriter();
            // As QEMU's libqtest starts the emulator: it listens first, then passes -qtest unix:PATH.
            Task<int> run = Task.Run(() => Program.Run(["qtest", "-machine", "q35,accel=qtest", "-nodefaults", "-display", "none", "-m", "512M",
                "-device", "intel-iommu,x-scalable-mode=on", "-qtest", $"unix:{path}", "-qtest-log", "/dev/null", "-S"], output));
            using Socket harness = await listener.AcceptAsync().WaitAsync(Limit);
            await using var stream = new NetworkStream(harness, ownsSocket: false);
            var reader = new StreamReader(stream, Encoding.UTF8);
            async Task<string> Ask(string line)
            {
                await stream.WriteAsync(Encoding.UTF8.GetBytes(line + "\n")).AsTask().WaitAsync(Limit);
                return await reader.ReadLineAsync().WaitAsync(Limit) ?? "(closed)";
            }

            Assert.Equal("OK 0x00d2008c22260206", await Ask("readq 0xfed90008"));
            Assert.Equal("OK 0x0000480080f00f4a", await Ask("readq 0xfed90010")); // x-scalable-mode=on, as 7.2.22
            Assert.Equal("OK", await Ask("writel 0x1000 0xdeadbeef"));
            Assert.Equal("OK 0x00000000deadbeef", await Ask("readl 0x1000"));
            Assert.Equal("OK 0x0000000000000000", await Ask("readl 0x20000000")); // past -m 512M: unassigned, as QEMU 7.2.22 reads it
            harness.Shutdown(SocketShutdown.Both); // the harness quits: the session and the command end
            Assert.Equal(0, await run.WaitAsync(Limit));
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task AChardevSocketWorksTheSameWay()
    {
        var dir = Directory.CreateTempSubdirectory("vtdsim-harness-");
        try
        {
            string path = Path.Combine(dir.FullName, "chr.sock");
            using var listener = Listen(path);
            Task<int> run = Task.Run(() => Program.Run(["qtest", "-M", "q35", "-device", "intel-iommu", "-chardev", $"socket,path={path},id=qtest",
                "-qtest", "chardev:qtest"], new StringWriter()));
            using Socket harness = await listener.AcceptAsync().WaitAsync(Limit);
            await using var stream = new NetworkStream(harness, ownsSocket: false);
            await stream.WriteAsync("readl 0xfed90000\n"u8.ToArray()).AsTask().WaitAsync(Limit);
            Assert.Equal("OK 0x0000000000000010", await new StreamReader(stream).ReadLineAsync().WaitAsync(Limit));
            harness.Shutdown(SocketShutdown.Both);
            Assert.Equal(0, await run.WaitAsync(Limit));
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public void NobodyListeningIsQemusConnectFailure()
    {
        var dir = Directory.CreateTempSubdirectory("vtdsim-harness-");
        try
        {
            string path = Path.Combine(dir.FullName, "nobody.sock");
            var output = new StringWriter();
            Assert.Equal(1, Program.Run(["qtest", "-M", "q35", "-device", "intel-iommu", "-qtest", $"unix:{path}"], output));
            Assert.Equal($"vtdsim: -qtest unix:{path}: Failed to connect to '{path}': No such file or directory\n", output.ToString().Replace("\r", ""));
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    private static Socket Listen(string path)
    {
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(path));
        listener.Listen(1);
        return listener;
    }
}
