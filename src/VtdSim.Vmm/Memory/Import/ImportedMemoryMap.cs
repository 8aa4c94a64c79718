namespace VtdSim.Vmm.Memory.Import;

/// <summary>
/// A memory map read from QEMU's `info mtree` / `info mtree -f` output (<see cref="MtreeParser"/>), rebuilt into the
/// model's memory API: the region trees as <see cref="MemoryRegion"/>s with their address spaces
/// (<see cref="BuildTrees"/>), and the flat view of the "memory" address space as a layout whose rendering is that
/// view (<see cref="Build"/>). Immutable: each Build makes a new <see cref="MemorySystem"/>, so any number of VMMs or
/// scenarios can start on it (VmmOptions.Layout). What the text does not say is decided as docs/decisions.md I1–I12 say.
/// </summary>
public sealed class ImportedMemoryMap
{
    /// <summary>The name of the system memory address space, whose flat view vfio's listener maps.</summary>
    public const string SystemMemoryName = "memory";

    /// <summary>How deep regions may nest, through subregions and aliases (QEMU's x86 maps nest fewer than 10; decision I9).</summary>
    public const int MaxDepth = 64;

    private ImportedMemoryMap(string file, List<MtreeBlock> trees, List<FlatViewBlock> flatViews)
    {
        File = file;
        Trees = trees;
        FlatViews = flatViews;
    }

    /// <summary>The input's name, as messages give it.</summary>
    public string File { get; }

    /// <summary>The `info mtree` blocks, in input order.</summary>
    public IReadOnlyList<MtreeBlock> Trees { get; }

    /// <summary>The `info mtree -f` blocks, in input order.</summary>
    public IReadOnlyList<FlatViewBlock> FlatViews { get; }

    /// <summary>Whether the trees show disabled regions (`info mtree -D`).</summary>
    public bool ShowsDisabled => Trees.Any(t => Any(t.Root, n => n.Disabled));

    /// <summary>The flat view that lists the "memory" address space, if the input has one (QEMU's own rendering of it).</summary>
    public FlatViewBlock? SystemFlatView => FlatViews.FirstOrDefault(f => f.Spaces.Any(s => s.Name == SystemMemoryName));

    /// <summary>Whether the input has the "memory" address space at all (as a tree or a flat view).</summary>
    public bool HasSystemMemory => SystemFlatView is not null || Trees.Any(t => t.IsAddressSpace && t.Names.Contains(SystemMemoryName));

    /// <summary>
    /// The layout a VMM or an analysis uses: QEMU's flat view of "memory" where the input has it (what QEMU rendered is
    /// the truth, decision I7), else the model's rendering of the imported trees. Its "memory" address space is the
    /// system memory; null if the input has neither.
    /// </summary>
    public MemorySystem? Build()
    {
        if (SystemFlatView is { } flat) return BuildFlat(flat, out _);
        return Trees.Count > 0 ? BuildTrees(out _) : null;
    }

    /// <summary>The bytes of guest RAM the system memory shows (RAM sections, read-only ones included; not ROM or device memory).</summary>
    public ulong RamSize
    {
        get
        {
            UInt128 total = 0;
            if (Build()?.AddressSpaces.FirstOrDefault(a => a.Name == SystemMemoryName) is { } memory)
                foreach (MemorySection s in memory.Sections)
                    if (s.Kind == RegionKind.Ram) total += s.Size;
            return (ulong)UInt128.Min(total, ulong.MaxValue);
        }
    }

    /// <summary>The size of the main RAM region the layout shows ("pc.ram", else the largest RAM region; 0 if none).</summary>
    public ulong MainRamSize
    {
        get
        {
            if (Build()?.AddressSpaces.FirstOrDefault(a => a.Name == SystemMemoryName) is not { } memory) return 0;
            var regions = memory.Sections.Where(s => s.Kind == RegionKind.Ram).Select(s => s.Region).Distinct().ToList();
            MemoryRegion? main = regions.FirstOrDefault(r => r.Name == "pc.ram") ?? regions.MaxBy(r => r.Size);
            return main is null ? 0 : (ulong)UInt128.Min(main.Size, ulong.MaxValue);
        }
    }

    /// <summary>The region trees rebuilt (every address space of the input, in its order); null if there are none.</summary>
    public MemorySystem? BuildTrees() => Trees.Count > 0 ? BuildTrees(out _) : null;

    internal static bool TryCreate(string file, List<MtreeBlock> trees, List<FlatViewBlock> flats, out ImportedMemoryMap? map, out MtreeParseError? error)
    {
        map = new ImportedMemoryMap(file, trees, flats);
        // Build once here, so that a map that parses is a map that builds: every problem is reported now, with its line.
        if ((trees.Count > 0 && map.BuildTrees(out error) is null) || (map.SystemFlatView is { } flat && map.BuildFlat(flat, out error) is null))
        {
            map = null;
            return false;
        }
        error = null;
        return true;
    }

    // ------------------------------------------------------------------ trees

    private MemorySystem? BuildTrees(out MtreeParseError? error)
    {
        var builder = new TreeBuilder(this);
        MemorySystem? system = builder.Build(out error);
        return system;
    }

    private sealed class TreeBuilder(ImportedMemoryMap map)
    {
        private readonly MemorySystem m = new();
        private readonly Dictionary<string, MtreeNode> definitions = new(StringComparer.Ordinal);
        private readonly Dictionary<MtreeNode, MemoryRegion> built = new(ReferenceEqualityComparer.Instance);
        private readonly HashSet<MtreeNode> building = new(ReferenceEqualityComparer.Instance);
        private readonly HashSet<MemoryRegion> roots = new(ReferenceEqualityComparer.Instance);
        private readonly HashSet<string> flatSectionNames = new(map.FlatViews.SelectMany(f => f.Sections).Select(s => s.Name), StringComparer.Ordinal);
        private MtreeParseError? problem;

        public MemorySystem? Build(out MtreeParseError? error)
        {
            foreach (MtreeBlock block in map.Trees)
                if (!block.IsAddressSpace) definitions.TryAdd(block.Names[0], block.Root);
            try
            {
                using (m.BeginTransaction())
                {
                    foreach (MtreeBlock block in map.Trees)
                    {
                        if (Region(block.Root, root: block.IsAddressSpace) is not { } root) break;
                        if (!block.IsAddressSpace) continue;
                        foreach (string name in block.Names)
                        {
                            if (root.Container is not null)
                            {
                                Fail(block.Root, $"the root of address space '{name}' to be in no container (region '{root.Name}' is a subregion)");
                                break;
                            }
                            m.AddAddressSpace(name, root, portIo: name == "I/O");
                            roots.Add(root);
                        }
                        if (problem is not null) break;
                    }
                }
            }
            catch (MemoryMapException e)
            {
                // Only from AddAddressSpace: a region call below catches its own.
                problem ??= new MtreeParseError(map.File, map.Trees[0].Line, "", $"a map the memory API accepts ({e.Message})");
            }
            error = problem;
            return problem is null ? m : null;
        }

        /// <summary>The region of <paramref name="node"/> (made once), with its subregions; null after a problem.</summary>
        private MemoryRegion? Region(MtreeNode node, bool root = false)
        {
            if (problem is not null) return null;
            // A region reached again while it is being built contains itself: a loop (the memory API's own loop check is
            // not run for the importer's subregions, I9).
            if (building.Contains(node))
            {
                Fail(node, $"no loop: region '{node.Name}' contains itself (through its subregions or aliases)");
                return null;
            }
            if (built.TryGetValue(node, out MemoryRegion? done)) return done;
            if (building.Count >= MaxDepth)
            {
                Fail(node, $"regions nested at most {MaxDepth} deep, through subregions and aliases");
                return null;
            }
            // A region printed in a tree that an alias also shows is printed again in a memory-region block: one region.
            if (!node.IsAlias && definitions.TryGetValue(node.Name, out MtreeNode? definition) && definition != node
                && definition.Type == node.Type && definition.Last - definition.Start == node.Last - node.Start && !definition.IsAlias)
            {
                building.Add(node);
                MemoryRegion? shared = Region(definition);
                building.Remove(node);
                if (shared is not null) built[node] = shared;
                return shared;
            }
            building.Add(node);
            UInt128 size = (UInt128)node.Last - node.Start + 1;
            MemoryRegion region;
            try
            {
                if (node.AliasTarget is { } targetName)
                {
                    if (!definitions.TryGetValue(targetName, out MtreeNode? target))
                    {
                        Fail(node, $"a 'memory-region: {targetName}' block in the input (the region this alias shows)");
                        return null;
                    }
                    if (Region(target) is not { } targetRegion) return null;
                    // START-START is one byte or none (QEMU prints both so): none where one would not fit the target (I3).
                    if (node.Start == node.Last && (UInt128)node.AliasStart + 1 > targetRegion.Size) size = 0;
                    region = m.Alias(node.Name, targetRegion, node.AliasStart, size);
                    // QEMU's PAM makes its "pam-rom" aliases read-only; the tree does not print the flag (I4).
                    if (node.Name == "pam-rom") region.SetReadOnly(true);
                }
                else
                {
                    region = node.Type switch
                    {
                        "ram" => m.Ram(node.Name, size),
                        "rom" => m.Rom(node.Name, size),
                        "romd" => m.RomDevice(node.Name, size),
                        "ramd" => m.RamDevice(node.Name, size),
                        // i/o: a container, or a region with callbacks of its own (I5).
                        _ => IsContainer(node, root) ? m.Container(node.Name, size) : m.Io(node.Name, size),
                    };
                }
                built[node] = region;
                // Added last to first: among equal priorities QEMU lists (and prints) the one added last first (I6).
                for (int i = node.Children.Count - 1; i >= 0; i--)
                {
                    MtreeNode child = node.Children[i];
                    if (Region(child) is not { } sub) return null;
                    try
                    {
                        // The builder rules out loops (building) and roots (roots) itself: the memory API's own walks of
                        // the map for each subregion would make a large map quadratic.
                        if (roots.Contains(sub))
                        {
                            Fail(child, $"a subregion that is not the root of an address space ('{sub.Name}' is)");
                            return null;
                        }
                        region.AddSubregion(sub, unchecked(child.Start - node.Start), child.Priority, checkGraph: false);
                    }
                    catch (MemoryMapException e)
                    {
                        Fail(child, $"a subregion the memory API accepts ({e.Message})");
                        return null;
                    }
                }
                if (node.Disabled) region.SetEnabled(false);
                return region;
            }
            catch (MemoryMapException e)
            {
                Fail(node, $"a region the memory API accepts ({e.Message})");
                return null;
            }
            finally
            {
                building.Remove(node);
            }
        }

        /// <summary>
        /// Whether an i/o region is a container (nothing of its own: its holes show what lies below) or a region with
        /// callbacks (decision I5). The tree prints both "i/o"; a flat view in the input tells them apart — a region with
        /// callbacks shows sections of its own name — and without one, a region with subregions is a container and one
        /// without is not, except the root of an address space spanning 2^64 (a device's "bus master container", whose only
        /// subregion is its disabled "bus master" alias, not printed without -D).
        /// </summary>
        private bool IsContainer(MtreeNode node, bool root) =>
            node.IsHidden || (flatSectionNames.Count > 0
                ? !flatSectionNames.Contains(node.Name)
                : node.Children.Count > 0 || (root && node.Start == 0 && node.Last == ulong.MaxValue));

        private void Fail(MtreeNode node, string expected) =>
            problem ??= new MtreeParseError(map.File, node.Line, MtreeParser.Quote(LineText(node)), expected);
    }

    // ------------------------------------------------------------------ flat view

    /// <summary>
    /// The flat view as a layout whose rendering is that view (I7): a root container named as the view's root, in it one
    /// alias per section at the section's address, showing the section's region from its offset — read-only where the
    /// section is "rom" on a region that is RAM elsewhere. The regions are made once per name, type and priority, as
    /// large as their furthest section needs, and hold their priority in a container no address space renders.
    /// </summary>
    private MemorySystem? BuildFlat(FlatViewBlock flat, out MtreeParseError? error)
    {
        var m = new MemorySystem();
        error = null;
        FlatSectionLine at = default;
        try
        {
            using (m.BeginTransaction())
            {
                MemoryRegion root = m.Container(flat.RootRegion ?? flat.Spaces[0].Root, MemorySystem.AddressSpaceSize);
                MemoryRegion holder = m.Container("imported regions", MemorySystem.AddressSpaceSize);
                var regions = new Dictionary<(string Name, string Kind, int Priority), MemoryRegion>();
                var sizes = new Dictionary<(string, string, int), UInt128>();
                var writable = new HashSet<(string, int)>();
                foreach (FlatSectionLine s in flat.Sections)
                    if (s.Type == "ram") writable.Add((s.Name, s.Priority));
                foreach (FlatSectionLine s in flat.Sections)
                {
                    var key = (s.Name, KindOf(s, writable), s.Priority);
                    UInt128 end = (UInt128)s.Offset + s.Size;
                    sizes[key] = sizes.TryGetValue(key, out UInt128 known) ? UInt128.Max(known, end) : end;
                }
                foreach (var ((name, kind, priority), size) in sizes)
                {
                    at = flat.Sections.First(s => s.Name == name && s.Priority == priority);
                    MemoryRegion region = kind switch
                    {
                        "ram" => m.Ram(name, size),
                        "rom" => m.Rom(name, size),
                        "romd" => m.RomDevice(name, size),
                        "ramd" => m.RamDevice(name, size),
                        _ => m.Io(name, size),
                    };
                    regions[(name, kind, priority)] = region;
                    holder.AddSubregion(region, 0, priority); // holds the priority; rendered only through the aliases
                }
                foreach (FlatSectionLine s in flat.Sections)
                {
                    at = s;
                    MemoryRegion region = regions[(s.Name, KindOf(s, writable), s.Priority)];
                    MemoryRegion window = m.Alias(s.Name, region, s.Offset, s.Size);
                    if (s.Type == "rom" && region.Kind == RegionKind.Ram) window.SetReadOnly(true);
                    root.AddSubregion(window, s.Start);
                }
                foreach (FlatViewSpace space in flat.Spaces) m.AddAddressSpace(space.Name, root, portIo: space.Name == "I/O");
            }
        }
        catch (MemoryMapException e)
        {
            error = new MtreeParseError(File, at.Line == 0 ? flat.Line : at.Line, at.Line == 0 ? "" : MtreeParser.Quote(LineText(at)), $"a section the memory API accepts ({e.Message})");
            return null;
        }
        return m;
    }

    /// <summary>The kind of region behind a flat section: "rom" on a name that is "ram" elsewhere is RAM made read-only.</summary>
    private static string KindOf(FlatSectionLine s, HashSet<(string, int)> writable) =>
        s.Type == "rom" && writable.Contains((s.Name, s.Priority)) ? "ram" : s.Type;

    /// <summary>A flat section's line as QEMU printed it (for messages), without the indent.</summary>
    internal static string LineText(in FlatSectionLine s) =>
        $"{s.Start:x16}-{s.Last:x16} (prio {s.Priority}, {(s.NonVolatile ? "nv-" : "")}{s.Type}): {s.Name}" + (s.Offset != 0 ? $" @{s.Offset:x16}" : "");

    private static bool Any(MtreeNode node, Func<MtreeNode, bool> predicate) =>
        predicate(node) || node.Children.Any(c => Any(c, predicate));

    /// <summary>A node's line as QEMU printed it (for messages), without the indent.</summary>
    internal static string LineText(MtreeNode n)
    {
        string head = $"{n.Start:x16}-{n.Last:x16} (prio {n.Priority}, {(n.NonVolatile ? "nv-" : "")}{n.Type}): ";
        string body = n.AliasTarget is { } t ? $"alias {n.Name} @{t} {n.AliasStart:x16}-{n.AliasLast:x16}" : n.Name;
        return head + body + (n.Disabled ? " [disabled]" : "");
    }
}
