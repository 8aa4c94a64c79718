using System.Globalization;
using System.Text;
using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Registers;
using VtdSim.Hardware.Structures;
using VtdSim.Machine;

namespace VtdSim.Kernel.Intel.Debugfs;

/// <summary>
/// The Intel IOMMU driver's debugfs directory (/sys/kernel/debug/iommu/intel/), as Linux 6.7 and later lays it out and
/// words it (docs/analyze.md, "The debugfs formats"): every file's text made from the model's live state — registers
/// read through MMIO, root, context and PASID tables and page tables read from machine memory, as the kernel's
/// seq_file functions read them. Not written: dmar_perf_latency and ir_translation_struct (decisions I21, I22).
/// </summary>
internal sealed class IntelDebugfs(PhysicalMachine machine, IntelIommu unit)
{
    private const ulong PageMask = ~0xFFFUL;
    private const ulong TableAddressMask = 0x000F_FFFF_FFFF_F000;

    private static readonly CultureInfo Invariant = CultureInfo.InvariantCulture;
    private readonly IommuRegisters _regs = new(machine, unit.RegisterBase);

    /// <summary>The directory: path under intel/ → text. Per-device directories are named as Linux's dev_name does.</summary>
    public SortedDictionary<string, string> Files(IEnumerable<SourceId> devices, IEnumerable<(SourceId Device, uint Pasid)> pasidDirectories)
    {
        var files = new SortedDictionary<string, string>(StringComparer.Ordinal)
        {
            [DebugfsLayout.IommuRegset] = IommuRegset(),
            [DebugfsLayout.DmarTranslationStruct] = DmarTranslationStruct(),
            [DebugfsLayout.InvalidationQueue] = InvalidationQueue(),
        };
        foreach (SourceId device in devices)
            files[$"{DebugfsLayout.DeviceName(device)}/{DebugfsLayout.DomainTranslationStruct}"] = DomainTranslationStruct(device, null);
        foreach (var (device, pasid) in pasidDirectories)
            files[$"{DebugfsLayout.DeviceName(device)}/{pasid.ToString("x", Invariant)}/{DebugfsLayout.DomainTranslationStruct}"] = DomainTranslationStruct(device, pasid);
        return files;
    }

    /// <summary>iommu_regset: the 32-bit registers, then the 64-bit ones, each as 16 hex digits.</summary>
    public string IommuRegset()
    {
        var s = new StringBuilder();
        s.Append(Invariant, $"IOMMU: {unit.Name} Register Base Address: {unit.RegisterBase.Value:x}\n");
        s.Append("Name\t\t\tOffset\t\tContents\n");
        foreach (DebugfsRegister r in DebugfsLayout.Registers)
        {
            ulong value = r.Wide ? _regs.Read64(r.Offset) : _regs.Read32(r.Offset);
            s.Append(Invariant, $"{r.Name,-16}\t0x{r.Offset:x2}\t\t0x{value:x16}\n");
        }
        s.Append('\n');
        return s.ToString();
    }

    /// <summary>
    /// dmar_translation_struct: one line per present context entry (legacy) or per present PASID entry (scalable), bus
    /// and devfn in order. As in Linux, a bus whose (lower) context table is absent ends that bus's walk.
    /// </summary>
    public string DmarTranslationStruct()
    {
        var s = new StringBuilder();
        if ((_regs.Read32(RegisterOffset.GSTS) & (uint)GlobalCommand.TranslationEnable) == 0)
            return s.Append(Invariant, $"DMA Remapping is not enabled on {unit.Name}\n").ToString();
        s.Append(Invariant, $"IOMMU {unit.Name}: Root Table Address: 0x{unit.RootTable.Value:x}\n");
        s.Append(DebugfsLayout.TranslationHeader).Append('\n');
        bool scalableTables = (_regs.Read64(RegisterOffset.RTADDR) & (1UL << 10)) != 0;
        for (int bus = 0; bus < 256; bus++)
        {
            ulong rootLo = Read(unit.RootTable.Value + (ulong)bus * 16), rootHi = Read(unit.RootTable.Value + (ulong)bus * 16 + 8);
            for (int devfn = 0; devfn < 256; devfn++)
            {
                if (ContextAddress(rootLo, rootHi, devfn) is not ulong context) break;
                ulong ctxLo = Read(context), ctxHi = Read(context + 8);
                if ((ctxLo & 1) == 0) continue;
                string prefix = string.Create(Invariant,
                    $"{bus:x2}:{devfn >> 3:x2}.{devfn & 7:x}\t0x{rootHi:x16}:0x{rootLo:x16}\t0x{ctxHi:x16}:0x{ctxLo:x16}\t");
                if (!scalableTables)
                {
                    s.Append(prefix).Append(Invariant, $"{-1,-6}\t0x{0UL:x16}:0x{0UL:x16}:0x{0UL:x16}\n");
                    continue;
                }
                ulong directory = ctxLo & PageMask;
                int directorySize = 1 << ((int)((ctxLo >> 9) & 7) + 7);
                for (int dirIndex = 0; dirIndex < directorySize; dirIndex++)
                {
                    ulong pde = Read(directory + (ulong)dirIndex * 8);
                    if ((pde & 1) == 0) continue;
                    ulong table = pde & PageMask;
                    for (int index = 0; index < 64; index++)
                    {
                        ulong entry = table + (ulong)index * PasidEntry.Size;
                        ulong q0 = Read(entry);
                        if ((q0 & 1) == 0) continue;
                        int pasid = (dirIndex << 6) + index;
                        s.Append(prefix).Append(Invariant, $"{pasid,-6}\t0x{Read(entry + 16):x16}:0x{Read(entry + 8):x16}:0x{q0:x16}\n");
                    }
                }
            }
        }
        s.Append('\n');
        return s.ToString();
    }

    /// <summary>
    /// A device's (or a device PASID's) domain_translation_struct: the page table its RID_PASID (or PASID) entry — in
    /// legacy mode its context entry — points at, one line per present leaf with the entries on its path.
    /// </summary>
    public string DomainTranslationStruct(SourceId device, uint? pasid)
    {
        var s = new StringBuilder();
        if ((_regs.Read32(RegisterOffset.GSTS) & (uint)GlobalCommand.TranslationEnable) == 0)
            return s.Append(Invariant, $"DMA Remapping is not enabled on {unit.Name}\n").ToString();
        bool scalable = (_regs.Read64(RegisterOffset.RTADDR) & (1UL << 10)) != 0;
        ulong root = unit.RootTable.Value + (ulong)device.Bus * 16;
        if (ContextAddress(Read(root), Read(root + 8), device.DevFn) is not ulong context) return "";
        ulong ctxLo = Read(context), ctxHi = Read(context + 8);
        if ((ctxLo & 1) == 0) return "";
        ulong pgd;
        int levels;
        uint p = pasid ?? IntelIommuDriver.RidPasid;
        if (scalable)
        {
            ulong pde = Read((ctxLo & PageMask) + (ulong)(p >> 6) * 8);
            if ((pde & 1) == 0) return "";
            ulong entry = (pde & PageMask) + (p & 63) * (ulong)PasidEntry.Size;
            var pe = new PasidEntry(Read(entry), Read(entry + 8), Read(entry + 16));
            if (!pe.Present) return "";
            switch (pe.Pgtt)
            {
                case PasidGranularTranslationType.FirstStageOnly:
                    // Linux takes the depth from AW for every PGTT; the model's first-stage entries leave AW 0 and the
                    // hardware walks FSPM's depth, so that is the depth shown (decision I24).
                    pgd = pe.FirstStagePageTablePointer;
                    levels = pe.FirstStagePagingMode == 1 ? 5 : 4;
                    break;
                case PasidGranularTranslationType.SecondStageOnly:
                case PasidGranularTranslationType.Nested:
                    pgd = pe.SecondStagePageTablePointer.Value;
                    levels = pe.AddressWidth + 2;
                    break;
                default:
                    return "";
            }
            s.Append(Invariant, $"Device 0000:{device.Bus:x2}:{device.Device:x2}.{device.Function:x} with pasid {p:x} @0x{pgd:x}\n");
        }
        else
        {
            var ce = new LegacyContextEntry(ctxLo, ctxHi);
            pgd = ce.SecondLevelPageTablePointer.Value;
            // A pass-through context entry has no table; Linux would walk address 0 as one (decision I24).
            levels = ce.TranslationType == TranslationType.PassThrough ? 0 : ce.AddressWidth + 2;
            s.Append(Invariant, $"Device 0000:{device.Bus:x2}:{device.Device:x2}.{device.Function:x} @0x{pgd:x}\n");
        }
        s.Append(DebugfsLayout.PageTableHeader).Append('\n');
        Span<ulong> path = stackalloc ulong[6];
        WalkLevel(s, pgd, levels, 0, path);
        return s.ToString();
    }

    private void WalkLevel(StringBuilder s, ulong table, int level, ulong start, Span<ulong> path)
    {
        if (level is > 5 or < 1) return;
        ulong size = 1UL << (12 + 9 * (level - 1));
        for (int i = 0; i < 512; i++, start += size)
        {
            ulong entry = Read(table + (ulong)i * 8);
            if ((entry & 3) == 0) continue;
            path[level] = entry;
            if ((entry & (1UL << 7)) != 0 || level == 1) s.Append(DebugfsLayout.LeafLine(start, path)).Append('\n');
            else WalkLevel(s, entry & TableAddressMask, level - 1, start, path);
            path[level] = 0;
        }
    }

    /// <summary>
    /// iommu_context_addr without allocation: the context entry's address for (bus, devfn), or null where the root
    /// entry (its lower or upper half in scalable mode) is not present.
    /// </summary>
    private ulong? ContextAddress(ulong rootLo, ulong rootHi, int devfn)
    {
        if (unit.ScalableMode)
        {
            ulong half = devfn >= 0x80 ? rootHi : rootLo;
            if ((half & 1) == 0) return null;
            return (half & PageMask) + (ulong)(devfn & 0x7F) * ScalableContextEntry.Size;
        }
        if ((rootLo & 1) == 0) return null;
        return (rootLo & PageMask) + (ulong)devfn * LegacyContextEntry.Size;
    }

    /// <summary>invalidation_queue: base, head and tail (as slot indexes), then every slot of the queue with its status.</summary>
    public string InvalidationQueue()
    {
        if (!unit.Ecap.QueuedInvalidation) return "";
        ulong iqa = _regs.Read64(RegisterOffset.IQA);
        bool wide = (iqa & (1UL << 11)) != 0;
        int shift = wide ? 5 : 4;
        int slots = (4096 << (int)(iqa & 7)) >> shift;
        ulong queue = iqa & PageMask;
        var s = new StringBuilder();
        s.Append(Invariant, $"Invalidation queue on IOMMU: {unit.Name}\n");
        s.Append(Invariant, $" Base: 0x{queue:x}\tHead: {_regs.Read64(RegisterOffset.IQH) >> shift}\tTail: {_regs.Read64(RegisterOffset.IQT) >> shift}\n");
        s.Append(wide ? DebugfsLayout.WideQueueHeader : DebugfsLayout.QueueHeader).Append('\n');
        for (int index = 0; index < slots; index++)
        {
            ulong slot = queue + ((ulong)index << shift);
            // Every submission of the model driver has completed when it returns: each slot is QI_FREE (decision I23).
            if (wide) s.Append(Invariant, $"{index,5}\t{Read(slot):x16}\t{Read(slot + 8):x16}\t{Read(slot + 16):x16}\t{Read(slot + 24):x16}\t{0:x16}\n");
            else s.Append(Invariant, $"{index,5}\t{Read(slot):x16}\t{Read(slot + 8):x16}\t{0:x16}\n");
        }
        s.Append('\n');
        return s.ToString();
    }

    /// <summary>A CPU read of kernel memory; what no memory answers reads as zero (Linux would read garbage or oops).</summary>
    private ulong Read(ulong address) => machine.Memory.TryRead64(new Hpa(address), out ulong v) ? v : 0;
}
