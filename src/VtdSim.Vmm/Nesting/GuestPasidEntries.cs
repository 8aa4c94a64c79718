using VtdSim.Hardware;
using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Memory;
using VtdSim.Hardware.Structures;
using VtdSim.Hardware.Translation;

namespace VtdSim.Vmm.Nesting;

/// <summary>
/// The guest's PASID entry of a device as the VMM reads it from guest memory (QEMU's vtd_dev_get_pe_from_pasid): root
/// entry, scalable context entry (lower or upper half by devfn), PASID directory entry, PASID table entry, each of them
/// present. Only while the vIOMMU's translation is enabled and its root table is in scalable mode (decision N5); only
/// PASID 0, the requests without PASID (N4).
/// </summary>
internal static class GuestPasidEntries
{
    /// <summary>The present PASID entry of <paramref name="device"/> at <paramref name="pasid"/>, or false (not there, not present, unreadable).</summary>
    public static bool TryRead(VtdUnit viommu, SourceId device, uint pasid, out PasidEntry entry)
    {
        entry = default;
        if (!viommu.TranslationEnabled || viommu.TableMode != TranslationTableMode.Scalable) return false;
        MachineMemory memory = viommu.Memory;
        Hpa rootSlot = viommu.RootTable + (ulong)device.Bus * RootEntry.Size;
        if (!memory.TryRead64(rootSlot, out ulong rootLow) || !memory.TryRead64(rootSlot + 8, out ulong rootHigh)) return false;
        var root = new RootEntry(rootLow, rootHigh);
        bool upper = device.DevFn >= 0x80;
        if (upper ? !root.UpperPresent : !root.LowerPresent) return false;
        Hpa contextSlot = (upper ? root.UpperContextTablePointer : root.LowerContextTablePointer) + (ulong)(device.DevFn & 0x7F) * ScalableContextEntry.Size;
        Span<ulong> q = stackalloc ulong[8];
        if (!Read(memory, contextSlot, q[..4])) return false;
        var context = new ScalableContextEntry(q[0], q[1], q[2], q[3]);
        if (!context.Present || pasid > context.MaxPasid) return false;
        Hpa directorySlot = context.PasidDirectoryPointer + (pasid >> 6) * (ulong)PasidDirectoryEntry.Size;
        if (!memory.TryRead64(directorySlot, out ulong dir)) return false;
        var directory = new PasidDirectoryEntry(dir);
        if (!directory.Present) return false;
        if (!Read(memory, directory.PasidTablePointer + (pasid & 0x3F) * (ulong)PasidEntry.Size, q)) return false;
        entry = new PasidEntry(q[0], q[1], q[2], q[3], q[4], q[5], q[6], q[7]);
        return entry.Present;
    }

    private static bool Read(MachineMemory memory, Hpa at, Span<ulong> words)
    {
        for (int i = 0; i < words.Length; i++)
            if (!memory.TryRead64(at + (ulong)(8 * i), out words[i])) return false;
        return true;
    }
}
