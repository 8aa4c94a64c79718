using VtdSim.Cli.Qtest;
using VtdSim.Hardware;
using VtdSim.Hardware.Profiles;

namespace VtdSim.Differential.Tests.Infrastructure;

/// <summary>
/// VtdSim as `vtdsim qtest` serves it for the command line QEMU 7.2 gets (<see cref="QtestTarget.BuildArguments"/>):
/// the guest machine of a VMM on a booted host, with intel-iommu (the vIOMMU, over guest memory) and QEMU 7.2's edu
/// devices, whose DMA goes through the vIOMMU on their timer. The lines go through vtdsim's own command-line parser and
/// qtest interpreter, in this process; nothing but qtest reaches the machine, as with QEMU.
/// </summary>
public sealed class VtdSimTarget : QtestTarget
{
    private readonly QtestInterpreter _interpreter;
    private readonly string _directory;

    public VtdSimTarget(TargetConfig config, bool configureEdu = true) : base(config)
    {
        _directory = Directory.CreateTempSubdirectory("vtdsim-qtest-").FullName;
        try
        {
            CommandLine = BuildArguments(config, TinyBios.WriteTo(_directory));
            if (!QemuCommandLine.TryParse(CommandLine, QemuVersion.Qemu72, out QemuCommandLine qemu, out QemuCommandLineError error)
                || !QtestServedMachine.TryBuild(qemu, new LegacyUnit(null, null, null, null, null, QemuVersion.Qemu72), null, out IQtestMachine? machine, out error))
                throw new InvalidOperationException($"vtdsim refuses the command line: {error.Message} (status {error.ExitStatus})");
            Machine = (QtestGuestMachine)machine;
            _interpreter = new QtestInterpreter(machine);
            if (configureEdu)
                for (int i = 0; i < config.Devices; i++) ConfigureEdu(i);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public override string Name => $"VtdSim ({Config.Name})";
    public override IReadOnlyList<string> CommandLine { get; }

    /// <summary>The served guest machine (for probes that look inside the model).</summary>
    public QtestGuestMachine Machine { get; } = null!;

    /// <summary>The vIOMMU.</summary>
    public VtdUnit Unit => Machine.Unit!;

    protected override string Exchange(string line)
    {
        string reply = _interpreter.Execute(line);
        if (_interpreter.ReplyWithheld) throw new InvalidOperationException($"vtdsim ended while answering '{Shorten(line)}'{Diagnostics()}");
        return reply;
    }

    protected override string Extra() => Machine?.Ended is { } lines ? "vtdsim stderr: " + string.Join(" | ", lines) : "";

    public override void Dispose()
    {
        try { Directory.Delete(_directory, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
