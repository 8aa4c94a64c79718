using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Faults;
using VtdSim.Hardware.Structures;
using VtdSim.Hardware.Translation;
using VtdSim.Kernel.Iommufd;
using VtdSim.Machine;

namespace VtdSim.Kernel.Intel;

/// <summary>
/// Whose fault a fault record of a nested domain is (decision N42): the user's first stage or the kernel's second stage.
/// The record has no stage, only a reason (FRCD.FR). Most reasons name their stage (SFS.x and SGN.1/SGN.2: the first;
/// SSS.x, SGN.4/5/7: the second). SGN.3, SGN.6 and SGN.8 are given by either stage, so the kernel walks the user's
/// first-stage tables itself, through the parent's second stage, and asks whether the first stage alone denies the
/// request (XD, R/W=0, an output in the interrupt range); if it does not — or its tables cannot be read — it is the
/// second stage's. Reasons met before the page walk (root, context, PASID entries) are the kernel's own: Context.
/// </summary>
internal static class NestedFaultStage
{
    private const ulong InterruptFirst = 0xFEE0_0000, InterruptLast = 0xFEEF_FFFF;

    public static VtdFaultStage Classify(PhysicalMachine machine, NestedDomain domain, in DmarFaultRecord record)
    {
        var reason = (FaultReason)record.Reason;
        switch (reason)
        {
            case >= FaultReason.SFS1_EntryAccessError and <= FaultReason.SFS8_EntryNotWritable:
            case FaultReason.SFS9_FlagUpdateNotSnooped or FaultReason.SFS10_FlagUpdateFailed:
            case FaultReason.SGN1_NonCanonical or FaultReason.SGN2_UserAccessToSupervisorPage:
                return VtdFaultStage.FirstStage;
            case >= FaultReason.SSS1_EntryAccessError and <= FaultReason.SSS6_FlagUpdateFailed:
            case FaultReason.SGN4_AddressBeyondHostWidth or FaultReason.SGN5_AddressBeyondGuestWidth or FaultReason.SGN7_ReadDenied:
                return VtdFaultStage.SecondStage;
            case FaultReason.SGN3_ExecuteDenied or FaultReason.SGN6_WriteDenied or FaultReason.SGN8_InterruptAddress:
                return FirstStageDenies(machine, domain, in record, reason) ? VtdFaultStage.FirstStage : VtdFaultStage.SecondStage;
            default:
                return VtdFaultStage.Context;
        }
    }

    /// <summary>A paging HWPT's table is the IOAS's mappings, whatever its format: a page-walk fault is the kernel-owned translation's.</summary>
    public static VtdFaultStage OfPaging(in DmarFaultRecord record) =>
        record.Reason >= (byte)FaultReason.SFS1_EntryAccessError ? VtdFaultStage.SecondStage : VtdFaultStage.Context;

    /// <summary>A software walk of the user's first stage for the record's page: does it alone refuse the request?</summary>
    private static bool FirstStageDenies(PhysicalMachine machine, NestedDomain domain, in DmarFaultRecord record, FaultReason reason)
    {
        VtdS1Config s1 = domain.S1;
        int levels = s1.AddressWidth == 57 ? 5 : 4;
        ulong table = s1.PageTableAddress & FirstStageEntry.AddressMask;
        bool writable = true, executeDisabled = false;
        for (int level = levels; level >= 1; level--)
        {
            ulong entryGpa = table + (((record.Address >> (12 + 9 * (level - 1))) & 0x1FF) << 3);
            if (domain.Parent.Table.Lookup(entryGpa) is not { } hit || !machine.TryRead(new Hpa(hit.Physical), 8, out ulong raw))
                return false; // the table page is not readable through the second stage: not the first stage's doing
            var entry = new FirstStageEntry(raw);
            if (!entry.Present) return true; // the tables changed since the walk; what they say now is the user's
            writable &= entry.Writable;
            executeDisabled |= entry.ExecuteDisable;
            if (level == 1 || (level <= 3 && entry.PageSize))
            {
                ulong size = 1UL << (12 + 9 * (level - 1));
                ulong output = (entry.Address & ~(size - 1)) | (record.Address & (size - 1));
                return reason switch
                {
                    // A supervisor write ignores R/W=0 unless WPE (spec 3.6.2).
                    FaultReason.SGN6_WriteDenied => !writable && !(record.Privileged && (s1.Flags & VtdS1Flags.WriteProtectEnable) == 0),
                    FaultReason.SGN3_ExecuteDenied => executeDisabled,
                    _ => output >= InterruptFirst && output <= InterruptLast,
                };
            }
            table = entry.Address;
        }
        return false;
    }
}
