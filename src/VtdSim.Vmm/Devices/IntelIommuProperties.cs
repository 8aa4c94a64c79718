using System.Globalization;
using VtdSim.Hardware.Profiles;

namespace VtdSim.Vmm.Devices;

/// <summary>QEMU's OnOffAuto property type (`on`, `off`, `auto`).</summary>
public enum OnOffAuto
{
    Auto,
    On,
    Off,
}

/// <summary>
/// The properties of QEMU's `-device intel-iommu` (with those of its x86-iommu base) for one QEMU version: their
/// types, their defaults in that version, QEMU's parsers and error texts for their values, and the checks QEMU makes
/// when it realizes the device, in QEMU's order and with its messages (docs/vmm.md "The vIOMMU device", decisions
/// P1–P12). Immutable: setting a property gives a new value. The machine is TCG-like (qtest), never KVM: intremap=auto
/// is on and eim=auto is off. Nothing here throws for bad input: a failure is false with QEMU's message.
/// </summary>
public sealed class IntelIommuProperties
{
    private enum Kind
    {
        Bool,
        Uint8,
        Uint32,
        OnOffAuto,
    }

    /// <summary>One property: its name, type, and default per version (null: the version does not have it).</summary>
    private sealed record Property(string Name, Kind Kind, ulong? Default72, ulong? Default11);

    // The properties of `-device intel-iommu,help` on Debian's 7.2.22 (qemu-facts §1.1), plus 10.0's x-flts, fs1gp and
    // stale-tm (also in 11.0); x-buggy-eim left in the 11.0 cycle with the 2.x machine types (decision P2).
    private static readonly Property[] Table =
    [
        new("aw-bits", Kind.Uint8, 39, 48),
        new("caching-mode", Kind.Bool, 0, 0),
        new("device-iotlb", Kind.Bool, 0, 0),
        new("dma-drain", Kind.Bool, 1, 1),
        new("dma-translation", Kind.Bool, 1, 1),
        new("eim", Kind.OnOffAuto, (ulong)OnOffAuto.Auto, (ulong)OnOffAuto.Auto),
        new("fs1gp", Kind.Bool, null, 1),
        new("intremap", Kind.OnOffAuto, (ulong)OnOffAuto.Auto, (ulong)OnOffAuto.Auto),
        new("pt", Kind.Bool, 1, 1),
        new("snoop-control", Kind.Bool, 0, 0),
        new("stale-tm", Kind.Bool, null, 0),
        new("version", Kind.Uint32, 0, 0),
        new("x-buggy-eim", Kind.Bool, 0, null),
        new("x-flts", Kind.Bool, null, 0),
        new("x-pasid-mode", Kind.Bool, 0, 0),
        new("x-scalable-mode", Kind.Bool, 0, 0),
    ];

    private readonly ulong[] values;
    private readonly string[] given;

    private IntelIommuProperties(QemuVersion version, ulong[] values, string[] given)
    {
        Version = version;
        this.values = values;
        this.given = given;
    }

    /// <summary>The QEMU release whose intel-iommu this is.</summary>
    public QemuVersion Version { get; }

    /// <summary>The properties given (rather than defaulted), in the order first given.</summary>
    public IReadOnlyList<string> Given => Array.AsReadOnly(given);

    public int AwBits => (int)Get("aw-bits");
    public bool CachingMode => Get("caching-mode") != 0;
    public bool DeviceIotlb => Get("device-iotlb") != 0;
    public bool DmaDrain => Get("dma-drain") != 0;
    public bool DmaTranslation => Get("dma-translation") != 0;
    public OnOffAuto Eim => (OnOffAuto)Get("eim");
    public bool Fs1gp => Get("fs1gp") != 0;
    public OnOffAuto Intremap => (OnOffAuto)Get("intremap");
    public bool PassThrough => Get("pt") != 0;
    public bool SnoopControl => Get("snoop-control") != 0;
    public bool StaleTm => Get("stale-tm") != 0;
    public bool XBuggyEim => Get("x-buggy-eim") != 0;
    public bool XFlts => Get("x-flts") != 0;
    public bool XPasidMode => Get("x-pasid-mode") != 0;
    public bool XScalableMode => Get("x-scalable-mode") != 0;

    /// <summary>The names of the properties <paramref name="version"/>'s intel-iommu has, in `,help` order.</summary>
    public static IReadOnlyList<string> Names(QemuVersion version) => Table.Where(p => DefaultOf(p, version) is not null).Select(p => p.Name).ToArray();

    /// <summary>The default text of a property in <paramref name="version"/> as `,help` prints it; null if it has none.</summary>
    public static string? DefaultText(QemuVersion version, string name) =>
        Find(name) is { } p && DefaultOf(p, version) is ulong v ? Text(p, v) : null;

    /// <summary>An intel-iommu with every property at <paramref name="version"/>'s default.</summary>
    public static IntelIommuProperties Defaults(QemuVersion version) =>
        new(version, Table.Select(p => DefaultOf(p, version) ?? 0).ToArray(), []);

    /// <summary>
    /// Parses the properties of a `-device intel-iommu,NAME=VALUE,…` argument (the text after the driver name and its
    /// comma, QemuOpts syntax) and sets them in QEMU's order (<see cref="QemuOptionText.InQdictOrder"/>): the first
    /// failure is QEMU's message. `id` is accepted and ignored; `bus` is refused as QEMU refuses it for this device.
    /// Deprecated short-form booleans are accepted with QEMU's warning in <paramref name="warnings"/>.
    /// </summary>
    public static bool TryParse(QemuVersion version, string text, out IntelIommuProperties result, out string error, List<string>? warnings = null)
    {
        ArgumentNullException.ThrowIfNull(text);
        result = Defaults(version);
        error = "";
        IReadOnlyList<QemuOption> options = QemuOptionText.Split(text, impliedName: null, warnings);
        var candidate = result;
        foreach (QemuOption o in options)
        {
            if (o.Name == "bus")
            {
                error = o.Value == "pcie.0" ? "Device 'intel-iommu' can't go on PCIE bus" : $"Bus '{o.Value}' not found";
                return false;
            }
        }
        foreach (QemuOption o in QemuOptionText.InQdictOrder(options.Where(o => o.Name != "id")))
        {
            if (!candidate.TrySet(o.Name, o.Value, out candidate, out error)) return false;
        }
        result = candidate.Reordered(options.Select(o => o.Name));
        return true;
    }

    /// <summary>
    /// Sets one property from its text with QEMU's parser: booleans on/yes/true/y and off/no/false/n; integers in
    /// C's decimal, 0x hexadecimal or 0 octal (leading blanks and a sign allowed, as strtoull); OnOffAuto on/off/auto.
    /// False with QEMU's message for a property this version does not have or a value its type does not take.
    /// </summary>
    public bool TrySet(string name, string value, out IntelIommuProperties result, out string error)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(value);
        result = this;
        error = "";
        if (Find(name) is not { } p || DefaultOf(p, Version) is null)
        {
            error = QemuProperties.NotFound("intel-iommu", name);
            return false;
        }
        if (!TryParseValue(p, value, out ulong parsed, out error)) return false;
        var newValues = (ulong[])values.Clone();
        newValues[Array.IndexOf(Table, p)] = parsed;
        result = new IntelIommuProperties(Version, newValues, given.Contains(name) ? given : [.. given, name]);
        return true;
    }

    /// <summary>
    /// The same given values as another QEMU version's intel-iommu: properties not given take that version's
    /// defaults; a given property that version lacks is kept, and <see cref="TryRealize"/> reports it as QEMU would
    /// have refused it on the command line.
    /// </summary>
    public IntelIommuProperties ForVersion(QemuVersion version)
    {
        if (version == Version) return this;
        var newValues = Table.Select((p, i) => given.Contains(p.Name) ? values[i] : DefaultOf(p, version) ?? 0).ToArray();
        return new IntelIommuProperties(version, newValues, given);
    }

    /// <summary>
    /// What QEMU checks when it realizes the device under TCG/qtest, in its order (x86-iommu's realize, then
    /// vtd_realize and vtd_decide_config), with its messages; on success the resolved device vtd_cap_init sees.
    /// </summary>
    public bool TryRealize(out QemuIntelIommu device, out string error)
    {
        device = null!;
        foreach (string name in given)
        {
            if (DefaultOf(Find(name)!, Version) is null)
            {
                error = QemuProperties.NotFound("intel-iommu", name);
                return false;
            }
        }
        // x86-iommu: intremap=auto is on unless the whole irqchip is in KVM (never here).
        bool ir = Intremap != OnOffAuto.Off;
        bool v72 = Version == QemuVersion.Qemu72;
        if (v72 && XPasidMode && DeviceIotlb)
        {
            // 7.2 to 10.x: vtd_realize refuses PASID-based device-TLB invalidation before deciding anything else.
            error = "PASID based device IOTLB is not supported";
            return false;
        }
        if (Eim == OnOffAuto.On && !ir)
        {
            error = "eim=on cannot be selected without intremap=on";
            return false;
        }
        // eim=auto is on only with KVM's in-kernel irqchip (or 7.2's x-buggy-eim).
        bool eim = Eim == OnOffAuto.On || (Eim == OnOffAuto.Auto && XBuggyEim && ir);
        if (v72 && Eim == OnOffAuto.On && !XBuggyEim)
        {
            // 7.2 wants KVM for eim=on; later releases only check KVM's x2APIC support when the irqchip is split.
            error = "eim=on requires accel=kvm,kernel-irqchip=split";
            return false;
        }
        if (!v72 && XFlts && !XScalableMode)
        {
            error = "x-flts is only available in scalable mode";
            return false;
        }
        if (AwBits is not (39 or 48) && !XFlts)
        {
            error = v72
                ? "Supported values for aw-bits are: 39, 48"
                : $"{(XScalableMode ? "Scalable mode(flts=off)" : "Legacy mode")}: supported values for aw-bits are: 39, 48";
            return false;
        }
        if (XFlts && AwBits != 48)
        {
            error = "Scalable mode(x-flts=on): supported value for aw-bits is: 48";
            return false;
        }
        if (XScalableMode && !DmaDrain)
        {
            error = "Need to set dma_drain for scalable mode";
            return false;
        }
        if (XPasidMode && !XScalableMode)
        {
            error = "Need to set scalable mode for PASID";
            return false;
        }
        device = new QemuIntelIommu
        {
            Version = Version,
            AwBits = AwBits,
            CachingMode = CachingMode,
            ScalableMode = XScalableMode,
            Flts = XFlts,
            Fs1gp = Fs1gp,
            Pasid = XPasidMode,
            SnoopControl = SnoopControl,
            DmaDrain = DmaDrain,
            DmaTranslation = DmaTranslation,
            InterruptRemapping = ir,
            Eim = eim,
            DeviceIotlb = DeviceIotlb,
            PassThrough = PassThrough,
        };
        error = "";
        return true;
    }

    /// <summary>
    /// The VT-d profile of the realized device for the hardware layer's unit (<see cref="TryRealize"/>'s checks first).
    /// Properties whose effect the unit does not model are refused by name rather than ignored: dma-translation=off
    /// (an interrupt-remapping-only unit) and stale-tm=on with device-iotlb=on (decision P6).
    /// </summary>
    public bool TryToProfile(out VtdProfile profile, out string error)
    {
        profile = null!;
        if (!TryRealize(out QemuIntelIommu device, out error)) return false;
        if (!DmaTranslation)
        {
            error = "dma-translation=off (an IOMMU for interrupt remapping only) is not modelled";
            return false;
        }
        if (StaleTm && DeviceIotlb)
        {
            error = "stale-tm=on with device-iotlb=on is not modelled";
            return false;
        }
        string version = VersionName(Version);
        string settings = SettingsText;
        profile = device.ToProfile(settings.Length == 0 ? version : $"{version}+{settings}",
            $"QEMU {version[5..]} intel-iommu{(settings.Length == 0 ? " defaults" : "," + settings)} under TCG/qtest");
        return true;
    }

    /// <summary>The device's option text as a command line gives it: `intel-iommu` and the given properties.</summary>
    public string DeviceText => SettingsText.Length == 0 ? "intel-iommu" : $"intel-iommu,{SettingsText}";

    /// <summary>`qemu-7.2` or `qemu-11`, as the erratum policies and profiles name the releases.</summary>
    public static string VersionName(QemuVersion version) => version == QemuVersion.Qemu72 ? "qemu-7.2" : "qemu-11";

    private string SettingsText => string.Join(",", given.Select(n => $"{n}={Text(Find(n)!, values[Array.IndexOf(Table, Find(n))])}"));

    private IntelIommuProperties Reordered(IEnumerable<string> commandLineOrder)
    {
        var order = commandLineOrder.Distinct().Where(given.Contains).ToArray();
        return new IntelIommuProperties(Version, values, order);
    }

    private ulong Get(string name) => values[Array.FindIndex(Table, p => p.Name == name)];

    private static Property? Find(string name) => Array.Find(Table, p => p.Name == name);

    private static ulong? DefaultOf(Property p, QemuVersion version) => version == QemuVersion.Qemu72 ? p.Default72 : p.Default11;

    private static string Text(Property p, ulong value) => p.Kind switch
    {
        Kind.Bool => value != 0 ? "on" : "off",
        Kind.OnOffAuto => ((OnOffAuto)value).ToString().ToLowerInvariant(),
        _ => value.ToString(CultureInfo.InvariantCulture),
    };

    private static bool TryParseValue(Property p, string text, out ulong value, out string error)
    {
        error = "";
        value = 0;
        switch (p.Kind)
        {
            case Kind.Bool:
                if (!QemuProperties.TryParseBool(p.Name, text, out bool on, out error)) return false;
                value = on ? 1UL : 0;
                return true;
            case Kind.OnOffAuto:
                switch (text)
                {
                    case "auto":
                        value = (ulong)OnOffAuto.Auto;
                        return true;
                    case "on":
                        value = (ulong)OnOffAuto.On;
                        return true;
                    case "off":
                        value = (ulong)OnOffAuto.Off;
                        return true;
                    default:
                        error = $"Parameter '{p.Name}' does not accept value '{text}'";
                        return false;
                }
            default:
                if (!TryParseCUnsigned(text, out value))
                {
                    error = $"Parameter '{p.Name}' expects integer";
                    return false;
                }
                ulong max = p.Kind == Kind.Uint8 ? byte.MaxValue : uint.MaxValue;
                if (value > max)
                {
                    error = $"Parameter '{p.Name}' expects {(p.Kind == Kind.Uint8 ? "uint8_t" : "uint32_t")}";
                    return false;
                }
                return true;
        }
    }

    /// <summary>
    /// strtoull with base 0 over the whole text, as QEMU's qemu_strtou64: leading blanks, an optional sign (a minus
    /// negates modulo 2^64), 0x/0X hexadecimal, a leading 0 octal, else decimal; nothing may follow; overflow fails.
    /// </summary>
    private static bool TryParseCUnsigned(string text, out ulong value)
    {
        value = 0;
        int i = 0;
        while (i < text.Length && text[i] is ' ' or '\t' or '\n' or '\v' or '\f' or '\r') i++;
        bool negative = false;
        if (i < text.Length && text[i] is '+' or '-')
        {
            negative = text[i] == '-';
            i++;
        }
        int radix = 10;
        if (i + 1 < text.Length && text[i] == '0' && text[i + 1] is 'x' or 'X' && i + 2 < text.Length && Uri.IsHexDigit(text[i + 2]))
        {
            radix = 16;
            i += 2;
        }
        else if (i < text.Length && text[i] == '0')
        {
            radix = 8;
        }
        int digits = 0;
        ulong v = 0;
        for (; i < text.Length; i++, digits++)
        {
            int d = text[i] switch
            {
                >= '0' and <= '9' => text[i] - '0',
                >= 'a' and <= 'f' => text[i] - 'a' + 10,
                >= 'A' and <= 'F' => text[i] - 'A' + 10,
                _ => 99,
            };
            if (d >= radix) return false;
            if (v > (ulong.MaxValue - (ulong)d) / (ulong)radix) return false; // ERANGE
            v = v * (ulong)radix + (ulong)d;
        }
        if (digits == 0) return false;
        value = negative ? unchecked(0 - v) : v;
        return true;
    }
}
