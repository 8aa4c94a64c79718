using System.Globalization;
using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Decoding;
using VtdSim.Hardware.Faults;
using VtdSim.Hardware.Memory;
using VtdSim.Hardware.Registers;
using VtdSim.Hardware.Structures;

namespace VtdSim.Kernel.Intel.Debugfs;

/// <summary>What a finding is about.</summary>
public enum DebugfsFindingKind
{
    /// <summary>A first-stage table in a read-only second-stage page: SFS.8 architecturally, written anyway under erratum 772415.</summary>
    Spr17Hazard,
    /// <summary>A nested PASID entry's first-stage table that its nest parent does not let the walk read.</summary>
    FirstStageTableUnreadable,
    ReservedBits,
    OutsideMemory,
    MapsOwnTables,
    /// <summary>Two lines of the dump give different values for the same memory (files taken at different moments).</summary>
    Inconsistent,
}

/// <summary>One finding: the device (and PASID), the entry, the specification's rule, what it means, and the line it comes from.</summary>
public sealed record DebugfsFinding(DebugfsFindingKind Kind, string Device, string Entry, string Rule, string Message, string File, int Line);

/// <summary>How one device (RID or PASID) translates, as the dump shows it.</summary>
public sealed record DumpedTranslation(string Device, int Pasid, string Mode, string Translation, ushort DomainId, ulong? Table, int Levels, ulong? FirstStageTable,
    int Leaves, DecodedStructure Entry, string File, int Line);

/// <summary>
/// The dump rebuilt into a model machine's memory and checked (docs/analyze.md; decisions I25-I30): root, context and
/// PASID entries and the page tables written where the dump says they are, decoded with the model's decoders, and
/// checked for the SPR17 hazard, reserved bits, pointers outside memory and pages that map remapping structures.
/// </summary>
public sealed class DebugfsAnalysis
{
    private const ulong PageMask = ~0xFFFUL;
    private const ulong EntryAddressMask = 0x000F_FFFF_FFFF_F000;
    private static readonly CultureInfo Invariant = CultureInfo.InvariantCulture;

    private readonly Dictionary<ulong, (ulong Value, string File, int Line)> _written = new();
    private readonly List<DebugfsFinding> _findings = new();
    private readonly List<DumpedTranslation> _devices = new();
    private readonly List<string> _notes = new();
    private readonly SortedDictionary<ulong, string> _structures = new();
    private readonly HashSet<ulong> _pointedAt = new();
    private readonly List<ulong> _importerPages = new();
    private readonly HashSet<(string, ulong)> _reservedChecked = new();
    private ulong _nextImporterPage;

    private DebugfsAnalysis(DebugfsDump dump, int addressWidth, ulong memorySize)
    {
        Dump = dump;
        AddressWidth = addressWidth;
        MemorySize = memorySize;
        Memory = new PhysicalMemory(memorySize);
        _nextImporterPage = memorySize & PageMask;
    }

    public DebugfsDump Dump { get; }
    /// <summary>The host address width the reserved-bit checks use.</summary>
    public int AddressWidth { get; }
    /// <summary>The top of the rebuilt machine's memory: pointers at or above it point outside memory.</summary>
    public ulong MemorySize { get; }
    /// <summary>The rebuilt machine's memory, holding every entry of the dump where the dump places it.</summary>
    public PhysicalMemory Memory { get; }
    public IReadOnlyList<DumpedTranslation> Devices => _devices;
    public IReadOnlyList<DebugfsFinding> Findings => _findings;
    public IReadOnlyList<string> Notes => _notes;
    /// <summary>Pages the importer chose for PASID tables, whose addresses the dump does not show (decision I26).</summary>
    public IReadOnlyList<ulong> ImporterPages => _importerPages;

    /// <summary>
    /// Rebuilds and checks <paramref name="dump"/> for a host of <paramref name="addressWidth"/> bits (32-52) whose memory
    /// ends at <paramref name="memorySize"/> (default 2^width).
    /// </summary>
    public static DebugfsAnalysis Analyze(DebugfsDump dump, int addressWidth = 46, ulong? memorySize = null)
    {
        ArgumentNullException.ThrowIfNull(dump);
        if (addressWidth is < 32 or > 52) throw new ArgumentOutOfRangeException(nameof(addressWidth), addressWidth, "a host address width is 32 to 52 bits");
        ulong size = memorySize ?? 1UL << addressWidth;
        if (size < 1UL << 20 || size > 1UL << addressWidth) throw new ArgumentOutOfRangeException(nameof(memorySize), size, "memory of 1 MiB up to 2^width bytes");
        var a = new DebugfsAnalysis(dump, addressWidth, size);
        a.Run();
        return a;
    }

    private ExtendedCapability? Ecap => Dump.Registers.Select(r => r.Value("ECAP")).FirstOrDefault(v => v is not null) is ulong e ? new ExtendedCapability(e) : null;

    private void Run()
    {
        foreach (var t in Dump.Translation.Where(t => t.Enabled))
        {
            _structures.TryAdd(t.RootTable & PageMask, $"the root table of {t.Unit}");
            foreach (var row in t.Rows) CollectPointers(row);
        }
        foreach (var d in Dump.Domains)
            foreach (var leaf in d.Leaves)
                for (int level = 5; level >= 1; level--)
                    if (leaf.Path[level] != 0) _pointedAt.Add(leaf.Path[level] & EntryAddressMask);

        foreach (var t in Dump.Translation.Where(t => t.Enabled)) RebuildUnit(t);
        var domainTables = new List<(DomainDump Dump, string Stage)>();
        foreach (var d in Dump.Domains) domainTables.Add((d, RebuildDomain(d)));
        ulong[] structures = [.. _structures.Keys];
        foreach (var (d, _) in domainTables) CheckSelfMaps(d, structures);
        foreach (var t in Dump.Translation.Where(t => t.Enabled))
            foreach (var row in t.Rows.Where(r => !r.Legacy && new PasidEntry(r.PasidQ0, r.PasidQ1, r.PasidQ2).Pgtt == PasidGranularTranslationType.Nested))
                CheckNested(t, row);
        if (Dump.Translation.Count == 0) _notes.Add("no dmar_translation_struct: the root, context and PASID entries are not known, only the page tables");
        if (Dump.Registers.Count == 0) _notes.Add("no iommu_regset: ECAP is not known, so SNP and TM in leaf entries are taken as supported and memory-type fields as reserved");
        _findings.Sort((x, y) =>
        {
            int c = string.CompareOrdinal(x.File, y.File);
            if (c == 0) c = x.Line.CompareTo(y.Line);
            if (c == 0) c = x.Kind.CompareTo(y.Kind);
            return c != 0 ? c : string.CompareOrdinal(x.Message, y.Message);
        });
    }

    private void CollectPointers(TranslationRow row)
    {
        bool upper = !row.Legacy && row.Device.DevFn >= 0x80;
        _pointedAt.Add((upper ? row.RootHi : row.RootLo) & PageMask);
        _pointedAt.Add(row.ContextLo & PageMask);
        _structures.TryAdd((upper ? row.RootHi : row.RootLo) & PageMask, $"a context table of bus {row.Device.Bus:x2}");
        if (row.Legacy) return;
        ulong directory = row.ContextLo & PageMask;
        int pages = Math.Max(1, (1 << (int)(((row.ContextLo >> 9) & 7) + 7)) * 8 / 4096);
        for (int p = 0; p < pages; p++)
        {
            _structures.TryAdd(directory + (ulong)p * 4096, $"the PASID directory of {Bdf(row.Device)}");
            _pointedAt.Add(directory + (ulong)p * 4096);
        }
        _pointedAt.Add(row.PasidQ0 & PageMask);
        _pointedAt.Add(row.PasidQ2 & PageMask);
    }

    // ---- rebuilding ----

    private void RebuildUnit(TranslationBlock t)
    {
        if (t.RootTable >= MemorySize)
        {
            Add(DebugfsFindingKind.OutsideMemory, t.Unit, "root table address", "RTA: the unit reads root entries there (LRT.1/SRT.1 on every request)",
                $"the root table at 0x{t.RootTable:x} is outside memory (top 0x{MemorySize:x})", t.File, t.Line);
            return;
        }
        foreach (var row in t.Rows)
        {
            string device = Bdf(row.Device);
            bool scalable = !row.Legacy;
            ulong rootSlot = t.RootTable + (ulong)row.Device.Bus * 16;
            var root = new RootEntry(row.RootLo, row.RootHi);
            Put(rootSlot, row.RootLo, row, t.File);
            Put(rootSlot + 8, row.RootHi, row, t.File);
            bool upper = scalable && row.Device.DevFn >= 0x80;
            if (_reservedChecked.Add(("root", rootSlot + (upper ? 8UL : 0))))
            {
                bool reserved = scalable ? root.ScalableReservedBitsSet(upper, AddressWidth) : root.LegacyReservedBitsSet(AddressWidth);
                if (reserved)
                    Reserved(device, scalable ? $"root entry of bus {row.Device.Bus:x2} ({(upper ? "upper" : "lower")} half)" : $"root entry of bus {row.Device.Bus:x2}",
                        scalable ? FaultReason.SRT3_RootReserved : FaultReason.LRT3_RootReserved, scalable ? StructureDecoder.ScalableRoot : StructureDecoder.Root,
                        [row.RootLo, row.RootHi], 1, row, t.File);
            }
            ulong contextTable = (upper ? row.RootHi : row.RootLo) & PageMask;
            if (OutsideMemory(contextTable, (upper ? row.RootHi : row.RootLo), device, "root entry", "context table",
                    scalable ? FaultReason.SCT1_ContextAccessError : FaultReason.LCT1_ContextAccessError, t.File, row.Line)) continue;
            ulong contextSlot = contextTable + (ulong)(scalable ? (row.Device.DevFn & 0x7F) * 32 : row.Device.DevFn * 16);
            Put(contextSlot, row.ContextLo, row, t.File);
            Put(contextSlot + 8, row.ContextHi, row, t.File);
            if (!scalable)
            {
                var ce = new LegacyContextEntry(row.ContextLo, row.ContextHi);
                if (_reservedChecked.Add(("context", contextSlot)) && ce.ReservedBitsSet(AddressWidth))
                    Reserved(device, "context entry", FaultReason.LCT3_ContextReserved, StructureDecoder.Context, [row.ContextLo, row.ContextHi], 1, row, t.File);
                bool passThrough = ce.TranslationType == TranslationType.PassThrough;
                if (!passThrough) OutsideMemory(ce.SecondLevelPageTablePointer.Value, row.ContextLo, device, "context entry", "second-level table", FaultReason.LSL1_PagingEntryAccessError, t.File, row.Line);
                var domain = Dump.Domains.FirstOrDefault(d => d.Device == row.Device && d.Pasid is null);
                _devices.Add(new DumpedTranslation(device, -1, "legacy", passThrough ? "pass-through" : "second-level", ce.DomainId,
                    passThrough ? null : ce.SecondLevelPageTablePointer.Value, passThrough ? 0 : ce.AddressWidth + 2, null, domain?.Leaves.Count ?? 0,
                    StructureDecoder.Decode(StructureDecoder.Context, [row.ContextLo, row.ContextHi]), t.File, row.Line));
                continue;
            }
            var sc = new ScalableContextEntry(row.ContextLo, row.ContextHi, 0, 0);
            if (_reservedChecked.Add(("context", contextSlot)) && sc.ReservedBitsSet(AddressWidth))
                Reserved(device, "scalable-mode context entry", FaultReason.SCT3_ContextReserved, StructureDecoder.ScalableContext, [row.ContextLo, row.ContextHi, 0, 0], 1, row, t.File);
            ulong directory = sc.PasidDirectoryPointer.Value;
            if (OutsideMemory(directory, row.ContextLo, device, "context entry", "PASID directory", FaultReason.SPD1_DirectoryAccessError, t.File, row.Line)) continue;
            ulong dirSlot = directory + (ulong)(row.Pasid >> 6) * 8;
            if (!Memory.TryRead64(new Hpa(dirSlot), out ulong pde) || (pde & 1) == 0)
            {
                ulong page = ImporterPage();
                pde = page | 1;
                Memory.TryWrite64(new Hpa(dirSlot), pde);
            }
            ulong pasidSlot = (pde & PageMask) + (ulong)(row.Pasid & 63) * 64;
            Put(pasidSlot, row.PasidQ0, row, t.File);
            Put(pasidSlot + 8, row.PasidQ1, row, t.File);
            Put(pasidSlot + 16, row.PasidQ2, row, t.File);
            var pe = new PasidEntry(row.PasidQ0, row.PasidQ1, row.PasidQ2);
            string who = $"{device} PASID {row.Pasid}";
            if (pe.ReservedBitsSet(AddressWidth, Ecap?.MemoryTypeSupport ?? false))
                Reserved(who, "PASID entry", FaultReason.SPT3_PasidEntryReserved, StructureDecoder.PasidEntry, [row.PasidQ0, row.PasidQ1, row.PasidQ2, 0, 0, 0, 0, 0], 1, row, t.File);
            string translation = pe.Pgtt switch
            {
                PasidGranularTranslationType.FirstStageOnly => "first-stage",
                PasidGranularTranslationType.SecondStageOnly => "second-stage",
                PasidGranularTranslationType.Nested => "nested",
                PasidGranularTranslationType.PassThrough => "pass-through",
                _ => $"PGTT {(int)pe.Pgtt} (reserved)",
            };
            ulong? table = pe.Pgtt switch
            {
                PasidGranularTranslationType.FirstStageOnly => pe.FirstStagePageTablePointer,
                PasidGranularTranslationType.SecondStageOnly or PasidGranularTranslationType.Nested => pe.SecondStagePageTablePointer.Value,
                _ => null,
            };
            if (pe.Pgtt == PasidGranularTranslationType.FirstStageOnly)
                OutsideMemory(pe.FirstStagePageTablePointer, row.PasidQ2, who, "PASID entry", "first-stage table (FSPTPTR)", FaultReason.SFS4_TopLevelAccessError, t.File, row.Line);
            else if (table is ulong ss)
                OutsideMemory(ss, row.PasidQ0, who, "PASID entry", "second-stage table (SSPTPTR)", FaultReason.SSS4_RootAccessError, t.File, row.Line);
            int levels = pe.Pgtt == PasidGranularTranslationType.FirstStageOnly ? (pe.FirstStagePagingMode == 1 ? 5 : 4) : table is null ? 0 : pe.AddressWidth + 2;
            var dumped = Dump.Domains.FirstOrDefault(d => d.Device == row.Device && (d.Pasid ?? 0) == (uint)row.Pasid);
            _devices.Add(new DumpedTranslation(device, row.Pasid, "scalable", translation, pe.DomainId, table, levels,
                pe.Pgtt == PasidGranularTranslationType.Nested ? pe.FirstStagePageTablePointer : null, dumped?.Leaves.Count ?? 0,
                StructureDecoder.Decode(StructureDecoder.PasidEntry, [row.PasidQ0, row.PasidQ1, row.PasidQ2, 0, 0, 0, 0, 0]), t.File, row.Line));
        }
    }

    /// <summary>The entry that tells a dumped table's format: the device's PASID entry (or legacy context entry), if dumped.</summary>
    private (string Stage, ulong? Pointer, TranslationRow? Row) StageOf(DomainDump d)
    {
        foreach (var t in Dump.Translation)
            foreach (var row in t.Rows)
            {
                if (row.Device != d.Device) continue;
                if (row.Legacy && d.Pasid is null)
                    return ("legacy", new LegacyContextEntry(row.ContextLo, row.ContextHi).SecondLevelPageTablePointer.Value, row);
                if (!row.Legacy && (uint)row.Pasid == (d.Pasid ?? 0))
                {
                    var pe = new PasidEntry(row.PasidQ0, row.PasidQ1, row.PasidQ2);
                    return pe.Pgtt switch
                    {
                        PasidGranularTranslationType.FirstStageOnly => ("first", pe.FirstStagePageTablePointer, row),
                        PasidGranularTranslationType.SecondStageOnly or PasidGranularTranslationType.Nested => ("second", pe.SecondStagePageTablePointer.Value, row),
                        _ => ("unknown", null, row),
                    };
                }
            }
        return ("unknown", null, null);
    }

    private string RebuildDomain(DomainDump d)
    {
        string device = d.Pasid is uint p ? $"{Bdf(d.Device)} PASID {p}" : Bdf(d.Device);
        var (stage, pointer, row) = StageOf(d);
        if (row is not null && pointer != d.Pgd)
            Add(DebugfsFindingKind.Inconsistent, device, "page-table dump", "the dump's table is the one the entry points at",
                $"the page-table dump starts at 0x{d.Pgd:x} but the {(stage == "legacy" ? "context" : "PASID")} entry (line {row.Value.Line}) points at {(pointer is ulong q ? $"0x{q:x}" : "no table")}", d.File, d.Line);
        if (row is { Legacy: true } r && new LegacyContextEntry(r.ContextLo, r.ContextHi).TranslationType == TranslationType.PassThrough)
            return "pass-through"; // no table: the kernel prints the header only
        if (stage == "unknown")
            _notes.Add($"{d.File}: the format of {device}'s table is not known (no entry for it in dmar_translation_struct): its entries are not checked for reserved bits");
        _structures.TryAdd(d.Pgd, $"the top-level table of {device}");
        if (OutsideMemory(d.Pgd, d.Pgd, device, "page-table dump", "top-level table", stage == "first" ? FaultReason.SFS4_TopLevelAccessError : FaultReason.SSS4_RootAccessError, d.File, d.Line))
            return stage;
        foreach (var leaf in d.Leaves)
        {
            ulong table = d.Pgd;
            int leafLevel = leaf.LeafLevel;
            for (int level = d.TopLevel; level >= leafLevel; level--)
            {
                ulong entry = leaf.Path[level];
                ulong slot = table + ((leaf.Iova >> (12 + 9 * (level - 1))) & 511) * 8;
                bool fresh = !_written.ContainsKey(slot);
                Put(slot, entry, leaf.Line, d.File, device);
                bool isLeaf = level == leafLevel;
                string name = $"{LevelName(level)} for IOVA 0x{leaf.Iova:x}";
                if (fresh && stage != "unknown") CheckPagingReserved(device, name, stage, entry, level, isLeaf, d.File, leaf.Line);
                if (isLeaf)
                {
                    ulong frame = entry & EntryAddressMask & ~(leaf.PageSize - 1);
                    if (fresh && frame >= MemorySize && (entry & AboveWidth) == 0)
                        Add(DebugfsFindingKind.OutsideMemory, device, name, "no fault: the DMA reaches no memory (the request fails as an unsupported request)",
                            $"maps IOVA 0x{leaf.Iova:x} to 0x{frame:x}, outside memory (top 0x{MemorySize:x})", d.File, leaf.Line);
                    break;
                }
                ulong next = entry & EntryAddressMask;
                _structures.TryAdd(next, $"a level-{level - 1} table of {device}");
                if (fresh && OutsideMemory(next, entry, device, name, "next table",
                        stage == "first" ? FaultReason.SFS1_EntryAccessError : stage == "legacy" ? FaultReason.LSL1_PagingEntryAccessError : FaultReason.SSS1_EntryAccessError, d.File, leaf.Line))
                    break;
                if (next >= MemorySize) break;
                table = next;
            }
        }
        return stage;
    }

    private void CheckPagingReserved(string device, string name, string stage, ulong entry, int level, bool leaf, string file, int line)
    {
        var ecap = Ecap;
        ulong mask = stage == "first"
            ? FirstStageEntry.ReservedMask(level, leaf, AddressWidth)
            : SecondStageEntry.ReservedMask(level, leaf, AddressWidth, ecap?.SnoopControl ?? true, ecap?.DeviceTlb ?? true);
        if ((entry & mask) == 0) return;
        StructureKind kind = stage == "first" ? StructureDecoder.FirstStage : stage == "legacy" ? StructureDecoder.LegacySecondLevel : StructureDecoder.SecondStage;
        FaultReason rule = stage == "first" ? FaultReason.SFS3_EntryReserved : stage == "legacy" ? FaultReason.LSL2_PagingEntryReserved : FaultReason.SSS3_EntryReserved;
        var info = FaultReasonInfo.Of(rule);
        Add(DebugfsFindingKind.ReservedBits, device, name, $"{info.Condition} (0x{info.Code:x2}): {info.Meaning}",
            $"0x{entry:x16} has reserved bits set: {ReservedNames(kind, [entry], level, entry & mask)}", file, line);
    }

    // ---- checks ----

    /// <summary>
    /// A nested PASID entry's first-stage table: its GPA through the nest parent's second stage, as the 2-D walk reads it.
    /// Only the top-level table is in the dump (the rest live in guest memory the dump does not show).
    /// </summary>
    private void CheckNested(TranslationBlock t, TranslationRow row)
    {
        var pe = new PasidEntry(row.PasidQ0, row.PasidQ1, row.PasidQ2);
        string device = $"{Bdf(row.Device)} PASID {row.Pasid}";
        ulong root = pe.SecondStagePageTablePointer.Value, gpa = pe.FirstStagePageTablePointer;
        var parent = Dump.Domains.FirstOrDefault(d => d.Pgd == root);
        if (parent is null)
        {
            _notes.Add($"{t.File}:{row.Line}: {device} is nested over the second stage at 0x{root:x}, which no domain_translation_struct shows: its first-stage table at GPA 0x{gpa:x} is not checked");
            return;
        }
        int levels = parent.TopLevel != 0 ? parent.TopLevel : pe.AddressWidth + 2;
        ulong table = root;
        for (int level = levels; level >= 1; level--)
        {
            if (!Memory.TryRead64(new Hpa(table + ((gpa >> (12 + 9 * (level - 1))) & 511) * 8), out ulong entry) || (entry & 3) == 0)
            {
                var ns = FaultReasonInfo.Of(FaultReason.SSS2_EntryNotPresent);
                Add(DebugfsFindingKind.FirstStageTableUnreadable, device, "PASID entry (FSPTPTR)", $"{ns.Condition} (0x{ns.Code:x2}): {ns.Meaning}",
                    $"the first-stage table at GPA 0x{gpa:x} is not mapped by the nest parent (second stage at 0x{root:x}): every DMA of this PASID faults", t.File, row.Line);
                return;
            }
            bool leaf = level == 1 || (entry & (1UL << 7)) != 0;
            if (!leaf)
            {
                table = entry & EntryAddressMask;
                continue;
            }
            ulong size = 1UL << (12 + 9 * (level - 1));
            ulong hpa = (entry & EntryAddressMask & ~(size - 1)) + (gpa & (size - 1));
            var s2 = new SecondStageEntry(entry);
            if (!s2.Read)
            {
                var nr = FaultReasonInfo.Of(FaultReason.SFS6_TopLevelNotReadable);
                Add(DebugfsFindingKind.FirstStageTableUnreadable, device, "PASID entry (FSPTPTR)", $"{nr.Condition} (0x{nr.Code:x2}): {nr.Meaning}",
                    $"the first-stage table at GPA 0x{gpa:x} (HPA 0x{hpa:x}) is in a second-stage page without read permission: every DMA of this PASID faults", t.File, row.Line);
            }
            else if (!s2.Write)
            {
                var w = FaultReasonInfo.Of(FaultReason.SFS8_EntryNotWritable);
                Add(DebugfsFindingKind.Spr17Hazard, device, "PASID entry (FSPTPTR)", $"{w.Condition} (0x{w.Code:x2}): {w.Meaning}; erratum 772415 (SPR17)",
                    $"the first-stage table at GPA 0x{gpa:x} lies in a READ-ONLY second-stage page (HPA 0x{hpa:x}, {parent.File}:{LeafLine(parent, gpa)}): the architecture faults SFS.8 where the walk must set A/D in it, but a Sapphire Rapids unit (erratum 772415) writes A/D into the read-only page",
                    t.File, row.Line);
            }
            return;
        }
    }

    private static int LeafLine(DomainDump d, ulong iova) =>
        d.Leaves.FirstOrDefault(l => iova >= l.Iova && iova - l.Iova < l.PageSize)?.Line ?? d.Line;

    /// <summary>Leaves that map a page holding remapping structures or one of the device's own tables (decision I28).</summary>
    private void CheckSelfMaps(DomainDump d, ulong[] structures)
    {
        string device = d.Pasid is uint p ? $"{Bdf(d.Device)} PASID {p}" : Bdf(d.Device);
        foreach (var leaf in d.Leaves)
        {
            ulong entry = leaf.Path[leaf.LeafLevel];
            ulong frame = entry & EntryAddressMask & ~(leaf.PageSize - 1);
            ulong last = frame + (leaf.PageSize - 1);
            int at = Array.BinarySearch(structures, frame);
            if (at < 0) at = ~at;
            if (at >= structures.Length || structures[at] > last) continue;
            var hit = new KeyValuePair<ulong, string>(structures[at], _structures[structures[at]]);
            bool writable = (entry & 2) != 0;
            ulong iova = leaf.Iova + (hit.Key - frame);
            Add(DebugfsFindingKind.MapsOwnTables, device, $"{LevelName(leaf.LeafLevel)} for IOVA 0x{leaf.Iova:x}",
                "no fault: the specification lets software place tables anywhere, so nothing stops a device that can reach them",
                $"IOVA 0x{iova:x} reaches {hit.Value} at 0x{hit.Key:x} ({(writable ? "writable: a DMA write there changes the translation" : "read-only: a DMA read there shows the translation")})",
                d.File, leaf.Line);
        }
    }

    // ---- helpers ----

    private void Put(ulong address, ulong value, TranslationRow row, string file) => Put(address, value, row.Line, file, Bdf(row.Device));

    /// <summary>Writes one qword of the dump into the rebuilt memory; a different value already there from another line is an inconsistency.</summary>
    private void Put(ulong address, ulong value, int line, string file, string device)
    {
        if (address > MemorySize - 8) return;
        if (_written.TryGetValue(address, out var before))
        {
            if (before.Value != value)
                Add(DebugfsFindingKind.Inconsistent, device, $"qword at 0x{address:x}", "one memory, one value: the files were read at different moments, or are not of one machine",
                    $"0x{value:x16} here, but 0x{before.Value:x16} at {before.File}:{before.Line}", file, line);
            return;
        }
        _written[address] = (value, file, line);
        Memory.TryWrite64(new Hpa(address), value);
    }

    /// <summary>A pointer outside memory (unless its bits above HAW already make the entry reserved): a finding, true.</summary>
    private bool OutsideMemory(ulong pointer, ulong entryValue, string device, string entry, string what, FaultReason rule, string file, int line)
    {
        if (pointer < MemorySize) return false;
        if ((entryValue & AboveWidth & EntryAddressMask) != 0 && pointer >= 1UL << AddressWidth) return true;
        var info = FaultReasonInfo.Of(rule);
        Add(DebugfsFindingKind.OutsideMemory, device, entry, $"{info.Condition} (0x{info.Code:x2}): {info.Meaning}",
            $"the {what} at 0x{pointer:x} is outside memory (top 0x{MemorySize:x})", file, line);
        return true;
    }

    private void Reserved(string device, string entry, FaultReason rule, StructureKind kind, ulong[] values, int level, TranslationRow row, string file)
    {
        var info = FaultReasonInfo.Of(rule);
        Add(DebugfsFindingKind.ReservedBits, device, entry, $"{info.Condition} (0x{info.Code:x2}): {info.Meaning}",
            $"reserved bits set: {ReservedNames(kind, values, level, 0)}", file, row.Line);
    }

    /// <summary>The decoder's flagged fields, and address bits at or above the host address width.</summary>
    private string ReservedNames(StructureKind kind, ulong[] values, int level, ulong mask)
    {
        var decoded = StructureDecoder.Decode(kind, values, level);
        var names = decoded.Problems.Select(f => f.Role == FieldRole.Reserved ? $"bits {f.Bits}" : $"{f.Name} ({f.Bits}) = {f.ValueText}").ToList();
        ulong above = AboveWidth & EntryAddressMask;
        if (values.Any(v => (v & above) != 0) || (mask & above) != 0) names.Add($"address bits at or above the host address width ({AddressWidth})");
        if (names.Count == 0 && mask != 0) names.Add($"bits 0x{mask & values[0]:x} (reserved for this unit: SNP without ECAP.SC, TM without ECAP.DT)");
        if (names.Count == 0) names.Add("a field this unit does not support");
        return string.Join(", ", names.Distinct());
    }

    private ulong ImporterPage()
    {
        do _nextImporterPage -= 4096;
        while (_pointedAt.Contains(_nextImporterPage) || _written.ContainsKey(_nextImporterPage));
        _importerPages.Add(_nextImporterPage);
        return _nextImporterPage;
    }

    private void Add(DebugfsFindingKind kind, string device, string entry, string rule, string message, string file, int line) =>
        _findings.Add(new DebugfsFinding(kind, device, entry, rule, message, file, line));

    /// <summary>Address bits 51:HAW, reserved in every pointer.</summary>
    private ulong AboveWidth => AddressWidth >= 52 ? 0 : ((1UL << 52) - 1) & ~((1UL << AddressWidth) - 1);

    private static string Bdf(SourceId d) => string.Create(Invariant, $"{d.Bus:x2}:{d.Device:x2}.{d.Function:x}");

    private static string LevelName(int level) => level switch { 5 => "PML5E", 4 => "PML4E", 3 => "PDPE", 2 => "PDE", _ => "PTE" };
}
