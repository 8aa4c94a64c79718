namespace VtdSim.Scenarios.Matrix;

/// <summary>The vIOMMU the VMM gives its guest, as the matrix varies it.</summary>
public enum MatrixViommu
{
    /// <summary>No `-device intel-iommu`: the device's addresses are GPAs, the VMM's IOAS is all there is.</summary>
    None,

    /// <summary>`-device intel-iommu,caching-mode=on`: legacy mode, the guest's second-stage tables shadowed by the VMM.</summary>
    LegacyCachingMode,

    /// <summary>`-device intel-iommu,x-scalable-mode=on,x-flts=on,caching-mode=on`: a first stage only, nested on the host.</summary>
    XFlts,
}

/// <summary>What the guest does with its device.</summary>
public enum MatrixGuest
{
    /// <summary>Maps a buffer through its iommufd and lets the device write it.</summary>
    Benign,

    /// <summary>The same, then moves the device's first-stage root table onto the VGA BIOS page (0xc0000) before the DMA.</summary>
    Malicious,
}

/// <summary>
/// One configuration of the compatibility matrix (docs/scenarios.md, "The compatibility matrix"): the host's unit (the
/// erratum or not), the host kernel's erratum rule, the VMM's erratum policy, the vIOMMU and the guest.
/// </summary>
public sealed record MatrixCell(bool HostErratum, bool KernelRule, string Policy, MatrixViommu Viommu, MatrixGuest Guest)
{
    /// <summary>The host's profile: sapphire-rapids has the erratum, architectural does not.</summary>
    public string Profile => HostErratum ? "sapphire-rapids" : "architectural";

    /// <summary>The vIOMMU as the matrix names it.</summary>
    public string ViommuName => Viommu switch
    {
        MatrixViommu.None => "none",
        MatrixViommu.LegacyCachingMode => "legacy,caching-mode",
        _ => "x-flts",
    };

    /// <summary>The intel-iommu properties, or null for no vIOMMU.</summary>
    public string? IntelIommuProperties => Viommu switch
    {
        MatrixViommu.None => null,
        MatrixViommu.LegacyCachingMode => "caching-mode=on",
        _ => "x-scalable-mode=on,x-flts=on,caching-mode=on",
    };

    public string GuestName => Guest == MatrixGuest.Benign ? "benign" : "malicious";

    /// <summary>
    /// Why a malicious guest cannot do its act in this configuration (null: it can). Only a vIOMMU that offers a first
    /// stage (x-flts) lets a guest point the hardware at a first-stage table of its own: without a vIOMMU the guest has no
    /// translation tables, and a legacy vIOMMU's tables are read by the VMM (shadowing), never walked by the host IOMMU.
    /// </summary>
    public string? NotApplicable => Guest == MatrixGuest.Benign ? null : Viommu switch
    {
        MatrixViommu.None => "no vIOMMU: the guest has no translation tables to place (it runs as the benign guest)",
        MatrixViommu.LegacyCachingMode => "a legacy vIOMMU has no first stage, and the VMM shadows its tables: the host IOMMU never walks them (it runs as the benign guest)",
        _ => null,
    };

    /// <summary>A one-line name of the configuration (also the generated scenario's name).</summary>
    public override string ToString() =>
        $"{Profile}, erratum rule {(KernelRule ? "on" : "off")}, {Policy}, vIOMMU {ViommuName}, {GuestName} guest";
}
