using VtdSim.Cli.Commands;
using VtdSim.Cli.Qtest;
using VtdSim.Hardware.Profiles;

namespace VtdSim.Cli.Tests.Qtest;

/// <summary>
/// What `vtdsim qtest` serves from its options (decisions P13–P15), and how its command line hands QEMU's options on
/// (P14): the RAM size each way of giving it yields, the unit options that do not go together, and the tokens that are
/// vtdsim's own.
/// </summary>
public class QtestServedMachineTests
{
    private static readonly LegacyUnit NoUnit = new(null, null, null, null, null, QemuVersion.Qemu72);

    private static QemuCommandLine Qemu(params string[] tokens)
    {
        Assert.True(QemuCommandLine.TryParse(tokens, QemuVersion.Qemu72, out QemuCommandLine q, out var error), error.Message);
        return q;
    }

    [Fact]
    public void AQemuMachineTakesRamFromRamSizeWhenMIsNotGiven()
    {
        Assert.True(QtestServedMachine.TryBuild(Qemu("-M", "q35", "-device", "intel-iommu"), NoUnit, 256UL << 20, out IQtestMachine? machine, out var error),
            error.Message);
        Assert.Equal(256UL << 20, Assert.IsType<QtestGuestMachine>(machine).Options.Machine.RamSize);
    }

    [Fact]
    public void AQemuMachineHasQemusDefaultRamAndVtdsimsOwnHasItsDefault()
    {
        Assert.True(QtestServedMachine.TryBuild(Qemu("-M", "q35", "-device", "intel-iommu"), NoUnit, null, out IQtestMachine? machine, out var error),
            error.Message);
        Assert.Equal(128UL << 20, Assert.IsType<QtestGuestMachine>(machine).Options.Machine.RamSize); // QEMU's -m default
        Assert.True(QtestServedMachine.TryBuild(Qemu(), NoUnit, null, out machine, out error), error.Message);
        Assert.Equal(4UL << 30, Assert.IsType<QtestMachine>(machine).Options.RamSize); // vtdsim qtest's own default (docs/qtest.md)
        Assert.True(QtestServedMachine.TryBuild(Qemu("-m", "2G"), NoUnit, null, out machine, out error), error.Message);
        Assert.Equal(2UL << 30, Assert.IsType<QtestMachine>(machine).Options.RamSize); // -m alone does not describe a machine but sizes its RAM
        Assert.True(QtestServedMachine.TryBuild(Qemu("-m", "8T"), NoUnit, null, out machine, out error), error.Message);
        Assert.Equal(8UL << 40, Assert.IsType<QtestMachine>(machine).Options.RamSize); // beyond the VMM's 4 TiB, as before
    }

    [Fact]
    public void AProfileAndAQemuDeviceDoNotGoTogether()
    {
        var unit = new LegacyUnit(BuiltInProfiles.Qemu72Legacy, null, null, null, null, QemuVersion.Qemu72);
        Assert.True(unit.Given);
        Assert.False(QtestServedMachine.TryBuild(Qemu("-M", "q35", "-device", "intel-iommu"), unit, null, out _, out var error));
        Assert.StartsWith("give the unit either as -device intel-iommu,... or as --profile", error.Message);
        Assert.Equal(Program.Usage, error.ExitStatus);
    }

    [Fact]
    public void AProfileAloneIsServedAsItIs()
    {
        var unit = new LegacyUnit(BuiltInProfiles.SapphireRapids, null, null, null, null, QemuVersion.Qemu72);
        Assert.True(unit.TryProfile(out VtdProfile? profile, out string error), error);
        Assert.Same(BuiltInProfiles.SapphireRapids, profile);
    }

    [Fact]
    public void QemuPropertiesDoNotGoWithQemu11AndAProfile()
    {
        var unit = new LegacyUnit(BuiltInProfiles.Qemu72Legacy, 48, null, null, null, QemuVersion.Qemu11);
        Assert.False(unit.TryProfile(out _, out string error));
        Assert.Equal("--qemu 11 does not go with --profile qemu-7.2: the properties would be QEMU 11's (leave --profile out)", error);
        Assert.False(QtestServedMachine.TryBuild(Qemu(), unit, null, out _, out var refused));
        Assert.Equal(error, refused.Message);
        Assert.Equal(Program.Usage, refused.ExitStatus);
    }

    [Fact]
    public void QemuPropertiesStartFromTheLegacyProfilesDefaults()
    {
        // --profile qemu-7.2 --caching-mode: QEMU 7.2's intel-iommu with caching-mode=on (CAP.CM, bit 7).
        Assert.True(new LegacyUnit(BuiltInProfiles.Qemu72Legacy, null, null, true, null, QemuVersion.Qemu72).TryProfile(out VtdProfile? profile, out string error),
            error);
        Assert.NotEqual(0UL, profile.Cap.Raw & (1UL << 7));
        Assert.Equal(0UL, BuiltInProfiles.Qemu72Legacy.Cap.Raw & (1UL << 7));
    }

    [Fact]
    public void OnlyVtdsimsOwnOptionsStayVtdsims()
    {
        const string Q = QtestCommand.QemuArgumentOption;
        Assert.Equal(["qtest", "--socket", "/tmp/s", "-h", "-?", $"{Q}=-M", $"{Q}=q35", $"{Q}=-S", $"{Q}=-serial", $"{Q}=chardev:c", $"{Q}=-audio"],
            QtestCommand.PassQemuOptions(["qtest", "--socket", "/tmp/s", "-h", "-?", "-M", "q35", "-S", "-serial", "chardev:c", "-audio"]));
        // An unknown option followed by an option takes no argument; another command's tokens are left alone.
        Assert.Equal(["qtest", $"{Q}=-serial", $"{Q}=-nodefaults"], QtestCommand.PassQemuOptions(["qtest", "-serial", "-nodefaults"]));
        Assert.Equal(["mtree", "-M", "q35"], QtestCommand.PassQemuOptions(["mtree", "-M", "q35"]));
    }

    [Theory]
    [InlineData(new[] { "qtest", "-serial" }, 64, "vtdsim: -serial: not modelled")]
    [InlineData(new[] { "qtest", "-serial", "-M", "q35" }, 64, "vtdsim: -serial: not modelled")]
    [InlineData(new[] { "qtest", "-M", "q35", "-device", "intel-iommu", "-qtest", "unix:/tmp/x.sock,server=maybe" }, 1,
        "vtdsim: -qtest unix:/tmp/x.sock,server=maybe: Parameter 'server' expects 'on' or 'off'")]
    [InlineData(new[] { "qtest", "-M", "q35", "-device", "id=iommu0" }, 1, "vtdsim: -device id=iommu0: Parameter 'driver' is missing")]
    [InlineData(new[] { "qtest", "--qemu", "11", "--profile", "qemu-7.2", "--aw-bits", "48" }, 2,
        "vtdsim: --qemu 11 does not go with --profile qemu-7.2: the properties would be QEMU 11's (leave --profile out)")]
    public void TheCommandSaysWhyWithItsStatus(string[] args, int status, string message)
    {
        var output = new StringWriter();
        Assert.Equal(status, Program.Run(args, output));
        Assert.StartsWith(message, output.ToString());
    }
}
