using VtdSim.Vmm.Machines;
using VtdSim.Vmm.Memory;
using VtdSim.Vmm.Tests.Support;

namespace VtdSim.Vmm.Tests;

/// <summary>The model's memory map against real QEMU 7.2.22 output for every captured configuration (Captures/README.md).</summary>
public class CaptureTests
{
    [Theory]
    [MemberData(nameof(Captures.Names), MemberType = typeof(Captures))]
    public void SystemMemoryFlatViewEqualsQemu(string name)
    {
        PcMachine machine = PcMachine.Create(Captures.Configurations[name]);
        List<string> expected = Captures.FlatSections(Captures.Read(name, "info-mtree-f"), "memory");
        List<string> actual = machine.SystemMemory.Sections.Select(s => MtreePrinter.Section(s)).ToList();
        Assert.Equal(expected, actual);
    }

    /// <summary>
    /// Every flat view of `info mtree -f` but the port I/O space's, with the address spaces that share it, text for
    /// text; only the FlatView numbers are left out, since QEMU numbers the views in a hash order.
    /// </summary>
    [Theory]
    [MemberData(nameof(Captures.Names), MemberType = typeof(Captures))]
    public void EveryModelledFlatViewEqualsQemu(string name)
    {
        PcMachine machine = PcMachine.Create(Captures.Configurations[name]);
        Assert.Equal(FlatBlocks(Captures.Read(name, "info-mtree-f")), FlatBlocks(MtreePrinter.Flat(machine.Memory)));
    }

    private static List<string> FlatBlocks(string text) =>
        Captures.Blocks(text).Select(b => b[(b.IndexOf('\n') + 1)..]).Where(b => !b.StartsWith(" AS \"I/O\"", StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToList();

    /// <summary>Every block of `info mtree` and `info mtree -D` except the port I/O space's, text for text; QEMU's block order is a hash order.</summary>
    [Theory]
    [MemberData(nameof(Captures.Names), MemberType = typeof(Captures))]
    public void TreeBlocksEqualQemu(string name)
    {
        PcMachine machine = PcMachine.Create(Captures.Configurations[name]);
        foreach (var (command, disabled) in new[] { ("info-mtree", false), ("info-mtree-D", true) })
        {
            List<string> expected = Captures.Blocks(Captures.Read(name, command)).Where(b => !b.StartsWith("address-space: I/O\n", StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToList();
            List<string> actual = Captures.Blocks(MtreePrinter.Tree(machine.Memory, disabled)).Where(b => !b.StartsWith("address-space: I/O\n", StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToList();
            Assert.Equal(expected, actual);
        }
    }
}
