namespace VtdSim.Hardware.Structures;

/// <summary>Legacy context-entry TT field (bits 3:2).</summary>
public enum TranslationType : byte
{
    /// <summary>00: untranslated requests walk the second-level tables; ATS requests are blocked.</summary>
    UntranslatedOnly = 0,
    /// <summary>01: as 00, plus ATS translation requests and translated requests (needs ECAP.DT).</summary>
    AllRequests = 1,
    /// <summary>10: pass-through, the input address is the output address (needs ECAP.PT).</summary>
    PassThrough = 2,
    /// <summary>11: reserved.</summary>
    Reserved = 3,
}
