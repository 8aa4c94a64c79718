namespace VtdSim.Hardware.Events;

/// <summary>What happened to a fault after it was detected.</summary>
public enum FaultDisposition
{
    /// <summary>Written into a fault-recording register.</summary>
    Recorded,
    /// <summary>A qualified fault with FPD set in the context, PASID-directory or PASID entry: not recorded.</summary>
    SuppressedByFpd,
    /// <summary>The next fault-recording register was still in use: FSTS.PFO set, fault dropped.</summary>
    DroppedOverflow,
    /// <summary>A pending record has the same source id and the profile compresses such faults.</summary>
    DroppedSameSource,
    /// <summary>An ATS translation request: the fault goes back to the device in the completion, not to the registers.</summary>
    ReturnedToDevice,
}
