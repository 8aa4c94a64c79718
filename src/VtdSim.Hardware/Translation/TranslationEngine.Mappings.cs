using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Faults;
using VtdSim.Hardware.Structures;

namespace VtdSim.Hardware.Translation;

/// <summary>
/// The second-stage tables read as a whole, for a VMM that shadows them (QEMU's vtd_page_walk; decision N31): every
/// present leaf in a range, with its output and the rights stacked over the levels. Nothing is written (no A/D), no
/// fault is recorded, the IOTLB and paging-structure caches are neither used nor filled; an entry that cannot be read
/// or has a reserved bit set is skipped with what lies under it, silently, as QEMU's sync does.
/// </summary>
internal sealed partial class TranslationEngine
{
    internal DeviceMappingView ReadMappings(SourceId source, in RootTableState root, ulong first, ulong last, List<SecondStageMapping> into)
    {
        var request = new DmaRequest(source, new Iova(0), DmaAccess.Read);
        if (ResolveContext(in request, in root, null, out ResolvedContext ctx) != FaultReason.None)
            return new DeviceMappingView(false, ctx.Kind, ctx.DomainId);
        if (ctx.Kind is TranslationKind.Legacy or TranslationKind.SecondStage && first <= last && first <= ctx.SsMaxInput)
            ReadTable(in ctx, ctx.SsRoot.Value, ctx.SsLevels, 0, AccessRights.Read | AccessRights.Write, first, Math.Min(last, ctx.SsMaxInput), into);
        return new DeviceMappingView(true, ctx.Kind, ctx.DomainId);
    }

    private void ReadTable(in ResolvedContext ctx, ulong table, int level, ulong tableBase, AccessRights rights, ulong first, ulong last, List<SecondStageMapping> into)
    {
        int shift = 12 + 9 * (level - 1);
        ulong span = 1UL << shift;
        int from = first <= tableBase ? 0 : (int)((first - tableBase) >> shift);
        int to = (int)Math.Min(511, (last - tableBase) >> shift);
        for (int index = from; index <= to; index++)
        {
            ulong input = tableBase + ((ulong)index << shift);
            if (!_memory.TryRead64(new Hpa(table + 8 * (ulong)index), out ulong raw)) continue;
            var here = rights & (AccessRights)(raw & (SecondStageEntry.ReadBit | SecondStageEntry.WriteBit));
            if ((raw & (SecondStageEntry.ReadBit | SecondStageEntry.WriteBit)) == 0) continue; // not present
            bool leaf = level == 1 || ((raw & SecondStageEntry.PageSizeBit) != 0 && (_ssLargePageLevels & (1 << level)) != 0);
            ulong reserved = leaf ? _ssLeaf[level] : _ssNonLeaf[level] | SecondStageEntry.PageSizeBit;
            if ((raw & reserved) != 0) continue;
            if (!leaf)
            {
                ReadTable(in ctx, raw & SecondStageEntry.AddressMask, level - 1, input, here, first, last, into);
                continue;
            }
            if (here == AccessRights.None) continue; // W without R above it: nothing reachable
            into.Add(new SecondStageMapping(input, span, new Hpa(raw & SecondStageEntry.AddressMask & ~(span - 1)), here));
        }
    }
}
