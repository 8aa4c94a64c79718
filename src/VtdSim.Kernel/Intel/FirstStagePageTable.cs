using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Structures;
using VtdSim.Kernel.Memory;
using VtdSim.Machine;

namespace VtdSim.Kernel.Intel;

/// <summary>
/// The x86-64 first-stage format for DMA domains: P, R/W for writable mappings, U/S set (requests without PASID are
/// user requests), XD set (no execute), 2 MiB always and 1 GiB per CAP.FS1GP.
/// </summary>
internal sealed class FirstStagePageTable(PhysicalMachine machine, PageAllocator pages, int levels, Hpa root, bool oneGiB)
    : IoPageTable(machine, pages, levels, root)
{
    protected override bool LeafAllowed(int level) => level == 1 || level == 2 || (level == 3 && oneGiB);
    protected override bool IsPresent(ulong raw) => (raw & FirstStageEntry.PresentBit) != 0;
    protected override bool IsLeaf(ulong raw, int level) => level == 1 || (raw & FirstStageEntry.PageSizeBit) != 0;
    protected override ulong NextTable(ulong raw) => raw & FirstStageEntry.AddressMask;
    protected override ulong MakeTable(Hpa next) => FirstStageEntry.Table(next.Value, writable: true, user: true).Raw;

    protected override ulong MakeLeaf(ulong physical, int level, IommuProt prot) =>
        FirstStageEntry.Page(physical, level, writable: (prot & IommuProt.Write) != 0, user: true).WithExecuteDisable(true).Raw;

    protected override IommuProt ProtOf(ulong raw) => IommuProt.Read | ((raw & FirstStageEntry.ReadWriteBit) != 0 ? IommuProt.Write : 0);
}
