using System.Globalization;

namespace VtdSim.Vmm.Devices;

/// <summary>
/// `-object memory-backend-file,id=ID,mem-path=PATH,size=SIZE[,share=on|off][,readonly=on|off]` as QEMU parses it
/// (decision S61): a file of the VMM's kernel (the host's tmpfs, e.g. /dev/shm/rom.img) mapped into the VMM's process as
/// a RAM block named ID. With `share=on` the mapping is MAP_SHARED, so every process (every VMM) that maps the file maps
/// the same page-cache pages; with `readonly=on` the file is opened read-only and mapped PROT_READ, and the RAM block is
/// read-only memory (a ROM to the guest and to vfio). Errors are QEMU's texts; the backend properties QEMU has that the
/// model does not (prealloc, discard-data, pmem, align, …) are refused by name, never ignored.
/// </summary>
public sealed record MemoryBackendFile
{
    public const string TypeName = "memory-backend-file";

    private static readonly string[] Unmodelled =
    [
        "align", "offset", "discard-data", "pmem", "rom", "prealloc", "prealloc-threads", "prealloc-context", "merge", "dump",
        "host-nodes", "policy", "reserve", "x-use-canonical-path-for-ramblock-id",
    ];

    private MemoryBackendFile(string text, string id)
    {
        Text = text;
        Id = id;
    }

    /// <summary>The option's text after `-object ` (QEMU names it in its messages).</summary>
    public string Text { get; }

    /// <summary>`id=`: the object's name, which `-device nvdimm,memdev=ID` refers to and the RAM block is called.</summary>
    public string Id { get; }

    /// <summary>`mem-path=`: the file, a path in the VMM's kernel (null: not given).</summary>
    public string? MemPath { get; private init; }

    /// <summary>`size=`, in bytes (0: not given).</summary>
    public ulong Size { get; private init; }

    /// <summary>`share=`: MAP_SHARED (default off, a private copy).</summary>
    public bool Share { get; private init; }

    /// <summary>`readonly=`: open the file O_RDONLY and map it PROT_READ; the region is read-only (default off).</summary>
    public bool ReadOnly { get; private init; }

    /// <summary>Where QEMU's messages about the object start: `-object TEXT`.</summary>
    public string Location => $"-object {Text}";

    /// <summary>Parses the text after `-object`. False with QEMU's message (without the location) for bad input.</summary>
    public static bool TryParse(string text, out MemoryBackendFile? backend, out string error)
    {
        ArgumentNullException.ThrowIfNull(text);
        backend = null;
        error = "";
        IReadOnlyList<QemuOption> options = QemuOptionText.Split(text, "qom-type");
        string? type = options.FirstOrDefault(o => o.Name == "qom-type").Value;
        if (type is null)
        {
            error = "Parameter 'qom-type' is missing";
            return false;
        }
        if (type != TypeName)
        {
            error = $"Invalid parameter type for 'qom-type', expected: {TypeName}";
            return false;
        }
        string? id = options.LastOrDefault(o => o.Name == "id").Value;
        if (string.IsNullOrEmpty(id))
        {
            error = "Parameter 'id' is missing";
            return false;
        }
        var result = new MemoryBackendFile(text, id);
        foreach (QemuOption o in options)
        {
            switch (o.Name)
            {
                case "qom-type" or "id":
                    break;
                case "mem-path":
                    result = result with { MemPath = o.Value };
                    break;
                case "size":
                    if (!TryParseSize(o.Value, out ulong size))
                    {
                        error = "Parameter 'size' expects a non-negative number below 2^64";
                        return false;
                    }
                    result = result with { Size = size };
                    break;
                case "share":
                    if (!QemuProperties.TryParseBool(o.Name, o.Value, out bool share, out error)) return false;
                    result = result with { Share = share };
                    break;
                case "readonly":
                    if (!QemuProperties.TryParseBool(o.Name, o.Value, out bool readOnly, out error)) return false;
                    result = result with { ReadOnly = readOnly };
                    break;
                default:
                    error = Unmodelled.Contains(o.Name)
                        ? $"Property '{TypeName}.{o.Name}' is not modelled by vtdsim"
                        : QemuProperties.NotFound(TypeName, o.Name);
                    return false;
            }
        }
        backend = result;
        return true;
    }

    /// <summary>QEMU's qemu_strtosz: a decimal or 0x hexadecimal number with an optional suffix B, K, M, G, T, P or E (powers of 1024).</summary>
    internal static bool TryParseSize(string value, out ulong bytes)
    {
        bytes = 0;
        if (value.Length == 0) return false;
        int shift = char.ToUpperInvariant(value[^1]) switch { 'B' => 0, 'K' => 10, 'M' => 20, 'G' => 30, 'T' => 40, 'P' => 50, 'E' => 60, _ => -1 };
        string number = shift >= 0 ? value[..^1] : value;
        if (shift < 0) shift = 0;
        bool ok = number.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
            ? number.Length > 2 && ulong.TryParse(number[2..], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out bytes)
            : number.Length > 0 && number.All(char.IsAsciiDigit) && ulong.TryParse(number, NumberStyles.None, CultureInfo.InvariantCulture, out bytes);
        if (!ok || (shift > 0 && bytes > ulong.MaxValue >> shift)) return false;
        bytes <<= shift;
        return true;
    }
}

/// <summary>
/// `-device nvdimm,memdev=ID[,unarmed=on|off][,addr=GPA][,id=…]` as QEMU parses it (decision S62): a memory device whose
/// memory is the backend's RAM block, placed in the machine's device memory (from the first GiB boundary above RAM) at
/// `addr` or the first free address. A read-only backend is a read-only NVDIMM, which QEMU takes only with `unarmed=on`.
/// </summary>
public sealed record NvdimmOptions
{
    public const string Model = "nvdimm";

    private static readonly string[] Unmodelled = ["slot", "node", "label-size", "uuid"];

    private NvdimmOptions(string text) => Text = text;

    /// <summary>The option's text after `-device `.</summary>
    public string Text { get; }

    /// <summary>`memdev=`: the id of the memory backend (null: not given).</summary>
    public string? Memdev { get; private init; }

    /// <summary>`unarmed=`: the guest is told writes may not persist; required for a read-only backend (default off).</summary>
    public bool Unarmed { get; private init; }

    /// <summary>`addr=`: the guest-physical address, or null for the first free one in device memory.</summary>
    public ulong? Address { get; private init; }

    public string? Id { get; private init; }

    /// <summary>Where QEMU's messages about the device start: `-device TEXT`.</summary>
    public string Location => $"-device {Text}";

    /// <summary>Parses the text after `-device` (starting with `nvdimm`). False with QEMU's message for bad input.</summary>
    public static bool TryParse(string text, out NvdimmOptions? nvdimm, out string error)
    {
        ArgumentNullException.ThrowIfNull(text);
        nvdimm = null;
        error = "";
        IReadOnlyList<QemuOption> options = QemuOptionText.Split(text, "driver");
        if (options.Count == 0 || options[0].Name != "driver" || options[0].Value != Model)
        {
            error = options.Count > 0 && options[0].Name == "driver" ? $"'{options[0].Value}' is not a valid device model name" : "Parameter 'driver' is missing";
            return false;
        }
        var result = new NvdimmOptions(text);
        foreach (QemuOption o in options.Skip(1))
        {
            switch (o.Name)
            {
                case "memdev":
                    result = result with { Memdev = o.Value };
                    break;
                case "unarmed":
                    if (!QemuProperties.TryParseBool(o.Name, o.Value, out bool unarmed, out error)) return false;
                    result = result with { Unarmed = unarmed };
                    break;
                case "addr":
                    if (!DeviceOptions.TryParseUInt64(o.Value, out ulong address))
                    {
                        error = "Parameter 'addr' expects integer";
                        return false;
                    }
                    result = result with { Address = address };
                    break;
                case "id":
                    result = result with { Id = o.Value };
                    break;
                default:
                    error = Unmodelled.Contains(o.Name)
                        ? $"Property '{Model}.{o.Name}' is not modelled by vtdsim"
                        : QemuProperties.NotFound(Model, o.Name);
                    return false;
            }
        }
        nvdimm = result;
        return true;
    }
}
