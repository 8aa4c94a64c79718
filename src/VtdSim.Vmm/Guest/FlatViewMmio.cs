using VtdSim.Hardware.Addressing;
using VtdSim.Machine;
using VtdSim.Vmm.Memory;

namespace VtdSim.Vmm.Guest;

/// <summary>
/// The guest machine's device dispatch: a guest CPU access that the flat view of the "memory" address space shows as
/// I/O goes to the region's device operations (<see cref="AddressSpace.TryReadDevice"/>, decision V20): the vIOMMU's
/// register page, an emulated device's BAR; holes and regions without operations are unassigned (reads 0, writes
/// dropped), as QEMU's. Memory sections are left to the guest machine's memory.
/// </summary>
internal sealed class FlatViewMmio(AddressSpace space) : IMmioRouter
{
    public MmioOutcome Read(Hpa address, int size, out ulong value) =>
        space.TryReadDevice(address.Value, size, out value) ? MmioOutcome.Device : MmioOutcome.Memory;

    public MmioOutcome Write(Hpa address, int size, ulong value) =>
        space.TryWriteDevice(address.Value, size, value) ? MmioOutcome.Device : MmioOutcome.Memory;
}
