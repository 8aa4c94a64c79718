namespace VtdSim.Hardware.Translation;

/// <summary>Why a second-stage walk runs; it decides which fault codes a failure reports.</summary>
internal enum SsRole : byte
{
    /// <summary>Legacy-mode second-level walk: LGN/LSL codes.</summary>
    Legacy,
    /// <summary>Scalable SS-only, or the final GPA of a nested walk: SSS/SGN codes.</summary>
    Final,
    /// <summary>Nested: translating the GPA of a first-stage table: SFS.5/6/7 for width and read-permission failures.</summary>
    FirstStageTable,
}
