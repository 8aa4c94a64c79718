namespace VtdSim.Hardware.Addressing;

/// <summary>The address a device puts in its DMA request (an IOVA, or a guest virtual address under PASID).</summary>
public readonly record struct Iova(ulong Value)
{
    public static Iova operator +(Iova a, ulong offset) => new(a.Value + offset);
    public ulong PageOffset => Value & 0xFFF;
    public override string ToString() => $"IOVA 0x{Value:x}";
}
