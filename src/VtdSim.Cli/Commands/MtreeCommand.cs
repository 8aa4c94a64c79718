using System.CommandLine;
using VtdSim.Cli.Io;
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
        var drives = new Option<string[]>("-drive")
        {
            Description = "a firmware flash image: if=pflash,format=raw[,readonly=on],file=PATH (unit 0: OVMF's code, unit 1: its variables); the map uses the file's size",
            Arity = ArgumentArity.OneOrMore,
            AllowMultipleArgumentsPerToken = false,
        };
        var booted = new Option<bool>("--booted") { Description = "show the map the firmware leaves (SeaBIOS; OVMF with -drive if=pflash: BARs assigned, PAM as it leaves it) instead of the reset state" };
        var flat = new Option<bool>("-f") { Description = "print the flat views (info mtree -f)" };
        var disabled = new Option<bool>("-D") { Description = "show disabled regions too (info mtree -D)" };
        var command = new Command("mtree", "Print a QEMU 7.2 machine's memory map as `info mtree` does (the model's, to diff against QEMU)")
        {
            machine, memory, noDefaults, devices, drives, booted, flat, disabled,
        };
        // The validator checks the options' texts (and keeps the emulated devices it parsed); the action builds the machine
        // once, with QEMU's checks of the firmware and the slots (a refusal is a usage error, status 2), and prints it.
        List<DeviceOptions> emulatedDevices = [];
        command.Validators.Add(result =>
        {
            string[] given = result.GetValue(devices) ?? [];
            var emulated = new List<DeviceOptions>();
            foreach (string device in given)
            {
                string name = DeviceName(device);
                if (DeviceOptions.Models.Contains(name))
                {
                    if (!DeviceOptions.TryParse(device, out DeviceOptions? parsed, out string error)) result.AddError($"-device {device}: {error}");
                    else emulated.Add(parsed!);
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
            emulatedDevices = emulated;
        });
        command.SetAction(parse =>
        {
            string[] given = parse.GetValue(devices) ?? [];
            MachineOptions options = new()
            {
                Type = parse.GetValue(machine),
                RamSize = parse.GetValue(memory),
                Defaults = !parse.GetValue(noDefaults),
                IntelIommu = given.Any(d => DeviceName(d) == "intel-iommu"),
                ExtraNics = given.Count(d => d == "e1000e"),
                Devices = emulatedDevices,
                Booted = parse.GetValue(booted),
            };
            if (!TryCreate(options, parse.GetValue(drives) ?? [], out PcMachine? map, out string failure)) throw new ArgumentException(failure);
            TextWriter writer = output();
            writer.Write(parse.GetValue(flat) ? MtreePrinter.Flat(map!.Memory) : MtreePrinter.Tree(map!.Memory, parse.GetValue(disabled)));
            writer.Flush();
            return 0;
        });
        return command;
    }

    /// <summary>
    /// The sizes of the `-drive if=pflash` images in order (decision V50): each file's length rounded up to whole
    /// 512-byte sectors, as QEMU's raw block driver reports it. False with a message naming the drive and what is wrong.
    /// </summary>
    private static bool TryPflash(string[] drives, out ulong[] sizes, out string error)
    {
        sizes = new ulong[drives.Length];
        error = "";
        for (int i = 0; i < drives.Length; i++)
        {
            string? file = null, iface = null;
            foreach (string part in drives[i].Split(','))
            {
                int eq = part.IndexOf('=');
                string key = eq < 0 ? part : part[..eq], value = eq < 0 ? "" : part[(eq + 1)..];
                switch (key)
                {
                    case "if": iface = value; break;
                    case "file": file = value; break;
                    case "format" when value == "raw": break;
                    case "readonly" when value is "on" or "off": break;
                    default:
                        error = $"-drive {drives[i]}: '{part}' is not modelled (if=pflash, format=raw, readonly=on|off and file= are)";
                        return false;
                }
            }
            if (iface != "pflash")
            {
                error = $"-drive {drives[i]}: only if=pflash drives are modelled (the firmware's flash)";
                return false;
            }
            if (string.IsNullOrEmpty(file))
            {
                error = $"-drive {drives[i]}: give the image as file=PATH";
                return false;
            }
            string? problem = Directory.Exists(file) ? "Is a directory" : !File.Exists(file) ? "No such file or directory" : null;
            if (problem is null)
            {
                try
                {
                    sizes[i] = ((ulong)new FileInfo(file).Length + 511) & ~511UL;
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
                {
                    problem = UserText.Message(e);
                }
            }
            if (problem is not null)
            {
                error = $"-drive {drives[i]}: Could not open '{file}': {problem}";
                return false;
            }
        }
        return true;
    }

    /// <summary>A -device text's driver: what comes before its first comma.</summary>
    private static string DeviceName(string device) => device.Split(',')[0];

    /// <summary>
    /// The machine the options describe, built once: the pflash images are read (their sizes, decision V50), then the
    /// map is laid out with QEMU's checks — the firmware's sizes first, then where the emulated devices go (a taken
    /// slot is QEMU's error). False with the first message.
    /// </summary>
    private static bool TryCreate(MachineOptions options, string[] drives, out PcMachine? machine, out string error)
    {
        machine = null;
        return TryPflash(drives, out ulong[] pflash, out error) && PcMachine.TryCreate(options with { Pflash = pflash }, out machine, out error);
    }
}
