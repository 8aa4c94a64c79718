using System.Diagnostics.CodeAnalysis;
using VtdSim.Hardware.Caches;
using VtdSim.Hardware.Registers;
using E = VtdSim.Hardware.Registers.ExtendedCapabilityBit;

namespace VtdSim.Hardware.Profiles;

/// <summary>The profiles VtdSim ships with. Values and their sources are listed in docs/profiles.md.</summary>
public static class BuiltInProfiles
{
    /// <summary>
    /// A Sapphire Rapids-like unit: scalable mode with first and second stage, nesting, 20-bit PASIDs, second-stage A/D,
    /// 4- and 5-level tables on both stages, 2 MiB and 1 GiB pages, erratum 772415 on. CAP/ECAP are built from these
    /// features, not copied from a part.
    /// </summary>
    public static VtdProfile SapphireRapids { get; } = new()
    {
        Name = "sapphire-rapids",
        Description = "Sapphire Rapids-like: scalable, FS+SS+NEST, 5-level, 1 GiB pages, SS A/D, erratum 772415 (SPR17) ON",
        Version = 0x60,
        Cap = ModernCap(),
        Ecap = ModernEcap(),
        HostAddressWidth = 46,
        Erratum772415 = true,
        ErratumReach = ErratumReach.TopLevelOnly,
    };

    /// <summary>The same capabilities as <see cref="SapphireRapids"/>, behaving as the specification says (erratum off).</summary>
    public static VtdProfile Architectural { get; } = SapphireRapids with
    {
        Name = "architectural",
        Description = "same capabilities as sapphire-rapids, behaving exactly as the VT-d specification says (no erratum)",
        Erratum772415 = false,
    };

    /// <summary>
    /// QEMU's caches (declared before the QEMU profiles, which use it during static initialisation): one cached context entry per device (unbounded there; 4096 here), no PASID cache (7.2 reads PASID
    /// entries from guest memory on every translation), a 1024-entry hash-table IOTLB emptied when full, and no
    /// paging-structure caches.
    /// </summary>
    public static CacheSizes QemuCaches { get; } = new(
        Context: new CacheGeometry(1, 4096),
        Pasid: CacheGeometry.None,
        Iotlb: new CacheGeometry(1, 1024, CacheReplacement.FlushWhenFull),
        FirstStagePagingStructures: CacheGeometry.None,
        SecondStagePagingStructures: CacheGeometry.None);

    /// <summary>
    /// Debian QEMU 7.2 intel-iommu with default properties under TCG/qtest (aw-bits=39, intremap on, eim off), derived
    /// by <see cref="QemuIntelIommu"/>; the values measured on 7.2.22 are in the tests (CAP 0x00d2008c22260206, ECAP 0xf00f4a).
    /// </summary>
    public static VtdProfile Qemu72Legacy { get; } = new QemuIntelIommu { Version = QemuVersion.Qemu72 }
        .ToProfile("qemu-7.2", "QEMU 7.2 intel-iommu defaults (legacy mode, aw-bits=39, one fault record)");

    /// <summary>Debian QEMU 7.2 intel-iommu with x-scalable-mode=on: scalable mode, second stage only (ECAP 0x480080f00f4a measured).</summary>
    public static VtdProfile Qemu72Scalable { get; } = new QemuIntelIommu { Version = QemuVersion.Qemu72, ScalableMode = true }
        .ToProfile("qemu-7.2-scalable", "QEMU 7.2 intel-iommu with x-scalable-mode=on (scalable, second stage only)");

    public static IReadOnlyList<VtdProfile> All { get; } = [SapphireRapids, Architectural, Qemu72Legacy, Qemu72Scalable];

    /// <summary>A built-in profile by name, in any case.</summary>
    /// <exception cref="ArgumentException">No profile has that name; the message lists the known ones.</exception>
    public static VtdProfile Find(string name) =>
        TryFind(name, out VtdProfile? profile, out string error) ? profile : throw new ArgumentException(error);

    /// <summary>As <see cref="Find"/>, without an exception: false and a message that lists the known profiles.</summary>
    public static bool TryFind(string name, [NotNullWhen(true)] out VtdProfile? profile, out string error)
    {
        profile = All.FirstOrDefault(p => string.Equals(p.Name, name, StringComparison.OrdinalIgnoreCase));
        error = profile is null ? $"unknown profile '{name}'; known profiles: {string.Join(", ", All.Select(p => p.Name))}" : "";
        return profile is not null;
    }

    private static Capability ModernCap() => new Capability(0)
        .WithNumberOfDomains(6)
        .WithSupportedAdjustedGuestAddressWidths(0b01100) // 48-bit/4-level and 57-bit/5-level
        .WithMaximumGuestAddressWidth(57)
        .WithZeroLengthRead(true)
        .WithFaultRecordingOffset(0x220)
        .WithNumberOfFaultRecords(8)
        .WithSecondStageLargePages(twoMiB: true, oneGiB: true)
        .WithPageSelectiveInvalidation(true)
        .WithMaximumAddressMaskValue(18)
        .WithDraining(true)
        .WithFirstStage1GiBPages(true)
        .WithFirstStage5LevelPaging(true)
        .WithEnhancedSetRootTablePointer(true);

    private static ExtendedCapability ModernEcap()
    {
        var e = new ExtendedCapability(0).WithIotlbRegisterOffset(0x200).WithMaximumHandleMaskValue(15).WithPasidWidth(20);
        foreach (int bit in new[] { E.C, E.QI, E.DT, E.IR, E.EIM, E.PT, E.SC, E.NEST, E.ERS, E.SRS, E.EAFS, E.PASID, E.SMTS, E.SSADS,
                     E.SSTS, E.FSTS, E.SMPWCS, E.RPS })
            e = e.With(bit, true);
        return e;
    }
}
