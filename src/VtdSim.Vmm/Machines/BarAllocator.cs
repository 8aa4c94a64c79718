namespace VtdSim.Vmm.Machines;

/// <summary>
/// SeaBIOS's placement of the root bus's memory BARs below the IOAPIC (0xfec00000), as the booted captures show it
/// (decision V12): the non-prefetchable window (memory BARs and expansion ROMs) ends at 0xfec00000 and starts at the
/// total size rounded down to the largest alignment; the prefetchable window ends where that one starts. In each
/// window the BARs go largest first, equal sizes by devfn and then BAR number. ROM BARs get room but stay disabled,
/// so they show nothing. Port I/O BARs are not placed (the model does not lay out the I/O space, V18).
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

    private static ulong Place(PcMachine machine, List<Bar> bars, ulong end)
    {
        if (bars.Count == 0) return end;
        ulong total = bars.Aggregate(0UL, (sum, b) => sum + b.Size);
        ulong align = bars.Max(b => b.Size);
        ulong at = (end - total) & ~(align - 1);
        ulong start = at;
        foreach (Bar bar in bars.OrderByDescending(b => b.Size))
        {
            bar.Address = at;
            if (bar.Region is { } region && bar.Space != BarSpace.Rom) machine.Pci.AddSubregion(region, at, 1);
            at += bar.Size;
        }
        return start;
    }
}
