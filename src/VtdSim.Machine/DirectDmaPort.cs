using System.Buffers.Binary;
using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Memory;
using VtdSim.Hardware.Translation;

namespace VtdSim.Machine;

/// <summary>
/// DMA on a machine without a remapping unit: a request's address is the physical address, so reads and writes go
/// straight to memory, page by page, stopping where memory ends (the pages before stay transferred, as on the VT-d
/// port). What no IOMMU is there to answer is refused without moving data (decisions B2): a request that carries a
/// PASID (an end-to-end TLP prefix no one on this machine accepts: a malformed TLP) and an ATS translation request
/// (no translation agent: Unsupported Request). A translated request (AT=10) goes to memory as it is: without ATS the
/// AT field means nothing to the root complex. A DWORD write into the interrupt range 0xFEE00000–0xFEEFFFFF is an
/// MSI and goes to the interrupt controller; any other access there is refused. When the call returns, the
/// interrupts it raised are delivered (decisions B8).
/// </summary>
public sealed class DirectDmaPort(MachineMemory memory, InterruptController interrupts) : IDmaPort
{
    public DmaTransferResult Read(in DmaRequest request, Span<byte> destination)
    {
        if (request.Access != DmaAccess.Read) throw new ArgumentException($"a DMA read needs a read request, got {request.Access}");
        var result = Transfer(in request, destination.Length, destination, default);
        interrupts.DeliverPending();
        return result;
    }

    public DmaTransferResult Write(in DmaRequest request, ReadOnlySpan<byte> source)
    {
        if (request.Access != DmaAccess.Write) throw new ArgumentException($"a DMA write needs a write request, got {request.Access}");
        var result = Transfer(in request, source.Length, default, source);
        interrupts.DeliverPending();
        return result;
    }

    private DmaTransferResult Transfer(in DmaRequest request, int length, Span<byte> readInto, ReadOnlySpan<byte> writeFrom)
    {
        request.Validate();
        if (request.Pasid is uint pasid)
            return new DmaTransferResult(0, null, $"request from {request.Source} carries PASID 0x{pasid:x}, but this machine has no DMA remapping unit to take it (malformed TLP)");
        if (request.AddressType == AddressType.TranslationRequest)
            return new DmaTransferResult(0, null, $"ATS translation request from {request.Source}: this machine has no DMA remapping unit to translate it (Unsupported Request)");
        ulong start = request.Address.Value;
        if (InInterruptRange(start, length))
            return Interrupt(in request, length, writeFrom);
        int done = 0;
        while (done < length)
        {
            ulong address = start + (ulong)done;
            if (address == 0 && done != 0) // wrapped: no bus address lies above 2^64 - 1
                return new DmaTransferResult(done, null, $"{request.Address} + 0x{length:x} bytes runs past the top of the 64-bit address space");
            int chunk = (int)Math.Min((ulong)(length - done), MachineMemory.PageSize - (address & 0xFFF));
            bool ok = request.Access == DmaAccess.Read
                ? memory.TryRead(new Hpa(address), readInto.Slice(done, chunk))
                : memory.TryWrite(new Hpa(address), writeFrom.Slice(done, chunk), WriteOrigin.Dma);
            if (!ok) return new DmaTransferResult(done, null, $"physical address 0x{address:x} is not backed by memory");
            done += chunk;
        }
        return new DmaTransferResult(done, null, null);
    }

    private static bool InInterruptRange(ulong start, int length) =>
        length > 0 && start <= InterruptController.MsiWindowLast && start + (ulong)(length - 1) >= InterruptController.MsiWindowBase
        && start + (ulong)(length - 1) >= start;

    private DmaTransferResult Interrupt(in DmaRequest request, int length, ReadOnlySpan<byte> data)
    {
        ulong address = request.Address.Value;
        if (request.Access != DmaAccess.Write || length != 4 || (address & 3) != 0)
            return new DmaTransferResult(0, null, $"{request.Address} + 0x{length:x} bytes reaches the interrupt range 0xFEE00000-0xFEEFFFFF, where only a DWORD write (an MSI) is accepted");
        if (!interrupts.Signal(address, BinaryPrimitives.ReadUInt32LittleEndian(data)))
            return new DmaTransferResult(0, null, $"MSI to 0x{address:x} with data 0x{BinaryPrimitives.ReadUInt32LittleEndian(data):x} is not a compatibility-format interrupt with a legal vector");
        return new DmaTransferResult(4, null, null);
    }
}
