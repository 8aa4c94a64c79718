using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Memory;
using VtdSim.Kernel;
using VtdSim.Kernel.Process;
using VtdSim.Vmm.Memory;
using HwGuestPage = VtdSim.Hardware.Memory.GuestPage;

namespace VtdSim.Vmm.Guest;

/// <summary>
/// The guest machine's memory as the VMM resolves it, page by page (decisions G1–G4): guest-physical page → the
/// section of the "memory" address space (<see cref="Vmm.TryResolvePage"/>) → the VMM process's address → the page
/// table, faulting the page in as a CPU touch would (<see cref="ProcessAddressSpace.TryFault"/>) → a frame of the
/// memory of the machine the VMM's kernel runs on (the host's, or — under recursion — its own guest view). ROM and
/// read-only RAM are read-only pages, I/O and holes unassigned. As a memory listener on the "memory" address space it
/// invalidates the view whenever the flat view changes (PAM, a BAR, hot-add); the VMM invalidates it when its process
/// unmaps guest memory (quit).
/// </summary>
internal sealed class GuestPageResolver(Vmm vmm) : IGuestPageResolver, IMemoryListener
{
    private bool changed;

    /// <summary>The view this resolver serves (set once the view is made).</summary>
    public GuestMemory? View { get; set; }

    public HwGuestPage Resolve(ulong page, bool write)
    {
        if (!vmm.TryResolvePage(page, out Uva va, out bool readOnly)) return HwGuestPage.Unassigned;
        ProcessAddressSpace process = vmm.Process;
        // A load's fault: anonymous memory is allocated on first touch, so a later store hits the same frame.
        if (process.TryFault(va, write: false, out Hpa frame) != Errno.Success) return HwGuestPage.Unassigned;
        bool writable = !readOnly && process.FindMapping(va) is { } vma && (vma.Protection & MemoryProtection.Write) != 0;
        return HwGuestPage.Ram(vmm.Kernel.Machine.Memory, frame.Value >> MachineMemory.PageShift, writable);
    }

    /// <summary>Forgets every resolved page (the mapping behind the view changed).</summary>
    public void Invalidate()
    {
        if (View is { } view) view.Invalidate(0, view.Size >> MachineMemory.PageShift);
    }

    void IMemoryListener.Begin() => changed = false;

    public void RegionDel(in MemorySection section) => changed = true;

    public void RegionAdd(in MemorySection section) => changed = true;

    void IMemoryListener.Commit()
    {
        if (changed) Invalidate();
        changed = false;
    }
}
