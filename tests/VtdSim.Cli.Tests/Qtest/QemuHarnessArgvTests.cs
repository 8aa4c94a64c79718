using VtdSim.Cli.Qtest;
using VtdSim.Hardware.Profiles;

namespace VtdSim.Cli.Tests.Qtest;

/// <summary>
/// The command lines QEMU's own qtest harnesses build, verbatim (docs/qtest.md "Running libqtest or QEMUQtestMachine
/// against vtdsim"): they must parse into the qtest channel, the QMP monitor and the log, unchanged.
/// </summary>
public class QemuHarnessArgvTests
{
    /// <summary>
    /// QEMU 7.2's tests/qtest/libqtest.c, qtest_init_without_qmp_handshake: `-qtest unix:SOCK -qtest-log /dev/null
    /// -chardev socket,path=QMP,id=char0 -mon chardev=char0,mode=control -display none EXTRA -accel qtest`, run through
    /// `sh -c` (so EXTRA is split at spaces); with QTEST_LOG set the log is /dev/fd/2.
    /// </summary>
    public static string[] Libqtest72(string qtestSocket, string qmpSocket, string extra, bool log = false) =>
        [.. $"-qtest unix:{qtestSocket} -qtest-log {(log ? "/dev/fd/2" : "/dev/null")} -chardev socket,path={qmpSocket},id=char0 -mon chardev=char0,mode=control -display none {extra} -accel qtest"
            .Split(' ', StringSplitOptions.RemoveEmptyEntries)];

    /// <summary>
    /// python/qemu/machine (QEMUMachine._base_args + QEMUQtestMachine._base_args) in 7.2: the monitor on a socket path;
    /// since 8.1 on an inherited socketpair end (`fd=N`).
    /// </summary>
    public static string[] Python(string monitor, string qtestSocket, params string[] args) =>
        ["-display", "none", "-vga", "none", "-chardev", monitor, "-mon", "chardev=mon,mode=control", "-qtest", $"unix:path={qtestSocket}", "-accel", "qtest", .. args];

    [Fact]
    public void LibqtestsCommandLineIsTakenAsItIs()
    {
        string[] argv = Libqtest72("/tmp/qtest-42.sock", "/tmp/qtest-42.qmp", "-M q35 -nodefaults -device intel-iommu -device edu,addr=04.0");
        Assert.True(QemuCommandLine.TryParse(argv, QemuVersion.Qemu72, out QemuCommandLine q, out var error), error.Message);
        Assert.Equal(new QtestChannel.UnixSocket("/tmp/qtest-42.sock", Server: false), q.Channel);
        Assert.Equal(new QtestChannel.UnixSocket("/tmp/qtest-42.qmp", Server: false), q.Monitor);
        Assert.Null(q.QtestLog);

        Assert.True(QemuCommandLine.TryParse(Libqtest72("/tmp/q.sock", "/tmp/q.qmp", "-M q35", log: true), QemuVersion.Qemu72, out q, out error), error.Message);
        Assert.Equal("/dev/fd/2", q.QtestLog);
    }

    [Theory]
    [InlineData("socket,id=mon,path=/var/tmp/qemu-7-monitor.sock")]
    [InlineData("socket,id=mon,fd=5")]
    public void QemuQtestMachinesCommandLineIsTakenAsItIs(string monitor)
    {
        string[] argv = Python(monitor, "/var/tmp/qemu-7-qtest.sock", "-M", "q35", "-nodefaults", "-device", "intel-iommu");
        Assert.True(QemuCommandLine.TryParse(argv, QemuVersion.Qemu72, out QemuCommandLine q, out var error), error.Message);
        Assert.Equal(new QtestChannel.UnixSocket("/var/tmp/qemu-7-qtest.sock", Server: false), q.Channel);
        Assert.Equal(monitor.Contains("fd=") ? new QtestChannel.Descriptor(5) : new QtestChannel.UnixSocket("/var/tmp/qemu-7-monitor.sock", false), q.Monitor);
    }

    [Theory]
    [InlineData(new[] { "-mon", "chardev=char0,mode=readline", "-chardev", "socket,id=char0,path=/tmp/m" }, "-mon chardev=char0,mode=readline: the human monitor is not modelled (mode=control is)", 64)]
    [InlineData(new[] { "-mon", "chardev=char0", "-chardev", "socket,id=char0,path=/tmp/m" }, "-mon chardev=char0: the human monitor is not modelled (mode=control is)", 64)]
    [InlineData(new[] { "-mon", "chardev=char0,mode=control,pretty=on", "-chardev", "socket,id=char0,path=/tmp/m" }, "-mon chardev=char0,mode=control,pretty=on: monitor property 'pretty' is not modelled", 64)]
    [InlineData(new[] { "-mon", "chardev=nope,mode=control" }, "-mon chardev=nope,mode=control: chardev \"nope\" not found", 1)]
    [InlineData(new[] { "-mon", "mode=control" }, "-mon mode=control: Parameter 'chardev' is missing", 1)]
    [InlineData(new[] { "-chardev", "socket,id=m,path=/tmp/m", "-mon", "chardev=m,mode=control", "-qtest", "stdio" }, "-mon chardev=m,mode=control: not modelled without -qtest on the harness's socket (unix:PATH, or a chardev that connects)", 64)]
    [InlineData(new[] { "-qtest-log", "/tmp/l", "-qtest", "unix:/tmp/q,server=on" }, "-qtest-log /tmp/l: not modelled without -qtest on the harness's socket (unix:PATH, or a chardev that connects)", 64)]
    [InlineData(new[] { "-mon", "chardev=m,mode=control", "-mon", "chardev=m,mode=control", "-chardev", "socket,id=m,path=/tmp/m" }, "-mon chardev=m,mode=control: a second monitor is not modelled", 64)]
    [InlineData(new[] { "-mon", "chardev=m,mode=control", "-chardev", "socket,id=m,path=/tmp/m,server=on" }, "-mon chardev=m,mode=control: a monitor on a listening socket is not modelled (give the harness's socket: server=off, or fd=N)", 64)]
    [InlineData(new[] { "-chardev", "socket,id=m,fd=x" }, "-chardev socket,id=m,fd=x: Unable to parse FD number x", 1)]
    [InlineData(new[] { "-chardev", "socket,id=m,fd=3,path=/tmp/m" }, "-chardev socket,id=m,fd=3,path=/tmp/m: None or one of 'path', 'fd' or 'host' option required.", 1)]
    [InlineData(new[] { "-vga", "std" }, "-vga std: not modelled (only -vga none)", 64)]
    [InlineData(new[] { "-M", "q35", "-vga", "none" }, "-vga none: not modelled without -nodefaults (the model's default VGA and NIC come together)", 64)]
    [InlineData(new[] { "-qmp", "unix:/tmp/q,server=on" }, "-qmp: not modelled", 64)]
    public void MonitorRefusalsNameWhatIsRefused(string[] args, string message, int status)
    {
        Assert.False(QemuCommandLine.TryParse(args, QemuVersion.Qemu72, out _, out var error));
        Assert.Equal(message, error.Message);
        Assert.Equal(status, error.ExitStatus);
    }

    [Fact]
    public void VgaNoneWithNodefaultsIsAccepted()
    {
        Assert.True(QemuCommandLine.TryParse(["-M", "q35", "-nodefaults", "-vga", "none"], QemuVersion.Qemu72, out _, out var error), error.Message);
    }
}
