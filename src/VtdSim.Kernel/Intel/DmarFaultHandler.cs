using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Registers;
using VtdSim.Hardware.Translation;

namespace VtdSim.Kernel.Intel;

/// <summary>
/// The driver's fault interrupt handler for one unit (Linux's dmar_fault and dmar_fault_do_one): reads FSTS; from the
/// record FSTS.FRI names onwards, while a record's F is set, decodes it (source id, reason, read or write, PASID,
/// page address), clears its F, and logs Linux's line; then clears PFO and PPF. Everything goes through the unit's
/// registers. Printing is rate-limited as Linux does, by one limit shared by every unit (<see cref="RateLimit"/>): the
/// status line and every record taken from the hardware (and the final look at a record without F) each use a pass.
/// </summary>
internal sealed class DmarFaultHandler(IommuRegisters regs, Capability cap, KernelLog log, RateLimit rateLimit, Action<DmarFaultRecord>? taken = null)
{
    private const uint Pfo = 1u << 0, Ppf = 1u << 1, Pro = 1u << 7;
    private const uint F = 1u << 31;
    private const int RecordLength = 16;

    /// <summary>Records handled (their F cleared), printed or not.</summary>
    public long RecordsHandled { get; private set; }

    public void Handle()
    {
        uint status = regs.Read32(RegisterOffset.FSTS);
        if (status != 0 && rateLimit.Allow())
            log.Write("DMAR: ", $"DRHD: handling fault status reg {status:x}");
        if ((status & Ppf) == 0) return; // the advanced fault log is not handled, as in Linux

        int index = (int)((status >> 8) & 0xFF);
        int count = cap.NumberOfFaultRecords;
        if (index >= count) index = 0;
        int baseOffset = cap.FaultRecordingOffset;
        // Linux loops until it meets a record without F. A unit whose F never clears would keep it there for ever;
        // the model stops after one turn of the ring (decisions B12).
        for (int turn = 0; turn <= count; turn++)
        {
            bool ratelimited = !rateLimit.Allow();
            int record = baseOffset + index * RecordLength;
            uint high = regs.Read32(record + 12);
            if ((high & F) == 0) break;

            byte reason = 0;
            bool read = false, pasidPresent = false;
            uint pasid = 0;
            ushort sourceId = 0;
            ulong address = 0;
            uint word2 = 0;
            // The model's fault hand-over (decisions N40–N44) reads every record; Linux reads only those it prints.
            if (!ratelimited || taken is not null)
            {
                reason = (byte)high;                // FR, bits 103:96
                read = ((high >> 30) & 1) != 0;     // T1 (bit 126): Linux prints any T1=1 request as "DMA Read"
                pasid = (high >> 8) & 0xF_FFFF;     // PV, bits 123:104
                word2 = regs.Read32(record + 8);
                sourceId = (ushort)word2;           // SID, bits 79:64
                pasidPresent = (word2 >> 31) != 0;  // PP, bit 95
                address = regs.Read64(record) & ~0xFFFUL;
            }
            regs.Write32(record + 12, F); // F is write-1-to-clear
            RecordsHandled++;
            if (!ratelimited) LogOne(reason, read, pasidPresent ? pasid : null, sourceId, address);
            // T2 (bit 92), PRIV (bit 93), EXE (bit 94): T1=1,T2=1 is an AtomicOp; T1=0,T2=1 a page request (not a DMA fault).
            bool t2 = ((word2 >> 28) & 1) != 0;
            if (taken is not null && !(t2 && !read))
                taken(new DmarFaultRecord(new SourceId(sourceId), pasidPresent ? pasid : null, address,
                    read ? (t2 ? DmaAccess.AtomicOp : DmaAccess.Read) : DmaAccess.Write,
                    ((word2 >> 29) & 1) != 0, ((word2 >> 30) & 1) != 0, reason));

            if (++index >= count) index = 0;
        }
        regs.Write32(RegisterOffset.FSTS, Pfo | Ppf | Pro);
    }

    /// <summary>dmar_fault_do_one: one line per fault (Linux without CONFIG_DMAR_DEBUG dumps no page-table entries).</summary>
    private void LogOne(byte reason, bool read, uint? pasid, ushort sourceId, ulong address)
    {
        string text = DmarFaultReasons.Describe(reason, out DmarFaultType type);
        string device = $"[{sourceId >> 8:x2}:{(sourceId >> 3) & 0x1F:x2}.{sourceId & 7}]";
        if (type == DmarFaultType.InterruptRemapping)
        {
            log.Write("DMAR: ", $"[INTR-REMAP] Request device {device} fault index 0x{address >> 48:x} [fault reason 0x{reason:x2}] {text}");
            return;
        }
        string access = read ? "DMA Read" : "DMA Write";
        string tag = pasid is uint p ? $"{access} PASID 0x{p:x}" : $"{access} NO_PASID";
        log.Write("DMAR: ", $"[{tag}] Request device {device} fault addr 0x{address:x} [fault reason 0x{reason:x2}] {text}");
    }
}

/// <summary>One fault record as the fault handler decoded it from FRCD (for the model's hand-over, decisions N40–N44).</summary>
internal readonly record struct DmarFaultRecord(SourceId Source, uint? Pasid, ulong Address, DmaAccess Access, bool Privileged, bool Execute, byte Reason);
