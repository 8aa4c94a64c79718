namespace VtdSim.Vmm.Memory.Import;

/// <summary>
/// One region line of `info mtree` (the tree form): `START-END (prio N, TYPE): NAME [disabled]`, or for an alias
/// `START-END (prio N, TYPE): alias NAME @TARGET OFFSET-END [disabled]`, with the lines indented below it as its
/// subregions. START and END are absolute (the container's start plus the region's offset); TYPE is what QEMU's
/// memory_region_type says (an alias has its target's), with QEMU's "nv-" before it for a non-volatile region.
/// </summary>
public sealed class MtreeNode
{
    internal MtreeNode(int line, ulong start, ulong last, int priority, string type, bool nonVolatile, string name, string? aliasTarget, ulong aliasStart, ulong aliasLast, bool disabled)
    {
        Line = line;
        Start = start;
        Last = last;
        Priority = priority;
        Type = type;
        NonVolatile = nonVolatile;
        Name = name;
        AliasTarget = aliasTarget;
        AliasStart = aliasStart;
        AliasLast = aliasLast;
        Disabled = disabled;
        Children = _children.AsReadOnly();
    }

    /// <summary>The line of the input (1-based).</summary>
    public int Line { get; }

    public ulong Start { get; }

    public ulong Last { get; }

    public int Priority { get; }

    /// <summary>"ram", "rom", "romd", "ramd" or "i/o".</summary>
    public string Type { get; }

    public bool NonVolatile { get; }

    public string Name { get; }

    /// <summary>For an alias: the name of the region it shows.</summary>
    public string? AliasTarget { get; }

    public ulong AliasStart { get; }

    public ulong AliasLast { get; }

    public bool Disabled { get; }

    public bool IsAlias => AliasTarget is not null;

    /// <summary>
    /// A region QEMU did not print (disabled, without -D) but whose subregions it printed one level deeper: made up here
    /// as a disabled container from the first of them to the end of the address space (decision I8).
    /// </summary>
    public bool IsHidden { get; init; }

    private readonly List<MtreeNode> _children = [];

    /// <summary>The subregions printed below this region, in the input's order: the parser's, read-only to callers.</summary>
    public IReadOnlyList<MtreeNode> Children { get; }

    internal void AddChild(MtreeNode child) => _children.Add(child);
}

/// <summary>
/// A block of `info mtree`: the address spaces that share a root (`address-space: NAME` lines), or the region an alias
/// shows (`memory-region: NAME`), and the region tree printed below.
/// </summary>
public sealed record MtreeBlock(int Line, bool IsAddressSpace, IReadOnlyList<string> Names, MtreeNode Root);

/// <summary>One line of `info mtree -f`: `START-END (prio N, TYPE): NAME[ @OFFSET]` (TYPE "rom" for a read-only section).</summary>
public readonly record struct FlatSectionLine(int Line, ulong Start, ulong Last, int Priority, string Type, bool NonVolatile, string Name, ulong Offset)
{
    /// <summary>The section's size in bytes (up to 2^64).</summary>
    public UInt128 Size => (UInt128)Last - Start + 1;
}

/// <summary>An address space listed in a flat view: ` AS "NAME", root: ROOT[, alias TARGET]`.</summary>
public readonly record struct FlatViewSpace(string Name, string Root, string? Alias);

/// <summary>
/// A block of `info mtree -f`: `FlatView #N`, the address spaces that share it, ` Root memory region: NAME` (or
/// "(none)"), and its sections (none: `No rendered FlatView`).
/// </summary>
public sealed record FlatViewBlock(int Line, int Number, IReadOnlyList<FlatViewSpace> Spaces, string? RootRegion, IReadOnlyList<FlatSectionLine> Sections);

/// <summary>Where and why an input could not be read: `FILE:LINE: cannot read 'TEXT': expected WHAT`.</summary>
public sealed record MtreeParseError(string File, int Line, string Text, string Expected)
{
    public string Message => $"{File}:{Line}: cannot read '{Text}': expected {Expected}";

    public override string ToString() => Message;
}
