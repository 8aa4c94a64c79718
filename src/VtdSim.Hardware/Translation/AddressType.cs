namespace VtdSim.Hardware.Translation;

/// <summary>The PCIe AT field of a request.</summary>
public enum AddressType : byte
{
    /// <summary>An ordinary DMA with an untranslated address: the remapping unit translates it.</summary>
    Untranslated,
    /// <summary>An ATS translation request: the unit walks and returns the translation, no data moves.</summary>
    TranslationRequest,
    /// <summary>A request whose address the device already translated through ATS: passes untranslated if the context allows it.</summary>
    Translated,
}
