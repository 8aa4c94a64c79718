namespace VtdSim.Vmm.Machines;

/// <summary>
/// SeaBIOS's placement of the root bus's memory BARs below the IOAPIC (0xfec00000), as the booted captures show it
/// (decision V12): the non-prefetchable window (memory BARs and expansion ROMs) ends at 0xfec00000 and starts at the
/// total size rounded down to the largest alignment; the prefetchable window ends where that one starts. In each
/// window the BARs go largest first, equal sizes by devfn and then BAR number. ROM BARs get room but stay disabled,
/// so they show nothing. Port I/O BARs are not placed (the model does not lay out the I/O space, V18). The BARs are
/// programmed through configuration space, as SeaBIOS does it (E8).
/// </summary>
internal static class BarAllocator
{
    private const ulong WindowEnd = 0xfec00000;

    public static void AssignAsSeaBios(PcMachine machine)
    {
        var bars = machine.Functions.OrderBy(f => f.DevFn).SelectMany(f => f.Bars.Select(b => b)).ToList();
        ulong memoryBase = Place(machine, bars.Where(b => b.Space is BarSpace.Memory or BarSpace.Rom).ToList(), WindowEnd);
        Place(machine, bars.Where(b => b.Space == BarSpace.Prefetchable).ToList(), memoryBase);
    }

    /// <summary>
    /// EDK2's PCI bus driver in OVMF on q35 (decision V51): one 32-bit window from 0xc0000000 (above MMCONFIG) for
    /// memory and prefetchable memory together, filled upward; the resources go largest first, and of equal sizes the
    /// one found later first (devfn, then BAR number; EDK2 inserts a resource ahead of those of its own alignment). The
    /// expansion ROMs share one resource, as large as the largest ROM, found after every BAR: each ROM is read through
    /// it in turn, so every ROM BAR ends disabled.
    /// </summary>
    public static void AssignAsOvmf(PcMachine machine)
    {
        const ulong windowStart = 0xc0000000;
        var bars = machine.Functions.OrderBy(f => f.DevFn).SelectMany(f => f.Bars).ToList();
        var resources = bars.Where(b => b.Space is BarSpace.Memory or BarSpace.Prefetchable).Select(b => (Bar: (Bar?)b, b.Size)).ToList();
        List<Bar> roms = bars.Where(b => b.Space == BarSpace.Rom).ToList();
        if (roms.Count > 0) resources.Add((null, roms.Max(b => b.Size)));
        var order = new List<(Bar? Bar, ulong Size)>();
        foreach (var r in resources)
        {
            int i = order.FindIndex(o => o.Size <= r.Size);
            order.Insert(i < 0 ? order.Count : i, r);
        }
        ulong at = windowStart;
        foreach (var (bar, size) in order)
        {
            at = (at + size - 1) & ~(size - 1);
            if (bar is not null) machine.Bus.ProgramBar(bar, at);
            else foreach (Bar rom in roms) machine.Bus.WriteConfig(0, rom.Function.DevFn, rom.Register, 4, (uint)at); // enable bit clear
            at += size;
        }
    }

    private static ulong Place(PcMachine machine, List<Bar> bars, ulong end)
    {
        if (bars.Count == 0) return end;
        ulong total = bars.Aggregate(0UL, (sum, b) => sum + b.Size);
        ulong align = bars.Max(b => b.Size);
        ulong at = (end - total) & ~(align - 1);
        ulong start = at;
        foreach (Bar bar in bars.OrderByDescending(b => b.Size))
        {
            if (bar.Space == BarSpace.Rom) machine.Bus.WriteConfig(0, bar.Function.DevFn, bar.Register, 4, (uint)at); // enable bit clear
            else machine.Bus.ProgramBar(bar, at);
            at += bar.Size;
        }
        return start;
    }
}
