namespace VtdSim.Vmm.Memory;

/// <summary>
/// What an I/O region does when it is accessed (QEMU's MemoryRegionOps): a device's registers, the vIOMMU's register
/// page, a port. Offsets are relative to the region's start; sizes are 1, 2, 4 or 8 bytes. An access the device does
/// not accept (a size it does not decode) answers false: the dispatcher then treats it as unassigned.
/// </summary>
public interface IRegionOps
{
    bool TryRead(ulong offset, int size, out ulong value);

    bool TryWrite(ulong offset, int size, ulong value);
}
