namespace VtdSim.Hardware.Registers;

/// <summary>GCMD/GSTS bits; each status bit sits at the same position as its command bit (spec 11.4.4/11.4.5).</summary>
[Flags]
public enum GlobalCommand : uint
{
    None = 0,
    CompatibilityFormatInterrupt = 1u << 23,   // CFI / CFIS
    SetInterruptRemapTablePointer = 1u << 24,  // SIRTP / IRTPS
    InterruptRemappingEnable = 1u << 25,       // IRE / IRES
    QueuedInvalidationEnable = 1u << 26,       // QIE / QIES
    WriteBufferFlush = 1u << 27,               // WBF / WBFS
    EnableAdvancedFaultLogging = 1u << 28,     // EAFL / AFLS
    SetFaultLog = 1u << 29,                    // SFL / FLS
    SetRootTablePointer = 1u << 30,            // SRTP / RTPS
    TranslationEnable = 1u << 31,              // TE / TES
}
