using VtdSim.Vmm.Memory;

namespace VtdSim.Vmm.Tests;

/// <summary>QEMU's rendering rules, one at a time, on small trees.</summary>
public class RenderingTests
{
    private static (MemorySystem M, MemoryRegion Root, AddressSpace Space) Fresh()
    {
        var m = new MemorySystem();
        MemoryRegion root = m.Container("root", MemorySystem.AddressSpaceSize);
        return (m, root, m.AddAddressSpace("as", root));
    }

    private static string[] View(AddressSpace space) => space.Sections.Select(s => MtreePrinter.Section(s).Trim()).ToArray();

    [Fact]
    public void HigherPriorityWinsAndLaterAddedWinsAmongEquals()
    {
        var (m, root, space) = Fresh();
        root.AddSubregion(m.Ram("low", 0x3000), 0x1000, 0);
        root.AddSubregion(m.Io("high", 0x1000), 0x2000, 1);
        root.AddSubregion(m.Io("first", 0x1000), 0x1000, 0);
        root.AddSubregion(m.Io("second", 0x1000), 0x1000, 0);
        Assert.Equal([
            "0000000000001000-0000000000001fff (prio 0, i/o): second",
            "0000000000002000-0000000000002fff (prio 1, i/o): high",
            "0000000000003000-0000000000003fff (prio 0, ram): low @0000000000002000",
        ], View(space));
    }

    [Fact]
    public void AContainerLetsLowerRegionsShowThroughItsHoles()
    {
        var (m, root, space) = Fresh();
        root.AddSubregion(m.Ram("ram", 0x4000), 0);
        MemoryRegion window = m.Container("window", 0x4000);
        window.AddSubregion(m.Io("dev", 0x1000), 0x1000);
        root.AddSubregion(window, 0, 1);
        Assert.Equal([
            "0000000000000000-0000000000000fff (prio 0, ram): ram",
            "0000000000001000-0000000000001fff (prio 0, i/o): dev",
            "0000000000002000-0000000000003fff (prio 0, ram): ram @0000000000002000",
        ], View(space));
    }

    [Fact]
    public void AnAliasShowsItsTargetFromItsOffsetAndPassesOnReadOnly()
    {
        var (m, root, space) = Fresh();
        MemoryRegion ram = m.Ram("ram", 0x10000);
        MemoryRegion alias = m.Alias("win", ram, 0x4000, 0x2000);
        alias.SetReadOnly(true);
        root.AddSubregion(alias, 0x100000);
        MemorySection s = Assert.Single(space.Sections);
        Assert.Equal((0x100000UL, (UInt128)0x2000, ram, 0x4000UL, true), (s.Start, s.Size, s.Region, s.OffsetInRegion, s.ReadOnly));
        Assert.Equal("0000000000100000-0000000000101fff (prio 0, rom): ram @0000000000004000", View(space)[0]);
    }

    [Fact]
    public void ADisabledRegionVanishesWithItsSubregions()
    {
        var (m, root, space) = Fresh();
        MemoryRegion box = m.Container("box", 0x2000);
        box.AddSubregion(m.Ram("inner", 0x1000), 0);
        root.AddSubregion(box, 0);
        box.SetEnabled(false);
        Assert.Empty(space.Sections);
        Assert.Null(space.FlatViewRoot);
    }

    [Fact]
    public void AdjacentPiecesOfOneRegionWithContiguousOffsetsMerge()
    {
        var (m, root, space) = Fresh();
        MemoryRegion ram = m.Ram("ram", 0x3000);
        root.AddSubregion(ram, 0);
        // Two aliases of the same RAM, end to end, render as one section.
        root.AddSubregion(m.Alias("a", ram, 0, 0x1000), 0x10000, 1);
        root.AddSubregion(m.Alias("b", ram, 0x1000, 0x1000), 0x11000, 1);
        Assert.Equal([
            "0000000000000000-0000000000002fff (prio 0, ram): ram",
            "0000000000010000-0000000000011fff (prio 0, ram): ram",
        ], View(space));
    }

    [Fact]
    public void ARomDeviceIsMemoryInRomdModeAndIoOtherwise()
    {
        var (m, root, space) = Fresh();
        MemoryRegion flash = m.RomDevice("pflash", 0x1000);
        root.AddSubregion(flash, 0xffc00000);
        Assert.True(space.Sections[0].IsMemory);
        Assert.Equal("(prio 0, romd): pflash", View(space)[0][34..]);
        flash.SetRomdMode(false);
        Assert.False(space.Sections[0].IsMemory);
        Assert.Equal("(prio 0, i/o): pflash", View(space)[0][34..]);
    }

    [Fact]
    public void AWholeSpaceRegionEndsAtTheLastAddress()
    {
        var (m, root, space) = Fresh();
        root.AddSubregion(m.Io("all", MemorySystem.AddressSpaceSize), 0);
        Assert.Equal("0000000000000000-ffffffffffffffff (prio 0, i/o): all", View(space)[0]);
    }
}
