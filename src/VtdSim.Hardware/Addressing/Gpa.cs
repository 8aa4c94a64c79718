namespace VtdSim.Hardware.Addressing;

/// <summary>A guest physical address: the input of the second stage (and the output of the first stage in nested mode).</summary>
public readonly record struct Gpa(ulong Value)
{
    public static Gpa operator +(Gpa a, ulong offset) => new(a.Value + offset);
    public ulong PageOffset => Value & 0xFFF;
    public override string ToString() => $"GPA 0x{Value:x}";
}
