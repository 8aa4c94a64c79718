namespace VtdSim.Hardware.Decoding;

/// <summary>
/// The field tables of the registers and entries (VT-d rev 4.x names; the rev 2.x/3.x names the Linux driver and chipsec
/// still print in parentheses): CAP (11.4.2), ECAP (11.4.3), root entries (9.1, 9.2), context entries (9.3, 9.4), the
/// PASID directory and table entries (9.5, 9.6) and the paging entries (9.7, 9.8). Each table covers every bit of its
/// structure exactly once, reserved and ignored bits included.
/// </summary>
internal static class FieldTables
{
    private static readonly string[] LevelNames = ["", "PTE", "PDE", "PDPE", "PML4E", "PML5E"];

    public static string LevelName(int level) => LevelNames[level];

    public static IReadOnlyList<FieldRow> Capability { get; } =
    [
        new(2, 0, "ND", "Number of Domains supported", v => $"{1UL << (4 + 2 * (int)v)} domain ids", Invalid: v => v == 7),
        FieldRow.Flag(3, "AFL", "Advanced Fault Logging"),
        FieldRow.Flag(4, "RWBF", "Required Write-Buffer Flushing", "software must flush the write buffer (GCMD.WBF) after changing tables", "no"),
        FieldRow.Flag(5, "PLMR", "Protected Low-Memory Region"),
        FieldRow.Flag(6, "PHMR", "Protected High-Memory Region"),
        FieldRow.Flag(7, "CM", "Caching Mode", "not-present and invalid entries may be cached: software invalidates after making an entry present", "only present, valid entries are cached"),
        new(12, 8, "SAGAW", "Supported Adjusted Guest Address Widths", AddressWidths, Invalid: v => (v & 0b10000) != 0),
        FieldRow.Reserved(15, 13),
        new(21, 16, "MGAW", "Maximum Guest Address Width", v => $"{v + 1}-bit"),
        FieldRow.Flag(22, "ZLR", "Zero Length Read", "zero-length reads to write-only pages are allowed"),
        FieldRow.Reserved(23, 23, "reserved (ISOCH in rev 1.x)"),
        new(33, 24, "FRO", "Fault-recording Register Offset", v => $"fault-recording registers at offset 0x{v * 16:x}"),
        new(37, 34, "SSLPS (SLLPS)", "Second Stage Large Page Support", LargePages, Invalid: v => (v & 0b1100) != 0),
        FieldRow.Reserved(38, 38),
        FieldRow.Flag(39, "PSI", "Page Selective Invalidation"),
        new(47, 40, "NFR", "Number of Fault-recording Registers", v => $"{v + 1} fault-recording register{(v == 0 ? "" : "s")}"),
        new(53, 48, "MAMV", "Maximum Address Mask Value", v => $"one page-selective invalidation covers up to 2^{v} pages"),
        FieldRow.Flag(54, "DWD", "Write Draining"),
        FieldRow.Flag(55, "DRD", "Read Draining"),
        FieldRow.Flag(56, "FS1GP (FL1GP)", "First Stage 1-GByte Page Support"),
        FieldRow.Reserved(58, 57),
        FieldRow.Flag(59, "PI", "Posted Interrupts Support"),
        FieldRow.Flag(60, "FS5LP (FL5LP)", "First Stage 5-level Paging Support"),
        FieldRow.Flag(61, "ECMDS", "Enhanced Command Support"),
        FieldRow.Flag(62, "ESIRTPS", "Enhanced Set Interrupt Remap Table Pointer Support", "SIRTP also invalidates the interrupt-entry cache"),
        FieldRow.Flag(63, "ESRTPS", "Enhanced Set Root Table Pointer Support", "SRTP also invalidates the context, PASID and IOTLB caches"),
    ];

    public static IReadOnlyList<FieldRow> ExtendedCapability { get; } =
    [
        FieldRow.Flag(0, "C", "Page-walk Coherency", "root, context and PASID-table walks snoop", "walks do not snoop: software flushes caches after changing tables"),
        FieldRow.Flag(1, "QI", "Queued Invalidation support"),
        FieldRow.Flag(2, "DT", "Device-TLB support"),
        FieldRow.Flag(3, "IR", "Interrupt Remapping support"),
        FieldRow.Flag(4, "EIM", "Extended Interrupt Mode", "32-bit x2APIC destination ids", "8-bit xAPIC destination ids"),
        FieldRow.Reserved(5, 5, "reserved (CH in rev 2.x)"),
        FieldRow.Flag(6, "PT", "Pass Through"),
        FieldRow.Flag(7, "SC", "Snoop Control"),
        new(17, 8, "IRO", "IOTLB Register Offset", v => $"IOTLB registers at offset 0x{v * 16:x}"),
        FieldRow.Reserved(19, 18),
        new(23, 20, "MHMV", "Maximum Handle Mask Value", v => $"one interrupt-entry cache invalidation covers up to 2^{v} handles"),
        FieldRow.Reserved(24, 24, "reserved (ECS in rev 2.x)"),
        FieldRow.Flag(25, "MTS", "Memory Type Support"),
        FieldRow.Flag(26, "NEST", "Nested Translation Support", "PGTT 011 (nested) is supported"),
        FieldRow.Reserved(27, 27, "reserved (DIS in rev 2.x)"),
        FieldRow.Reserved(28, 28, "reserved (PASID in rev 2.x)"),
        FieldRow.Flag(29, "PRS", "Page Request Support"),
        FieldRow.Flag(30, "ERS", "Execute Request Support"),
        FieldRow.Flag(31, "SRS", "Supervisor Request Support"),
        FieldRow.Reserved(32, 32, "reserved (POT in rev 2.x)"),
        FieldRow.Flag(33, "NWFS", "No Write Flag Support"),
        FieldRow.Flag(34, "EAFS", "Extended Accessed Flag Support"),
        new(39, 35, "PSS", "PASID Size Supported", v => $"{v + 1}-bit PASIDs"),
        FieldRow.Flag(40, "PASID", "Process Address Space ID Support"),
        FieldRow.Flag(41, "DIT", "Device-TLB Invalidation Throttle"),
        FieldRow.Flag(42, "PDS", "Page-request Drain Support"),
        FieldRow.Flag(43, "SMTS", "Scalable Mode Translation Support"),
        FieldRow.Flag(44, "VCS", "Virtual Command Support"),
        FieldRow.Flag(45, "SSADS (SLADS)", "Second Stage Accessed/Dirty Support"),
        FieldRow.Flag(46, "SSTS (SLTS)", "Second Stage Translation Support"),
        FieldRow.Flag(47, "FSTS (FLTS)", "First Stage Translation Support"),
        FieldRow.Flag(48, "SMPWCS", "Scalable-Mode Page-walk Coherency Support", "the PASID entry's PWSNP is honoured"),
        FieldRow.Flag(49, "RPS", "RID_PASID Support", "requests without PASID use the context entry's RID_PASID", "requests without PASID use PASID 0"),
        FieldRow.Reserved(50, 50),
        FieldRow.Flag(51, "PMS", "Performance Monitoring Support"),
        FieldRow.Flag(52, "ADMS", "Abort DMA Mode Support"),
        FieldRow.Flag(53, "RPRIVS", "RID_PRIV Support"),
        FieldRow.Reserved(63, 54),
    ];

    public static IReadOnlyList<FieldRow> RootEntry { get; } =
    [
        FieldRow.Flag(0, "P", "Present"),
        FieldRow.Reserved(11, 1),
        FieldRow.Address(51, 12, "CTP", "Context-table Pointer"),
        FieldRow.Reserved(63, 52, "reserved (address bits above 52; also reserved from HAW up)"),
        FieldRow.Reserved(127, 64),
    ];

    public static IReadOnlyList<FieldRow> ScalableRootEntry { get; } =
    [
        FieldRow.Flag(0, "LP", "Lower Present", "the lower context table (devfn 0x00-0x7f) is present"),
        FieldRow.Reserved(11, 1),
        FieldRow.Address(51, 12, "LCTP", "Lower Context-table Pointer (devfn 0x00-0x7f)"),
        FieldRow.Reserved(63, 52, "reserved (address bits above 52; also reserved from HAW up)"),
        FieldRow.Flag(64, "UP", "Upper Present", "the upper context table (devfn 0x80-0xff) is present"),
        FieldRow.Reserved(75, 65),
        FieldRow.Address(115, 76, "UCTP", "Upper Context-table Pointer (devfn 0x80-0xff)"),
        FieldRow.Reserved(127, 116, "reserved (address bits above 52; also reserved from HAW up)"),
    ];

    public static IReadOnlyList<FieldRow> ContextEntry { get; } =
    [
        FieldRow.Flag(0, "P", "Present"),
        FieldRow.Flag(1, "FPD", "Fault Processing Disable", "qualified faults are not recorded"),
        FieldRow.Choice(3, 2, "TT", "Translation Type",
            "untranslated requests only, through the second-stage tables (00)",
            "untranslated, translation and translated requests (01, needs ECAP.DT)",
            "pass-through (10, needs ECAP.PT)"),
        FieldRow.Reserved(11, 4),
        FieldRow.Address(51, 12, "SSPTPTR (SLPTPTR)", "Second Stage Page Table Pointer"),
        FieldRow.Reserved(63, 52, "reserved (address bits above 52; also reserved from HAW up)"),
        FieldRow.Choice(66, 64, "AW", "Address Width", "30-bit (2-level)", "39-bit (3-level)", "48-bit (4-level)", "57-bit (5-level)"),
        FieldRow.Ignored(70, 67),
        FieldRow.Reserved(71, 71),
        new(87, 72, "DID", "Domain Identifier", v => $"domain {v}"),
        FieldRow.Reserved(127, 88),
    ];

    public static IReadOnlyList<FieldRow> ScalableContextEntry { get; } =
    [
        FieldRow.Flag(0, "P", "Present"),
        FieldRow.Flag(1, "FPD", "Fault Processing Disable", "qualified faults are not recorded"),
        FieldRow.Flag(2, "DTE", "Device-TLB Enable", "ATS translation and translated requests allowed", "ATS requests blocked (SCT.5)"),
        FieldRow.Flag(3, "PASIDE", "PASID Enable", "requests with PASID allowed", "requests with PASID blocked (SCT.6)"),
        FieldRow.Flag(4, "PRE", "Page Request Enable", "page requests allowed", "page requests blocked (SCT.8)"),
        FieldRow.Reserved(8, 5),
        new(11, 9, "PDTS", "PASID Directory Size", v => $"{1UL << (int)(v + 7)} directory entries: PASIDs 0 to 0x{(1UL << (int)(v + 13)) - 1:x}"),
        FieldRow.Address(51, 12, "PASIDDIRPTR", "PASID Directory Pointer"),
        FieldRow.Reserved(63, 52, "reserved (address bits above 52; also reserved from HAW up)"),
        new(83, 64, "RID_PASID", "Requested-ID PASID", v => $"requests without PASID use PASID 0x{v:x} (with ECAP.RPS)"),
        FieldRow.Flag(84, "RID_PRIV", "Requested-ID Privilege", "requests without PASID are supervisor requests (with ECAP.RPRIVS)", "requests without PASID are user requests"),
        FieldRow.Reserved(127, 85),
        FieldRow.Reserved(191, 128),
        FieldRow.Reserved(255, 192),
    ];

    public static IReadOnlyList<FieldRow> PasidDirectoryEntry { get; } =
    [
        FieldRow.Flag(0, "P", "Present"),
        FieldRow.Flag(1, "FPD", "Fault Processing Disable", "qualified faults are not recorded"),
        FieldRow.Reserved(11, 2),
        FieldRow.Address(51, 12, "SMPTBLPTR", "Scalable Mode PASID Table Pointer"),
        FieldRow.Reserved(63, 52, "reserved (address bits above 52; also reserved from HAW up)"),
    ];

    public static IReadOnlyList<FieldRow> PasidEntry { get; } = BuildPasidEntry();

    private static FieldRow[] BuildPasidEntry()
    {
        const string mts = " (needs ECAP.MTS; reserved without it)";
        var rows = new List<FieldRow>
        {
            FieldRow.Flag(0, "P", "Present"),
            FieldRow.Flag(1, "FPD", "Fault Processing Disable", "qualified faults are not recorded"),
            FieldRow.Choice(4, 2, "AW", "Address Width (second stage)", "30-bit (2-level)", "39-bit (3-level)", "48-bit (4-level)", "57-bit (5-level)"),
            FieldRow.Flag(5, "SSEE (SLEE)", "Second Stage Execute Enable", "the second stage's X bits are honoured"),
            FieldRow.Choice(8, 6, "PGTT", "PASID Granular Translation Type",
                "", "first-stage only (001)", "second-stage only (010)", "nested (011)", "pass-through (100)"),
            FieldRow.Flag(9, "SSADE (SLADE)", "Second Stage Accessed/Dirty Enable", "the second stage's A/D flags are set (needs ECAP.SSADS)"),
            FieldRow.Reserved(11, 10),
            FieldRow.Address(51, 12, "SSPTPTR (SLPTPTR)", "Second Stage Page Table Pointer"),
            FieldRow.Reserved(63, 52, "reserved (address bits above 52; also reserved from HAW up)"),
            new(79, 64, "DID", "Domain Identifier", v => $"domain {v}"),
            FieldRow.Reserved(86, 80),
            FieldRow.Flag(87, "PWSNP", "Page-Walk Snoop", "paging-structure accesses snoop (with ECAP.SMPWCS)"),
            FieldRow.Flag(88, "PGSNP", "Page Snoop", "every page access snoops (needs ECAP.SC)"),
            FieldRow.Flag(89, "CD", "Cache Disable" + mts),
            FieldRow.Flag(90, "EMTE", "Extended Memory Type Enable" + mts),
            new(93, 91, "EMT", "Extended Memory Type" + mts, v => $"{v}"),
            FieldRow.Flag(94, "PWT", "Page-level Write Through" + mts),
            FieldRow.Flag(95, "PCD", "Page-level Cache Disable" + mts),
            new(127, 96, "PAT", "Page Attribute Table" + mts, v => $"0x{v:x8}"),
            FieldRow.Flag(128, "SRE", "Supervisor Request Enable", "supervisor requests allowed", "supervisor requests blocked (SPT.6)"),
            FieldRow.Flag(129, "ERE", "Execute Request Enable", "execute requests allowed", "execute requests blocked (SPT.5)"),
            FieldRow.Choice(131, 130, "FSPM (FLPM)", "First Stage Paging Mode", "4-level (48-bit)", "5-level (57-bit, needs CAP.FS5LP)"),
            FieldRow.Flag(132, "WPE", "Write Protect Enable", "supervisor writes honour R/W=0"),
            FieldRow.Reserved(134, 133, "reserved (NXE and SMEP in rev 3.0)"),
            FieldRow.Flag(135, "EAFE", "Extended Accessed Flag Enable", "the first stage's EA flags are set (needs ECAP.EAFS)"),
            FieldRow.Reserved(139, 136),
            FieldRow.Address(191, 140, "FSPTPTR (FLPTPTR)", "First Stage Page Table Pointer (a GPA when PGTT is nested)"),
        };
        for (int q = 3; q < 8; q++) rows.Add(FieldRow.Reserved(q * 64 + 63, q * 64));
        return [.. rows];
    }

    /// <summary>A first-stage (IA-32e) entry at <paramref name="level"/> (5 = PML5E .. 1 = PTE); PS in a PDE or PDPE makes it a leaf.</summary>
    public static IReadOnlyList<FieldRow> FirstStage(int level, bool leaf)
    {
        var rows = new List<FieldRow>
        {
            FieldRow.Flag(0, "P", "Present", "present", "not present (SFS.2)"),
            FieldRow.Flag(1, "R/W", "Read/Write", "writable", "read-only"),
            FieldRow.Flag(2, "U/S", "User/Supervisor", "user and supervisor", "supervisor only"),
            FieldRow.Flag(3, "PWT", "Page-level Write-Through"),
            FieldRow.Flag(4, "PCD", "Page-level Cache Disable"),
            FieldRow.Flag(5, "A", "Accessed"),
            leaf ? FieldRow.Flag(6, "D", "Dirty") : FieldRow.Ignored(6, 6),
            level == 1 ? FieldRow.Flag(7, "PAT", "Page Attribute Table index bit")
                : level <= 3 ? FieldRow.Flag(7, "PS", "Page Size", level == 2 ? "maps a 2 MiB page" : "maps a 1 GiB page (needs CAP.FS1GP)", "points to a table")
                : FieldRow.Reserved(7, 7, "reserved (PS in a PML4E/PML5E)"),
            leaf ? FieldRow.Flag(8, "G", "Global") : FieldRow.Ignored(8, 8),
            FieldRow.Ignored(9, 9),
            FieldRow.Flag(10, "EA", "Extended Accessed (set when the PASID entry's EAFE is 1)"),
            FieldRow.Ignored(11, 11),
        };
        AddAddress(rows, level, leaf, firstReserved: 13, leaf ? "ADDR" : "ADDR", leaf ? "Page frame" : "Next table");
        rows.Add(FieldRow.Ignored(62, 52));
        rows.Add(FieldRow.Flag(63, "XD", "Execute Disable", "no execute", "execute allowed"));
        return rows;
    }

    /// <summary>A second-stage entry at <paramref name="level"/> (scalable mode, 9.8); R=W=0 is not present.</summary>
    public static IReadOnlyList<FieldRow> SecondStage(int level, bool leaf)
    {
        var rows = new List<FieldRow>
        {
            FieldRow.Flag(0, "R", "Read", "readable"),
            FieldRow.Flag(1, "W", "Write", "writable"),
            FieldRow.Flag(2, "X", "Execute (with SSEE)", "executable"),
            leaf ? new FieldRow(5, 3, "EMT", "Extended Memory Type (with ECAP.MTS)", v => $"{v}") : FieldRow.Ignored(5, 3),
            leaf ? FieldRow.Flag(6, "IPAT", "Ignore PAT (with ECAP.MTS)") : FieldRow.Ignored(6, 6),
            PageSizeOrNot(level),
            FieldRow.Flag(8, "A", "Accessed (with SSADE)"),
            leaf ? FieldRow.Flag(9, "D", "Dirty (with SSADE)") : FieldRow.Ignored(9, 9),
            FieldRow.Ignored(10, 10),
            leaf ? FieldRow.Flag(11, "SNP", "Snoop (needs ECAP.SC; reserved without it)") : FieldRow.Reserved(11, 11),
        };
        AddAddress(rows, level, leaf, firstReserved: 12, "ADDR", leaf ? "Page frame" : "Next table");
        rows.Add(FieldRow.Ignored(61, 52));
        rows.Add(leaf ? FieldRow.Flag(62, "TM", "Transient Mapping (needs ECAP.DT; reserved without it)") : FieldRow.Reserved(62, 62));
        rows.Add(FieldRow.Ignored(63, 63));
        return rows;
    }

    /// <summary>A legacy-mode second-level entry: R, W, PS, SNP and TM; bits 6:2 and 10:8 are ignored.</summary>
    public static IReadOnlyList<FieldRow> LegacySecondLevel(int level, bool leaf)
    {
        var rows = new List<FieldRow>
        {
            FieldRow.Flag(0, "R", "Read", "readable"),
            FieldRow.Flag(1, "W", "Write", "writable"),
            FieldRow.Ignored(6, 2),
            PageSizeOrNot(level),
            FieldRow.Ignored(10, 8),
            leaf ? FieldRow.Flag(11, "SNP", "Snoop (needs ECAP.SC; reserved without it)") : FieldRow.Reserved(11, 11),
        };
        AddAddress(rows, level, leaf, firstReserved: 12, "ADDR", leaf ? "Page frame" : "Next table");
        rows.Add(FieldRow.Ignored(61, 52));
        rows.Add(leaf ? FieldRow.Flag(62, "TM", "Transient Mapping (needs ECAP.DT; reserved without it)") : FieldRow.Reserved(62, 62));
        rows.Add(FieldRow.Ignored(63, 63));
        return rows;
    }

    private static FieldRow PageSizeOrNot(int level) =>
        level == 1 ? FieldRow.Ignored(7, 7)
        : level <= 3 ? FieldRow.Flag(7, "PS", "Page Size", level == 2 ? "maps a 2 MiB page" : "maps a 1 GiB page (needs CAP.SSLPS)", "points to a table")
        : FieldRow.Reserved(7, 7, "reserved (PS in a PML4E/PML5E)");

    /// <summary>
    /// The address field: 51:12 for tables and 4 KiB pages; a 2 MiB page's frame is 51:21 and a 1 GiB page's 51:30, with
    /// the bits below reserved down to <paramref name="firstReserved"/> (13 in the first stage, whose bit 12 is PAT).
    /// </summary>
    private static void AddAddress(List<FieldRow> rows, int level, bool leaf, int firstReserved, string name, string title)
    {
        int low = leaf && level >= 2 ? 12 + 9 * (level - 1) : 12;
        if (low > 12)
        {
            if (firstReserved == 13) rows.Add(FieldRow.Flag(12, "PAT", "Page Attribute Table index bit"));
            rows.Add(FieldRow.Reserved(low - 1, firstReserved, "reserved (below a large page's frame)"));
        }
        rows.Add(FieldRow.Address(51, low, name, title));
    }

    private static string AddressWidths(ulong sagaw)
    {
        string[] names = ["30-bit (2-level)", "39-bit (3-level)", "48-bit (4-level)", "57-bit (5-level)", "reserved bit 12"];
        var set = Enumerable.Range(0, 5).Where(b => ((sagaw >> b) & 1) != 0).Select(b => names[b]).ToList();
        return set.Count == 0 ? "none" : string.Join(", ", set);
    }

    private static string LargePages(ulong bits)
    {
        string[] names = ["2 MiB", "1 GiB", "reserved bit 36 (512 GiB)", "reserved bit 37 (1 TiB)"];
        var set = Enumerable.Range(0, 4).Where(b => ((bits >> b) & 1) != 0).Select(b => names[b]).ToList();
        return set.Count == 0 ? "4 KiB pages only" : string.Join(", ", set);
    }
}
