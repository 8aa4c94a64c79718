using VtdSim.Hardware.Addressing;
using VtdSim.Vmm.Machines;
using VtdSim.Vmm.Vfio;

namespace VtdSim.Vmm;

/// <summary>
/// What a VMM is started with: the machine (`-M`, `-m`, `-nodefaults`, `-device intel-iommu`), the RAM backend, the
/// intel-iommu properties that matter for passthrough (x-scalable-mode, x-flts), the `erratum-policy`, and the host
/// PCI functions passed through (`-device vfio-pci,host=…,iommufd=iommufd0`).
/// </summary>
public sealed record VmmOptions
{
    public MachineOptions Machine { get; init; } = new();

    public GuestRamBackend RamBackend { get; init; } = GuestRamBackend.Anonymous;

    public ErratumPolicy ErratumPolicy { get; init; } = ErratumPolicy.Qemu11;

    /// <summary>intel-iommu's x-scalable-mode (needs <see cref="MachineOptions.IntelIommu"/>).</summary>
    public bool XScalableMode { get; init; }

    /// <summary>intel-iommu's x-flts: the vIOMMU offers a first stage only and wants the host to nest it (QEMU 11).</summary>
    public bool XFlts { get; init; }

    /// <summary>Host PCI functions given to the guest, in command-line order.</summary>
    public IReadOnlyList<SourceId> Passthrough { get; init; } = [];

    /// <summary>
    /// Sets one property from its command-line text, as QEMU parses it: `erratum-policy` (an enum), `x-flts` and
    /// `x-scalable-mode` (booleans: on/off, yes/no, true/false). False with QEMU's message for a bad value or an
    /// unknown name; the options are then unchanged.
    /// </summary>
    public bool TrySet(string name, string value, out VmmOptions result, out string error)
    {
        result = this;
        error = "";
        switch (name)
        {
            case "erratum-policy":
                if (!ErratumPolicies.TryParse(value, out ErratumPolicy policy, out error)) return false;
                result = this with { ErratumPolicy = policy };
                return true;
            case "x-flts":
            case "x-scalable-mode":
                if (!TryParseBool(name, value, out bool on, out error)) return false;
                result = name == "x-flts" ? this with { XFlts = on } : this with { XScalableMode = on };
                return true;
            default:
                error = $"Property 'intel-iommu.{name}' not found";
                return false;
        }
    }

    /// <summary>QEMU's boolean property parser (qapi's parse_type_bool).</summary>
    private static bool TryParseBool(string name, string value, out bool on, out string error)
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

    /// <summary>The intel-iommu device's option text as a command line would give it.</summary>
    internal string IntelIommuDeviceText
    {
        get
        {
            string text = "intel-iommu";
            if (XScalableMode) text += ",x-scalable-mode=on";
            if (XFlts) text += ",x-flts=on";
            return text;
        }
    }
}
