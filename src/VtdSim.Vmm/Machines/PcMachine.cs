using VtdSim.Vmm.Devices;
using VtdSim.Vmm.Memory;
using VtdSim.Vmm.Pci;

namespace VtdSim.Vmm.Machines;

/// <summary>
/// The memory map of a QEMU 7.2 x86 machine (`pc` or `q35`) for a given `-m`: system memory with the RAM split below
/// and above 4 GiB, the PCI address space with the BIOS, the option-ROM area and its PAM segments, SMRAM, the
/// interrupt controllers, the intel_iommu register page, the CPU and bus-master address spaces, and the default
/// devices' BARs. Built as QEMU builds it at reset; <see cref="MachineOptions.Booted"/> applies what SeaBIOS leaves
/// behind (docs/vmm.md, decisions V10–V16).
/// </summary>
public sealed class PcMachine
{
    /// <summary>The 13 PAM segments: 0xc0000–0xeffff in 16 KiB steps, then 0xf0000–0xfffff.</summary>
    public const int PamSegments = 13;

    private const ulong Gib = 1UL << 30;
    private readonly List<PciFunctionModel> functions = [];
    private readonly List<IEmulatedPciDevice> devices = [];
    private MemoryRegion smram = null!;

    private PcMachine(MachineOptions options, MemorySystem? memory = null)
    {
        Options = options;
        Memory = memory ?? new MemorySystem();
    }

    /// <summary>
    /// A machine on a memory map made elsewhere — a user's real map read from QEMU's `info mtree`
    /// (<see cref="Memory.Import.ImportedMemoryMap.Build"/>) — instead of a layout of its own (decision I10). The map is
    /// taken as it is, the firmware's work done: its "memory" address space is the system memory, "pc.ram" (else the
    /// largest RAM region) the main RAM; there are no PAM segments and no PCI functions but the host bridge's
    /// configuration ports. False with a message if the map has no "memory" address space.
    /// </summary>
    public static bool TryFromLayout(MachineOptions options, MemorySystem memory, out PcMachine? machine, out string error)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(memory);
        machine = null;
        error = "";
        AddressSpace? system = memory.AddressSpaces.FirstOrDefault(a => a.Name == "memory");
        if (system is null)
        {
            error = "the memory map has no \"memory\" address space (the system memory)";
            return false;
        }
        var made = new PcMachine(options, memory) { SystemMemory = system, System = system.Root, FirmwareRan = true };
        made.PortIo = memory.AddressSpaces.FirstOrDefault(a => a.Name == "I/O") ?? memory.AddAddressSpace("I/O", memory.Io("io", 0x10000), portIo: true);
        var regions = new List<MemoryRegion>();
        var seen = new HashSet<MemoryRegion>(ReferenceEqualityComparer.Instance);
        var stack = new Stack<MemoryRegion>();
        stack.Push(system.Root);
        while (stack.Count > 0)
        {
            MemoryRegion r = stack.Pop();
            if (!seen.Add(r)) continue;
            regions.Add(r);
            if (r.AliasTarget is { } t) stack.Push(t);
            foreach (MemoryRegion sub in r.Subregions) stack.Push(sub);
        }
        made.Pci = regions.FirstOrDefault(r => r.Name == "pci" && r.Kind == RegionKind.Container) ?? system.Root;
        made.PcRam = regions.FirstOrDefault(r => r.Name == "pc.ram" && r.Kind == RegionKind.Ram)
            ?? regions.Where(r => r.Kind == RegionKind.Ram).OrderByDescending(r => r.Size).FirstOrDefault()!;
        const ulong fourGiB = 1UL << 32;
        foreach (MemorySection s in system.Sections.Where(s => s.Kind == RegionKind.Ram))
        {
            UInt128 end = s.Start + s.Size;
            if (s.Start < fourGiB) made.RamBelow4G = (ulong)UInt128.Min(UInt128.Max(made.RamBelow4G, end), fourGiB);
            if (end > fourGiB) made.RamAbove4G = (ulong)UInt128.Min(UInt128.Max(made.RamAbove4G, end - fourGiB), ulong.MaxValue);
        }
        made.Bus = new PciHost(made);
        machine = made;
        return true;
    }

    public MachineOptions Options { get; }

    public MemorySystem Memory { get; }

    /// <summary>The "memory" address space (root "system").</summary>
    public AddressSpace SystemMemory { get; private set; } = null!;

    /// <summary>The "I/O" address space (port I/O, root "io").</summary>
    public AddressSpace PortIo { get; private set; } = null!;

    public MemoryRegion System { get; private set; } = null!;

    public MemoryRegion Pci { get; private set; } = null!;

    public MemoryRegion PcRam { get; private set; } = null!;

    /// <summary>RAM below 4 GiB (ram-below-4g), and above it from 4 GiB on (ram-above-4g).</summary>
    public ulong RamBelow4G { get; private set; }

    public ulong RamAbove4G { get; private set; }

    public IReadOnlyList<PamSegment> Pam { get; private set; } = [];

    /// <summary>The host bridge and bus 0: configuration space through 0xcf8/0xcfc and MMCONFIG, BAR mapping (E1–E7).</summary>
    public PciHost Bus { get; private set; } = null!;

    /// <summary>The PCI functions whose memory the map shows, in the order QEMU creates them.</summary>
    public IReadOnlyList<PciFunctionModel> Functions => functions;

    /// <summary>The emulated devices (`-device edu`, `-device iommu-testdev`): connect them to the guest machine (E10).</summary>
    public IReadOnlyList<IEmulatedPciDevice> Devices => devices;

    /// <summary>Whether the map shows what SeaBIOS leaves (built with <see cref="MachineOptions.Booted"/>, or after <see cref="RunFirmware"/>).</summary>
    public bool FirmwareRan { get; private set; }

    /// <summary><see cref="Create"/> without exceptions: false with QEMU's message for options it refuses.</summary>
    public static bool TryCreate(MachineOptions options, out PcMachine? machine, out string error)
    {
        machine = null;
        error = "";
        try
        {
            machine = Create(options);
            return true;
        }
        catch (ArgumentException e)
        {
            error = e.Message;
            return false;
        }
    }

    public static PcMachine Create(MachineOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.IntelIommu && options.Type != MachineType.Q35) throw new ArgumentException("intel-iommu needs the q35 machine type (-M q35)");
        if (options.ExtraNics < 0 || options.ExtraNics > 20) throw new ArgumentException("between 0 and 20 extra NICs");
        if (options.RamSize < MachineOptions.MinRamSize || options.RamSize > MachineOptions.MaxRamSize) throw new ArgumentException("the RAM size is out of range (1 MiB to 4 TiB)");
        CheckPflash(options);
        var machine = new PcMachine(options);
        using (machine.Memory.BeginTransaction()) machine.Build();
        return machine;
    }

    /// <summary>QEMU 7.2's checks of the pflash images (pc_system_flash_map), with its messages.</summary>
    private static void CheckPflash(MachineOptions options)
    {
        IReadOnlyList<ulong> units = options.Pflash ?? [];
        if (units.Count > 2) throw new ArgumentException("machine type does not support if=pflash,bus=0,unit=2");
        ulong total = 0;
        for (int i = 0; i < units.Count; i++)
        {
            if (units[i] == 0 || units[i] % 0x1000 != 0)
                throw new ArgumentException($"system firmware block device pflash{i} has invalid size {units[i]} (its size must be a non-zero multiple of 0x1000)");
            total += Math.Min(units[i], MachineOptions.MaxFirmwareSize + 1);
        }
        if (total > MachineOptions.MaxFirmwareSize)
            throw new ArgumentException($"combined size of system firmware exceeds {MachineOptions.MaxFirmwareSize} bytes");
        if (options.Booted && units.Count > 0 && options.Type != MachineType.Q35)
            throw new ArgumentException("the state after OVMF is modelled for q35 only (-M pc with pflash is modelled at reset)");
    }

    /// <summary>
    /// Applies, as one change of the map, what the firmware (SeaBIOS or OVMF) leaves behind (as <see cref="MachineOptions.Booted"/> builds it):
    /// for a VMM that starts at reset, attaches its devices, and then lets the firmware run. False if it already ran.
    /// </summary>
    public bool RunFirmware()
    {
        if (FirmwareRan) return false;
        using (Memory.BeginTransaction()) Boot(Options.Type == MachineType.Q35, smram);
        return true;
    }

    private void Build()
    {
        MemorySystem m = Memory;
        bool q35 = Options.Type == MachineType.Q35;
        ulong ram = Options.RamSize;
        // QEMU 7.2: q35 keeps 2 GiB below 4 GiB once -m reaches 2.75 GiB (0xb0000000), pc keeps 3 GiB once -m reaches
        // 3.5 GiB (0xe0000000, with gigabyte alignment); below those thresholds all RAM is below 4 GiB (decision V10).
        RamBelow4G = q35 ? (ram >= 0xb0000000 ? 0x80000000 : ram) : (ram >= 0xe0000000 ? 0xc0000000 : ram);
        RamAbove4G = ram - RamBelow4G;

        System = m.Container("system", MemorySystem.AddressSpaceSize);
        MemoryRegion io = m.Io("io", 0x10000);
        SystemMemory = m.AddAddressSpace("memory", System);
        PortIo = m.AddAddressSpace("I/O", io, portIo: true);

        PcRam = m.Ram("pc.ram", ram);
        System.AddSubregion(m.Alias("ram-below-4g", PcRam, 0, RamBelow4G), 0);
        if (RamAbove4G > 0) System.AddSubregion(m.Alias("ram-above-4g", PcRam, RamBelow4G, RamAbove4G), 4 * Gib);

        Pci = m.Container("pci", MemorySystem.AddressSpaceSize);
        System.AddSubregion(Pci, 0, -1);
        if (Options.Ovmf) AddFlash();
        else
        {
            MemoryRegion bios = m.Rom("pc.bios", 0x40000);
            Pci.AddSubregion(bios, 0x1_0000_0000 - 0x40000);
            Pci.AddSubregion(m.Alias("isa-bios", bios, 0x20000, 0x20000), 0xe0000, 1);
        }
        Pci.AddSubregion(m.Rom("pc.rom", 0x20000), 0xc0000, 1);

        if (q35)
        {
            MemoryRegion blackhole = m.Io("smbase-blackhole", 0x20000);
            blackhole.SetEnabled(false);
            System.AddSubregion(blackhole, 0x30000, 1);
        }
        System.AddSubregion(m.Alias("smram-region", Pci, 0xa0000, 0x20000), 0xa0000, 1);
        Pam = Enumerable.Range(0, PamSegments).Select(i => new PamSegment(this, i)).ToList();
        smram = m.Container("smram", 4 * Gib);
        if (q35)
        {
            MemoryRegion tseg = m.Io("tseg-blackhole", 0);
            tseg.SetEnabled(false);
            System.AddSubregion(tseg, RamBelow4G, 1);
            MemoryRegion openHigh = m.Alias("smram-open-high", PcRam, 0xa0000, 0x20000);
            openHigh.SetEnabled(false);
            System.AddSubregion(openHigh, 0xfeda0000, 1);
            AddDisabled(smram, m.Alias("smram-high", PcRam, 0xa0000, 0x20000), 0xfeda0000);
            AddDisabled(smram, m.Alias("smram-low", PcRam, 0xa0000, 0x20000), 0xa0000);
            AddDisabled(smram, m.Alias("smbase-window", PcRam, 0x30000, 0x20000), 0x30000);
            AddDisabled(smram, m.Alias("tseg-window", PcRam, RamBelow4G, 0), RamBelow4G);
        }
        else
        {
            // i440FX: the SMRAM container is off until SMM code opens it; its low window is on (decision V13).
            smram.AddSubregion(m.Alias("smram-low", PcRam, 0xa0000, 0x20000), 0xa0000);
            smram.SetEnabled(false);
        }

        System.AddSubregion(m.Io("ioapic", 0x1000), 0xfec00000);
        System.AddSubregion(m.Io("hpet", 0x400), 0xfed00000);
        if (Options.IntelIommu) System.AddSubregion(m.Io("intel_iommu", 0x230), 0xfed90000);
        System.AddSubregion(m.Io("apic-msi", 0x100000), 0xfee00000, 4096);

        // The CPU's address spaces.
        m.AddAddressSpace("cpu-memory-0", System);
        MemoryRegion smmRoot = m.Container("memory", MemorySystem.AddressSpaceSize);
        smmRoot.AddSubregion(m.Alias("memory", System, 0, MemorySystem.AddressSpaceSize), 0);
        smmRoot.AddSubregion(m.Alias("smram", smram, 0, 4 * Gib), 0, 1);
        m.AddAddressSpace("cpu-smm-0", smmRoot);

        AddFunctions(q35);
        if (Options.Booted) Boot(q35, smram);
    }

    /// <summary>
    /// QEMU 7.2's pflash layout (pc_system_flash_map): unit 0 ends at 4 GiB and each further unit sits right below the
    /// one before, as ROM devices in ROMD mode in system memory; the last 128 KiB of unit 0 (or all of it, if smaller) is
    /// copied into an "isa-bios" ROM that ends at 1 MiB, over the PCI space as pc.bios's alias is with SeaBIOS.
    /// </summary>
    private void AddFlash()
    {
        MemorySystem m = Memory;
        ulong top = 0x1_0000_0000;
        for (int i = 0; i < Options.Pflash.Count; i++)
        {
            top -= Options.Pflash[i];
            System.AddSubregion(m.RomDevice($"system.flash{i}", Options.Pflash[i]), top);
        }
        ulong isaBios = Math.Min(Options.Pflash[0], 0x20000);
        Pci.AddSubregion(m.Rom("isa-bios", isaBios), 0x100000 - isaBios, 1);
    }

    private void AddFunctions(bool q35)
    {
        MemorySystem m = Memory;
        if (q35)
        {
            functions.Add(PciFunctionModel.Mch(0x00));
            functions.Add(PciFunctionModel.Ich9Lpc(0xf8));
            functions.Add(PciFunctionModel.Ahci(m, 0xfa));
            functions.Add(PciFunctionModel.Ich9Smbus(m, 0xfb));
        }
        else
        {
            functions.Add(PciFunctionModel.I440fx(0x00));
            functions.Add(PciFunctionModel.Piix3(0x08));
        }
        // The defaults take the first free slots: 1 on q35 (the ICH9 functions sit in slot 31), 2 on pc (PIIX3 has 1);
        // on pc QEMU makes them before the IDE and power-management functions of the PIIX3.
        int slot = q35 ? 1 : 2;
        if (Options.Defaults)
        {
            PciFunctionModel vga = PciFunctionModel.StdVga(m, slot++ << 3);
            functions.Add(vga);
            Pci.AddSubregion(vga.LowMemory!, 0xa0000, 1);
            functions.Add(q35 ? PciFunctionModel.E1000e(m, slot++ << 3) : PciFunctionModel.E1000(m, slot++ << 3));
        }
        for (int i = 0; i < Options.ExtraNics; i++) functions.Add(PciFunctionModel.E1000e(m, slot++ << 3));
        if (!q35)
        {
            functions.Add(PciFunctionModel.Piix3Ide(m, 0x09));
            functions.Add(PciFunctionModel.Piix4Pm(0x0b));
        }
        var ids = new Dictionary<int, string>();
        foreach (DeviceOptions device in Options.Devices) devices.Add(DevicePlacement.Place(this, functions, ids, device));
        Bus = new PciHost(this);
        foreach (PciFunctionModel f in functions) Bus.Add(f);

        // Every function's bus-master address space: a container with the "bus master" alias of the memory it DMAs
        // to — system memory, or its own vtd-root region with intel-iommu — off until the guest sets Bus Master Enable.
        MemoryRegion? noDmar = null;
        MemoryRegion? irWindow = null;
        if (Options.IntelIommu)
        {
            noDmar = m.Container("vtd-nodmar", MemorySystem.AddressSpaceSize);
            noDmar.AddSubregion(m.Alias("vtd-sys-alias", System, 0, MemorySystem.AddressSpaceSize), 0);
            irWindow = m.Io("vtd-ir", 0x100000);
            noDmar.AddSubregion(irWindow, 0xfee00000, 1);
        }
        foreach (PciFunctionModel f in functions)
        {
            MemoryRegion target = System;
            if (noDmar is not null)
            {
                string devfn = $"{f.DevFn >> 3:x2}.{f.DevFn & 7:x}";
                MemoryRegion root = m.Container($"vtd-{devfn}", MemorySystem.AddressSpaceSize);
                MemoryRegion dmar = m.Iommu($"vtd-{devfn}-dmar", MemorySystem.AddressSpaceSize);
                dmar.SetEnabled(false);
                dmar.AddSubregion(m.Alias("vtd-ir", irWindow!, 0, 0x100000), 0xfee00000, 1);
                MemoryRegion noIr = m.Io("vtd-no-ir", 0x100000);
                noIr.SetEnabled(false);
                root.AddSubregion(noIr, 0xfee00000, 2);
                root.AddSubregion(dmar, 0);
                root.AddSubregion(m.Alias("vtd-nodmar", noDmar, 0, MemorySystem.AddressSpaceSize), 0);
                f.IommuRoot = root;
                target = root;
            }
            MemoryRegion container = m.Container("bus master container", MemorySystem.AddressSpaceSize);
            f.BusMaster = m.Alias("bus master", target, 0, MemorySystem.AddressSpaceSize);
            f.BusMaster.SetEnabled(false);
            container.AddSubregion(f.BusMaster, 0);
            f.AddressSpace = m.AddAddressSpace(f.Name, container);
        }
        if (Options.IntelIommu)
            foreach (PciFunctionModel f in functions.OrderBy(f => f.DevFn))
                m.AddAddressSpace("vtd-root", f.IommuRoot!);
    }

    /// <summary>
    /// What SeaBIOS leaves: PAM segments read-only or read-write, BARs placed, MMCONFIG, RCRB and SMRAM set up
    /// (V11–V15); or what OVMF leaves (V51).
    /// </summary>
    private void Boot(bool q35, MemoryRegion smram)
    {
        FirmwareRan = true;
        MemorySystem m = Memory;
        if (Options.Ovmf)
        {
            BootOvmf();
            return;
        }
        for (int i = 0; i < PamSegments; i++)
            Pam[i].SetMode(Pam[i].Start is >= 0xe8000 and < 0xf0000 ? PamMode.ReadWrite : PamMode.ReadOnly);
        if (q35)
        {
            Bus.WriteConfig(0, 0, PciHost.PciexbarOffset, 4, 0xb0000001); // MMCONFIG: 256 MiB at 0xb0000000
            System.AddSubregion(m.Io("lpc-rcrb-mmio", 0x4000), 0xfed1c000, 1);
            smram.Subregions.First(r => r.Name == "smram-low").SetEnabled(true);
        }
        else
        {
            smram.SetEnabled(true);
        }
        BarAllocator.AssignAsSeaBios(this);
        // SeaBIOS turns on I/O and memory decoding and SERR# for every function, bus mastering for the NICs and AHCI (E8).
        foreach (PciFunctionModel f in functions)
        {
            uint command = PciConfigSpace.CommandIo | PciConfigSpace.CommandMemory | PciConfigSpace.CommandSerr;
            if (f.Name is "e1000e" or "e1000" or "ich9-ahci") command |= PciConfigSpace.CommandBusMaster;
            Bus.WriteConfig(0, f.DevFn, PciConfigSpace.CommandOffset, 2, command);
        }

        // SeaBIOS copies the option ROMs to 0xc0000 on: the VGA BIOS (pages 0xc0000-0xc9fff and part of the next),
        // then 4 KiB per NIC's iPXE ROM after its initialisation, then kvmvapic.bin, whose pages QEMU's vapic makes
        // writable with a priority-1000 alias (V15, observed on six booted captures).
        int nics = functions.Count(f => f.Name is "e1000e" or "e1000");
        ulong vapic = 0xc0000 + (Options.Defaults ? 0xa000UL : 0) + 0x1000UL * (ulong)nics;
        System.AddSubregion(m.Alias("kvmvapic-rom", PcRam, vapic, 0x3000), vapic, 1000);
    }

    /// <summary>
    /// What OVMF (Debian's 2022.11, QEMU 7.2, q35) leaves, as the booted captures show it (decision V51): MMCONFIG at
    /// 0xb0000000 and the RCRB as SeaBIOS sets them; the PAM segments and SMRAM as at reset (the BIOS area stays the
    /// PCI space's ROMs); no vapic ROM; the BARs placed by EDK2's PCI bus driver; memory and I/O decoding and bus
    /// mastering on for every function.
    /// </summary>
    private void BootOvmf()
    {
        Bus.WriteConfig(0, 0, PciHost.PciexbarOffset, 4, 0xb0000001);
        System.AddSubregion(Memory.Io("lpc-rcrb-mmio", 0x4000), 0xfed1c000, 1);
        BarAllocator.AssignAsOvmf(this);
        foreach (PciFunctionModel f in functions)
            Bus.WriteConfig(0, f.DevFn, PciConfigSpace.CommandOffset, 2, PciConfigSpace.CommandIo | PciConfigSpace.CommandMemory | PciConfigSpace.CommandBusMaster);
        if (functions.FirstOrDefault(f => f.LowMemory is not null) is { } vga)
        {
            // OVMF's video driver for the standard VGA puts its VBE shim at 0xc0000 (the first PAM segment, written and
            // then made read-only), and leaves the VGA in a graphics mode whose 64 KiB window at 0xa0000 is the frame
            // buffer itself (QEMU's "vga.chain4" alias of the VRAM).
            Pam[0].SetMode(PamMode.ReadOnly);
            Pci.AddSubregion(Memory.Alias("vga.chain4", vga.Bars[0].Region!, 0, 0x10000), 0xa0000, 2);
        }
    }

    private static void AddDisabled(MemoryRegion container, MemoryRegion region, ulong offset)
    {
        region.SetEnabled(false);
        container.AddSubregion(region, offset);
    }
}
