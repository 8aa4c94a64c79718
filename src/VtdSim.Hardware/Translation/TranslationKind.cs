namespace VtdSim.Hardware.Translation;

/// <summary>Which path produced a translation.</summary>
public enum TranslationKind : byte
{
    /// <summary>Translation is off (GSTS.TES=0): the address goes to memory as is.</summary>
    Disabled,
    Legacy,
    LegacyPassThrough,
    /// <summary>An ATS-translated request let through by the context entry.</summary>
    PreTranslated,
    FirstStage,
    SecondStage,
    Nested,
    PassThrough,
}
