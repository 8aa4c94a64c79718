using VtdSim.Hardware;
using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Faults;
using VtdSim.Hardware.Memory;
using VtdSim.Hardware.Tracing;

namespace VtdSim.Scenarios.Running;

/// <summary>
/// A remapping structure a walk read (root, context, PASID-directory or PASID-table entry), with all its qwords as they
/// were in memory right after the walk: the trace keeps one qword per reference, a decoder needs the whole entry.
/// </summary>
public sealed record StructureSnapshot(TraceStage Stage, Hpa Address, IReadOnlyList<ulong> Qwords, bool Scalable);

/// <summary>
/// One DMA's walk in the host IOMMU (or, for an emulated device, in its vIOMMU: <see cref="Viommu"/>), kept for a report
/// (`vtdsim run --report`): the request, every memory reference in order, the structures it read, and the fault that
/// stopped it, if any.
/// </summary>
public sealed record DmaWalk(
    string Title,
    SourceId Source,
    ulong Address,
    bool Write,
    int Size,
    IReadOnlyList<MemoryReference> References,
    IReadOnlyList<StructureSnapshot> Structures,
    DmaFault? Fault,
    bool Completed)
{
    /// <summary>
    /// Null for a walk in the host IOMMU; for an emulated device's DMA, the name of the VMM whose vIOMMU (the emulated
    /// intel-iommu) walked the guest's tables: every address of the walk is then that VMM's guest-physical address.
    /// </summary>
    public string? Viommu { get; init; }

    /// <summary>
    /// The walk of <paramref name="trace"/>, with the entries of its root, context, PASID-directory and PASID-table
    /// references read back from <paramref name="memory"/> whole (a walk never writes them, so they are what it read).
    /// Scalable mode is recognised by the PASID references a scalable walk always makes.
    /// </summary>
    public static DmaWalk Capture(string title, SourceId source, ulong address, bool write, int size, MachineMemory memory, WalkTrace trace, DmaFault? fault, bool completed)
    {
        ArgumentNullException.ThrowIfNull(memory);
        ArgumentNullException.ThrowIfNull(trace);
        var references = trace.References.ToArray();
        bool scalable = references.Any(r => r.Stage is TraceStage.PasidDirectory or TraceStage.PasidTable);
        var structures = new List<StructureSnapshot>();
        foreach (MemoryReference r in references)
        {
            (int bytes, int qwords) = r.Stage switch
            {
                TraceStage.RootTable => (16, 2),
                TraceStage.ContextTable => scalable ? (32, 4) : (16, 2),
                TraceStage.PasidDirectory => (8, 1),
                TraceStage.PasidTable => (64, 8),
                _ => (0, 0),
            };
            if (qwords == 0 || structures.Any(s => s.Stage == r.Stage && s.Address == r.Address)) continue;
            var start = new Hpa(r.Address.Value & ~(ulong)(bytes - 1));
            var values = new ulong[qwords];
            for (int i = 0; i < qwords; i++)
                values[i] = memory.TryRead64(start + (ulong)(8 * i), out ulong v) ? v : 0;
            structures.Add(new StructureSnapshot(r.Stage, start, values, scalable));
        }
        return new DmaWalk(title, source, address, write, size, references, structures, fault, completed);
    }
}
