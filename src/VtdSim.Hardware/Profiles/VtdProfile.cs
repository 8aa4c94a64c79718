using VtdSim.Hardware.Caches;
using VtdSim.Hardware.Registers;

namespace VtdSim.Hardware.Profiles;

/// <summary>
/// Everything that distinguishes one remapping unit from another: the capability registers it reports and the
/// behaviours the specification leaves to the implementation (or that errata change).
/// </summary>
public sealed record VtdProfile
{
    public required string Name { get; init; }
    public required string Description { get; init; }
    /// <summary>VER register value: major in bits 7:4, minor in 3:0.</summary>
    public required uint Version { get; init; }
    public required Capability Cap { get; init; }
    public required ExtendedCapability Ecap { get; init; }
    /// <summary>HAW: host address width in bits; pointer and address bits at or above it are reserved.</summary>
    public required int HostAddressWidth { get; init; }
    /// <summary>Sapphire Rapids erratum 772415 (SPR17): nested first-stage A/EA/D updates ignore second-stage read-only.</summary>
    public bool Erratum772415 { get; init; }
    public ErratumReach ErratumReach { get; init; } = ErratumReach.TopLevelOnly;
    /// <summary>Drop a fault whose source id equals that of a still-pending fault record (allowed by the spec; QEMU does it).</summary>
    public bool CompressFaultsBySourceId { get; init; }

    /// <summary>The translation caches' geometry and replacement.</summary>
    public CacheSizes Caches { get; init; } = DefaultCaches;

    /// <summary>A modest hardware-like set: 64 context, 128 PASID, 1024 IOTLB, 64+64 paging-structure entries, LRU.</summary>
    public static CacheSizes DefaultCaches { get; } = new(
        Context: new CacheGeometry(16, 4),
        Pasid: new CacheGeometry(32, 4),
        Iotlb: new CacheGeometry(128, 8),
        FirstStagePagingStructures: new CacheGeometry(16, 4),
        SecondStagePagingStructures: new CacheGeometry(16, 4));

    /// <summary>Checks that the capability registers are consistent with themselves and with the register layout.</summary>
    public void Validate()
    {
        var problems = new List<string>();
        int fro = Cap.FaultRecordingOffset, nfr = Cap.NumberOfFaultRecords, iro = Ecap.IotlbRegisterOffset;
        if (fro < 0xF0 || fro + 16 * nfr > RegisterOffset.Size) problems.Add($"fault records at 0x{fro:x} x{nfr} do not fit in the register page");
        // Both may start at 0xF0 (QEMU puts IVA there), right after the fixed registers that end with the PRQ block.
        if (iro < 0xF0 || iro + 16 > RegisterOffset.Size) problems.Add($"IOTLB registers at 0x{iro:x} do not fit in the register page");
        if (iro < fro + 16 * nfr && fro < iro + 16) problems.Add($"IOTLB registers at 0x{iro:x} overlap the fault records at 0x{fro:x}");
        if (HostAddressWidth is < 32 or > 52) problems.Add($"host address width {HostAddressWidth} is outside 32..52");
        if (Cap.SupportedAdjustedGuestAddressWidths == 0 && (Ecap.SecondStageTranslation || !Ecap.ScalableModeTranslation))
            problems.Add("SAGAW is empty but second-stage translation is offered");
        if (Ecap.NestedTranslation && !(Ecap.FirstStageTranslation && Ecap.SecondStageTranslation))
            problems.Add("NEST needs both FSTS and SSTS");
        if (Erratum772415 && !Ecap.NestedTranslation) problems.Add("erratum 772415 only concerns units with nested translation");
        try { Caches.Validate(); }
        catch (ArgumentException e) { problems.Add(e.Message); }
        if (problems.Count != 0)
            throw new InvalidOperationException($"profile '{Name}' is inconsistent: {string.Join("; ", problems)}");
    }

    public override string ToString() => Name;
}
