using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Translation;
using VtdSim.Vmm.Machines;
using VtdSim.Vmm.Memory;
using VtdSim.Vmm.Pci;

namespace VtdSim.Vmm.Devices;

/// <summary>
/// QEMU's `iommu-testdev` (hw/misc/iommu-testdev.c, added in 2026: not in QEMU 7.2, whose `-device help` does not list
/// it; qemu-facts §7.1; decision E17): PCI 1b36:0005 (Red Hat's test id), class 0x00ff, no capabilities, no interrupt,
/// and BAR0 of 4 KiB ("iommu-testdev.bar0") with 32-bit registers, 4-byte accesses only. A read of TRIGGER runs the
/// armed DMA at once: the pattern 0x12345678 (little-endian, repeated) is written through the device's DMA port at
/// GVA, then GPA is read straight from the machine's memory and compared; RESULT tells the outcome.
/// </summary>
public sealed class IommuTestDevice : IEmulatedPciDevice, IRegionOps
{
    public const ushort VendorId = 0x1b36, DeviceId = 0x0005;
    public const ulong BarSize = 0x1000;

    public const int RegTrigger = 0x00, RegGvaLow = 0x04, RegGvaHigh = 0x08, RegLength = 0x0c, RegResult = 0x10, RegDoorbell = 0x14,
        RegAttributes = 0x18, RegGpaLow = 0x1c, RegGpaHigh = 0x20;

    public const uint ResultIdle = 0xffffffff, ResultBusy = 0xfffffffe, ErrorBadLength = 0xdead0001, ErrorTransfer = 0xdead0002,
        ErrorReadBack = 0xdead0003, ErrorMismatch = 0xdead0004, ErrorNotArmed = 0xdead0005, ErrorBadAttributes = 0xdead0006;

    public const uint Pattern = 0x12345678;

    /// <summary>ATTRS at reset: space Non-secure (1) in bits 2:1, space_valid clear.</summary>
    public const uint DefaultAttributes = 1u << 1;

    private EmulatedDeviceContext? context;
    private bool armed;

    public IommuTestDevice(MemorySystem memory, int devFn)
    {
        ArgumentNullException.ThrowIfNull(memory);
        MemoryRegion bar = memory.Io("iommu-testdev.bar0", BarSize);
        bar.Ops = this;
        Function = PciFunctionModel.Device("iommu-testdev", devFn, new PciIdentity(VendorId, DeviceId, 0, 0x00ff00),
            new Bar(0, BarSize, BarSpace.Memory, bar));
    }

    public string Model => "iommu-testdev";

    public PciFunctionModel Function { get; }

    public bool Connected => context is not null;

    public ulong Gva { get; private set; }

    public ulong Gpa { get; private set; }

    public uint Length { get; private set; }

    public uint Result { get; private set; } = ResultIdle;

    public uint Attributes { get; private set; } = DefaultAttributes;

    public void Connect(EmulatedDeviceContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (this.context is not null) throw new InvalidOperationException("iommu-testdev: already connected to a machine");
        this.context = context;
    }

    public bool TryRead(ulong offset, int size, out ulong value)
    {
        value = 0;
        if (size != 4) return false;
        value = offset switch
        {
            RegTrigger => Trigger(),
            RegGvaLow => (uint)Gva,
            RegGvaHigh => (uint)(Gva >> 32),
            RegGpaLow => (uint)Gpa,
            RegGpaHigh => (uint)(Gpa >> 32),
            RegLength => Length,
            RegResult => Result,
            RegAttributes => Attributes,
            _ => 0,
        };
        return true;
    }

    public bool TryWrite(ulong offset, int size, ulong value)
    {
        if (size != 4) return false;
        uint data = (uint)value;
        switch (offset)
        {
            case RegGvaLow: Gva = (Gva & ~0xffffffffUL) | data; break;
            case RegGvaHigh: Gva = (Gva & 0xffffffffUL) | ((ulong)data << 32); break;
            case RegGpaLow: Gpa = (Gpa & ~0xffffffffUL) | data; break;
            case RegGpaHigh: Gpa = (Gpa & 0xffffffffUL) | ((ulong)data << 32); break;
            case RegLength: Length = data; break;
            case RegResult: Result = data; break;
            case RegAttributes: Attributes = data; break;
            case RegDoorbell:
                armed = (data & 1) != 0; // arming twice is the same as once
                Result = armed ? ResultBusy : ResultIdle;
                break;
        }
        return true;
    }

    /// <summary>The DMA a TRIGGER read runs; it always reads 0. The request is consumed even when it fails.</summary>
    private uint Trigger()
    {
        if (!armed)
        {
            Result = ErrorNotArmed;
            return 0;
        }
        Result = Run();
        armed = false;
        return 0;
    }

    private uint Run()
    {
        if (Length == 0) return ErrorBadLength;
        // Bit 3 (space valid) with space Secure (0) or Non-secure (1) must agree with bit 0 (secure). The attributes
        // mean nothing to VT-d beyond this check (they are Arm's security spaces).
        uint space = (Attributes >> 1) & 3;
        if ((Attributes & 8) != 0 && space <= 1 && ((Attributes & 1) != 0) != (space == 0)) return ErrorBadAttributes;
        if (context is null) return ErrorTransfer; // not wired to a machine: nothing answers its DMA
        // Through the device's IOMMU address space (not gated by Bus Master Enable), page by page; all pages are tried.
        // The pattern is made a page at a time, so a guest's 4 GiB length costs time, not memory.
        Span<byte> chunkBytes = stackalloc byte[0x1000];
        Span<byte> readBack = stackalloc byte[0x1000];
        bool ok = true;
        for (ulong done = 0; done < Length;)
        {
            ulong address = Gva + done;
            int chunk = (int)Math.Min(Length - done, 0x1000 - (address & 0xfff));
            Fill(chunkBytes[..chunk], done);
            ok &= context.Dma.Write(new DmaRequest(context.Source, new Iova(address), DmaAccess.Write), chunkBytes[..chunk]).Completed;
            done += (ulong)chunk;
        }
        if (!ok) return ErrorTransfer;
        if (context.SystemMemory is not { } memory) return ErrorReadBack;
        bool equal = true;
        for (ulong done = 0; done < Length;)
        {
            ulong address = Gpa + done;
            int chunk = (int)Math.Min(Length - done, 0x1000 - (address & 0xfff));
            if (address + (ulong)chunk - 1 < address || !memory.TryRead(new Hpa(address), readBack[..chunk])) return ErrorReadBack;
            Fill(chunkBytes[..chunk], done);
            equal &= readBack[..chunk].SequenceEqual(chunkBytes[..chunk]);
            done += (ulong)chunk;
        }
        return equal ? 0 : ErrorMismatch;
    }

    /// <summary>The pattern's bytes from byte <paramref name="from"/> of the transfer on: 0x12345678 little-endian, repeated.</summary>
    private static void Fill(Span<byte> into, ulong from)
    {
        for (int i = 0; i < into.Length; i++) into[i] = (byte)(Pattern >> (int)(8 * ((from + (ulong)i) % 4)));
    }
}
