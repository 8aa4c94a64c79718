using System.Diagnostics.CodeAnalysis;
using VtdSim.Hardware.Profiles;
using VtdSim.Vmm.Devices;

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
/// Builds the machine `vtdsim qtest` serves from its parsed options — the one place that decides it (the seam where the
/// VMM's full guest machine, with port I/O, PCI and edu, will be served later). Today it is RAM plus a VT-d unit at
/// 0xfed90000 whose profile comes from `-device intel-iommu` when the command line describes a QEMU machine, and from
/// the unit options otherwise.
/// </summary>
public static class QtestServedMachine
{
    public static bool TryBuild(QemuCommandLine qemu, LegacyUnit unit, ulong? ramSizeOption, [NotNullWhen(true)] out QtestMachine? machine,
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
        VtdProfile profile;
        if (qemu.DescribesMachine)
        {
            if (unit.Given)
            {
                error = new("give the unit either as -device intel-iommu,... or as --profile/--aw-bits/--scalable-mode/--caching-mode/--snoop-control, not both",
                    Program.Usage);
                return false;
            }
            if (!qemu.TryServedProfile(out profile, out error)) return false;
        }
        else if (!unit.TryProfile(out profile!, out string problem))
        {
            error = new(problem, Program.Usage);
            return false;
        }
        ulong ram = qemu.RamSizeGiven ? qemu.RamSize
            : ramSizeOption ?? (qemu.DescribesMachine ? QemuCommandLine.DefaultRamSize : QtestMachineOptions.DefaultRamSize);
        machine = new QtestMachine(new QtestMachineOptions { Profile = profile, RamSize = ram });
        return true;
    }
}
