using System.CommandLine;
using VtdSim.Cli.Qtest;
using VtdSim.Hardware.Profiles;
using VtdSim.Vmm.Devices;
using VtdSim.Vmm.Machines;
using VtdSim.Vmm.Memory;

namespace VtdSim.Cli.Commands;

/// <summary>
/// `vtdsim mtree`: the model's memory map of a QEMU 7.2 machine, printed as QEMU's `info mtree` (or `-f`, `-D`), so
/// it can be diffed against a real QEMU started with the same options (docs/vmm.md).
/// </summary>
public static class MtreeCommand
{
    public static Command Create(Func<TextWriter> output)
    {
        var machine = new Option<MachineType>("-M")
        {
            Description = "machine type, as QEMU's -M: q35 or pc",
            DefaultValueFactory = _ => MachineType.Q35,
            CustomParser = result =>
            {
                string text = result.Tokens.Count == 0 ? "" : result.Tokens[0].Value;
                if (text == "q35") return MachineType.Q35;
                if (text == "pc") return MachineType.Pc;
                result.AddError($"-M: '{text}' is not a machine type the model lays out (q35 or pc)");
                return MachineType.Q35;
            },
        };
        var memory = new Option<ulong>("-m")
        {
            Description = "RAM size as QEMU's -m: a K, M, G or T suffix, or B for bytes; a bare number is MiB [default: 128M, as QEMU]",
            DefaultValueFactory = _ => 128UL << 20,
            CustomParser = result =>
            {
                string text = result.Tokens.Count == 0 ? "" : result.Tokens[0].Value;
                if (!QtestNumbers.TryParseRamSize(text, out ulong bytes, out string error))
                    result.AddError($"-m: {error}");
                else if (bytes < MachineOptions.MinRamSize || bytes > MachineOptions.MaxRamSize)
                    result.AddError($"-m: '{text}' is out of range; give 1M to 4T");
                return bytes;
            },
        };
        var noDefaults = new Option<bool>("-nodefaults") { Description = "leave out the devices QEMU adds by default (std VGA, the NIC)" };
        var devices = new Option<string[]>("-device")
        {
            Description = "add a device: intel-iommu[,PROP=VALUE...] (q35; QEMU 7.2's properties, checked as QEMU checks them), e1000e (another NIC), edu[,addr=DD.F][,dma_mask=N] or iommu-testdev[,addr=DD.F]; repeat for more",
            Arity = ArgumentArity.OneOrMore,
            AllowMultipleArgumentsPerToken = false,
        };
        var booted = new Option<bool>("--booted") { Description = "show the map SeaBIOS leaves (BARs assigned, PAM segments read-only or read-write) instead of the reset state" };
        var flat = new Option<bool>("-f") { Description = "print the flat views (info mtree -f)" };
        var disabled = new Option<bool>("-D") { Description = "show disabled regions too (info mtree -D)" };
        var command = new Command("mtree", "Print a QEMU 7.2 machine's memory map as `info mtree` does (the model's, to diff against QEMU)")
        {
            machine, memory, noDefaults, devices, booted, flat, disabled,
        };
        command.Validators.Add(result =>
        {
            string[] given = result.GetValue(devices) ?? [];
            foreach (string device in given)
            {
                string name = DeviceName(device);
                if (DeviceOptions.Models.Contains(name))
                {
                    if (!DeviceOptions.TryParse(device, out _, out string error)) result.AddError($"-device {device}: {error}");
                }
                else if (name is not ("intel-iommu" or "e1000e"))
                    result.AddError($"-device: '{name}' is not a device the model lays out (intel-iommu, e1000e, edu, iommu-testdev)");
                else if (name == "intel-iommu" && device.Contains(','))
                {
                    // The map does not depend on them, but QEMU 7.2 refuses what it refuses (decision P18).
                    if (!IntelIommuProperties.TryParse(QemuVersion.Qemu72, device[(name.Length + 1)..], out var properties, out string problem)
                        || !properties.TryRealize(out _, out problem))
                        result.AddError($"-device {device}: {problem}");
                }
                else if (device.Contains(','))
                    result.AddError($"-device: {name} takes no properties here ('{device[(name.Length + 1)..]}'); the memory map does not depend on them");
            }
            if (given.Count(d => DeviceName(d) == "intel-iommu") > 1) result.AddError("-device: intel-iommu given twice; QEMU allows one");
            if (given.Any(d => DeviceName(d) == "intel-iommu") && result.GetValue(machine) == MachineType.Pc)
                result.AddError("-device intel-iommu: QEMU's intel-iommu needs -M q35");
            if (result.GetValue(flat) && result.GetValue(disabled))
                result.AddError("-f and -D do not go together: -D shows disabled regions of the trees, -f prints flat views");
            // Where the emulated devices go (a taken slot is QEMU's error): only once everything else is right. The
            // slots do not depend on the RAM size, so the check lays out the smallest machine.
            if (result.Errors.Any() || !given.Any(d => DeviceOptions.Models.Contains(DeviceName(d)))) return;
            if (!PcMachine.TryCreate(Options(result.GetValue(machine), MachineOptions.MinRamSize, !result.GetValue(noDefaults), given, booted: false), out _, out string placement))
                result.AddError(placement);
        });
        command.SetAction(parse =>
        {
            string[] given = parse.GetValue(devices) ?? [];
            PcMachine built = PcMachine.Create(Options(parse.GetValue(machine), parse.GetValue(memory), !parse.GetValue(noDefaults), given, parse.GetValue(booted)));
            TextWriter writer = output();
            writer.Write(parse.GetValue(flat) ? MtreePrinter.Flat(built.Memory) : MtreePrinter.Tree(built.Memory, parse.GetValue(disabled)));
            writer.Flush();
            return 0;
        });
        return command;
    }

    /// <summary>A -device text's driver: what comes before its first comma.</summary>
    private static string DeviceName(string device) => device.Split(',')[0];

    private static MachineOptions Options(MachineType type, ulong ram, bool defaults, string[] devices, bool booted) => new()
    {
        Type = type,
        RamSize = ram,
        Defaults = defaults,
        IntelIommu = devices.Any(d => DeviceName(d) == "intel-iommu"),
        ExtraNics = devices.Count(d => d == "e1000e"),
        Devices = [.. devices.Where(d => DeviceOptions.Models.Contains(DeviceName(d))).Select(d => DeviceOptions.TryParse(d, out DeviceOptions? o, out _) ? o! : throw new InvalidOperationException(d))],
        Booted = booted,
    };
}
