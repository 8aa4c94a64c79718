using VtdSim.Hardware.Faults;

namespace VtdSim.Kernel.Intel;

/// <summary>
/// What a fault reason code tells a person: the specification's condition and text (<see cref="FaultReasonInfo"/>),
/// the text Linux prints (<see cref="DmarFaultReasons"/>), what it means in practice, its likely causes and what to
/// check — written per group of reasons that share their causes (not-present, permission, reserved bits, address
/// width, table access, invalid programming, PASID and context, nested first-stage through second-stage, A/D updates,
/// interrupt addresses, interrupt remapping).
/// </summary>
public sealed record DmarFaultAdvice(byte Code, string Condition, string SpecText, string LinuxText, bool Qualified, string Group, string Meaning,
    IReadOnlyList<string> Causes, IReadOnlyList<string> Checks)
{
    private sealed record Kind(string Name, string Meaning, string[] Causes, string[] Checks);

    private static readonly Kind Unrouted = new("no translation for the device",
        "The unit found no translation for this requester: the root or context entry that should describe it is not present. " +
        "Every DMA from the device is blocked until software sets one up.",
        [
            "the device does DMA before its driver has attached it to a domain, or after it was detached (a device left running by firmware or by a previous kernel across kexec)",
            "the DMA comes with another requester id than the one the kernel set up: a PCIe-to-PCI bridge, a DMA alias or phantom functions",
            "firmware DMA (graphics, USB legacy emulation) with no RMRR for it in the ACPI DMAR table",
        ],
        [
            "which driver owns the device (lspci -k -s BB:DD.F) and whether the fault appears only at boot or only around driver load/unload",
            "the device's IOMMU group and DMA aliases (/sys/kernel/iommu_groups, dmesg for 'alias')",
            "the DMAR table's RMRRs for the device; /sys/kernel/debug/iommu/intel/dmar_translation_struct for its root and context entries",
        ]);

    private static readonly Kind Unmapped = new("address not mapped, or mapped without the right",
        "The walk reached the page but the page tables give no mapping for the address, or not the access the request needs " +
        "(a write to a read-only page, a read to a page with R=0).",
        [
            "the driver gave the device an address it had already unmapped (use after unmap), or never mapped",
            "the buffer was mapped for one direction (DMA_TO_DEVICE) and the device writes it, or the other way round",
            "for a device passed to a VM: the VMM did not map that guest range, or mapped it read-only (ROM and BIOS shadows; QEMU 11's bypass_ro leaves read-only sections out entirely)",
            "the device kept a stale address across a reset or a driver reload",
        ],
        [
            "the mapping of the address in /sys/kernel/debug/iommu/intel/domain_translation_struct",
            "the DMA direction the driver maps with, and whether the fault follows a reset or an unbind",
            "for passthrough: the VMM's memory map (QEMU's info mtree -f; vtdsim mtree prints the model's to compare) at the guest address, and whether that section is read-only",
        ]);

    private static readonly Kind ReservedBits = new("reserved bits set in an entry",
        "Software wrote an entry with a bit the unit treats as reserved: the unit refuses to use it.",
        [
            "a feature bit the unit does not offer (SNP without ECAP.SC, TM without ECAP.DT, a large page at a level CAP.SSLPS/FS1GP lacks, memory-type fields without ECAP.MTS)",
            "an address at or above the host address width",
            "the unit walked memory that is not a table (a table page freed and reused, a wrong pointer one level up)",
        ],
        [
            "decode the entry (vtdsim decode KIND VALUE…, from debugfs's dump): the flagged bits are the reserved ones",
            "the unit's CAP and ECAP (vtdsim decode cap|ecap) against the features the entry uses",
        ]);

    private static readonly Kind Width = new("address beyond the address width",
        "The input address needs more bits than the domain's (or the unit's) address width allows, or is not canonical for the first stage.",
        [
            "the device's DMA mask is wider than the domain's address width, and an address above it was used",
            "a guest's vIOMMU advertises a wider address width (aw-bits) than the host domain translates",
            "a first-stage address whose upper bits are not a sign extension (not canonical)",
        ],
        [
            "CAP.MGAW and SAGAW (vtdsim decode cap) and the AW of the context or PASID entry",
            "the device's DMA mask and the IOVA ranges the driver uses",
        ]);

    private static readonly Kind Access = new("the unit could not read a structure",
        "Reading a root, context, PASID or paging structure failed: its pointer leads to memory the unit cannot read.",
        [
            "a table pointer that points outside memory or above the host address width",
            "tables left by firmware or a previous kernel (translation left enabled across kexec), pointing into memory that was reused",
            "memory errors in the table pages",
        ],
        [
            "RTADDR and the pointer in the entry one level up (debugfs dmar_translation_struct, vtdsim decode)",
            "whether the kernel logged \"Translation was enabled for dmarN but we are not in kdump mode\" (translation left on by firmware or a previous kernel)",
        ]);

    private static readonly Kind Invalid = new("entry programmed with a value the unit does not offer",
        "The entry is present and its reserved bits are clear, but a field holds a value the unit cannot honour (a translation type, PGTT, AW or paging mode it lacks).",
        [
            "an AW that CAP.SAGAW does not list, a TT=01 or device-TLB use without ECAP.DT, pass-through without ECAP.PT",
            "PGTT nested without ECAP.NEST, first-stage without ECAP.FSTS, a 5-level first stage without CAP.FS5LP",
            "an ATS translation or translated request from a device while the context does not allow device TLBs",
        ],
        [
            "decode the context or PASID entry and the unit's CAP/ECAP side by side",
            "whether the device has ATS enabled (lspci -vv: ATSCtl) while the kernel did not enable it in the context",
        ]);

    private static readonly Kind Pasid = new("PASID or context set-up",
        "The request's PASID, or a feature it asks for, is not set up in the context or PASID tables.",
        [
            "a device that sends PASID-tagged requests (SVA, ENQCMD, idxd work queues) while its context has PASIDs disabled or the PASID was never bound",
            "a PASID freed or unbound while the device still uses it",
            "a PASID beyond the directory's size (PDTS), or a request with PASID while the unit runs in legacy mode (scalable mode off)",
            "execute or supervisor requests while the PASID entry does not enable them (ERE, SRE), or a user request to a supervisor-only page",
        ],
        [
            "whether the driver uses PASIDs (SVA) and whether intel_iommu=sm_on is in effect",
            "the PASID directory and table entries in debugfs (dmar_translation_struct), decoded with vtdsim decode pasid-dir|pasid-entry",
        ]);

    private static readonly Kind Nested = new("nested walk: the second stage refused a first-stage table access",
        "In a nested walk every first-stage table is read, and its A/D flags written, through the second stage. The second stage " +
        "refused that access: the guest's page tables lie where the host maps the guest's memory without read (or without write, for 0x77).",
        [
            "the guest's page tables are in a guest range the VMM maps read-only (a ROM or BIOS shadow): the A/D update needs write (SFS.8, 0x77) — " +
            "the situation of Sapphire Rapids erratum 772415 (SPR17), where affected units may set the flags anyway instead of faulting",
            "the guest's page tables are in a range the VMM left out of the IOAS (QEMU 11's bypass_ro skips read-only sections): the read is refused",
            "a first-stage table GPA beyond the second stage's address width (SFS.5, 0x74)",
        ],
        [
            "where the guest keeps the page tables of the faulting address and how the VMM maps that guest range (QEMU's info mtree -f; vtdsim mtree prints the model's to compare)",
            "whether the host kernel refuses read-only mappings in a nest parent (Linux logs 'Read-only mapping is disallowed on the domain which serves as the parent in a nested configuration, due to HW errata (ERRATA_772415_SPR17)')",
            "vtdsim demo shows this walk on the architectural unit and with the erratum",
        ]);

    private static readonly Kind Flags = new("accessed/dirty update could not be done",
        "The walk had to set an accessed or dirty flag and could not: the walk is not snooped (PWSNP=0) or the atomic update failed.",
        [
            "A/D updates enabled (SSADE, or first-stage A/D) with PWSNP=0 in the PASID entry",
            "a table page in memory that does not take atomic updates",
        ],
        [
            "the PASID entry's PWSNP and SSADE (vtdsim decode pasid-entry) and ECAP.SMPWCS",
        ]);

    private static readonly Kind InterruptAddress = new("DMA to the interrupt address range",
        "The translated address falls in 0xFEEx_xxxx, which the unit reserves for interrupt messages: the DMA is blocked.",
        [
            "an IOVA or guest address mapped onto the MSI range",
            "a device programmed with a DMA target where an MSI address belongs, or the other way round",
        ],
        [
            "the domain's reserved regions (/sys/kernel/iommu_groups/*/reserved_regions) and the mapping of the address",
        ]);

    private static readonly Kind Remapping = new("interrupt remapping",
        "An interrupt request could not be remapped: its index or its IRTE is wrong, or the request was refused.",
        [
            "an interrupt from a device whose IRTE was freed or never written (driver unbound, vectors reallocated)",
            "an index beyond the table (IRTA.S), or a compatibility-format interrupt while those are blocked (x2APIC mode)",
            "a requester id that does not match the IRTE's source-id check (DMA aliases, bridges)",
        ],
        [
            "the device's interrupts (/proc/interrupts, lspci -vv MSI/MSI-X) and the kernel's intremap= setting",
            "/sys/kernel/debug/iommu/intel/ir_translation_struct for the index",
        ]);

    private static readonly Kind Other = new("other",
        "A reason code without a cause the model can name.",
        ["a code this unit defines beyond the specification, or a misread line"],
        ["the unit's documentation for the code; the line as the kernel printed it"]);

    private static Kind GroupOf(byte code) => code switch
    {
        0x01 or 0x02 or 0x39 or 0x41 => Unrouted,
        0x05 or 0x06 or 0x71 or 0x79 or 0x85 or 0x86 => Unmapped,
        0x0A or 0x0B or 0x0C or 0x3A or 0x42 or 0x52 or 0x5A or 0x72 or 0x7A => ReservedBits,
        0x04 or 0x80 or 0x83 or 0x84 => Width,
        0x07 or 0x08 or 0x09 or 0x38 or 0x40 or 0x50 or 0x58 or 0x70 or 0x73 or 0x78 or 0x7B => Access,
        0x03 or 0x0D or 0x30 or 0x33 or 0x43 or 0x44 or 0x5B => Invalid,
        0x31 or 0x32 or 0x45 or 0x46 or 0x47 or 0x48 or 0x51 or 0x59 or 0x5C or 0x5D or 0x81 or 0x82 => Pasid,
        0x74 or 0x75 or 0x76 or 0x77 => Nested,
        0x7C or 0x7D or 0x90 or 0x91 => Flags,
        0x0E or 0x87 => InterruptAddress,
        >= 0x20 and <= 0x26 => Remapping,
        _ => Other,
    };

    /// <summary>The advice for a reason code; every code has some (unknown codes say so).</summary>
    public static DmarFaultAdvice For(byte code)
    {
        string linux = DmarFaultReasons.Describe(code, out DmarFaultType type);
        Kind group = GroupOf(code);
        if (type == DmarFaultType.InterruptRemapping)
            return new DmarFaultAdvice(code, "interrupt remapping", linux, linux, false, group.Name, group.Meaning, group.Causes, group.Checks);
        FaultReasonInfo info = FaultReasonInfo.Of((FaultReason)code);
        bool known = FaultReasonInfo.All.Any(i => i.Code == code);
        if (!known)
        {
            string meaning = code == 0
                ? "Code 0 is not a fault: a record with reason 0 holds no fault the specification defines (Linux names it \"Software\")."
                : "The specification defines no fault with this code.";
            return new DmarFaultAdvice(code, "none", "not a fault reason the specification defines", linux, false, Other.Name, meaning, Other.Causes, Other.Checks);
        }
        string condition = info.Condition;
        string specText = info.Meaning;
        string mode = code < 0x30 ? "legacy mode" : "scalable mode";
        return new DmarFaultAdvice(code, condition, specText, linux, info.Qualified, group.Name,
            $"{group.Meaning} ({mode}{(info.Qualified ? "; a qualified fault: FPD=1 in the context (or PASID) entry would have kept it from being recorded" : "; not qualified: always recorded")})",
            group.Causes, group.Checks);
    }
}
