using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Registers;

namespace VtdSim.Hardware.Tests.Support;

/// <summary>Profiles the fault and register tests need that are not built in, each with the reason it exists.</summary>
public static class FaultProfiles
{
    /// <summary>The built-in qemu-7.2 profile (legacy mode, one fault record, faults compressed by source id).</summary>
    public static VtdProfile Qemu72Legacy => BuiltInProfiles.Qemu72Legacy;

    /// <summary>The built-in qemu-7.2-scalable profile.</summary>
    public static VtdProfile Qemu72Scalable => BuiltInProfiles.Qemu72Scalable;

    /// <summary>The architectural unit plus ECAP.ADMS: the only way to reach abort-DMA mode (TTM=11), as no built-in profile has ADMS.</summary>
    public static VtdProfile WithAbortDma { get; } = BuiltInProfiles.Architectural with
    {
        Name = "architectural+adms",
        Ecap = BuiltInProfiles.Architectural.Ecap.With(ExtendedCapabilityBit.ADMS, true),
    };

    /// <summary>
    /// The architectural unit that also offers 39-bit/3-level second-stage tables (SAGAW bit 1). A 3-level second stage
    /// accepts GPAs below 2^39, so a GPA in [2^39, 2^46) is beyond the second stage's width without being a reserved
    /// address bit (HAW 46): what SFS.5 and SGN.5 need.
    /// </summary>
    public static VtdProfile With39BitSecondStage { get; } = BuiltInProfiles.Architectural with
    {
        Name = "architectural+sagaw39",
        Cap = BuiltInProfiles.Architectural.Cap.WithSupportedAdjustedGuestAddressWidths(0b01110),
    };
}
