using VtdSim.Hardware.Profiles;

namespace VtdSim.Cli.Qtest;

/// <summary>What machine a qtest server serves: the VT-d profile of its unit and the RAM size.</summary>
public sealed record QtestMachineOptions
{
    public const ulong DefaultRamSize = 4UL << 30;

    /// <summary>The default profile is QEMU 7.2's intel-iommu, so a script written against QEMU runs unchanged.</summary>
    public VtdProfile Profile { get; init; } = BuiltInProfiles.Qemu72Legacy;
    /// <summary>RAM covers [0, RamSize) minus the register page; it is sparse, so only touched 4 KiB frames cost memory.</summary>
    public ulong RamSize { get; init; } = DefaultRamSize;
}
