namespace VtdSim.Kernel.Intel;

/// <summary>Kernel command-line style switches of the Intel IOMMU driver.</summary>
public sealed record IntelIommuOptions
{
    /// <summary>intel_iommu=sm_on: use scalable mode when the unit offers it (else legacy mode).</summary>
    public bool ScalableMode { get; init; } = true;

    /// <summary>
    /// Refuse read-only mappings in nest-parent domains (erratum 772415, Linux 6.7 and later). Off models kernels
    /// before 6.7, which map them and let the erratum write into read-only memory.
    /// </summary>
    public bool EnforceErratum772415 { get; init; } = true;

    /// <summary>Use first-stage tables for plain paging domains when the unit has them (Linux's first_level_by_default).</summary>
    public bool FirstStageByDefault { get; init; } = true;

    /// <summary>intel_iommu_superpage: map with 2 MiB / 1 GiB pages when the unit supports them.</summary>
    public bool SuperPages { get; init; } = true;

    public static IntelIommuOptions Default { get; } = new();
}
