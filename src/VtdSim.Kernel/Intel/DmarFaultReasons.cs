namespace VtdSim.Kernel.Intel;

/// <summary>What kind of fault a reason code names, as Linux's dmar_get_fault_reason sorts them.</summary>
public enum DmarFaultType
{
    DmaRemapping,
    InterruptRemapping,
    Unknown,
}

/// <summary>
/// The texts Linux's DMAR fault handler prints for a fault reason code (drivers/iommu/intel/dmar.c): the legacy DMA
/// remapping reasons 0x00–0x0D, the interrupt remapping reasons 0x20–0x26, and the scalable-mode reasons 0x30–0x90
/// (gaps inside that range print "Unknown"); every other code is "Unknown". The strings are Linux's, character for
/// character, because the kernel log must read as Linux's does.
/// </summary>
public static class DmarFaultReasons
{
    public const string Unknown = "Unknown";

    private static readonly string[] Legacy =
    [
        "Software",
        "Present bit in root entry is clear",
        "Present bit in context entry is clear",
        "Invalid context entry",
        "Access beyond MGAW",
        "PTE Write access is not set",
        "PTE Read access is not set",
        "Next page table ptr is invalid",
        "Root table address invalid",
        "Context table ptr is invalid",
        "non-zero reserved fields in RTP",
        "non-zero reserved fields in CTP",
        "non-zero reserved fields in PTE",
        "PCE for translation request specifies blocking",
    ];

    private static readonly string[] InterruptRemapping =
    [
        "Detected reserved fields in the decoded interrupt-remapped request",
        "Interrupt index exceeded the interrupt-remapping table size",
        "Present field in the IRTE entry is clear",
        "Error accessing interrupt-remapping table pointed by IRTA_REG",
        "Detected reserved fields in the IRTE entry",
        "Blocked a compatibility format interrupt request",
        "Blocked an interrupt request due to source-id verification failure",
    ];

    private const int ScalableFirst = 0x30;

    /// <summary>Scalable-mode reasons by code; codes the table leaves out are "Unknown" (Linux lists them as such).</summary>
    private static readonly string[] Scalable = BuildScalable();

    private static string[] BuildScalable()
    {
        var table = new string[0x90 - ScalableFirst + 1];
        Array.Fill(table, Unknown);
        void At(int code, string text) => table[code - ScalableFirst] = text;
        At(0x30, "SM: Invalid Root Table Address");
        At(0x31, "SM: TTM 0 for request with PASID");
        At(0x32, "SM: TTM 0 for page group request");
        At(0x38, "SM: Error attempting to access Root Entry");
        At(0x39, "SM: Present bit in Root Entry is clear");
        At(0x3A, "SM: Non-zero reserved field set in Root Entry");
        At(0x40, "SM: Error attempting to access Context Entry");
        At(0x41, "SM: Present bit in Context Entry is clear");
        At(0x42, "SM: Non-zero reserved field set in the Context Entry");
        At(0x43, "SM: Invalid Context Entry");
        At(0x44, "SM: DTE field in Context Entry is clear");
        At(0x45, "SM: PASID Enable field in Context Entry is clear");
        At(0x46, "SM: PASID is larger than the max in Context Entry");
        At(0x47, "SM: PRE field in Context-Entry is clear");
        At(0x48, "SM: RID_PASID field error in Context-Entry");
        At(0x50, "SM: Error attempting to access the PASID Directory Entry");
        At(0x51, "SM: Present bit in Directory Entry is clear");
        At(0x52, "SM: Non-zero reserved field set in PASID Directory Entry");
        At(0x58, "SM: Error attempting to access PASID Table Entry");
        At(0x59, "SM: Present bit in PASID Table Entry is clear");
        At(0x5A, "SM: Non-zero reserved field set in PASID Table Entry");
        At(0x5B, "SM: Invalid Scalable-Mode PASID Table Entry");
        At(0x5C, "SM: ERE field is clear in PASID Table Entry");
        At(0x5D, "SM: SRE field is clear in PASID Table Entry");
        At(0x70, "SM: Error attempting to access first-level paging entry");
        At(0x71, "SM: Present bit in first-level paging entry is clear");
        At(0x72, "SM: Non-zero reserved field set in first-level paging entry");
        At(0x73, "SM: Error attempting to access FL-PML4 entry");
        At(0x74, "SM: First-level entry address beyond MGAW in Nested translation");
        At(0x75, "SM: Read permission error in FL-PML4 entry in Nested translation");
        At(0x76, "SM: Read permission error in first-level paging entry in Nested translation");
        At(0x77, "SM: Write permission error in first-level paging entry in Nested translation");
        At(0x78, "SM: Error attempting to access second-level paging entry");
        At(0x79, "SM: Read/Write permission error in second-level paging entry");
        At(0x7A, "SM: Non-zero reserved field set in second-level paging entry");
        At(0x7B, "SM: Invalid second-level page table pointer");
        At(0x7C, "SM: A/D bit update needed in second-level entry when set up in no snoop");
        At(0x80, "SM: Address in first-level translation is not canonical");
        At(0x81, "SM: U/S set 0 for first-level translation with user privilege");
        At(0x82, "SM: No execute permission for request with PASID and ER=1");
        At(0x83, "SM: Address beyond the DMA hardware max");
        At(0x84, "SM: Second-level entry address beyond the max");
        At(0x85, "SM: No write permission for Write/AtomicOp request");
        At(0x86, "SM: No read permission for Read/AtomicOp request");
        At(0x87, "SM: Invalid address-interrupt address");
        At(0x90, "SM: A/D bit update needed in first-level entry when set up in no snoop");
        return table;
    }

    /// <summary>dmar_get_fault_reason: the text for a reason code and the kind of fault it is.</summary>
    public static string Describe(byte reason, out DmarFaultType type)
    {
        if (reason >= 0x20 && reason - 0x20 < InterruptRemapping.Length)
        {
            type = DmarFaultType.InterruptRemapping;
            return InterruptRemapping[reason - 0x20];
        }
        if (reason >= ScalableFirst && reason - ScalableFirst < Scalable.Length)
        {
            type = DmarFaultType.DmaRemapping;
            return Scalable[reason - ScalableFirst];
        }
        if (reason < Legacy.Length)
        {
            type = DmarFaultType.DmaRemapping;
            return Legacy[reason];
        }
        type = DmarFaultType.Unknown;
        return Unknown;
    }
}
