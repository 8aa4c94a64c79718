namespace VtdSim.Hardware.Memory;

/// <summary>Who wrote to physical memory; reported to write observers so tools can tell a driver's store from a hardware A/D update.</summary>
public enum WriteOrigin
{
    /// <summary>Software running on a CPU (a driver, a test, a table builder).</summary>
    Software,
    /// <summary>A device's DMA data write after translation.</summary>
    Dma,
    /// <summary>The remapping hardware setting Accessed/Extended-Accessed/Dirty flags in a paging entry.</summary>
    IommuFlagUpdate,
    /// <summary>The remapping hardware writing anything else (fault records are registers, so today: wait-descriptor status writes).</summary>
    IommuOther,
}
