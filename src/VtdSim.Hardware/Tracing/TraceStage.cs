namespace VtdSim.Hardware.Tracing;

/// <summary>Which structure a traced memory reference touched.</summary>
public enum TraceStage : byte
{
    RootTable,
    ContextTable,
    PasidDirectory,
    PasidTable,
    FirstStage,
    SecondStage,
}
