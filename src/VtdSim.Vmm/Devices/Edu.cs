using System.Buffers.Binary;
using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Translation;
using VtdSim.Machine;
using VtdSim.Vmm.Machines;
using VtdSim.Vmm.Memory;
using VtdSim.Vmm.Pci;

namespace VtdSim.Vmm.Devices;

/// <summary>
/// QEMU 7.2's `edu` teaching device (hw/misc/edu.c, qemu-facts §7.2; behaviour checked on Debian's QEMU 7.2.22,
/// decisions E11–E16): PCI 1234:11e8 revision 0x10, class 0x00ff, INTA#, an MSI capability at 0x40 (64-bit, one
/// vector), and BAR0 — 1 MiB of registers, "edu-mmio". Registers below 0x80 take 4-byte accesses only, from 0x80 on
/// 4 or 8 bytes; other sizes are refused (they read 0, writes are dropped), an 8-byte read below 0x80 and a read of an
/// offset without a register give all ones. The DMA engine copies between guest memory (through the function's DMA
/// port, with its requester id) and a 4 KiB buffer at device address 0x40000, 100 ms of machine time after the command.
/// </summary>
public sealed class Edu : IEmulatedPciDevice, IRegionOps
{
    public const ushort VendorId = 0x1234, DeviceId = 0x11e8;
    public const byte Revision = 0x10;
    public const ulong BarSize = 1UL << 20;

    /// <summary>The `dma_mask` property's default: 28 address bits.</summary>
    public const ulong DefaultDmaMask = (1UL << 28) - 1;

    public const ulong BufferBase = 0x40000;
    public const int BufferSize = 4096;

    /// <summary>The DMA runs this long after the command (a QEMU_CLOCK_VIRTUAL timer).</summary>
    public const ulong DmaDelayNanoseconds = 100_000_000;

    public const uint IdValue = 0x010000ed;
    public const int RegId = 0x00, RegLiveness = 0x04, RegFactorial = 0x08, RegStatus = 0x20, RegIrqStatus = 0x24,
        RegIrqRaise = 0x60, RegIrqAck = 0x64, RegDmaSource = 0x80, RegDmaDestination = 0x88, RegDmaCount = 0x90, RegDmaCommand = 0x98;

    public const uint StatusComputing = 0x01, StatusIrqOnFactorial = 0x80;
    public const ulong CommandRun = 0x1, CommandToRam = 0x2, CommandIrq = 0x4;
    public const uint FactorialIrq = 0x1, DmaIrq = 0x100;

    /// <summary>The MSI capability's offset in configuration space.</summary>
    public const int MsiCapability = 0x40;

    private readonly byte[] buffer = new byte[BufferSize];
    private EmulatedDeviceContext? context;
    private MachineTimer? dmaTimer;
    private bool intxLevel;
    private bool intxDelivered;

    /// <summary>A new edu at <paramref name="devFn"/> of bus 0, its BAR region made in <paramref name="memory"/>.</summary>
    public Edu(MemorySystem memory, int devFn, ulong dmaMask = DefaultDmaMask)
    {
        ArgumentNullException.ThrowIfNull(memory);
        DmaMask = dmaMask;
        MemoryRegion mmio = memory.Io("edu-mmio", BarSize);
        mmio.Ops = this;
        Function = PciFunctionModel.Device("edu", devFn,
            new PciIdentity(VendorId, DeviceId, Revision, 0x00ff00, InterruptPin: 1, Status: 0x0010, CapabilitiesPointer: MsiCapability),
            new Bar(0, BarSize, BarSpace.Memory, mmio));
        // MSI: id 5, no next, message control 0x0080 (64-bit, one vector); enable, address and data are writable.
        Function.Config.Define(MsiCapability, [0x05, 0x00, 0x80, 0x00], [0x00, 0x00, 0x01, 0x00]);
        Function.Config.Define(MsiCapability + 4, new byte[10], [0xfc, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
        Function.ConfigWritten = (offset, size) => UpdateIntx();
    }

    public string Model => "edu";

    public PciFunctionModel Function { get; }

    public ulong DmaMask { get; }

    public bool Connected => context is not null;

    /// <summary>Whether the device called hw_error (a buffer range outside its buffer): it does nothing any more.</summary>
    public bool Failed { get; private set; }

    public uint Liveness { get; private set; }

    public uint Factorial { get; private set; }

    public uint Status { get; private set; }

    public uint IrqStatus { get; private set; }

    public ulong DmaSource { get; private set; }

    public ulong DmaDestination { get; private set; }

    public ulong DmaCount { get; private set; }

    public ulong DmaCommand { get; private set; }

    /// <summary>The DMA buffer (device addresses 0x40000–0x40fff).</summary>
    public ReadOnlySpan<byte> Buffer => buffer;

    public void Connect(EmulatedDeviceContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (this.context is not null) throw new InvalidOperationException("edu: already connected to a machine");
        this.context = context;
        dmaTimer = context.Clock.CreateTimer(RunDma);
    }

    public bool TryRead(ulong offset, int size, out ulong value)
    {
        value = ulong.MaxValue;
        if (!Accepts(offset, size)) return false;
        if (offset < 0x80 && size != 4) return true; // 8 bytes below 0x80: all ones
        value = offset switch
        {
            RegId => IdValue,
            RegLiveness => Liveness,
            RegFactorial => Factorial,
            RegStatus => Status,
            RegIrqStatus => IrqStatus,
            RegDmaSource => DmaSource,
            RegDmaDestination => DmaDestination,
            RegDmaCount => DmaCount,
            RegDmaCommand => DmaCommand,
            _ => ulong.MaxValue,
        };
        if (size == 4) value &= uint.MaxValue;
        return true;
    }

    public bool TryWrite(ulong offset, int size, ulong value)
    {
        if (!Accepts(offset, size)) return false;
        if (offset < 0x80 && size != 4) return true;
        if (size == 4) value &= uint.MaxValue;
        switch (offset)
        {
            case RegLiveness:
                Liveness = ~(uint)value;
                break;
            case RegFactorial:
                if ((Status & StatusComputing) != 0) break;
                // QEMU computes it in a worker thread; the model finishes at once, so no guest sees "computing" (E13).
                Factorial = FactorialOf((uint)value);
                if ((Status & StatusIrqOnFactorial) != 0) Raise(FactorialIrq);
                break;
            case RegStatus:
                Status = (value & StatusIrqOnFactorial) != 0 ? Status | StatusIrqOnFactorial : Status & ~StatusIrqOnFactorial;
                break;
            case RegIrqRaise:
                Raise((uint)value);
                break;
            case RegIrqAck:
                Lower((uint)value);
                break;
            case RegDmaSource when !Running:
                DmaSource = value;
                break;
            case RegDmaDestination when !Running:
                DmaDestination = value;
                break;
            case RegDmaCount when !Running:
                DmaCount = value;
                break;
            case RegDmaCommand:
                if ((value & CommandRun) == 0) break; // a command without RUN is ignored
                if (!Running) DmaCommand = value;
                dmaTimer?.ScheduleIn(DmaDelayNanoseconds); // a RUN while running only moves the timer, as QEMU's timer_mod
                break;
        }
        return true;
    }

    private bool Running => (DmaCommand & CommandRun) != 0;

    /// <summary>QEMU's valid access sizes for edu-mmio: 4 and 8 bytes (narrower ones never reach the device).</summary>
    private static bool Accepts(ulong offset, int size) => offset < BarSize && size is 4 or 8;

    private static uint FactorialOf(uint n)
    {
        uint result = 1;
        while (n > 0) result *= n--;
        return result;
    }

    /// <summary>edu_dma_timer: the transfer, then RUN clears and, with the IRQ bit, interrupt 0x100 is raised.</summary>
    private void RunDma()
    {
        if (Failed || !Running || context is null) return;
        bool toRam = (DmaCommand & CommandToRam) != 0;
        ulong bufferAddress = toRam ? DmaSource : DmaDestination;
        if (!InBuffer(bufferAddress, DmaCount))
        {
            // QEMU 7.2's edu_check_range: the end (exclusive) must lie strictly below the buffer's end, and the count be non-zero.
            Failed = true;
            context.HardwareError?.Invoke(
                $"EDU: DMA range 0x{bufferAddress:x16}-0x{bufferAddress + DmaCount - 1:x16} out of bounds (0x{BufferBase:x16}-0x{BufferBase + BufferSize - 1:x16})!");
            return;
        }
        int at = (int)(bufferAddress - BufferBase);
        int count = (int)DmaCount;
        ulong iova = Clamp(toRam ? DmaDestination : DmaSource);
        if (toRam) DmaWrite(iova, buffer.AsSpan(at, count));
        else DmaRead(iova, buffer.AsSpan(at, count));
        DmaCommand &= ~CommandRun;
        if ((DmaCommand & CommandIrq) != 0) Raise(DmaIrq);
    }

    private static bool InBuffer(ulong address, ulong count)
    {
        ulong end = address + count;
        const ulong Limit = BufferBase + BufferSize;
        return address >= BufferBase && address < Limit && end > address && end < Limit;
    }

    private ulong Clamp(ulong address)
    {
        ulong clamped = address & DmaMask;
        if (clamped != address) context?.Output?.Invoke($"EDU: clamping DMA {Hex16(address)} to {Hex16(clamped)}!");
        return clamped;
    }

    /// <summary>C's %#.16lx, as QEMU prints it: 16 digits with "0x" before them, except for 0, which has no prefix.</summary>
    private static string Hex16(ulong value) => value == 0 ? "0000000000000000" : $"0x{value:x16}";

    /// <summary>
    /// pci_dma_read: page by page through the DMA port; a page that does not complete reads as zeros, and the rest goes
    /// on (the device ignores DMA errors). Without Bus Master Enable nothing reaches the port and the data are zeros.
    /// </summary>
    private void DmaRead(ulong iova, Span<byte> into)
    {
        for (int done = 0; done < into.Length;)
        {
            ulong address = iova + (ulong)done;
            int chunk = (int)Math.Min((ulong)(into.Length - done), 0x1000 - (address & 0xfff));
            Span<byte> part = into.Slice(done, chunk);
            int moved = 0;
            if (Function.BusMasterEnabled)
                moved = context!.Dma.Read(new DmaRequest(context.Source, new Iova(address), DmaAccess.Read), part).BytesTransferred;
            part[moved..].Clear();
            done += chunk;
        }
    }

    /// <summary>pci_dma_write: page by page; a page that faults is not written, the rest goes on.</summary>
    private void DmaWrite(ulong iova, ReadOnlySpan<byte> from)
    {
        if (!Function.BusMasterEnabled) return;
        for (int done = 0; done < from.Length;)
        {
            ulong address = iova + (ulong)done;
            int chunk = (int)Math.Min((ulong)(from.Length - done), 0x1000 - (address & 0xfff));
            context!.Dma.Write(new DmaRequest(context.Source, new Iova(address), DmaAccess.Write), from.Slice(done, chunk));
            done += chunk;
        }
    }

    private bool MsiEnabled => (Function.Config.Read(MsiCapability + 2, 2) & 1) != 0;

    /// <summary>edu_raise_irq: the status bits are set; an MSI is sent (a DMA write of the message) or INTx asserted.</summary>
    private void Raise(uint bits)
    {
        IrqStatus |= bits;
        if (IrqStatus == 0) return;
        if (MsiEnabled) SendMsi();
        else SetIntx(true);
    }

    private void Lower(uint bits)
    {
        IrqStatus &= ~bits;
        if (IrqStatus == 0 && !MsiEnabled) SetIntx(false);
    }

    private void SendMsi()
    {
        if (context is null || !Function.BusMasterEnabled) return; // the message goes through the bus-master address space
        PciConfigSpace c = Function.Config;
        ulong address = c.Read(MsiCapability + 4, 4) | ((ulong)c.Read(MsiCapability + 8, 4) << 32);
        Span<byte> data = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(data, c.Read(MsiCapability + 12, 2));
        context.Dma.Write(new DmaRequest(context.Source, new Iova(address), DmaAccess.Write), data);
    }

    /// <summary>pci_set_irq: status bit 3 follows the level; the line is driven unless INTx Disable is set.</summary>
    private void SetIntx(bool level)
    {
        intxLevel = level;
        Function.Config.SetStatusBit(PciConfigSpace.StatusInterrupt, level);
        UpdateIntx();
    }

    private void UpdateIntx()
    {
        bool deliver = intxLevel && (Function.Config.Command & PciConfigSpace.CommandIntxDisable) == 0;
        if (deliver == intxDelivered) return;
        intxDelivered = deliver;
        if (context?.Intx is { } sink) sink.SetIntx(context.Source, deliver);
    }
}
