using System.Globalization;

namespace VtdSim.Vmm.Machines;

/// <summary>QEMU's x86 machine types the model lays out (`-M`).</summary>
public enum MachineType
{
    /// <summary>`q35`: the ICH9/MCH chipset (PCI Express, MMCONFIG).</summary>
    Q35,

    /// <summary>`pc`: the i440FX/PIIX3 chipset.</summary>
    Pc,
}

/// <summary>
/// What a QEMU command line says about the machine's memory map: `-M`, `-m`, `-nodefaults`, `-device intel-iommu`,
/// extra `-device e1000e` NICs (q35), and whether to show the state SeaBIOS leaves (<see cref="Booted"/>) instead of
/// the state at reset.
/// </summary>
public sealed record MachineOptions
{
    public MachineType Type { get; init; } = MachineType.Q35;

    /// <summary>Guest RAM in bytes (`-m`; QEMU's default is 128 MiB).</summary>
    public ulong RamSize { get; init; } = 128UL << 20;

    /// <summary>Without `-nodefaults` QEMU adds a standard VGA and a NIC (e1000e on q35, e1000 on pc).</summary>
    public bool Defaults { get; init; } = true;

    /// <summary>`-device intel-iommu` (q35 only, as in QEMU).</summary>
    public bool IntelIommu { get; init; }

    /// <summary>Further `-device e1000e` NICs after the default one (q35).</summary>
    public int ExtraNics { get; init; }

    /// <summary>The map after SeaBIOS ran (BARs assigned, PAM set, SMRAM and MMCONFIG programmed) rather than at reset.</summary>
    public bool Booted { get; init; }

    /// <summary>The largest `-m` the model takes: 4 TiB (the largest guest).</summary>
    public const ulong MaxRamSize = 4UL << 40;

    /// <summary>
    /// Parses a size as QEMU's `-m` does: a number with an optional suffix K, M, G, T (powers of 1024, either case);
    /// a plain number is MiB; a fraction is allowed with a suffix ("1.5G"). Refuses with a message in words.
    /// </summary>
    public static bool TryParseRamSize(string text, out ulong bytes, out string error)
    {
        bytes = 0;
        error = "";
        string t = text.Trim();
        if (t.Length == 0)
        {
            error = "'' is not a size (give a number of MiB, or one with a K, M, G or T suffix, e.g. 2G)";
            return false;
        }
        int shift = char.ToUpperInvariant(t[^1]) switch { 'K' => 10, 'M' => 20, 'G' => 30, 'T' => 40, 'B' => 0, _ => -1 };
        string number = shift >= 0 ? t[..^1] : t;
        if (shift < 0) shift = 20;
        if (number.Length == 0 || !number.All(c => char.IsAsciiDigit(c) || c == '.') || number.Count(c => c == '.') > 1 || number[0] == '.' || number[^1] == '.'
            || !decimal.TryParse(number, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out decimal value))
        {
            error = $"'{text}' is not a size (give a number of MiB, or one with a K, M, G or T suffix, e.g. 2G)";
            return false;
        }
        decimal scaled = value * (decimal)Math.Pow(2, shift);
        if (scaled != decimal.Truncate(scaled) || scaled > MaxRamSize)
        {
            error = scaled > MaxRamSize ? $"'{text}' is more than the model takes (4T at most)" : $"'{text}' is not a whole number of bytes";
            return false;
        }
        bytes = (ulong)scaled;
        if (bytes < (1UL << 20))
        {
            error = $"'{text}' is less than 1 MiB, too small for a PC machine";
            return false;
        }
        if ((bytes & 0xfff) != 0)
        {
            error = $"'{text}' is not a whole number of 4 KiB pages";
            return false;
        }
        return true;
    }
}
