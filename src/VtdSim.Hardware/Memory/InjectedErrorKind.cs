namespace VtdSim.Hardware.Memory;

/// <summary>What an injected memory error breaks, for test benches that need access errors inside RAM.</summary>
public enum InjectedErrorKind
{
    /// <summary>Reads and writes in the range fail (an uncorrectable error, a hole in the decode).</summary>
    ReadsAndWrites,
    /// <summary>Only writes fail; reads succeed (used to make atomic flag updates fail).</summary>
    WritesOnly,
}
