namespace VtdSim.Differential.Tests.Infrastructure;

/// <summary>
/// The edu device's DMA direction (QEMU hw/misc/edu.c, cmd bit 1): <see cref="FromRam"/> reads RAM through the IOMMU
/// into the device's 4 KiB buffer; <see cref="ToRam"/> writes the buffer to RAM through the IOMMU.
/// </summary>
public enum EduDirection
{
    FromRam = 0,
    ToRam = 1,
}

/// <summary>
/// One machine under test, seen the way a driver sees it: physical memory, the VT-d register page at 0xFED90000, and
/// an edu-like PCI device whose DMA goes through the IOMMU. Scenarios are written once against this interface and run
/// on QEMU 7.2 (<see cref="QemuTarget"/>) and on VtdSim (<see cref="VtdSimTarget"/>), so both get byte-identical
/// table writes and register writes.
/// </summary>
public interface IVtdTarget : IDisposable
{
    string Name { get; }

    /// <summary>CPU writes to RAM (tables, data pages, invalidation queue).</summary>
    void WriteMem(ulong address, ReadOnlySpan<byte> bytes);
    byte[] ReadMem(ulong address, int length);

    /// <summary>A 4- or 8-byte register access at <paramref name="offset"/> from the IOMMU base (0xFED90000).</summary>
    uint Read32(int offset);
    ulong Read64(int offset);
    void Write32(int offset, uint value);
    void Write64(int offset, ulong value);

    /// <summary>
    /// One edu DMA of <paramref name="length"/> bytes between IOVA <paramref name="iova"/> and the device buffer at
    /// <paramref name="bufferOffset"/>, issued by device <paramref name="device"/> (0: 00:01.0, SID 0x0008; 1: 00:02.0,
    /// SID 0x0010). Returns when the device has finished. Like edu, the device ignores DMA errors: what happened is
    /// seen in RAM and in the fault registers.
    /// </summary>
    void Dma(EduDirection direction, ulong iova, int length, int bufferOffset = 0, int device = 0);
}
