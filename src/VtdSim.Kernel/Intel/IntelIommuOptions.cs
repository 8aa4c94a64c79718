namespace VtdSim.Kernel.Intel;

/// <summary>Kernel command-line style switches of the Intel IOMMU driver.</summary>
public sealed record IntelIommuOptions
{
    /// <summary>
    /// intel_iommu=on / off: whether the driver takes the remapping units. Off (Linux's dmar_disabled), the driver
    /// leaves every unit with translation disabled, so DMA passes untranslated, and no device has an IOMMU.
    /// </summary>
    public bool Enabled { get; init; } = true;

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

    /// <summary>
    /// Applies the intel_iommu= parameters of a kernel command line (words separated by spaces), in order, as Linux's
    /// intel_iommu_setup does, starting from <paramref name="start"/> (the defaults if null), and writes the lines Linux
    /// prints for them to <paramref name="log"/>. Each value is a comma-separated list; each item is matched by its
    /// prefix as Linux's strncmp does: on, off, igfx_off, forcedac, strict, sp_off, sm_on, sm_off, tboot_noforce.
    /// An item that matches none is reported ("Unknown option - '…'", with the rest of the value) and skipped. Other
    /// parameters are not the driver's and are ignored. Options the model has no switch for (igfx_off, forcedac,
    /// strict, tboot_noforce) are logged and change nothing (decisions B5).
    /// </summary>
    public static IntelIommuOptions FromCommandLine(string commandLine, KernelLog? log = null, IntelIommuOptions? start = null)
    {
        var options = start ?? Default;
        foreach (string word in commandLine.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            const string Key = "intel_iommu=";
            if (!word.StartsWith(Key, StringComparison.Ordinal)) continue;
            string value = word[Key.Length..];
            int at = 0;
            while (at < value.Length)
            {
                string rest = value[at..];
                options = Apply(options, rest, log);
                int comma = rest.IndexOf(',');
                at = comma < 0 ? value.Length : at + comma;
                while (at < value.Length && value[at] == ',') at++;
            }
        }
        return options;
    }

    private static IntelIommuOptions Apply(IntelIommuOptions o, string item, KernelLog? log)
    {
        // The order matters: Linux tests "on" before "off", so "on" is taken by the first prefix test that matches.
        (IntelIommuOptions Next, string Line) r = item switch
        {
            _ when item.StartsWith("on", StringComparison.Ordinal) => (o with { Enabled = true }, "IOMMU enabled"),
            _ when item.StartsWith("off", StringComparison.Ordinal) => (o with { Enabled = false }, "IOMMU disabled"),
            _ when item.StartsWith("igfx_off", StringComparison.Ordinal) => (o, "Disable GFX device mapping"),
            _ when item.StartsWith("forcedac", StringComparison.Ordinal) => (o, "intel_iommu=forcedac deprecated; use iommu.forcedac instead"),
            _ when item.StartsWith("strict", StringComparison.Ordinal) => (o, "intel_iommu=strict deprecated; use iommu.strict=1 instead"),
            _ when item.StartsWith("sp_off", StringComparison.Ordinal) => (o with { SuperPages = false }, "Disable supported super page"),
            _ when item.StartsWith("sm_on", StringComparison.Ordinal) => (o with { ScalableMode = true }, "Enable scalable mode if hardware supports"),
            _ when item.StartsWith("sm_off", StringComparison.Ordinal) => (o with { ScalableMode = false }, "Scalable mode is disallowed"),
            _ when item.StartsWith("tboot_noforce", StringComparison.Ordinal) =>
                (o, "Intel-IOMMU: not forcing on after tboot. This could expose security risk for tboot"),
            _ => (o, $"Unknown option - '{item}'"),
        };
        log?.Write("DMAR: ", r.Line);
        return r.Next;
    }
}
