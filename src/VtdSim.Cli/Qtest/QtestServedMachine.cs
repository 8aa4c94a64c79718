using System.Diagnostics.CodeAnalysis;
using VtdSim.Hardware.Profiles;
using VtdSim.Vmm.Devices;
using VtdSim.Vmm.Machines;

namespace VtdSim.Cli.Qtest;

/// <summary>
/// The unit as `vtdsim qtest`'s own options give it: `--profile` (any built-in), or QEMU intel-iommu properties through
/// `--aw-bits`, `--scalable-mode`, `--caching-mode`, `--snoop-control`, which are set on a QEMU intel-iommu
/// (<see cref="IntelIommuProperties"/>) and derived as QEMU derives CAP/ECAP (decision P13). A null value was not given.
/// </summary>
public sealed record LegacyUnit(VtdProfile? Profile, int? AwBits, bool? ScalableMode, bool? CachingMode, bool? SnoopControl, QemuVersion Version)
{
    /// <summary>Whether any option that describes the unit was given.</summary>
    public bool Given => Profile is not null || HasProperties;

    private bool HasProperties => AwBits is not null || ScalableMode is not null || CachingMode is not null || SnoopControl is not null;

    /// <summary>The unit's profile; false with a message for a combination that does not describe one.</summary>
    public bool TryProfile([NotNullWhen(true)] out VtdProfile? profile, out string error)
    {
        profile = null;
        error = "";
        if (!HasProperties && Profile is not null)
        {
            profile = Profile;
            return true;
        }
        IntelIommuProperties properties;
        if (Profile is null) properties = IntelIommuProperties.Defaults(Version);
        else if (Profile.Name is "qemu-7.2" or "qemu-7.2-scalable" && Version == QemuVersion.Qemu72)
        {
            properties = IntelIommuProperties.Defaults(QemuVersion.Qemu72);
            if (Profile.Name == "qemu-7.2-scalable") properties.TrySet("x-scalable-mode", "on", out properties, out _);
        }
        else
        {
            error = Version == QemuVersion.Qemu72
                ? $"--aw-bits, --scalable-mode, --caching-mode and --snoop-control set QEMU intel-iommu properties; profile '{Profile.Name}' is not QEMU's intel-iommu (give qemu-7.2 or qemu-7.2-scalable, or no --profile)"
                : $"--qemu 11 does not go with --profile {Profile.Name}: the properties would be QEMU 11's (leave --profile out)";
            return false;
        }
        foreach (var (name, value) in new[]
                 {
                     ("aw-bits", AwBits?.ToString(System.Globalization.CultureInfo.InvariantCulture)), ("x-scalable-mode", OnOff(ScalableMode)),
                     ("caching-mode", OnOff(CachingMode)), ("snoop-control", OnOff(SnoopControl)),
                 })
        {
            if (value is not null && !properties.TrySet(name, value, out properties, out error)) return false;
        }
        return properties.TryToProfile(out profile, out error);
    }

    private static string? OnOff(bool? on) => on is bool b ? (b ? "on" : "off") : null;
}

/// <summary>
/// Builds the machine `vtdsim qtest` serves from its parsed options — the one place that decides it (decision Q41).
/// When the command line describes a QEMU machine (-M, -machine, -device, -bios), it is the guest machine of a VMM
/// started with those options on a fresh host (<see cref="QtestGuestMachine"/>); otherwise RAM plus a VT-d unit at
/// 0xfed90000 whose profile comes from the unit options (<see cref="QtestMachine"/>).
/// </summary>
public static class QtestServedMachine
{
    public static bool TryBuild(QemuCommandLine qemu, LegacyUnit unit, ulong? ramSizeOption, [NotNullWhen(true)] out IQtestMachine? machine,
        out QemuCommandLineError error)
    {
        ArgumentNullException.ThrowIfNull(qemu);
        ArgumentNullException.ThrowIfNull(unit);
        machine = null;
        error = default;
        if (qemu.RamSizeGiven && ramSizeOption is not null)
        {
            error = new("choose one of -m and --ram-size", Program.Usage);
            return false;
        }
        if (qemu.DescribesMachine)
        {
            if (unit.Given)
            {
                error = new("give the unit either as -device intel-iommu,... or as --profile/--aw-bits/--scalable-mode/--caching-mode/--snoop-control, not both",
                    Program.Usage);
                return false;
            }
            return TryBuildGuest(qemu, ramSizeOption, out machine, out error);
        }
        if (!unit.TryProfile(out VtdProfile? profile, out string problem))
        {
            error = new(problem, Program.Usage);
            return false;
        }
        ulong ram = qemu.RamSizeGiven ? qemu.RamSize : ramSizeOption ?? QtestMachineOptions.DefaultRamSize;
        machine = new QtestMachine(new QtestMachineOptions { Profile = profile, RamSize = ram });
        return true;
    }

    private static bool TryBuildGuest(QemuCommandLine qemu, ulong? ramSizeOption, out IQtestMachine? machine, out QemuCommandLineError error)
    {
        machine = null;
        error = default;
        if (ramSizeOption is ulong ram) qemu = qemu with { RamSize = ram, RamSizeGiven = true };
        if (qemu.RamSize < MachineOptions.MinRamSize || qemu.RamSize > MachineOptions.MaxRamSize)
        {
            error = new($"{(ramSizeOption is null ? "-m" : "--ram-size")} 0x{qemu.RamSize:x}: not modelled (the model's machines take 1M to 4T)",
                QemuCommandLineError.NotModelled);
            return false;
        }
        // What QEMU accepts but the model's unit does not model is refused by name before the VMM starts (decision P6).
        if (qemu.IntelIommu is { } iommu && !iommu.TryToProfile(out _, out string unmodelled))
        {
            error = new($"-device {qemu.IntelIommuText}: {unmodelled}", QemuCommandLineError.NotModelled);
            return false;
        }
        byte[]? bios = null;
        if (qemu.Bios is { } path && !TryLoadBios(path, out bios, out error)) return false;
        if (!QtestGuestMachine.TryStart(qemu.ToVmmOptions(), bios, qemu.IcountNoSleep, out QtestGuestMachine? guest, out string refused))
        {
            error = new(refused, QemuCommandLineError.QemuError);
            return false;
        }
        machine = guest;
        return true;
    }

    /// <summary>
    /// `-bios FILE`: QEMU's check (a readable file whose size is a non-zero multiple of 64 KiB) and its message; an image
    /// larger than the model's 256 KiB pc.bios is not modelled (decision Q42).
    /// </summary>
    private static bool TryLoadBios(string path, out byte[]? image, out QemuCommandLineError error)
    {
        image = null;
        error = default;
        try
        {
            image = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            image = null;
        }
        if (image is null || image.Length == 0 || image.Length % 0x10000 != 0)
        {
            image = null;
            error = new($"-bios {path}: could not load PC BIOS '{path}'", QemuCommandLineError.QemuError);
            return false;
        }
        if (image.Length > QtestGuestMachine.BiosRegionSize)
        {
            error = new($"-bios {path}: an image of 0x{image.Length:x} bytes is not modelled (the model's pc.bios is 256 KiB)", QemuCommandLineError.NotModelled);
            image = null;
            return false;
        }
        return true;
    }
}
