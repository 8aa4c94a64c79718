namespace VtdSim.Hardware.Tracing;

/// <summary>What a traced memory reference did.</summary>
public enum ReferenceKind : byte
{
    /// <summary>A read of a table entry.</summary>
    Read,
    /// <summary>A locked read-modify-write setting A/EA/D, allowed by the rules.</summary>
    FlagUpdate,
    /// <summary>A flag update written despite a read-only second stage: erratum 772415.</summary>
    ErratumFlagUpdate,
}
