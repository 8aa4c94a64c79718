using VtdSim.Cli.Qtest;
using VtdSim.Hardware.Profiles;
using VtdSim.Vmm.Machines;

namespace VtdSim.Cli.Tests.Qtest;

/// <summary>
/// The less common forms of QEMU's command line for `vtdsim qtest` (docs/qtest.md "QEMU's command line", decisions
/// P14–P16): QEMU's spellings of booleans and options that a harness may use, and each malformed option refused with
/// its own message and status (QEMU's refusal: 1; not modelled: 64).
/// </summary>
public class QemuCommandLineCoverageTests
{
    [Theory]
    [InlineData("M", true)]
    [InlineData("machine", true)]
    [InlineData("qtest-log", true)]
    [InlineData("chardev", true)]
    [InlineData("nodefaults", false)]
    [InlineData("S", false)]
    public void KnownOptionsKnowWhetherTheyTakeAnArgument(string name, bool takesArgument) =>
        Assert.Equal(takesArgument, QemuCommandLine.TakesArgument(name));

    [Theory]
    [InlineData("serial")]
    [InlineData("hda")]
    [InlineData("")]
    public void AnUnknownOptionIsNeitherWithNorWithoutArgument(string name) => Assert.Null(QemuCommandLine.TakesArgument(name));

    [Fact]
    public void QemusDoubleDashSpellingIsTheSameOption()
    {
        Assert.True(QemuCommandLine.TryParse(["--machine", "q35", "--nodefaults", "--m", "256M", "--device", "intel-iommu", "--qtest", "stdio"],
            QemuVersion.Qemu72, out QemuCommandLine q, out var error), error.Message);
        Assert.Equal(MachineType.Q35, q.Machine);
        Assert.True(q.NoDefaults);
        Assert.Equal(256UL << 20, q.RamSize);
        Assert.True(q.RamSizeGiven);
        Assert.NotNull(q.IntelIommu);
        Assert.Equal(new QtestChannel.Stdio(), q.Channel);
    }

    [Fact]
    public void NoOptionsIsQemusDefaultsAndNoMachine()
    {
        Assert.True(QemuCommandLine.TryParse([], QemuVersion.Qemu72, out QemuCommandLine q, out var error), error.Message);
        Assert.False(q.Any);
        Assert.False(q.DescribesMachine);
        Assert.Equal(MachineType.Pc, q.Machine);
        Assert.Equal(128UL << 20, q.RamSize);
        Assert.False(q.RamSizeGiven);
        Assert.Null(q.Channel);
        Assert.Null(q.IntelIommu);
    }

    [Theory]
    [InlineData("-M", "pc")]
    [InlineData("-machine", "type=pc")]
    [InlineData("-machine", "pc,accel=qtest")]
    public void PcIsAMachineQemuHas(string option, string value)
    {
        Assert.True(QemuCommandLine.TryParse([option, value], QemuVersion.Qemu72, out QemuCommandLine q, out var error), error.Message);
        Assert.Equal(MachineType.Pc, q.Machine);
        Assert.True(q.DescribesMachine);
        // pc has no place for intel-iommu: the guest machine is served without a vIOMMU (decision Q41).
        Assert.True(QtestServedMachine.TryBuild(q, new LegacyUnit(null, null, null, null, null, QemuVersion.Qemu72), null, out IQtestMachine? served, out error),
            error.Message);
        Assert.Equal(MachineType.Pc, Assert.IsType<QtestGuestMachine>(served).Options.Machine.Type);
        Assert.Null(served.Unit);
    }

    [Theory]
    [InlineData("qtest")]
    [InlineData("tcg")]
    [InlineData("accel=qtest")]
    [InlineData("qtest:tcg")]
    public void AcceleratorsTheModelStandsFor(string accel) =>
        Assert.True(QemuCommandLine.TryParse(["-accel", accel], QemuVersion.Qemu72, out _, out var error), error.Message);

    [Theory]
    // -m takes QEMU's size=, and a bare number is MiB.
    [InlineData("size=2G", 2UL << 30)]
    [InlineData("64", 64UL << 20)]
    [InlineData("65536K", 64UL << 20)]
    public void MemorySizesInQemusForms(string value, ulong bytes)
    {
        Assert.True(QemuCommandLine.TryParse(["-m", value], QemuVersion.Qemu72, out QemuCommandLine q, out var error), error.Message);
        Assert.Equal(bytes, q.RamSize);
    }

    [Theory]
    // QEMU's boolean spellings for server= and wait=: on/yes/true/y and off/no/false/n.
    [InlineData("unix:/tmp/b.sock,server=on", true)]
    [InlineData("unix:/tmp/b.sock,server=yes", true)]
    [InlineData("unix:/tmp/b.sock,server=true", true)]
    [InlineData("unix:/tmp/b.sock,server=y", true)]
    [InlineData("unix:/tmp/b.sock,server=off", false)]
    [InlineData("unix:/tmp/b.sock,server=no", false)]
    [InlineData("unix:/tmp/b.sock,server=false", false)]
    [InlineData("unix:/tmp/b.sock,server=n", false)]
    [InlineData("unix:/tmp/b.sock,server=y,wait=no", true)]
    [InlineData("unix:/tmp/b.sock,wait=true", false)]
    [InlineData("unix:/tmp/b.sock,server,nowait", true)] // QEMU's deprecated short forms, with its warnings
    public void ServerAndWaitTakeQemusBooleans(string qtest, bool server)
    {
        Assert.True(QemuCommandLine.TryParse(["-qtest", qtest], QemuVersion.Qemu72, out QemuCommandLine q, out var error), error.Message);
        Assert.Equal(new QtestChannel.UnixSocket("/tmp/b.sock", server), q.Channel);
    }

    [Fact]
    public void ShortFormBooleansWarnAsQemuDoes()
    {
        Assert.True(QemuCommandLine.TryParse(["-qtest", "unix:/tmp/b.sock,server,nowait"], QemuVersion.Qemu72, out QemuCommandLine q, out var error),
            error.Message);
        Assert.Equal(["warning: short-form boolean option 'server' deprecated\nPlease use server=on instead",
            "warning: short-form boolean option 'nowait' deprecated\nPlease use wait=off instead"], q.Warnings);
    }

    [Fact]
    public void AChardevServerListens()
    {
        Assert.True(QemuCommandLine.TryParse(["-chardev", "socket,id=c,path=/tmp/s,,1.sock,server=on,wait=off", "-qtest", "chardev:c"],
            QemuVersion.Qemu72, out QemuCommandLine q, out var error), error.Message);
        Assert.Equal(new QtestChannel.UnixSocket("/tmp/s,1.sock", Server: true), q.Channel); // ",," is a comma in the path
    }

    [Fact]
    public void AChardevNobodyNamesIsNoChannel()
    {
        Assert.True(QemuCommandLine.TryParse(["-chardev", "socket,id=c,path=/tmp/c.sock"], QemuVersion.Qemu72, out QemuCommandLine q, out var error),
            error.Message);
        Assert.Null(q.Channel);
    }

    [Theory]
    // Not modelled: 64.
    [InlineData(new[] { "-accel", "tcg,thread=single" }, "-accel tcg,thread=single: accelerator property 'thread' is not modelled", 64)]
    [InlineData(new[] { "-accel", "accel=hvf" }, "-accel accel=hvf: accelerator 'hvf' is not modelled (qtest and tcg are)", 64)]
    [InlineData(new[] { "-qtest", "unix:/tmp/b.sock,reconnect=1" }, "-qtest unix:/tmp/b.sock,reconnect=1: socket property 'reconnect' is not modelled", 64)]
    [InlineData(new[] { "-chardev", "stdio,id=q" }, "-chardev stdio,id=q: chardev backend 'stdio' is not modelled (socket is)", 64)]
    [InlineData(new[] { "-chardev", "socket,id=q,host=localhost,port=4444" }, "-chardev socket,id=q,host=localhost,port=4444: socket property 'host' is not modelled", 64)]
    [InlineData(new[] { "-qtest", "unix:server=on" }, "-qtest unix:server=on: give the socket's path", 64)]
    [InlineData(new[] { "-qtest", "unix:" }, "-qtest unix:: give the socket's path", 64)]
    [InlineData(new[] { "-chardev", "socket,id=q" }, "-chardev socket,id=q: give the socket's path", 64)]
    [InlineData(new[] { "-chardev", "socket,path=/tmp/c.sock" }, "-chardev socket,path=/tmp/c.sock: a chardev needs an id", 64)]
    [InlineData(new[] { "--", "-M", "q35" }, "--: a disk image is not modelled", 64)]
    [InlineData(new[] { "-" }, "-: a disk image is not modelled", 64)]
    [InlineData(new[] { "-S", "-nodefaults", "-hda", "disk.img" }, "-hda: not modelled", 64)]
    // QEMU's refusals: 1.
    [InlineData(new[] { "-m", "lots" }, "-m lots: RAM size 'lots' is not a size; write e.g. 4G, 512M, 65536K or 1048576B (a bare number is MiB, as QEMU's -m)", 1)]
    [InlineData(new[] { "-m", "size=" }, "-m size=: RAM size '' is not a size; write e.g. 4G, 512M, 65536K or 1048576B (a bare number is MiB, as QEMU's -m)", 1)]
    [InlineData(new[] { "-chardev", "socket,id=q,path=/tmp/a.sock", "-chardev", "socket,id=q,path=/tmp/b.sock" },
        "-chardev socket,id=q,path=/tmp/b.sock: duplicate chardev id 'q'", 1)]
    [InlineData(new[] { "-M", "q35", "-qtest" }, "-qtest: requires an argument", 1)]
    [InlineData(new[] { "-M", "q35", "-device", "intel-iommu,aw-bits=48", "-device", "intel-iommu" },
        "-device intel-iommu: QEMU does not support multiple vIOMMUs for x86 yet.", 1)]
    public void MalformedOptionsAreRefusedByName(string[] args, string message, int status)
    {
        Assert.False(QemuCommandLine.TryParse(args, QemuVersion.Qemu72, out QemuCommandLine q, out var error));
        Assert.Equal(message, error.Message);
        Assert.Equal(status, error.ExitStatus);
        Assert.False(q.Any); // a refusal leaves nothing half parsed
    }

    [Theory]
    // QEMU refuses these itself, with its own text (P14: QEMU's status 1, not "not modelled").
    [InlineData(new[] { "-qtest", "unix:/tmp/b.sock,server=maybe" }, "-qtest unix:/tmp/b.sock,server=maybe: Parameter 'server' expects 'on' or 'off'")]
    [InlineData(new[] { "-qtest", "unix:/tmp/b.sock,wait=1" }, "-qtest unix:/tmp/b.sock,wait=1: Parameter 'wait' expects 'on' or 'off'")]
    [InlineData(new[] { "-chardev", "socket,id=q,path=/tmp/c.sock,server=sure" }, "-chardev socket,id=q,path=/tmp/c.sock,server=sure: Parameter 'server' expects 'on' or 'off'")]
    [InlineData(new[] { "-M", "q35", "-device", "id=x" }, "-device id=x: Parameter 'driver' is missing")]
    public void QemusOwnRefusalsEndWithQemusStatus(string[] args, string message)
    {
        Assert.False(QemuCommandLine.TryParse(args, QemuVersion.Qemu72, out _, out var error));
        Assert.Equal(message, error.Message);
        Assert.Equal(QemuCommandLineError.QemuError, error.ExitStatus);
    }
}
