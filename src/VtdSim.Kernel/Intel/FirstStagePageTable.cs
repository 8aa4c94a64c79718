using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Structures;
using VtdSim.Kernel.Memory;
using VtdSim.Machine;

namespace VtdSim.Kernel.Intel;

/// <summary>
/// The x86-64 first-stage format for DMA domains: P, R/W for writable mappings, U/S set (requests without PASID are
/// user requests), XD set (no execute), 2 MiB always and 1 GiB per CAP.FS1GP. As Linux (DMA_FL_PTE_ACCESS,
/// DMA_FL_PTE_DIRTY), every entry is made with A set and every writable leaf with D set, so the unit never needs to
/// update them — which it could not do in a walk that is not snooped (PWSNP=0 on a unit without SMPWCS: SFS.9).
/// </summary>
internal sealed class FirstStagePageTable(PhysicalMachine machine, PageAllocator pages, int levels, Hpa root, bool oneGiB)
    : IoPageTable(machine, pages, levels, root)
{
    protected override bool LeafAllowed(int level) => level == 1 || level == 2 || (level == 3 && oneGiB);
    protected override bool IsPresent(ulong raw) => (raw & FirstStageEntry.PresentBit) != 0;
    protected override bool IsLeaf(ulong raw, int level) => level == 1 || (raw & FirstStageEntry.PageSizeBit) != 0;
    protected override ulong NextTable(ulong raw) => raw & FirstStageEntry.AddressMask;
    protected override ulong MakeTable(Hpa next) => FirstStageEntry.Table(next.Value, writable: true, user: true).WithAccessed(true).Raw;

    protected override ulong MakeLeaf(ulong physical, int level, IommuProt prot)
    {
        bool writable = (prot & IommuProt.Write) != 0;
        return FirstStageEntry.Page(physical, level, writable, user: true).WithExecuteDisable(true).WithAccessed(true).WithDirty(writable).Raw;
    }

    protected override IommuProt ProtOf(ulong raw) => IommuProt.Read | ((raw & FirstStageEntry.ReadWriteBit) != 0 ? IommuProt.Write : 0);
}
