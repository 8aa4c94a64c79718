using VtdSim.Vmm.Memory;

namespace VtdSim.Vmm.Tests;

/// <summary>Changes QEMU would assert on: a clear error naming the region, and the map as it was.</summary>
public class BadInputTests
{
    private static void AssertRefused(MemorySystem m, Action change, string region, string words)
    {
        string before = MtreePrinter.Tree(m, showDisabled: true) + MtreePrinter.Flat(m);
        var e = Assert.Throws<MemoryMapException>(change);
        Assert.Contains($"'{region}'", e.Message);
        Assert.Contains(words, e.Message);
        Assert.Equal(before, MtreePrinter.Tree(m, showDisabled: true) + MtreePrinter.Flat(m));
    }

    [Fact]
    public void BadChangesAreRefusedByNameAndChangeNothing()
    {
        var m = new MemorySystem();
        MemoryRegion root = m.Container("root", MemorySystem.AddressSpaceSize);
        m.AddAddressSpace("as", root);
        MemoryRegion ram = m.Ram("ram", 0x2000);
        root.AddSubregion(ram, 0x1000);
        MemoryRegion alias = m.Alias("win", ram, 0, 0x1000);
        root.AddSubregion(alias, 0x8000);

        AssertRefused(m, () => root.AddSubregion(ram, 0x5000), "ram", "already a subregion of 'root'");
        AssertRefused(m, () => root.AddSubregion(m.Ram("top", 0x2000), ulong.MaxValue - 0xfff), "top", "2^64");
        AssertRefused(m, () => ram.SetAddress(ulong.MaxValue), "ram", "2^64");
        AssertRefused(m, () => m.Alias("beyond", ram, 0x1800, 0x1000), "beyond", "beyond its target 'ram'");
        AssertRefused(m, () => alias.SetAliasOffset(0x1001), "win", "beyond its target 'ram'");
        AssertRefused(m, () => ram.SetSize(0x800), "ram", "alias 'win'");
        AssertRefused(m, () => m.Ram("huge", MemorySystem.AddressSpaceSize + 1), "huge", "larger than 2^64");
        AssertRefused(m, () => root.AddSubregion(root, 0), "root", "itself");
        AssertRefused(m, () => ram.AddSubregion(m.Alias("loop", root, 0, 0x1000), 0), "loop", "loop");
        AssertRefused(m, () => root.RemoveSubregion(m.Io("stranger", 1)), "stranger", "not a subregion of 'root'");
        AssertRefused(m, () => ram.SetRomdMode(false), "ram", "not a ROM device");
        MemoryRegion otherRoot = m.Container("other", 0x1000);
        m.AddAddressSpace("other-as", otherRoot);
        AssertRefused(m, () => root.AddSubregion(otherRoot, 0), "other", "root of an address space");
        AssertRefused(m, () => m.AddAddressSpace("bad", ram), "ram", "subregion of 'root'");
    }

    [Fact]
    public void OverlapsAreFinePrioritiesDecide()
    {
        var m = new MemorySystem();
        MemoryRegion root = m.Container("root", MemorySystem.AddressSpaceSize);
        AddressSpace space = m.AddAddressSpace("as", root);
        root.AddSubregion(m.Ram("ram", 0x10000), 0);
        root.AddSubregion(m.Io("bar", 0x1000), 0x4000, 1);
        Assert.Equal(["ram", "bar", "ram"], space.Sections.Select(s => s.Region.Name));
    }
}
