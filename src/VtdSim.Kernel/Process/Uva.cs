namespace VtdSim.Kernel.Process;

/// <summary>
/// A user virtual address: an address in a process's address space (what mmap returns, what a process reads and
/// writes, what pin_user_pages pins). It is not a physical address of any machine: the process's page tables turn it
/// into an <see cref="Hardware.Addressing.Hpa"/> of the machine the kernel runs on. The ioctl structs keep their
/// user pointers as plain 64-bit numbers (they are the ABI); the kernel makes them a <see cref="Uva"/> where it uses them.
/// </summary>
public readonly record struct Uva(ulong Value)
{
    public static Uva operator +(Uva a, ulong offset) => new(a.Value + offset);
    public ulong PageOffset => Value & 0xFFF;
    public Uva PageBase => new(Value & ~0xFFFUL);
    public override string ToString() => $"UVA 0x{Value:x}";
}
