using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Profiles;
using VtdSim.Vmm.Devices;
using VtdSim.Vmm.Machines;
using VtdSim.Vmm.Memory.Import;
using VtdSim.Vmm.Vfio;

namespace VtdSim.Vmm;

/// <summary>
/// What a VMM is started with: the machine (`-M`, `-m`, `-nodefaults`, `-device intel-iommu`), the RAM backend, the
/// vIOMMU's properties (`-device intel-iommu,…`), the `erratum-policy`, and the host PCI functions passed through
/// (`-device vfio-pci,host=…,iommufd=iommufd0`).
/// </summary>
public sealed record VmmOptions
{
    public MachineOptions Machine { get; init; } = new();

    /// <summary>
    /// A memory map to run on instead of the one <see cref="Machine"/> lays out: a user's real map, read from QEMU's
    /// `info mtree` (<see cref="ImportedMemoryMap"/>, decision I10). <see cref="Machine"/> then says only the RAM size
    /// (the guest's physical address space) and whether there is an intel-iommu; <see cref="WithLayout"/> sets both.
    /// </summary>
    public ImportedMemoryMap? Layout { get; init; }

    /// <summary>
    /// The same options on <paramref name="layout"/>: the machine's RAM size is the layout's RAM (its highest RAM address
    /// above 4 GiB, else below), within the model's range; nothing is laid out or booted.
    /// </summary>
    public VmmOptions WithLayout(ImportedMemoryMap layout)
    {
        ArgumentNullException.ThrowIfNull(layout);
        ulong ram = layout.RamSize;
        return this with
        {
            Layout = layout,
            Machine = Machine with { RamSize = Math.Clamp(ram, MachineOptions.MinRamSize, MachineOptions.MaxRamSize), Booted = false, Defaults = false, Devices = [], ExtraNics = 0, Pflash = [] },
        };
    }

    /// <summary>QEMU's `-name`: how the VMM names its guest in what it reports (null: the program's name).</summary>
    public string? Name { get; init; }

    public GuestRamBackend RamBackend { get; init; } = GuestRamBackend.Anonymous;

    public ErratumPolicy ErratumPolicy { get; init; } = ErratumPolicy.Qemu11;

    /// <summary>
    /// `-device intel-iommu` and its properties (null: no vIOMMU). It goes with <see cref="MachineOptions.IntelIommu"/>,
    /// which lays out its register page (<see cref="WithIntelIommu"/> sets both). Its properties are validated as the
    /// VMM's QEMU release has them (<see cref="QemuVersion"/>, decision P17).
    /// </summary>
    public IntelIommuProperties? IntelIommu { get; init; }

    /// <summary>
    /// The QEMU release the VMM is: QEMU 7.2 under the `qemu-7.2` erratum policy (every QEMU before 11), QEMU 11 under the
    /// others (`qemu-11`, and the hypothetical VMMs, which ask for a nest parent as QEMU 11 does: x-flts exists there).
    /// </summary>
    public QemuVersion QemuVersion => ErratumPolicy == ErratumPolicy.Qemu72 ? QemuVersion.Qemu72 : QemuVersion.Qemu11;

    /// <summary>intel-iommu's x-scalable-mode (false without a vIOMMU).</summary>
    public bool XScalableMode => IntelIommu?.XScalableMode ?? false;

    /// <summary>intel-iommu's x-flts: the vIOMMU offers a first stage only and wants the host to nest it (QEMU 11).</summary>
    public bool XFlts => IntelIommu?.XFlts ?? false;

    /// <summary>`-object memory-backend-file,…`: files of the VMM's kernel it maps as RAM blocks, in command-line order (decision S61).</summary>
    public IReadOnlyList<MemoryBackendFile> MemoryBackends { get; init; } = [];

    /// <summary>`-device nvdimm,memdev=…`: memory devices showing a backend's RAM block in the guest's device memory (decision S62).</summary>
    public IReadOnlyList<NvdimmOptions> Nvdimms { get; init; } = [];

    /// <summary>Host PCI functions given to the guest, in command-line order.</summary>
    public IReadOnlyList<SourceId> Passthrough { get; init; } = [];

    /// <summary>The same options with <paramref name="intelIommu"/> as the vIOMMU (null: none), in the memory map too.</summary>
    public VmmOptions WithIntelIommu(IntelIommuProperties? intelIommu) =>
        this with { IntelIommu = intelIommu, Machine = Machine with { IntelIommu = intelIommu is not null } };

    /// <summary>
    /// Sets one property from its command-line text, as QEMU parses it: `erratum-policy` (an enum), or any property of
    /// intel-iommu in the VMM's QEMU release (<see cref="IntelIommuProperties.TrySet"/>: its parsers and texts; the
    /// device is added with its defaults if it is not there). Changing the policy moves the intel-iommu to the
    /// policy's QEMU release. False with QEMU's message for a bad value or an unknown name; the options are then
    /// unchanged.
    /// </summary>
    public bool TrySet(string name, string value, out VmmOptions result, out string error)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(value);
        result = this;
        error = "";
        if (name == "erratum-policy")
        {
            if (!ErratumPolicies.TryParse(value, out ErratumPolicy policy, out error)) return false;
            var moved = this with { ErratumPolicy = policy };
            result = moved with { IntelIommu = IntelIommu?.ForVersion(moved.QemuVersion) };
            return true;
        }
        var device = (IntelIommu ?? IntelIommuProperties.Defaults(QemuVersion)).ForVersion(QemuVersion);
        if (!device.TrySet(name, value, out device, out error)) return false;
        result = WithIntelIommu(device);
        return true;
    }

    /// <summary>The intel-iommu device's option text as a command line would give it.</summary>
    internal string IntelIommuDeviceText => IntelIommu?.DeviceText ?? "intel-iommu";
}
