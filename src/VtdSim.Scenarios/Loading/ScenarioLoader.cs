using VtdSim.Hardware.Faults;
using VtdSim.Kernel;
using VtdSim.Scenarios.Model;
using VtdSim.Vmm.Vfio;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace VtdSim.Scenarios.Loading;

/// <summary>
/// Reads a scenario file (docs/scenarios.md). Every error names the file, line and column, the field path and what was
/// expected; an unknown key is an error. Never throws for what a file contains: the result has a scenario or an error.
/// </summary>
public static class ScenarioLoader
{
    /// <summary>The largest file the loader reads (scenarios are a few kilobytes).</summary>
    public const int MaxLength = 1 << 20;

    private const int MaxDmaBytes = 1 << 16;

    public static ScenarioLoadResult LoadFile(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        string text;
        try
        {
            var info = new FileInfo(path);
            if (info.Exists && info.Length > MaxLength) return new(null, new ScenarioError(path, 1, 1, "", $"the file is larger than {MaxLength} bytes"));
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException or ArgumentException)
        {
            return new(null, new ScenarioError(path, 1, 1, "", $"cannot read the file: {(e is FileNotFoundException or DirectoryNotFoundException ? "no such file" : e.Message)}"));
        }
        return Load(path, text);
    }

    public static ScenarioLoadResult Load(string file, string text)
    {
        ArgumentNullException.ThrowIfNull(file);
        ArgumentNullException.ThrowIfNull(text);
        if (text.Length > MaxLength) return new(null, new ScenarioError(file, 1, 1, "", $"the file is larger than {MaxLength} bytes"));
        var yaml = new YamlStream();
        var scanner = new Scanner(new StringReader(text));
        try
        {
            yaml.Load(new YamlDotNet.Core.Parser(scanner));
        }
        catch (YamlException e)
        {
            return new(null, new ScenarioError(file, Clamp(e.Start.Line), Clamp(e.Start.Column), "", $"not valid YAML: {YamlMessage(e)}"));
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException)
        {
            // YamlDotNet 18.1 fails this way on some malformed input (a scanner state error on a broken plain scalar,
            // "unsupported event" on a key where a value should be) instead of a YamlException: the file is still not
            // valid YAML, and the scanner knows where it stopped (decision S5).
            Mark at = scanner.CurrentPosition;
            return new(null, new ScenarioError(file, Clamp(at.Line), Clamp(at.Column), "", "not valid YAML: the YAML reader stopped here"));
        }
        if (yaml.Documents.Count != 1)
            return new(null, new ScenarioError(file, 1, 1, "", yaml.Documents.Count == 0 ? "the file is empty: expected a scenario (name, host, vmms, steps, expect)" : "expected one YAML document, found several"));
        var reader = new NodeReader(file);
        try
        {
            return new(new Parser(reader).Scenario(yaml.Documents[0].RootNode), null);
        }
        catch (ScenarioFormatException e)
        {
            return new(null, e.Error);
        }
    }

    private static int Clamp(long value) => (int)Math.Clamp(value, 1, int.MaxValue);

    private static string YamlMessage(YamlException e)
    {
        // YamlDotNet's messages start with "(Line: …, Col: …, Idx: …) - (…): "; the position is said once, ours.
        string m = e.Message;
        int at = m.IndexOf("): ", StringComparison.Ordinal);
        if (m.StartsWith('(') && at >= 0) m = m[(at + 3)..];
        return m.Length == 0 ? "syntax error" : m;
    }

    private sealed class Parser(NodeReader r)
    {
        private static readonly string[] Policies = ErratumPolicies.All.Select(p => p.Name()).ToArray();
        private static readonly string[] Backends = ["anonymous", "hugetlb-2m", "hugetlb-1g", "shared-file"];
        private static readonly string[] VmStates = ["running", "failed", "aborted", "stopped"];
        private readonly Dictionary<string, VmmSpec> vmms = [];
        private readonly Dictionary<string, HashSet<string>> devicesAt = [];
        private HostSpec host = null!;

        public Scenario Scenario(YamlNode root)
        {
            var f = r.Mapping(root, "", "name", "description", "question", "host", "vmms", "steps", "expect");
            string name = r.String(f.Required("name"), "name");
            string description = f.Optional("description") is { } d ? r.String(d, "description") : "";
            host = f.Optional("host") is { } h ? Host(h, "host") : DefaultHost(root);
            devicesAt["host"] = host.Devices.Select(x => x.Id).ToHashSet();
            var list = f.Optional("vmms") is { } v ? Vmms(v, "vmms", devicesAt["host"]) : [];
            var steps = f.Optional("steps") is { } s ? r.Sequence(s, "steps").Select(x => Step(x.Node, x.Path)).ToList() : [];
            var expect = f.Optional("expect") is { } e ? Expectations(e, "expect") : [];
            if (steps.Count == 0 && expect.Count == 0) throw r.Fail(root, "steps", "a scenario needs steps or expectations");
            string question = f.Optional("question") is { } q ? r.String(q, "question") : "";
            return new Scenario(r.File, name, description, host, list, steps, expect) { Question = question };
        }

        private HostSpec DefaultHost(YamlNode root) => new("sapphire-rapids", null, null, 8UL << 30, [], new KernelSpec(), r.Spot(root, "host"));

        private HostSpec Host(YamlNode node, string path)
        {
            var f = r.Mapping(node, path, "profile", "cap", "ecap", "memory", "devices", "files", "kernel");
            string profile = f.Optional("profile") is { } p ? r.String(p, f.PathOf("profile")) : "sapphire-rapids";
            if (!VtdSim.Hardware.Profiles.BuiltInProfiles.TryFind(profile, out _, out _))
                throw r.Fail(f.Optional("profile")!, f.PathOf("profile"), $"expected one of {string.Join(", ", VtdSim.Hardware.Profiles.BuiltInProfiles.All.Select(x => x.Name))}, found '{NodeReader.Shorten(profile)}'");
            ulong? cap = f.Optional("cap") is { } c ? r.Number(c, f.PathOf("cap")) : null;
            ulong? ecap = f.Optional("ecap") is { } e ? r.Number(e, f.PathOf("ecap")) : null;
            ulong memory = f.Optional("memory") is { } m ? r.Size(m, f.PathOf("memory"), 64UL << 20, 1UL << 46) : 8UL << 30;
            var devices = new List<HostDeviceSpec>();
            if (f.Optional("devices") is { } list)
            {
                foreach (var (n, p2) in r.Sequence(list, f.PathOf("devices")))
                {
                    var df = r.Mapping(n, p2, "id", "rid");
                    string id = r.Name(df.Required("id"), df.PathOf("id"));
                    string rid = r.String(df.Required("rid"), df.PathOf("rid"));
                    if (!TryRid(rid, out byte bus, out byte dev, out byte fn)) throw r.Fail(df.Required("rid"), df.PathOf("rid"), $"expected a requester id BB:DD.F such as 00:04.0, found '{NodeReader.Shorten(rid)}'");
                    if (devices.Exists(x => x.Id == id)) throw r.Fail(df.Required("id"), df.PathOf("id"), $"the id '{id}' is given twice");
                    if (devices.Exists(x => (x.Bus, x.Device, x.Function) == (bus, dev, fn))) throw r.Fail(df.Required("rid"), df.PathOf("rid"), $"the function {rid} is given twice");
                    devices.Add(new HostDeviceSpec(id, bus, dev, fn, r.Spot(n, p2)));
                }
            }
            KernelSpec kernel = f.Optional("kernel") is { } k ? Kernel(k, f.PathOf("kernel"), new KernelSpec()) : new KernelSpec();
            var files = new List<HostFileSpec>();
            if (f.Optional("files") is { } fl)
            {
                foreach (var (n, p2) in r.Sequence(fl, f.PathOf("files")))
                {
                    HostFileSpec file = HostFile(n, p2);
                    if (files.Exists(x => x.Path == file.Path)) throw r.Fail(n, p2 + ".path", $"the file '{NodeReader.Shorten(file.Path)}' is given twice");
                    files.Add(file);
                }
            }
            return new HostSpec(profile, cap, ecap, memory, devices, kernel, r.Spot(node, path)) { Files = files };
        }

        /// <summary>One `host.files` entry: an absolute path, a size in whole pages, and optionally bytes at an offset (S60).</summary>
        private HostFileSpec HostFile(YamlNode node, string path)
        {
            var f = r.Mapping(node, path, "path", "size", "offset", "data");
            YamlNode pathNode = f.Required("path");
            string file = r.String(pathNode, f.PathOf("path"));
            if (!file.StartsWith('/') || file.Length < 2 || file.EndsWith('/')) throw r.Fail(pathNode, f.PathOf("path"), $"expected an absolute path of a file such as /dev/shm/rom.img, found '{NodeReader.Shorten(file)}'");
            YamlNode sizeNode = f.Required("size");
            ulong size = r.Size(sizeNode, f.PathOf("size"), 0x1000, 1UL << 40);
            if (size % 0x1000 != 0) throw r.Fail(sizeNode, f.PathOf("size"), $"expected a multiple of 0x1000 (files are whole pages), found 0x{size:x}");
            ulong offset = f.Optional("offset") is { } o ? r.Number(o, f.PathOf("offset"), size - 1) : 0;
            byte[] data = f.Optional("data") is { } d ? r.Hex(d, f.PathOf("data"), MaxDmaBytes) : [];
            if ((ulong)data.Length > size - offset) throw r.Fail(f.Optional("data")!, f.PathOf("data"), $"the data ({data.Length} bytes from offset 0x{offset:x}) runs past the end of the file (0x{size:x} bytes)");
            return new HostFileSpec(file, size, offset, data, r.Spot(node, path));
        }

        private static bool TryRid(string text, out byte bus, out byte device, out byte function)
        {
            bus = device = function = 0;
            if (text.Length != 7 || text[2] != ':' || text[5] != '.') return false;
            if (!byte.TryParse(text.AsSpan(0, 2), System.Globalization.NumberStyles.AllowHexSpecifier, null, out bus)) return false;
            if (!byte.TryParse(text.AsSpan(3, 2), System.Globalization.NumberStyles.AllowHexSpecifier, null, out device) || device > 31) return false;
            return text[6] is >= '0' and <= '7' && (function = (byte)(text[6] - '0')) <= 7;
        }

        private KernelSpec Kernel(YamlNode node, string path, KernelSpec start)
        {
            var f = r.Mapping(node, path, "intel-iommu", "scalable-mode", "erratum-rule");
            return new KernelSpec(
                f.Optional("intel-iommu") is { } a ? r.Bool(a, f.PathOf("intel-iommu")) : start.IntelIommu,
                f.Optional("scalable-mode") is { } b ? r.Bool(b, f.PathOf("scalable-mode")) : start.ScalableMode,
                f.Optional("erratum-rule") is { } c ? r.Bool(c, f.PathOf("erratum-rule")) : start.ErratumRule);
        }

        private List<VmmSpec> Vmms(YamlNode node, string path, HashSet<string> below) =>
            r.Sequence(node, path).Select(x => Vmm(x.Node, x.Path, below)).ToList();

        private VmmSpec Vmm(YamlNode node, string path, HashSet<string> below)
        {
            var f = r.Mapping(node, path, "name", "machine", "memory", "defaults", "firmware", "erratum-policy", "ram-backend", "objects", "devices", "guest");
            YamlNode nameNode = f.Required("name");
            string name = r.Name(nameNode, f.PathOf("name"));
            if (name == "host" || vmms.ContainsKey(name)) throw r.Fail(nameNode, f.PathOf("name"), name == "host" ? "'host' names the host; expected another name" : $"the VMM name '{name}' is given twice");
            string machine = f.Optional("machine") is { } m ? r.OneOf(m, f.PathOf("machine"), "q35", "pc") : "q35";
            ulong memory = f.Optional("memory") is { } mem ? r.Size(mem, f.PathOf("memory"), 1UL << 20, 4UL << 40) : 256UL << 20;
            bool defaults = f.Optional("defaults") is { } d && r.Bool(d, f.PathOf("defaults"));
            bool booted = f.Optional("firmware") is not { } fw || r.OneOf(fw, f.PathOf("firmware"), "booted", "reset") == "booted";
            string policy = f.Optional("erratum-policy") is { } p ? r.OneOf(p, f.PathOf("erratum-policy"), Policies) : "qemu-11";
            string backend = f.Optional("ram-backend") is { } b ? r.OneOf(b, f.PathOf("ram-backend"), Backends) : "anonymous";
            var devices = new List<DeviceSpec>();
            if (f.Optional("devices") is { } list)
                foreach (var (n, p2) in r.Sequence(list, f.PathOf("devices")))
                    devices.Add(Device(n, p2, below, devices));
            var objects = new List<ObjectSpec>();
            if (f.Optional("objects") is { } ol)
            {
                foreach (var (n, p2) in r.Sequence(ol, f.PathOf("objects")))
                {
                    var of = r.Mapping(n, p2, "memory-backend-file");
                    YamlNode value = of.Required("memory-backend-file");
                    objects.Add(new ObjectSpec(value is YamlScalarNode { Value: null or "" } ? "" : r.String(value, of.PathOf("memory-backend-file")), r.Spot(n, p2)));
                }
            }
            // Steps name PCI functions; the vIOMMU and memory devices are not among them.
            var ids = devices.Where(x => x.Kind is not (DeviceKind.IntelIommu or DeviceKind.Nvdimm)).Select(x => x.Id).ToHashSet();
            devicesAt[name] = ids;
            GuestSpec guest = new(new KernelSpec(), []);
            var spec = new VmmSpec(name, machine, memory, defaults, booted, policy, backend, devices, guest, r.Spot(node, path)) { Objects = objects };
            vmms[name] = spec;
            if (f.Optional("guest") is { } g)
            {
                var gf = r.Mapping(g, f.PathOf("guest"), "kernel", "vmms");
                KernelSpec kernel = gf.Optional("kernel") is { } k ? Kernel(k, gf.PathOf("kernel"), new KernelSpec()) : new KernelSpec();
                var inner = gf.Optional("vmms") is { } v ? Vmms(v, gf.PathOf("vmms"), ids) : [];
                spec = spec with { Guest = new GuestSpec(kernel, inner) };
                vmms[name] = spec;
            }
            return spec;
        }

        private DeviceSpec Device(YamlNode node, string path, HashSet<string> below, List<DeviceSpec> earlier)
        {
            var f = r.Mapping(node, path, "passthrough", "edu", "iommu-testdev", "intel-iommu", "nvdimm", "id");
            var kinds = f.Keys.Where(k => k != "id").ToList();
            if (kinds.Count != 1) throw r.Fail(node, path, "expected exactly one of passthrough, edu, iommu-testdev, intel-iommu, nvdimm");
            string key = kinds[0];
            YamlNode value = f.Required(key);
            DeviceKind kind = key switch { "passthrough" => DeviceKind.Passthrough, "edu" => DeviceKind.Edu, "iommu-testdev" => DeviceKind.IommuTestdev, "nvdimm" => DeviceKind.Nvdimm, _ => DeviceKind.IntelIommu };
            string text;
            string id;
            if (kind == DeviceKind.Passthrough)
            {
                text = r.Name(value, f.PathOf(key));
                if (!below.Contains(text)) throw r.Fail(value, f.PathOf(key), below.Count == 0 ? $"no function '{text}' below this VMM to pass through (the level below has none)" : $"expected a function of the level below ({string.Join(", ", below.Order(StringComparer.Ordinal))}), found '{text}'");
                id = text;
            }
            else
            {
                text = value is YamlScalarNode { Value: null or "" } ? "" : r.String(value, f.PathOf(key));
                id = key;
            }
            if (f.Optional("id") is { } idNode)
            {
                if (kind == DeviceKind.IntelIommu) throw r.Fail(idNode, f.PathOf("id"), "the vIOMMU is not named by an id");
                id = r.Name(idNode, f.PathOf("id"));
            }
            if (kind == DeviceKind.IntelIommu && earlier.Exists(x => x.Kind == DeviceKind.IntelIommu)) throw r.Fail(node, path, "a second intel-iommu (QEMU does not support multiple vIOMMUs for x86)");
            if (kind == DeviceKind.Nvdimm && f.Optional("id") is { } nid) throw r.Fail(nid, f.PathOf("id"), "a memory device is not named by an id here (give id= among its properties)");
            if (kind is not (DeviceKind.IntelIommu or DeviceKind.Nvdimm) && earlier.Exists(x => x.Kind is not (DeviceKind.IntelIommu or DeviceKind.Nvdimm) && x.Id == id)) throw r.Fail(node, path, $"the device id '{id}' is given twice (expected an 'id' of its own)");
            return new DeviceSpec(kind, id, text, r.Spot(node, path));
        }

        // ------------------------------------------------------------------ steps

        private static readonly string[] StepKinds =
        [
            "start", "boot", "quit", "kexec", "map", "unmap", "hwpt-alloc", "first-stage-at", "invalidate", "dma", "host-file-read",
            "hot-add", "move-bar", "pam", "table-entry", "register-write",
        ];

        private StepSpec Step(YamlNode node, string path)
        {
            var f = r.Mapping(node, path, [.. StepKinds, "expect"]);
            var kinds = f.Keys.Where(k => k != "expect").ToList();
            if (kinds.Count != 1) throw r.Fail(node, path, $"expected exactly one step ({string.Join(", ", StepKinds)}) and optionally 'expect'");
            string kind = kinds[0];
            YamlNode v = f.Required(kind);
            string p = f.PathOf(kind);
            SourceSpot spot = r.Spot(node, path);
            StepSpec step = kind switch
            {
                "start" => new StartStep(VmmName(v, p), spot),
                "boot" => new BootStep(VmmName(v, p), spot),
                "quit" => new QuitStep(VmmName(v, p), spot),
                "kexec" => Kexec(v, p, spot),
                "map" => Map(v, p, spot),
                "unmap" => Unmap(v, p, spot),
                "first-stage-at" => FirstStageAt(v, p, spot),
                "invalidate" => Invalidate(v, p, spot),
                "dma" => Dma(v, p, spot),
                "hwpt-alloc" => HwptAlloc(v, p, spot),
                "hot-add" => HotAdd(v, p, spot),
                "move-bar" => MoveBar(v, p, spot),
                "pam" => Pam(v, p, spot),
                "table-entry" => TableEntry(v, p, spot),
                "register-write" => RegisterWrite(v, p, spot),
                _ => HostFileRead(v, p, spot),
            };
            return f.Optional("expect") is { } e ? step with { Expect = Expectations(e, f.PathOf("expect")) } : step;
        }

        private string VmmName(YamlNode node, string path)
        {
            string name = r.String(node, path);
            if (!vmms.ContainsKey(name)) throw r.Fail(node, path, vmms.Count == 0 ? $"no VMM '{NodeReader.Shorten(name)}': the scenario has no VMMs" : $"expected a VMM of the scenario ({string.Join(", ", vmms.Keys.Order(StringComparer.Ordinal))}), found '{NodeReader.Shorten(name)}'");
            return name;
        }

        private string Level(YamlNode node, string path)
        {
            string name = r.String(node, path);
            return name == "host" ? name : VmmName(node, path);
        }

        private string DeviceAt(NodeReader.Fields f, string level)
        {
            YamlNode node = f.Required("device");
            string id = r.String(node, f.PathOf("device"));
            var ids = devicesAt[level];
            if (!ids.Contains(id)) throw r.Fail(node, f.PathOf("device"), ids.Count == 0 ? $"{(level == "host" ? "the host" : level)} has no devices" : $"expected a device of {(level == "host" ? "the host" : level)} ({string.Join(", ", ids.Order(StringComparer.Ordinal))}), found '{NodeReader.Shorten(id)}'");
            return id;
        }

        private KexecStep Kexec(YamlNode node, string path, SourceSpot spot)
        {
            var f = r.Mapping(node, path, "vmm", "kernel");
            string vmm = VmmName(f.Required("vmm"), f.PathOf("vmm"));
            return new KexecStep(vmm, Kernel(f.Required("kernel"), f.PathOf("kernel"), vmms[vmm].Guest.Kernel), spot);
        }

        private ulong PageAligned(NodeReader.Fields f, string key, ulong min = 0)
        {
            YamlNode n = f.Required(key);
            ulong value = r.Number(n, f.PathOf(key));
            if (value % 4096 != 0 || value < min || value > 1UL << 48) throw r.Fail(n, f.PathOf(key), $"expected a multiple of 0x1000{(min > 0 ? $" from 0x{min:x}" : "")} up to 2^48, found 0x{value:x}");
            return value;
        }

        private MapStep Map(YamlNode node, string path, SourceSpot spot)
        {
            var f = r.Mapping(node, path, "vmm", "device", "iova", "size", "access");
            string vmm = VmmName(f.Required("vmm"), f.PathOf("vmm"));
            string device = DeviceAt(f, vmm);
            ulong iova = PageAligned(f, "iova");
            ulong size = PageAligned(f, "size", 0x1000);
            if (size > 1UL << 30) throw r.Fail(f.Required("size"), f.PathOf("size"), $"expected at most 1 GiB, found 0x{size:x}");
            bool writable = f.Optional("access") is not { } a || r.OneOf(a, f.PathOf("access"), "read-write", "read-only") == "read-write";
            return new MapStep(vmm, device, iova, size, writable, spot);
        }

        private UnmapStep Unmap(YamlNode node, string path, SourceSpot spot)
        {
            var f = r.Mapping(node, path, "vmm", "device", "iova", "size");
            string vmm = VmmName(f.Required("vmm"), f.PathOf("vmm"));
            return new UnmapStep(vmm, DeviceAt(f, vmm), PageAligned(f, "iova"), PageAligned(f, "size", 0x1000), spot);
        }

        private FirstStageAtStep FirstStageAt(YamlNode node, string path, SourceSpot spot)
        {
            var f = r.Mapping(node, path, "vmm", "device", "gpa", "invalidate");
            string vmm = VmmName(f.Required("vmm"), f.PathOf("vmm"));
            string device = DeviceAt(f, vmm);
            ulong gpa = PageAligned(f, "gpa");
            bool invalidate = f.Optional("invalidate") is not { } i || r.Bool(i, f.PathOf("invalidate"));
            return new FirstStageAtStep(vmm, device, gpa, invalidate, spot);
        }

        private InvalidateStep Invalidate(YamlNode node, string path, SourceSpot spot)
        {
            var f = r.Mapping(node, path, "vmm", "device");
            string vmm = VmmName(f.Required("vmm"), f.PathOf("vmm"));
            return new InvalidateStep(vmm, DeviceAt(f, vmm), spot);
        }

        private DmaStep Dma(YamlNode node, string path, SourceSpot spot)
        {
            var f = r.Mapping(node, path, "at", "device", "address", "access", "size", "data");
            string at = Level(f.Required("at"), f.PathOf("at"));
            string device = DeviceAt(f, at);
            ulong address = r.Number(f.Required("address"), f.PathOf("address"));
            bool write = r.OneOf(f.Required("access"), f.PathOf("access"), "read", "write") == "write";
            byte[]? data = f.Optional("data") is { } d ? r.Hex(d, f.PathOf("data"), MaxDmaBytes) : null;
            if (data is not null && !write) throw r.Fail(f.Optional("data")!, f.PathOf("data"), "data is for a write; a read has none");
            int size = f.Optional("size") is { } s ? (int)r.Number(s, f.PathOf("size"), MaxDmaBytes) : data?.Length ?? 8;
            if (size == 0) throw r.Fail(f.Optional("size")!, f.PathOf("size"), $"expected a size from 1 to {MaxDmaBytes}, found 0");
            if (data is not null && f.Optional("size") is { } s2 && data.Length != size) throw r.Fail(s2, f.PathOf("size"), $"the data has {data.Length} bytes, the size says {size}");
            if (address > ulong.MaxValue - (ulong)size) throw r.Fail(f.Required("address"), f.PathOf("address"), "the transfer would wrap around the address space");
            data ??= write ? Enumerable.Range(0, size).Select(i => (byte)(0xA0 + i % 16)).ToArray() : [];
            return new DmaStep(at, device, address, write, size, data, spot);
        }

        private HostFileReadStep HostFileRead(YamlNode node, string path, SourceSpot spot)
        {
            var f = r.Mapping(node, path, "vmm", "path", "offset", "size");
            if ((f.Optional("vmm") is null) == (f.Optional("path") is null)) throw r.Fail(node, path, "expected one of vmm (its guest-RAM file) or path (a file of host.files)");
            string vmm = f.Optional("vmm") is { } v ? VmmName(v, f.PathOf("vmm")) : "";
            string? file = null;
            if (f.Optional("path") is { } pn)
            {
                file = r.String(pn, f.PathOf("path"));
                if (!host.Files.Any(x => x.Path == file)) throw r.Fail(pn, f.PathOf("path"), host.Files.Count == 0 ? "the host has no files (host.files)" : $"expected a file of host.files ({string.Join(", ", host.Files.Select(x => x.Path))}), found '{NodeReader.Shorten(file)}'");
            }
            ulong offset = r.Number(f.Required("offset"), f.PathOf("offset"), 1UL << 46);
            int size = f.Optional("size") is { } s ? (int)r.Number(s, f.PathOf("size"), 4096) : 8;
            if (size == 0) throw r.Fail(f.Optional("size")!, f.PathOf("size"), "expected a size from 1 to 4096, found 0");
            return new HostFileReadStep(vmm, offset, size, spot) { Path = file };
        }

        private HwptAllocStep HwptAlloc(YamlNode node, string path, SourceSpot spot)
        {
            var f = r.Mapping(node, path, "vmm", "device", "flags");
            string vmm = VmmName(f.Required("vmm"), f.PathOf("vmm"));
            string device = DeviceAt(f, vmm);
            string flags = f.Optional("flags") is { } x ? r.OneOf(x, f.PathOf("flags"), "none", "nest-parent", "dirty-tracking") : "none";
            return new HwptAllocStep(vmm, device, flags, spot);
        }

        private HotAddStep HotAdd(YamlNode node, string path, SourceSpot spot)
        {
            var f = r.Mapping(node, path, "vmm", "id", "gpa", "size");
            string vmm = VmmName(f.Required("vmm"), f.PathOf("vmm"));
            string id = r.Name(f.Required("id"), f.PathOf("id"));
            ulong gpa = PageAligned(f, "gpa");
            YamlNode sizeNode = f.Required("size");
            ulong size = r.Size(sizeNode, f.PathOf("size"), 0x1000, 1UL << 40);
            if (size % 0x1000 != 0) throw r.Fail(sizeNode, f.PathOf("size"), $"expected a multiple of 0x1000, found 0x{size:x}");
            return new HotAddStep(vmm, id, gpa, size, spot);
        }

        private MoveBarStep MoveBar(YamlNode node, string path, SourceSpot spot)
        {
            var f = r.Mapping(node, path, "vmm", "device", "address");
            string vmm = VmmName(f.Required("vmm"), f.PathOf("vmm"));
            string device = DeviceAt(f, vmm);
            YamlNode a = f.Required("address");
            ulong? address = a is YamlScalarNode { Value: "none" } ? null : r.Number(a, f.PathOf("address"));
            return new MoveBarStep(vmm, device, address, spot);
        }

        private PamStep Pam(YamlNode node, string path, SourceSpot spot)
        {
            var f = r.Mapping(node, path, "vmm", "segment", "mode");
            string vmm = VmmName(f.Required("vmm"), f.PathOf("vmm"));
            int segment = (int)r.Number(f.Required("segment"), f.PathOf("segment"), VtdSim.Vmm.Machines.PcMachine.PamSegments - 1);
            string mode = r.OneOf(f.Required("mode"), f.PathOf("mode"), "pci", "read-only", "write-only", "read-write");
            return new PamStep(vmm, segment, mode, spot);
        }

        private TableEntryStep TableEntry(YamlNode node, string path, SourceSpot spot)
        {
            var f = r.Mapping(node, path, "vmm", "device", "iova", "level", "set", "clear", "invalidate");
            string vmm = VmmName(f.Required("vmm"), f.PathOf("vmm"));
            string device = DeviceAt(f, vmm);
            ulong iova = r.Number(f.Required("iova"), f.PathOf("iova"));
            YamlNode levelNode = f.Required("level");
            ulong level = r.Number(levelNode, f.PathOf("level"), 5);
            if (level == 0) throw r.Fail(levelNode, f.PathOf("level"), "expected a paging level from 1 (the page table) to 5, found 0");
            ulong set = f.Optional("set") is { } st ? r.Number(st, f.PathOf("set")) : 0;
            ulong clear = f.Optional("clear") is { } cl ? r.Number(cl, f.PathOf("clear")) : 0;
            if (set == 0 && clear == 0) throw r.Fail(node, path, "expected bits to change: set, clear or both");
            if ((set & clear) != 0) throw r.Fail(f.Optional("clear")!, f.PathOf("clear"), $"bits 0x{set & clear:x} are both set and cleared");
            bool invalidate = f.Optional("invalidate") is not { } i || r.Bool(i, f.PathOf("invalidate"));
            return new TableEntryStep(vmm, device, iova, (int)level, set, clear, invalidate, spot);
        }

        private RegisterWriteStep RegisterWrite(YamlNode node, string path, SourceSpot spot)
        {
            var f = r.Mapping(node, path, "vmm", "offset", "size", "value");
            string vmm = VmmName(f.Required("vmm"), f.PathOf("vmm"));
            ulong offset = r.Number(f.Required("offset"), f.PathOf("offset"), 0xFFF);
            int size = f.Optional("size") is { } sz ? (int)ulong.Parse(r.OneOf(sz, f.PathOf("size"), "1", "2", "4", "8"), System.Globalization.CultureInfo.InvariantCulture) : 4;
            if (offset + (ulong)size > 0x1000) throw r.Fail(f.Required("offset"), f.PathOf("offset"), $"the {size}-byte store at 0x{offset:x} runs past the register page (0x1000 bytes)");
            YamlNode valueNode = f.Required("value");
            ulong value = r.Number(valueNode, f.PathOf("value"));
            if (size < 8 && value >> (8 * size) != 0) throw r.Fail(valueNode, f.PathOf("value"), $"0x{value:x} does not fit in {size} bytes");
            return new RegisterWriteStep(vmm, offset, size, value, spot);
        }

        // ------------------------------------------------------------------ expectations

        private static readonly string[] ExpectKinds = ["vm", "errno", "fault", "dma", "log", "memory", "guest-table-write", "event"];

        private List<ExpectSpec> Expectations(YamlNode node, string path) =>
            r.Sequence(node, path).Select(x => Expectation(x.Node, x.Path)).ToList();

        private ExpectSpec Expectation(YamlNode node, string path)
        {
            var f = r.Mapping(node, path, ExpectKinds);
            if (f.Keys.Count() != 1) throw r.Fail(node, path, $"expected exactly one of {string.Join(", ", ExpectKinds)}");
            string kind = f.Keys.First();
            YamlNode v = f.Required(kind);
            string p = f.PathOf(kind);
            SourceSpot spot = r.Spot(node, path);
            switch (kind)
            {
                case "vm":
                {
                    var g = r.Mapping(v, p, "vmm", "state");
                    return new VmStateExpect(VmmName(g.Required("vmm"), g.PathOf("vmm")), r.OneOf(g.Required("state"), g.PathOf("state"), VmStates), spot);
                }
                case "errno":
                {
                    string name = r.String(v, p);
                    if (name != "none" && (!Enum.TryParse(name, out Errno e) || e == Errno.Success || !name.StartsWith('E')))
                        throw r.Fail(v, p, $"expected none or an errno name ({string.Join(", ", Enum.GetNames<Errno>().Where(x => x.StartsWith('E')))}), found '{NodeReader.Shorten(name)}'");
                    return new ErrnoExpect(name, spot);
                }
                case "fault":
                {
                    if (v is YamlScalarNode) return new FaultExpect(Reason(v, p), null, spot);
                    var g = r.Mapping(v, p, "reason", "at");
                    string reason = Reason(g.Required("reason"), g.PathOf("reason"));
                    string? at = g.Optional("at") is { } a ? Level(a, g.PathOf("at")) : null;
                    return new FaultExpect(reason, at, spot);
                }
                case "dma":
                    r.OneOf(v, p, "completed");
                    return new DmaCompletedExpect(spot);
                case "log":
                {
                    var g = r.Mapping(v, p, "at", "from", "contains", "equals", "absent");
                    string at = Level(g.Required("at"), g.PathOf("at"));
                    string from = g.Optional("from") is { } fr ? r.OneOf(fr, g.PathOf("from"), "kernel", "qemu") : "kernel";
                    if (at == "host" && from == "qemu") throw r.Fail(g.Optional("from")!, g.PathOf("from"), "the host runs no QEMU: expected kernel, or a VMM's name in 'at'");
                    bool exact = g.Optional("equals") is not null;
                    if (exact == (g.Optional("contains") is not null)) throw r.Fail(v, p, "expected exactly one of contains, equals");
                    string text = r.String(exact ? g.Required("equals") : g.Required("contains"), g.PathOf(exact ? "equals" : "contains"));
                    bool absent = g.Optional("absent") is { } ab && r.Bool(ab, g.PathOf("absent"));
                    return new LogExpect(at, from, text, exact, absent, spot);
                }
                case "memory":
                {
                    var g = r.Mapping(v, p, "at", "address", "size", "equals", "changed", "unchanged");
                    string at = Level(g.Required("at"), g.PathOf("at"));
                    ulong address = r.Number(g.Required("address"), g.PathOf("address"));
                    byte[]? equals = g.Optional("equals") is { } eq ? r.Hex(eq, g.PathOf("equals"), 4096) : null;
                    bool? changed = g.Optional("changed") is { } c ? r.Bool(c, g.PathOf("changed")) : null;
                    if (g.Optional("unchanged") is { } u)
                    {
                        if (changed is not null) throw r.Fail(u, g.PathOf("unchanged"), "expected one of changed, unchanged");
                        changed = !r.Bool(u, g.PathOf("unchanged"));
                    }
                    if ((equals is null) == (changed is null)) throw r.Fail(v, p, "expected exactly one of equals, changed, unchanged");
                    int size = g.Optional("size") is { } s ? (int)r.Number(s, g.PathOf("size"), 4096) : equals?.Length ?? 8;
                    if (size == 0 || (equals is not null && equals.Length != size)) throw r.Fail(g.Optional("size") ?? v, g.PathOf("size"), equals is null ? "expected a size from 1 to 4096" : $"the bytes are {equals.Length}, the size says {size}");
                    if (address > ulong.MaxValue - (ulong)size) throw r.Fail(g.Required("address"), g.PathOf("address"), "the range would wrap around the address space");
                    return new MemoryExpect(at, address, size, equals, changed, spot);
                }
                case "guest-table-write":
                {
                    var g = r.Mapping(v, p, "vmm", "gpa", "count");
                    string vmm = VmmName(g.Required("vmm"), g.PathOf("vmm"));
                    ulong? gpa = g.Optional("gpa") is { } a ? r.Number(a, g.PathOf("gpa")) : null;
                    int? count = g.Optional("count") is { } c ? (int)r.Number(c, g.PathOf("count"), 1 << 20) : null;
                    return new GuestTableWriteExpect(vmm, gpa, count, spot);
                }
                default:
                {
                    var g = r.Mapping(v, p, "at", "kind", "contains", "absent");
                    string? at = g.Optional("at") is { } a ? Level(a, g.PathOf("at")) : null;
                    string? eventKind = g.Optional("kind") is { } k ? r.OneOf(k, g.PathOf("kind"), Running.ScenarioEvent.Kinds) : null;
                    string text = r.String(g.Required("contains"), g.PathOf("contains"));
                    bool absent = g.Optional("absent") is { } ab && r.Bool(ab, g.PathOf("absent"));
                    return new EventExpect(at, eventKind, text, absent, spot);
                }
            }
        }

        private string Reason(YamlNode node, string path)
        {
            string text = r.String(node, path);
            if (text is "none" or "any") return text;
            if (FindReason(text) is null)
                throw r.Fail(node, path, $"expected none, any, a fault reason code (0x77) or a condition name (SFS.8), found '{NodeReader.Shorten(text)}'");
            return text;
        }
    }

    /// <summary>The fault reason a code (0x77) or a condition name (SFS.8) names, or null.</summary>
    public static FaultReasonInfo? FindReason(string text)
    {
        foreach (FaultReasonInfo info in FaultReasonInfo.All.OrderBy(i => i.Code))
        {
            if (info.Condition == text) return info;
            if (NodeReader.TryNumber(text, out ulong code) && text.StartsWith("0x", StringComparison.OrdinalIgnoreCase) && code == info.Code) return info;
        }
        return null;
    }
}
