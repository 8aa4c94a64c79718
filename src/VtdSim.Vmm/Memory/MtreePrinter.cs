using System.Text;

namespace VtdSim.Vmm.Memory;

/// <summary>
/// QEMU 7.2's monitor commands `info mtree` (the region trees), `info mtree -D` (with disabled regions) and
/// `info mtree -f` (the flat views), byte for byte in QEMU's format. QEMU orders the address spaces of both commands
/// by a hash of pointer values, which changes from run to run; the model prints them in the order the address spaces
/// were made (decision V3). Everything inside a block is in QEMU's order.
/// </summary>
public static class MtreePrinter
{
    private const string Indent = "  ";

    /// <summary>`info mtree`: each root once, under the names of the address spaces that have it, then every alias target.</summary>
    public static string Tree(MemorySystem system, bool showDisabled = false)
    {
        ArgumentNullException.ThrowIfNull(system);
        var text = new StringBuilder();
        var aliasQueue = new List<MemoryRegion>();
        foreach (IGrouping<MemoryRegion, AddressSpace> group in system.AddressSpaces.GroupBy(a => a.Root, ReferenceEqualityComparer.Instance as IEqualityComparer<MemoryRegion>))
        {
            foreach (AddressSpace space in group.OrderBy(a => a.Name, StringComparer.Ordinal))
                text.Append("address-space: ").Append(space.Name).Append('\n');
            Region(text, group.Key, 1, 0, aliasQueue, showDisabled);
            text.Append('\n');
        }
        // The queue grows while it is printed: an alias inside an alias target queues its own target.
        for (int i = 0; i < aliasQueue.Count; i++)
        {
            text.Append("memory-region: ").Append(aliasQueue[i].Name).Append('\n');
            Region(text, aliasQueue[i], 1, 0, aliasQueue, showDisabled);
            text.Append('\n');
        }
        return text.ToString();
    }

    /// <summary>`info mtree -f`: one block per flat view, with the address spaces that share it.</summary>
    public static string Flat(MemorySystem system)
    {
        ArgumentNullException.ThrowIfNull(system);
        var text = new StringBuilder();
        var groups = new List<(MemoryRegion? Root, List<AddressSpace> Spaces)>();
        foreach (AddressSpace space in system.AddressSpaces)
        {
            MemoryRegion? root = space.FlatViewRoot;
            int at = groups.FindIndex(g => g.Root == root);
            if (at < 0) groups.Add((root, [space]));
            else groups[at].Spaces.Add(space);
        }
        for (int n = 0; n < groups.Count; n++)
        {
            var (root, spaces) = groups[n];
            text.Append("FlatView #").Append(n).Append('\n');
            foreach (AddressSpace space in spaces)
            {
                text.Append(" AS \"").Append(space.Name).Append("\", root: ").Append(space.Root.Name);
                if (space.Root.AliasTarget is { } target) text.Append(", alias ").Append(target.Name);
                text.Append('\n');
            }
            text.Append(" Root memory region: ").Append(root?.Name ?? "(none)").Append('\n');
            IReadOnlyList<MemorySection> sections = spaces[0].Sections;
            if (sections.Count == 0)
            {
                text.Append(Indent).Append("No rendered FlatView\n\n");
                continue;
            }
            foreach (MemorySection s in sections) text.Append(Section(s)).Append('\n');
            text.Append('\n');
        }
        return text.ToString();
    }

    /// <summary>One line of `info mtree -f` (without the newline).</summary>
    public static string Section(in MemorySection s)
    {
        string line = $"{Indent}{s.Start:x16}-{s.Last:x16} (prio {s.Region.Priority}, {s.TypeName}): {s.Region.Name}";
        return s.OffsetInRegion != 0 ? $"{line} @{s.OffsetInRegion:x16}" : line;
    }

    private static void Region(StringBuilder text, MemoryRegion mr, int level, ulong origin, List<MemoryRegion> aliasQueue, bool showDisabled)
    {
        ulong start = unchecked(origin + mr.Address);
        ulong last = unchecked(start + LastOffset(mr.Size));
        // QEMU queues an alias's target even when the alias itself is not printed (disabled, without -D).
        if (mr.AliasTarget is { } target && !aliasQueue.Contains(target)) aliasQueue.Add(target);
        if (mr.Enabled || showDisabled)
        {
            for (int i = 0; i < level; i++) text.Append(Indent);
            text.Append($"{start:x16}-{last:x16} (prio {mr.Priority}, {mr.TypeName}): ");
            if (mr.AliasTarget is { } t)
                text.Append($"alias {mr.Name} @{t.Name} {mr.AliasOffset:x16}-{unchecked(mr.AliasOffset + LastOffset(mr.Size)):x16}");
            else
                text.Append(mr.Name);
            if (!mr.Enabled) text.Append(" [disabled]");
            text.Append('\n');
        }
        // Printed by address, then higher priority first, else in list order. QEMU goes on into the subregions of a
        // region it did not print, one level deeper all the same.
        foreach (MemoryRegion sub in mr.Subregions.OrderBy(s => s.Address).ThenByDescending(s => s.Priority))
            Region(text, sub, level + 1, start, aliasQueue, showDisabled);
    }

    private static ulong LastOffset(UInt128 size) => size == 0 ? 0 : (ulong)(size - 1);
}
