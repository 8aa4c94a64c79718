using VtdSim.Vmm.Memory;

namespace VtdSim.Vmm.Machines;

/// <summary>What a PAM segment of 0xc0000–0xfffff shows (the chipset's PAM register field: RE and WE).</summary>
public enum PamMode
{
    /// <summary>0: reads and writes go to PCI (the BIOS ROM or option ROM there); the reset state.</summary>
    Pci,

    /// <summary>1 (RE): reads come from RAM, writes go to PCI: read-only RAM to the guest.</summary>
    ReadOnly,

    /// <summary>2 (WE): writes go to RAM, reads to PCI; QEMU shows RAM through an alias named "pam-pci".</summary>
    WriteOnly,

    /// <summary>3 (RE|WE): RAM.</summary>
    ReadWrite,
}

/// <summary>
/// One PAM segment: four aliases at the same place, of which exactly one is enabled — "pam-pci" of the PCI space,
/// "pam-rom" of RAM (read-only), "pam-pci" of RAM, and "pam-ram" of RAM — as QEMU's PAM emulation has them.
/// </summary>
public sealed class PamSegment
{
    private readonly MemoryRegion[] aliases = new MemoryRegion[4];

    internal PamSegment(PcMachine machine, int index)
    {
        Index = index;
        Start = index < 12 ? 0xc0000UL + 0x4000UL * (ulong)index : 0xf0000UL;
        Size = index < 12 ? 0x4000UL : 0x10000UL;
        MemorySystem m = machine.Memory;
        // Added in this order so that QEMU's list order (and `info mtree -D`) has pam-ram, pam-pci (RAM), pam-rom, pam-pci (PCI).
        aliases[(int)PamMode.Pci] = m.Alias("pam-pci", machine.Pci, Start, Size);
        aliases[(int)PamMode.ReadOnly] = m.Alias("pam-rom", machine.PcRam, Start, Size);
        aliases[(int)PamMode.ReadOnly].SetReadOnly(true);
        aliases[(int)PamMode.WriteOnly] = m.Alias("pam-pci", machine.PcRam, Start, Size);
        aliases[(int)PamMode.ReadWrite] = m.Alias("pam-ram", machine.PcRam, Start, Size);
        foreach (PamMode mode in new[] { PamMode.Pci, PamMode.ReadOnly, PamMode.WriteOnly, PamMode.ReadWrite })
        {
            aliases[(int)mode].SetEnabled(mode == PamMode.Pci);
            machine.System.AddSubregion(aliases[(int)mode], Start, 1);
        }
    }

    public int Index { get; }

    public ulong Start { get; }

    public ulong Size { get; }

    public PamMode Mode { get; private set; }

    /// <summary>Selects what the segment shows; one transaction, so listeners see one change.</summary>
    public void SetMode(PamMode mode)
    {
        if (mode == Mode) return;
        using (aliases[0].System.BeginTransaction())
        {
            aliases[(int)Mode].SetEnabled(false);
            aliases[(int)mode].SetEnabled(true);
        }
        Mode = mode;
    }
}
