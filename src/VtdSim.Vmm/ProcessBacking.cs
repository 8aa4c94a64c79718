using VtdSim.Kernel.Process;

namespace VtdSim.Vmm;

/// <summary>
/// What backs a RAM or ROM region (<see cref="Memory.MemoryRegion.Backing"/>): <see cref="Length"/> bytes of the VMM
/// process's address space from <see cref="UserVa"/> on, as QEMU's RAMBlock host pointer. Byte <c>n</c> of the region
/// is the process's byte at <c>UserVa + n</c>; the kernel's page tables say which host frame that is.
/// </summary>
public sealed record ProcessBacking(ProcessAddressSpace Process, Uva UserVa, ulong Length)
{
    /// <summary>The user address of byte <paramref name="offset"/> of the region.</summary>
    public Uva At(ulong offset) => UserVa + offset;

    public override string ToString() => $"{Process.Name} 0x{UserVa.Value:x}+0x{Length:x}";
}

/// <summary>
/// What a guest-physical page is to the VMM (the resolver a guest machine's memory view uses): the section that holds
/// it, and for RAM and ROM the VMM process address of the page and whether the guest may write it.
/// </summary>
public readonly record struct GuestPage(ulong Gpa, string? Region, bool IsRam, bool ReadOnly, Uva? UserVa)
{
    /// <summary>Nothing renders at the address, or it is I/O: reads and writes are unassigned for memory purposes.</summary>
    public bool Unassigned => !IsRam;
}
