using VtdSim.Hardware.Profiles;
using E = VtdSim.Hardware.Registers.ExtendedCapabilityBit;

namespace VtdSim.Cli.Qtest;

/// <summary>What machine a qtest server serves: the VT-d profile (after the QEMU-style property overrides) and the RAM size.</summary>
public sealed record QtestMachineOptions
{
    public const ulong DefaultRamSize = 4UL << 30;

    /// <summary>The default profile is QEMU 7.2's intel-iommu, so a script written against QEMU runs unchanged.</summary>
    public VtdProfile Profile { get; init; } = BuiltInProfiles.Qemu72Legacy;
    /// <summary>RAM covers [0, RamSize) minus the register page; it is sparse, so only touched 4 KiB frames cost memory.</summary>
    public ulong RamSize { get; init; } = DefaultRamSize;

    /// <summary>
    /// Applies QEMU intel-iommu properties to a profile the way QEMU's vtd_cap_init derives CAP/ECAP from them. A null
    /// argument leaves the profile's own value. aw-bits (39 or 48) sets CAP.MGAW = aw-1, SAGAW = 39-bit (plus 48-bit when
    /// aw is 48) and the host address width; scalable-mode sets ECAP.SMTS, SRS and SSTS (QEMU without x-flts) or clears
    /// them; caching-mode is CAP.CM; snoop-control is ECAP.SC.
    /// </summary>
    public static VtdProfile ApplyQemuProperties(VtdProfile profile, int? awBits = null, bool? scalableMode = null, bool? cachingMode = null,
        bool? snoopControl = null)
    {
        ArgumentNullException.ThrowIfNull(profile);
        var changes = new List<string>();
        var cap = profile.Cap;
        var ecap = profile.Ecap;
        int haw = profile.HostAddressWidth;
        if (awBits is int aw)
        {
            if (aw is not (39 or 48))
                throw new ArgumentException($"--aw-bits {aw} is not supported; QEMU's intel-iommu accepts 39 or 48");
            cap = cap.WithMaximumGuestAddressWidth(aw).WithSupportedAdjustedGuestAddressWidths(aw >= 48 ? 0b0110 : 0b0010);
            haw = aw;
            changes.Add($"aw-bits={aw}");
        }
        if (scalableMode is bool sm)
        {
            ecap = ecap.With(E.SMTS, sm).With(E.SRS, sm).With(E.SSTS, sm);
            changes.Add($"scalable-mode={OnOff(sm)}");
        }
        if (cachingMode is bool cm)
        {
            cap = cap.WithCachingMode(cm);
            changes.Add($"caching-mode={OnOff(cm)}");
        }
        if (snoopControl is bool sc)
        {
            ecap = ecap.With(E.SC, sc);
            changes.Add($"snoop-control={OnOff(sc)}");
        }
        if (changes.Count == 0) return profile;
        string what = string.Join(",", changes);
        var result = profile with
        {
            Name = $"{profile.Name}+{what}",
            Description = $"{profile.Description}; with {what}",
            Cap = cap,
            Ecap = ecap,
            HostAddressWidth = haw,
        };
        result.Validate();
        return result;
    }

    private static string OnOff(bool on) => on ? "on" : "off";
}
