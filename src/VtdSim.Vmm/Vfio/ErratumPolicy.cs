namespace VtdSim.Vmm.Vfio;

/// <summary>
/// How a VMM handles read-only guest memory for a passthrough device, and whether it asks for a nest parent
/// (the VMM property `erratum-policy`; docs/vmm.md "Erratum policies", decisions F1–F8).
/// </summary>
public enum ErratumPolicy
{
    /// <summary>QEMU before 11: never nests (the device is attached to the IOAS), maps read-only sections read-only.</summary>
    Qemu72,

    /// <summary>
    /// QEMU 11: a nest parent (plus dirty tracking where offered) when the vIOMMU wants nesting (x-flts=on); with
    /// IOMMU_HW_INFO_VTD_ERRATA_772415_SPR17 reported, bypass_ro: read-only sections are not mapped at all.
    /// </summary>
    Qemu11,

    /// <summary>Asks for a nest parent like QEMU 11 but maps read-only sections read-only: the kernel refuses them (EINVAL).</summary>
    WantsNestingMapsRo,

    /// <summary>A VMM that never adds a read-only mapping (the seed thread's proprietary VMMs): read-only sections are mapped read-write.</summary>
    NeverRo,
}

/// <summary>The property's values as the command line spells them.</summary>
public static class ErratumPolicies
{
    private static readonly (string Name, ErratumPolicy Policy)[] Names =
    [
        ("qemu-7.2", ErratumPolicy.Qemu72),
        ("qemu-11", ErratumPolicy.Qemu11),
        ("wants-nesting-maps-ro", ErratumPolicy.WantsNestingMapsRo),
        ("never-ro", ErratumPolicy.NeverRo),
    ];

    public static IReadOnlyList<ErratumPolicy> All { get; } = Names.Select(n => n.Policy).ToArray();

    public static string Name(this ErratumPolicy policy) => Names.First(n => n.Policy == policy).Name;

    /// <summary>Parses a value of `erratum-policy`; an unknown one gets QEMU's enum-property error text.</summary>
    public static bool TryParse(string value, out ErratumPolicy policy, out string error)
    {
        foreach (var (name, p) in Names)
        {
            if (name == value)
            {
                policy = p;
                error = "";
                return true;
            }
        }
        policy = default;
        error = $"Parameter 'erratum-policy' does not accept value '{value}'";
        return false;
    }
}
