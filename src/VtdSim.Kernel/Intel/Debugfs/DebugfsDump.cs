using VtdSim.Hardware.Addressing;

namespace VtdSim.Kernel.Intel.Debugfs;

/// <summary>A debugfs file that could not be read: where, the text, and what was expected there.</summary>
public sealed record DebugfsParseError(string File, int Line, string Text, string Expected)
{
    public string Message => Text.Length == 0 ? $"{File}:{Line}: expected {Expected}" : $"{File}:{Line}: cannot read '{Text}': expected {Expected}";
}

/// <summary>One register line of iommu_regset.</summary>
public readonly record struct DumpedRegister(int Line, string Name, int Offset, ulong Value);

/// <summary>One unit's block of iommu_regset.</summary>
public sealed record RegsetBlock(string File, int Line, string Unit, ulong RegisterBase, IReadOnlyList<DumpedRegister> Registers)
{
    public ulong? Value(string name) => Registers.FirstOrDefault(r => r.Name == name) is { Name: not null } r ? r.Value : null;
}

/// <summary>
/// One line of dmar_translation_struct: the device, its root entry (hi, lo), its context entry's low 128 bits (hi, lo)
/// and, in scalable mode, the PASID and the PASID entry's first three qwords (Q2, Q1, Q0 as printed). PASID −1 marks a
/// legacy-mode line.
/// </summary>
public readonly record struct TranslationRow(int Line, SourceId Device, ulong RootHi, ulong RootLo, ulong ContextHi, ulong ContextLo,
    int Pasid, ulong PasidQ2, ulong PasidQ1, ulong PasidQ0)
{
    public bool Legacy => Pasid < 0;
}

/// <summary>One unit's block of dmar_translation_struct (a unit with translation off has no root table and no rows).</summary>
public sealed record TranslationBlock(string File, int Line, string Unit, bool Enabled, ulong RootTable, IReadOnlyList<TranslationRow> Rows);

/// <summary>One leaf of a page-table dump: the IOVA and the entries on its path, by level (index 1 = PTE .. 5 = PML5E; 0 unused).</summary>
public sealed record LeafRow(int Line, ulong Iova, IReadOnlyList<ulong> Path)
{
    /// <summary>The level of the leaf entry (1 = 4 KiB page, 2 = 2 MiB, 3 = 1 GiB).</summary>
    public int LeafLevel
    {
        get
        {
            for (int level = 1; level <= 5; level++)
                if (Path[level] != 0) return level;
            return 0;
        }
    }

    public ulong PageSize => 1UL << (12 + 9 * (LeafLevel - 1));
}

/// <summary>
/// One page-table dump of domain_translation_struct: the device (and PASID where the file names one), the table root
/// and the leaves, in IOVA order. <see cref="TopLevel"/> is the table's depth as its lines show it.
/// </summary>
public sealed record DomainDump(string File, int Line, SourceId Device, uint? Pasid, ulong Pgd, int TopLevel, IReadOnlyList<LeafRow> Leaves);

/// <summary>One slot of invalidation_queue.</summary>
public readonly record struct QueueSlot(int Line, int Index, ulong Q0, ulong Q1, ulong Q2, ulong Q3, ulong Status);

/// <summary>One unit's block of invalidation_queue.</summary>
public sealed record QueueBlock(string File, int Line, string Unit, ulong Base, ulong Head, ulong Tail, bool Wide, IReadOnlyList<QueueSlot> Slots);

/// <summary>A file that is recognised but not analysed, and why.</summary>
public sealed record SkippedFile(string File, string Reason);

/// <summary>Everything read from a debugfs directory or from single files: plain data, in the order read.</summary>
public sealed class DebugfsDump
{
    public List<RegsetBlock> Registers { get; } = new();
    public List<TranslationBlock> Translation { get; } = new();
    public List<DomainDump> Domains { get; } = new();
    public List<QueueBlock> Queues { get; } = new();
    public List<SkippedFile> Skipped { get; } = new();
    /// <summary>The files read, in order.</summary>
    public List<string> Files { get; } = new();
}
