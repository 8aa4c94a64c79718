using VtdSim.Hardware.Addressing;

namespace VtdSim.Hardware.Translation;

/// <summary>Translation table mode, RTADDR.TTM (bits 11:10).</summary>
public enum TranslationTableMode : byte
{
    Legacy = 0,
    Scalable = 1,
    Reserved = 2,
    AbortDma = 3,
}

/// <summary>The root-table pointer and mode as last latched by GCMD.SRTP, and whether translation is enabled.</summary>
internal readonly record struct RootTableState(bool TranslationEnabled, Hpa RootTable, TranslationTableMode Mode);
