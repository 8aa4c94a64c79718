namespace VtdSim.Hardware.Translation;

/// <summary>The effective rights of a translation: the AND over every level of every stage that took part.</summary>
[Flags]
public enum AccessRights : byte
{
    None = 0,
    Read = 1,
    Write = 2,
    Execute = 4,
    /// <summary>First stage: the page is reachable by user (PR=0) requests.</summary>
    User = 8,
}
