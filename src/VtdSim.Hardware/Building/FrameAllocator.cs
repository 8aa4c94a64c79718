using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Memory;

namespace VtdSim.Hardware.Building;

/// <summary>Hands out zeroed 4 KiB frames from a window of physical memory, in order (deterministic).</summary>
public sealed class FrameAllocator(MachineMemory memory, Hpa start, Hpa end)
{
    private ulong _next = start.Value;

    public MachineMemory Memory { get; } = memory;

    public Hpa Allocate()
    {
        if (_next + MachineMemory.PageSize > end.Value)
            throw new InvalidOperationException($"frame window {start}..{end} is exhausted");
        var frame = new Hpa(_next);
        _next += MachineMemory.PageSize;
        Memory.Write(frame, new byte[MachineMemory.PageSize]);
        return frame;
    }
}
