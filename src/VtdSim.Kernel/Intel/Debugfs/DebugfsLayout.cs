using System.Globalization;
using System.Text;
using VtdSim.Hardware.Addressing;

namespace VtdSim.Kernel.Intel.Debugfs;

/// <summary>One register as iommu_regset lists it: its name, offset in the register page, and whether it is read as 64 bits.</summary>
public readonly record struct DebugfsRegister(string Name, int Offset, bool Wide);

/// <summary>
/// The names, headers and line shapes of Linux's Intel IOMMU debugfs files (drivers/iommu/intel/debugfs.c, Linux 6.7
/// and later), shared by the model kernel that writes them and the importer that reads them (docs/analyze.md).
/// </summary>
public static class DebugfsLayout
{
    public const string IommuRegset = "iommu_regset";
    public const string DmarTranslationStruct = "dmar_translation_struct";
    public const string DomainTranslationStruct = "domain_translation_struct";
    public const string InvalidationQueue = "invalidation_queue";
    public const string DmarPerfLatency = "dmar_perf_latency";
    public const string IrTranslationStruct = "ir_translation_struct";

    public const string RegsetHeader = "Name\t\t\tOffset\t\tContents";
    public const string TranslationHeader = "B.D.F\tRoot_entry\t\t\t\tContext_entry\t\t\t\tPASID\tPASID_table_entry";
    /// <summary>The page-table header since Linux 6.7: column names padded to 17 and 18 characters.</summary>
    public const string PageTableHeader = "IOVA_PFN         \tPML5E             \tPML4E             \tPDPE              \tPDE               \tPTE";
    /// <summary>The page-table header of the single domain_translation_struct file before Linux 6.7.</summary>
    public const string OldPageTableHeader = "IOVA_PFN\t\tPML5E\t\t\tPML4E\t\t\tPDPE\t\t\tPDE\t\t\tPTE";
    public const string QueueHeader = "Index\t\tqw0\t\t\tqw1\t\t\tstatus";
    public const string WideQueueHeader = "Index\t\tqw0\t\t\tqw1\t\t\tqw2\t\t\tqw3\t\t\tstatus";

    /// <summary>
    /// iommu_regset's registers in its order: the 32-bit ones, then the 64-bit ones (offsets as the VT-d specification
    /// places them). VCCAP, VCMD and VCRSP were listed until the virtual command interface left the driver (6.x); the
    /// reader accepts them, the model does not print them.
    /// </summary>
    public static IReadOnlyList<DebugfsRegister> Registers { get; } = BuildRegisters();

    /// <summary>Registers older kernels also list (read, never written).</summary>
    public static IReadOnlyList<DebugfsRegister> OlderRegisters { get; } =
        [new("VCCAP", 0xE30, true), new("VCMD", 0xE00, true), new("VCRSP", 0xE10, true)];

    private static List<DebugfsRegister> BuildRegisters()
    {
        var list = new List<DebugfsRegister>
        {
            new("VER", 0x00, false), new("GCMD", 0x18, false), new("GSTS", 0x1C, false), new("FSTS", 0x34, false),
            new("FECTL", 0x38, false), new("FEDATA", 0x3C, false), new("FEADDR", 0x40, false), new("FEUADDR", 0x44, false),
            new("PMEN", 0x64, false), new("PLMBASE", 0x68, false), new("PLMLIMIT", 0x6C, false), new("ICS", 0x9C, false),
            new("PRS", 0xDC, false), new("PECTL", 0xE0, false), new("PEDATA", 0xE4, false), new("PEADDR", 0xE8, false),
            new("PEUADDR", 0xEC, false),
            new("CAP", 0x08, true), new("ECAP", 0x10, true), new("RTADDR", 0x20, true), new("CCMD", 0x28, true),
            new("AFLOG", 0x58, true), new("PHMBASE", 0x70, true), new("PHMLIMIT", 0x78, true), new("IQH", 0x80, true),
            new("IQT", 0x88, true), new("IQA", 0x90, true), new("IRTA", 0xB8, true), new("PQH", 0xC0, true),
            new("PQT", 0xC8, true), new("PQA", 0xD0, true), new("MTRRCAP", 0x100, true), new("MTRRDEF", 0x108, true),
            new("MTRR_FIX64K_00000", 0x120, true), new("MTRR_FIX16K_80000", 0x128, true), new("MTRR_FIX16K_A0000", 0x130, true),
        };
        string[] fix4k = ["C0000", "C8000", "D0000", "D8000", "E0000", "E8000", "F0000", "F8000"];
        for (int i = 0; i < fix4k.Length; i++) list.Add(new($"MTRR_FIX4K_{fix4k[i]}", 0x138 + 8 * i, true));
        for (int i = 0; i < 10; i++)
        {
            list.Add(new($"MTRR_PHYSBASE{i}", 0x180 + 16 * i, true));
            list.Add(new($"MTRR_PHYSMASK{i}", 0x188 + 16 * i, true));
        }
        return list;
    }

    /// <summary>A PCI device's name in sysfs and debugfs: segment 0000, then bus:device.function.</summary>
    public static string DeviceName(SourceId device) =>
        string.Create(CultureInfo.InvariantCulture, $"0000:{device.Bus:x2}:{device.Device:x2}.{device.Function:x}");

    /// <summary>
    /// One leaf of a page-table dump since Linux 6.7: the IOVA's page frame number, then PML5E, PML4E and PDPE always,
    /// PDE if not zero and PTE after a PDE if not zero (<paramref name="path"/> indexed by level, 1 = PTE .. 5 = PML5E).
    /// </summary>
    public static string LeafLine(ulong iova, ReadOnlySpan<ulong> path)
    {
        var s = new StringBuilder(100);
        s.Append(CultureInfo.InvariantCulture, $"0x{iova >> 12:x13} |\t0x{path[5]:x16}\t0x{path[4]:x16}\t0x{path[3]:x16}");
        if (path[2] != 0)
        {
            s.Append(CultureInfo.InvariantCulture, $"\t0x{path[2]:x16}");
            if (path[1] != 0) s.Append(CultureInfo.InvariantCulture, $"\t0x{path[1]:x16}");
        }
        return s.ToString();
    }
}
