using System.Globalization;

namespace VtdSim.Vmm.Devices;

/// <summary>
/// One `-device edu,…` or `-device iommu-testdev,…` as QEMU parses it (decisions E18–E20): the model, `addr=SLOT[.FN]`
/// (hexadecimal, as QEMU's PCI address property), edu's `dma_mask` (an unsigned 64-bit integer: decimal, 0x hex,
/// 0 octal, a negative number wraps), `id=` and `bus=` (the root bus: "pcie.0" on q35, "pci.0" on pc). A property
/// given twice takes the last value, a name without `=` means `=on`. Errors are QEMU's texts; properties QEMU has but
/// the model does not (romfile, rombar, multifunction, …) are refused by name, never ignored.
/// </summary>
public sealed record DeviceOptions
{
    /// <summary>The device models the model emulates (iommu-testdev is a QEMU 2026 device; QEMU 7.2 has edu only).</summary>
    public static readonly IReadOnlyList<string> Models = ["edu", "iommu-testdev"];

    /// <summary>PCI device properties QEMU has on every function that the model does not emulate.</summary>
    private static readonly string[] Unmodelled = ["romfile", "rombar", "romsize", "multifunction", "x-pcie-lnksta-dllla", "x-pcie-extcap-init", "failover_pair_id", "acpi-index"];

    private DeviceOptions(string model, string text)
    {
        Model = model;
        Text = text;
    }

    public string Model { get; }

    /// <summary>The option's text as given (QEMU names it in its messages: `-device TEXT: …`).</summary>
    public string Text { get; }

    /// <summary>`addr=`: the devfn on bus 0, or null for the first free slot.</summary>
    public int? DevFn { get; private init; }

    /// <summary>edu's `dma_mask`.</summary>
    public ulong DmaMask { get; private init; } = Edu.DefaultDmaMask;

    public string? Id { get; private init; }

    /// <summary>`bus=`, if given (checked against the machine's root bus when the device is placed).</summary>
    public string? Bus { get; private init; }

    /// <summary>Where QEMU's messages about this device start: `-device TEXT`.</summary>
    public string Location => $"-device {Text}";

    /// <summary>Parses the text after `-device`. False with QEMU's message (without the location) for bad input.</summary>
    public static bool TryParse(string text, out DeviceOptions? device, out string error)
    {
        device = null;
        error = "";
        if (text is null)
        {
            error = "Parameter 'driver' is missing";
            return false;
        }
        string[] parts = text.Split(',');
        string model = parts[0];
        if (model.Length == 0 || model.Contains('='))
        {
            error = "Parameter 'driver' is missing";
            return false;
        }
        if (!Models.Contains(model))
        {
            error = $"'{model}' is not a valid device model name";
            return false;
        }
        var result = new DeviceOptions(model, text);
        foreach (string part in parts.Skip(1))
        {
            int eq = part.IndexOf('=');
            string name = eq < 0 ? part : part[..eq];
            string value = eq < 0 ? "on" : part[(eq + 1)..];
            switch (name)
            {
                case "addr":
                    if (!TryParseDevFn(value, out int devFn))
                    {
                        error = $"Property '{model}.addr' doesn't take value '{value}'";
                        return false;
                    }
                    result = result with { DevFn = devFn };
                    break;
                case "dma_mask" when model == "edu":
                    if (!TryParseUInt64(value, out ulong mask))
                    {
                        error = "Parameter 'dma_mask' expects integer";
                        return false;
                    }
                    result = result with { DmaMask = mask };
                    break;
                case "id":
                    result = result with { Id = value };
                    break;
                case "bus":
                    result = result with { Bus = value };
                    break;
                default:
                    error = Unmodelled.Contains(name)
                        ? $"Property '{model}.{name}' is not modelled by vtdsim"
                        : QemuProperties.NotFound(model, name);
                    return false;
            }
        }
        device = result;
        return true;
    }

    /// <summary>QEMU's PCI address property: SLOT[.FUNCTION], each hexadecimal (strtoul base 16: an optional 0x), slot ≤ 0x1f, function ≤ 7.</summary>
    private static bool TryParseDevFn(string value, out int devFn)
    {
        devFn = 0;
        string[] parts = value.Split('.');
        if (parts.Length > 2 || !TryHex(parts[0], out ulong slot) || slot > 0x1f) return false;
        ulong function = 0;
        if (parts.Length == 2 && (!TryHex(parts[1], out function) || function > 7)) return false;
        devFn = (int)(slot << 3 | function);
        return true;

        static bool TryHex(string s, out ulong v)
        {
            if (s.StartsWith("0x", StringComparison.OrdinalIgnoreCase)) s = s[2..];
            v = 0;
            return s.Length > 0 && ulong.TryParse(s, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out v);
        }
    }

    /// <summary>QEMU's qemu_strtou64 with base 0: decimal, 0x hexadecimal, a leading 0 octal; a leading '-' negates modulo 2^64.</summary>
    internal static bool TryParseUInt64(string value, out ulong result)
    {
        result = 0;
        string s = value;
        bool negative = false;
        if (s.StartsWith('-') || s.StartsWith('+'))
        {
            negative = s[0] == '-';
            s = s[1..];
        }
        bool ok;
        if (s.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
            ok = s.Length > 2 && ulong.TryParse(s[2..], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out result);
        else if (s.Length > 1 && s[0] == '0')
            ok = TryOctal(s[1..], out result);
        else
            ok = s.Length > 0 && s.All(char.IsAsciiDigit) && ulong.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out result);
        if (!ok) return false;
        if (negative) result = unchecked(0UL - result);
        return true;

        static bool TryOctal(string s, out ulong v)
        {
            v = 0;
            foreach (char c in s)
            {
                if (c is < '0' or > '7' || v > ulong.MaxValue >> 3) return false;
                v = (v << 3) + (uint)(c - '0');
            }
            return true;
        }
    }
}

/// <summary>QEMU's property parsing and messages, shared by every `-device` and option the model parses.</summary>
public static class QemuProperties
{
    public static string NotFound(string model, string property) => $"Property '{model}.{property}' not found";

    /// <summary>QEMU's boolean parser (qapi's parse_type_bool): on/yes/true/y and off/no/false/n, else its message.</summary>
    public static bool TryParseBool(string name, string value, out bool on, out string error)
    {
        error = "";
        switch (value)
        {
            case "on" or "yes" or "true" or "y":
                on = true;
                return true;
            case "off" or "no" or "false" or "n":
                on = false;
                return true;
            default:
                on = false;
                error = $"Parameter '{name}' expects 'on' or 'off'";
                return false;
        }
    }
}
