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
/// extra `-device e1000e` NICs (q35), emulated devices (`-device edu`, `-device iommu-testdev`), the firmware (SeaBIOS,
/// or OVMF in `-drive if=pflash` images), and whether to show the state the firmware leaves (<see cref="Booted"/>)
/// instead of the state at reset.
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

    /// <summary>Emulated `-device edu` / `-device iommu-testdev`, in command-line order, after the extra NICs.</summary>
    public IReadOnlyList<Devices.DeviceOptions> Devices { get; init; } = [];

    /// <summary>
    /// The map after the firmware ran (BARs assigned, MMCONFIG programmed; SeaBIOS also sets PAM and opens SMRAM)
    /// rather than at reset.
    /// </summary>
    public bool Booted { get; init; }

    /// <summary>
    /// The sizes of the `-drive if=pflash` images in bytes: unit 0 (OVMF's code) and unit 1 (its variable store). Empty:
    /// no pflash, and the firmware is SeaBIOS in `pc.bios`; otherwise the firmware is OVMF, in flash (decision V50).
    /// </summary>
    public IReadOnlyList<ulong> Pflash { get; init; } = [];

    /// <summary>Whether the firmware is OVMF in pflash (<see cref="Pflash"/> given) rather than SeaBIOS.</summary>
    public bool Ovmf => Pflash.Count > 0;

    /// <summary>QEMU 7.2's limit on the pflash images together (the machine's `max-fw-size`, 8 MiB).</summary>
    public const ulong MaxFirmwareSize = 8UL << 20;

    /// <summary>The largest `-m` the model takes: 4 TiB (the largest guest).</summary>
    public const ulong MaxRamSize = 4UL << 40;

    /// <summary>The smallest `-m` the model takes: 1 MiB (the legacy area below 1 MiB is RAM in every layout).</summary>
    public const ulong MinRamSize = 1UL << 20;
}
