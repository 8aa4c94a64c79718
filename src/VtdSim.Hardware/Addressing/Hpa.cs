namespace VtdSim.Hardware.Addressing;

/// <summary>
/// A physical address of the machine the code using it runs on: what the remapping hardware puts on that machine's
/// memory bus, and what that machine's kernel calls a physical address. Under recursion every level has its own: a
/// guest kernel's <see cref="Hpa"/> is what the VMM below it calls a <see cref="Gpa"/> (a guest-physical address of a
/// guest of the VMM's machine); only the VMM converts between the two. A process's virtual address is the kernel's Uva.
/// </summary>
public readonly record struct Hpa(ulong Value)
{
    public static Hpa operator +(Hpa a, ulong offset) => new(a.Value + offset);
    public ulong PageOffset => Value & 0xFFF;
    public Hpa PageBase => new(Value & ~0xFFFUL);
    public override string ToString() => $"HPA 0x{Value:x}";
}
