using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Structures;
using VtdSim.Kernel.Memory;
using VtdSim.Machine;

namespace VtdSim.Kernel.Intel;

/// <summary>The VT-d second-stage format (Linux's vtdss): R/W bits, no present bit, tables written R|W, 2 MiB / 1 GiB per CAP.SSLPS.</summary>
internal sealed class SecondStagePageTable(PhysicalMachine machine, PageAllocator pages, int levels, Hpa root, bool twoMiB, bool oneGiB, bool snoop)
    : IoPageTable(machine, pages, levels, root)
{
    /// <summary>AW encoding of the table (levels − 2).</summary>
    public int AddressWidth => Levels - 2;

    protected override bool LeafAllowed(int level) => level == 1 || (level == 2 && twoMiB) || (level == 3 && oneGiB);
    protected override bool IsPresent(ulong raw) => (raw & (SecondStageEntry.ReadBit | SecondStageEntry.WriteBit)) != 0;
    protected override bool IsLeaf(ulong raw, int level) => level == 1 || (raw & SecondStageEntry.PageSizeBit) != 0;
    protected override ulong NextTable(ulong raw) => raw & SecondStageEntry.AddressMask;
    protected override ulong MakeTable(Hpa next) => SecondStageEntry.Table(next.Value, read: true, write: true).Raw;

    protected override ulong MakeLeaf(ulong physical, int level, IommuProt prot) =>
        SecondStageEntry.Page(physical, level, (prot & IommuProt.Read) != 0, (prot & IommuProt.Write) != 0).WithSnoop(snoop).Raw;

    protected override IommuProt ProtOf(ulong raw) =>
        ((raw & SecondStageEntry.ReadBit) != 0 ? IommuProt.Read : 0) | ((raw & SecondStageEntry.WriteBit) != 0 ? IommuProt.Write : 0);
}
