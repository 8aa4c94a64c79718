namespace VtdSim.Hardware.Profiles;

/// <summary>Which first-stage entries erratum 772415 (SPR17) lets the hardware update despite a read-only second stage.</summary>
public enum ErratumReach
{
    /// <summary>Only the top-level entry (PML5E, or PML4E for 4-level tables), as Intel's erratum text words it.</summary>
    TopLevelOnly,
    /// <summary>Every first-stage level, leaf D included, as the Linux/QEMU thread describes it ("either level").</summary>
    AllLevels,
}
