using VtdSim.Hardware.Profiles;

namespace VtdSim.Differential.Tests.Infrastructure;

/// <summary>
/// One configuration of the machine under test: the intel-iommu properties QEMU gets, the VtdSim profile that
/// reproduces its registers (docs/profiles.md), and how many edu devices the machine has.
/// </summary>
public sealed record TargetConfig(string Name, string IommuProperties, VtdProfile Profile, int Devices = 1)
{
    /// <summary>RAM of both machines. QEMU's q35 puts all of it below 4 GiB.</summary>
    public const ulong RamSize = 256UL << 20;

    /// <summary>QEMU: -device intel-iommu (aw-bits=39, legacy mode); VtdSim: qemu-7.2.</summary>
    public static TargetConfig Legacy { get; } = new("legacy", "", BuiltInProfiles.Qemu72Legacy);

    /// <summary>QEMU: -device intel-iommu,x-scalable-mode=on; VtdSim: qemu-7.2-scalable.</summary>
    public static TargetConfig Scalable { get; } = new("scalable", "x-scalable-mode=on", BuiltInProfiles.Qemu72Scalable);

    public TargetConfig WithTwoDevices() => this with { Name = Name + "+2dev", Devices = 2 };
}
