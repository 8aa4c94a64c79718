namespace VtdSim.Hardware.Addressing;

/// <summary>A host physical address: what the remapping hardware finally puts on the memory bus.</summary>
public readonly record struct Hpa(ulong Value)
{
    public static Hpa operator +(Hpa a, ulong offset) => new(a.Value + offset);
    public ulong PageOffset => Value & 0xFFF;
    public Hpa PageBase => new(Value & ~0xFFFUL);
    public override string ToString() => $"HPA 0x{Value:x}";
}
