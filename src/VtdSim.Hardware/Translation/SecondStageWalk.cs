namespace VtdSim.Hardware.Translation;

/// <summary>The result of a successful second-stage walk.</summary>
internal struct SecondStageWalk
{
    public ulong Output;
    public ulong PageSize;
    public AccessRights Rights;
    /// <summary>Host address of the leaf entry, so a later write through this mapping can set its D flag.</summary>
    public ulong LeafEntry;
    public int LeafLevel;
}
