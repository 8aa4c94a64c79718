using System.Text;
using VtdSim.Vmm.Memory;
using VtdSim.Vmm.Memory.Import;
using VtdSim.Vmm.Tests.Support;

namespace VtdSim.Vmm.Tests.Import;

/// <summary>
/// Reading QEMU's own `info mtree` output back (MtreeParser, ImportedMemoryMap): the model's printer, given the regions
/// rebuilt from a real capture, prints that capture again; the model's renderer, given the rebuilt trees, renders
/// QEMU's flat view of system memory.
/// </summary>
public class MtreeImportTests
{
    public static TheoryData<string> Names => Captures.Names;

    private static ImportedMemoryMap Parse(string text, string file = "capture.txt")
    {
        Assert.True(MtreeParser.TryParse(text, file, out ImportedMemoryMap? map, out MtreeParseError? error), error?.Message);
        return map!;
    }

    /// <summary>The parsed tree is the parser's: a caller can read a node's subregions but not add or remove any.</summary>
    [Fact]
    public void ANodesChildrenCannotBeChangedFromOutside()
    {
        Assert.True(MtreeParser.TryReadBlocks(Captures.Read("q35-4g-booted", "info-mtree-D"), "capture.txt", out var trees, out _, out var error), error?.Message);
        MtreeNode parent = trees.Select(t => t.Root).First(r => r.Children.Count > 0);
        var children = Assert.IsAssignableFrom<ICollection<MtreeNode>>(parent.Children);
        Assert.True(children.IsReadOnly);
        Assert.Throws<NotSupportedException>(() => children.Clear());
    }

    /// <summary>render(parse(`info mtree -D`)) is the capture, byte for byte, block order included.</summary>
    [Theory]
    [MemberData(nameof(Names))]
    public void TreesWithDisabledRegionsRoundTripByteForByte(string name)
    {
        string capture = Captures.Read(name, "info-mtree-D");
        MemorySystem system = Parse(capture).BuildTrees()!;
        Assert.Equal(capture, MtreePrinter.Tree(system, showDisabled: true));
    }

    /// <summary>
    /// Without -D, the trees print again as QEMU printed them, subregions of unprinted (disabled) regions included; but a
    /// "memory-region:" block QEMU printed for the target of an alias it did not print (a disabled one) is not printed
    /// again, and the order of the memory-region blocks, which those aliases take part in, may differ (I8).
    /// </summary>
    [Theory]
    [MemberData(nameof(Names))]
    public void TreesRoundTripButForTargetsOfUnprintedAliases(string name)
    {
        string capture = Captures.Read(name, "info-mtree");
        MemorySystem system = Parse(capture).BuildTrees()!;
        string printed = MtreePrinter.Tree(system);
        List<string> expected = Captures.Blocks(capture);
        List<string> actual = Captures.Blocks(printed);
        Assert.Equal(expected.Where(b => b.StartsWith("address-space: ", StringComparison.Ordinal)), actual.Where(b => b.StartsWith("address-space: ", StringComparison.Ordinal)));
        Assert.Empty(actual.Except(expected));
        foreach (string missing in expected.Except(actual))
        {
            Assert.StartsWith("memory-region: ", missing);
            string target = missing["memory-region: ".Length..missing.IndexOf('\n')];
            Assert.DoesNotContain($" @{target} ", capture);
        }
    }

    /// <summary>
    /// The trees with disabled regions and the flat views in one input (`info mtree -D` then `info mtree -f`): the rebuilt
    /// trees render QEMU's flat view of system memory, section by section.
    /// </summary>
    [Theory]
    [MemberData(nameof(Names))]
    public void RebuiltTreesRenderQemusSystemMemoryFlatView(string name)
    {
        string flat = Captures.Read(name, "info-mtree-f");
        MemorySystem system = Parse(Captures.Read(name, "info-mtree-D") + flat).BuildTrees()!;
        AddressSpace memory = system.AddressSpaces.Single(a => a.Name == "memory");
        Assert.Equal(Captures.FlatSections(flat, "memory"), memory.Sections.Select(s => MtreePrinter.Section(s)).ToList());
    }

    /// <summary>
    /// From a tree alone (`info mtree`, no -D, no flat view), what vfio would look at — the memory sections of system
    /// memory, with their read-only flags — renders as QEMU rendered it; only i/o sections may differ, as the tree does
    /// not say which i/o regions are containers (I5).
    /// </summary>
    [Theory]
    [MemberData(nameof(Names))]
    public void ATreeAloneRendersQemusMemorySections(string name)
    {
        MemorySystem system = Parse(Captures.Read(name, "info-mtree")).BuildTrees()!;
        AddressSpace memory = system.AddressSpaces.Single(a => a.Name == "memory");
        List<string> expected = Captures.FlatSections(Captures.Read(name, "info-mtree-f"), "memory").Where(l => !l.Contains(", i/o): ", StringComparison.Ordinal)).ToList();
        Assert.Equal(expected, memory.Sections.Where(s => s.TypeName != "i/o").Select(s => MtreePrinter.Section(s)).ToList());
    }

    /// <summary>`info mtree -f` parses into its blocks, which print again as the capture, and the layout built from its system memory view renders that view.</summary>
    [Theory]
    [MemberData(nameof(Names))]
    public void FlatViewsRoundTripAndTheirLayoutRendersThem(string name)
    {
        string capture = Captures.Read(name, "info-mtree-f");
        ImportedMemoryMap map = Parse(capture);
        Assert.Equal(capture, PrintFlat(map.FlatViews));
        MemorySystem layout = map.Build()!;
        AddressSpace memory = layout.AddressSpaces.Single(a => a.Name == "memory");
        Assert.Equal(Captures.FlatSections(capture, "memory"), memory.Sections.Select(s => MtreePrinter.Section(s)).ToList());
    }

    [Fact]
    public void TreeAndFlatViewInOneInputAreBothRead()
    {
        string both = Captures.Read("q35-4g-booted", "info-mtree") + Captures.Read("q35-4g-booted", "info-mtree-f");
        ImportedMemoryMap map = Parse(both);
        Assert.NotEmpty(map.Trees);
        Assert.NotEmpty(map.FlatViews);
        Assert.NotNull(map.SystemFlatView);
    }

    [Fact]
    public void CarriageReturnsAndMonitorPromptsAreSkipped()
    {
        string capture = Captures.Read("q35-2g", "info-mtree-f");
        ImportedMemoryMap map = Parse("(qemu) info mtree -f\r\n" + capture.Replace("\n", "\r\n") + "(qemu) quit\r\n");
        Assert.Equal(capture, PrintFlat(map.FlatViews));
    }

    public static TheoryData<string, int, string> BadInputs => new()
    {
        { "", 1, "expected QEMU's `info mtree` or `info mtree -f` output; the input is empty" },
        { "hello\n", 1, "cannot read 'hello': expected 'address-space: NAME'" },
        { "address-space: memory\n", 1, "expected the region tree after it" },
        { "address-space: memory\n  0000000000000000-ffffffffffffffff (prio 0, i/o): system\n0000000000000000-0000000000000fff (prio 0, ram): r\n", 3, "indented by two spaces per level" },
        { "address-space: memory\n\n", 2, "the block's region tree" },
        { "address-space: memory\n  0000000000000000-ffffffffffffffff (prio 0, i/o): system\n    0000000000001000-0000000000000fff (prio 0, ram): r\n", 3, "START and END 16 hex digits" },
        { "address-space: memory\n  0000000000000000-ffffffffffffffff (prio 0, flash): system\n", 2, "TYPE ram, rom, romd, ramd or i/o" },
        { "address-space: memory\n  0000000000000000-ffffffffffffffff (prio x, i/o): system\n", 2, "'START-END (prio N, TYPE): NAME'" },
        { "address-space: memory\n  0000000000000000-ffffffffffffffff (prio 0, i/o): system\n    0000000000000000-0000000000000fff (prio 0, ram): alias a @nowhere 0000000000000000-0000000000000fff\n", 3, "a 'memory-region: nowhere' block" },
        { "address-space: memory\n  0000000000000000-ffffffffffffffff (prio 0, i/o): system\n    0000000000000000-0000000000000fff (prio 0, ram): alias a @r 0000000000000000-0000000000001fff\n", 3, "an alias window as long as the alias" },
        { "address-space: memory\n  0000000000000000-ffffffffffffffff (prio 0, i/o): system\n    0000000000000000-0000000000000fff (prio 0, ram): alias a @r 0000000000001000-0000000000001fff\n\nmemory-region: r\n  0000000000000000-0000000000000fff (prio 0, ram): r\n", 3, "goes beyond its target 'r'" },
        { "address-space: x\n  0000000000000000-ffffffffffffffff (prio 0, i/o): sys\n    0000000000000000-0000000000000fff (prio 0, ram): r\n\naddress-space: y\n  0000000000000000-ffffffffffffffff (prio 0, i/o): top\n    0000000000000000-ffffffffffffffff (prio 0, i/o): sys\n\nmemory-region: sys\n  0000000000000000-ffffffffffffffff (prio 0, i/o): sys\n    0000000000000000-0000000000000fff (prio 0, ram): r\n", 7, "a subregion that is not the root of an address space ('sys' is)" },
        { "FlatView #x\n", 1, "'FlatView #N' with a decimal number" },
        { "FlatView #0\n Root memory region: system\n", 2, "' AS \"NAME\", root: NAME'" },
        { "FlatView #0\n AS \"memory\", root: system\n  0000000000000000-0000000000000fff (prio 0, ram): r\n", 3, "' Root memory region: NAME'" },
        { "FlatView #0\n AS \"memory\", root: system\n Root memory region: system\n  0000000000001000-0000000000001fff (prio 0, ram): r\n  0000000000000000-0000000000000fff (prio 0, ram): r\n", 5, "sections in address order" },
        { "FlatView #0\n AS \"memory\", root: system\n Root memory region: system\n  0000000000000000-0000000000000fff (prio 0, ram): r @00000000000010zz\n", 4, "' @OFFSET' with OFFSET 16 hex digits" },
        { "FlatView #0\n AS \"memory\", root: system\n Root memory region: system\n  0000000000000000-0000000000000fff (prio 0, ram): r @ffffffffffffffff\n", 4, "a section the memory API accepts" },
    };

    [Theory]
    [MemberData(nameof(BadInputs))]
    public void BadInputIsRefusedWithFileLineAndText(string text, int line, string expected)
    {
        Assert.False(MtreeParser.TryParse(text, "dump.txt", out ImportedMemoryMap? map, out MtreeParseError? error));
        Assert.Null(map);
        Assert.StartsWith($"dump.txt:{line}: cannot read '", error!.Message);
        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public void AnAliasLoopIsRefusedAtTheAliasThatClosesIt()
    {
        string text = "memory-region: a\n  0000000000000000-0000000000000fff (prio 0, i/o): a\n    0000000000000000-0000000000000fff (prio 0, i/o): alias b @a 0000000000000000-0000000000000fff\n\n";
        Assert.False(MtreeParser.TryParse(text, "loop.txt", out _, out MtreeParseError? error));
        Assert.StartsWith("loop.txt:", error!.Message);
        Assert.Contains("loop", error.Message);
    }

    [Fact]
    public void ControlCharactersInABadLineAreEscapedAndLongLinesCut()
    {
        Assert.False(MtreeParser.TryParse("\u0001bad'" + new string('x', 300), "f", out _, out MtreeParseError? error));
        Assert.StartsWith("f:1: cannot read '\\x01bad\\x27xxx", error!.Message);
        Assert.Contains("...': expected", error.Message);
    }

    /// <summary>`info mtree -f` as QEMU prints it, from the parsed blocks.</summary>
    internal static string PrintFlat(IEnumerable<FlatViewBlock> views)
    {
        var text = new StringBuilder();
        foreach (FlatViewBlock view in views)
        {
            text.Append("FlatView #").Append(view.Number).Append('\n');
            foreach (FlatViewSpace s in view.Spaces)
                text.Append(" AS \"").Append(s.Name).Append("\", root: ").Append(s.Root).Append(s.Alias is null ? "" : ", alias " + s.Alias).Append('\n');
            text.Append(" Root memory region: ").Append(view.RootRegion ?? "(none)").Append('\n');
            if (view.Sections.Count == 0) text.Append("  No rendered FlatView\n");
            foreach (FlatSectionLine s in view.Sections)
                text.Append($"  {s.Start:x16}-{s.Last:x16} (prio {s.Priority}, {s.Type}): {s.Name}").Append(s.Offset != 0 ? $" @{s.Offset:x16}" : "").Append('\n');
            text.Append('\n');
        }
        return text.ToString();
    }
}
