using System.Buffers.Binary;
using VtdSim.Hardware;
using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Events;
using VtdSim.Hardware.Profiles;
using VtdSim.Kernel;
using VtdSim.Machine;
using VtdSim.Vmm;
using VtdSim.Vmm.Memory;

namespace VtdSim.Cli.Qtest;

/// <summary>
/// The guest machine of a VMM, served over qtest as QEMU serves its machine (decisions Q40–Q47): a host (a
/// <see cref="PhysicalMachine"/> with a VT-d unit, its kernel booted) runs a <see cref="Vmm"/> started with the QEMU
/// command line's options, and qtest drives the VMM's guest machine at QEMU's addresses. CPU accesses go through the
/// flat view of the "memory" address space as QEMU's address_space_read/write do: RAM is read and written (also where a
/// PAM segment shows it read-only), ROM is read and its writes dropped, I/O regions get their operations (split into
/// naturally aligned accesses of up to 8 bytes), and what no region claims reads as zero and drops writes. Port I/O goes through the
/// "I/O" address space (PCI configuration cycles at 0xcf8/0xcfc), where nothing reads as all ones. The machine's clock
/// drives device timers (edu's DMA): under the qtest accelerator only clock_step and clock_set move it; under tcg with
/// `-icount …,sleep=off` the vCPU is idle, so after each command the clock jumps to the deadlines of the timers armed
/// then and they run. No firmware runs: the machine is as QEMU's at reset, with the -bios image in pc.bios.
/// </summary>
public sealed class QtestGuestMachine : IQtestMachine
{
    /// <summary>Where the VMM's kernel keeps user pages on the host: above 4 GiB, so that nothing else is there.</summary>
    private const ulong HostUserPages = 4UL << 30;

    /// <summary>The size of the model's pc.bios (QEMU sizes it to the firmware file; 256 KiB is SeaBIOS's).</summary>
    public const int BiosRegionSize = 0x40000;

    private const ulong PcRomBase = 0xc0000, PcRomSize = 0x20000;

    private readonly QtestEventQueue _events = new();
    private readonly byte[]? _bios;
    private readonly bool _icountNoSleep;
    private VtdUnit? _subscribed;
    private int _stdoutSeen;

    private QtestGuestMachine(VmmOptions options, byte[]? bios, bool icountNoSleep)
    {
        Options = options;
        _bios = bios;
        _icountNoSleep = icountNoSleep;
    }

    /// <summary>The VMM's options, as the command line gave them.</summary>
    public VmmOptions Options { get; }

    /// <summary>The host kernel the VMM runs on.</summary>
    public LinuxKernel Host { get; private set; } = null!;

    /// <summary>The VMM whose guest machine is served.</summary>
    public VtdSim.Vmm.Vmm Vmm { get; private set; } = null!;

    private PhysicalMachine Guest => Vmm.GuestMachine;

    /// <summary>
    /// Starts the VMM on a fresh host and loads the firmware. False with the VMM's message (QEMU's text, without the
    /// program name) when the VMM does not start.
    /// </summary>
    public static bool TryStart(VmmOptions options, byte[]? bios, bool icountNoSleep, out QtestGuestMachine? machine, out string error)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (bios is not null && (bios.Length == 0 || bios.Length > BiosRegionSize))
            throw new ArgumentException("the firmware image must be 1 byte to 256 KiB", nameof(bios));
        var m = new QtestGuestMachine(options, bios, icountNoSleep);
        if (!m.TryBuild(out error))
        {
            machine = null;
            return false;
        }
        machine = m;
        return true;
    }

    public string Description =>
        $"{TypeName}, RAM 0x{Options.Machine.RamSize:x}" + (Vmm.VIommu is { } u ? $", intel-iommu ({u.Profile.Name})" : "") +
        string.Concat(Vmm.Machine.Devices.Select(d => $", {d.Model} at {Slot(d.Function.DevFn)}"));

    private string TypeName => Options.Machine.Type == VtdSim.Vmm.Machines.MachineType.Q35 ? "q35" : "pc";

    // ---- CPU accesses ----

    public bool TryRead(ulong address, int size, out ulong value, out string error)
    {
        Span<byte> bytes = stackalloc byte[8];
        bytes.Clear();
        value = 0;
        if (!TryAccess(Vmm.Machine.SystemMemory, address, bytes[..size], write: false, out error)) return false;
        value = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        return true;
    }

    public bool TryWrite(ulong address, int size, ulong value, out string error)
    {
        Span<byte> bytes = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, value);
        return TryAccess(Vmm.Machine.SystemMemory, address, bytes[..size], write: true, out error);
    }

    public bool TryReadBytes(ulong address, Span<byte> destination, out string error) =>
        TryAccess(Vmm.Machine.SystemMemory, address, destination, write: false, out error);

    public bool TryWriteBytes(ulong address, ReadOnlySpan<byte> source, out string error)
    {
        // The span is only read: TryAccess takes one span for both directions.
        byte[] copy = source.ToArray();
        return TryAccess(Vmm.Machine.SystemMemory, address, copy, write: true, out error);
    }

    public bool TryFill(ulong address, ulong length, byte value, out string error)
    {
        if (length > int.MaxValue)
        {
            error = $"0x{length:x} bytes is too much for one fill";
            return false;
        }
        var data = new byte[length];
        Array.Fill(data, value);
        return TryAccess(Vmm.Machine.SystemMemory, address, data, write: true, out error);
    }

    public bool TryPortRead(ulong port, int size, out uint value, out string error)
    {
        value = 0;
        if (!CheckPort(port, out error)) return false;
        Span<byte> bytes = stackalloc byte[4];
        bytes.Clear();
        if (!TryAccess(Vmm.Machine.PortIo, port, bytes[..size], write: false, out error)) return false;
        value = BinaryPrimitives.ReadUInt32LittleEndian(bytes);
        return true;
    }

    public bool TryPortWrite(ulong port, int size, uint value, out string error)
    {
        if (!CheckPort(port, out error)) return false;
        Span<byte> bytes = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(bytes, value);
        return TryAccess(Vmm.Machine.PortIo, port, bytes[..size], write: true, out error);
    }

    /// <summary>Interrupt lines (INTx, the IOAPIC's inputs) are not modelled; a device's MSI is a DMA write, not a line (decision Q45).</summary>
    public string IrqReply(string command) =>
        $"FAIL {command}: not modelled: the guest machine has no interrupt lines to intercept (INTx and the IOAPIC are not modelled; " +
        "an MSI is a DMA write to 0xfee00000)";

    // ---- clock ----

    /// <summary>QEMU has clock_step and clock_set only with the qtest accelerator; under tcg they are unknown commands.</summary>
    public bool HasClockCommands => !_icountNoSleep;

    public long ClockNs => (long)Math.Min(Guest.Clock.Nanoseconds, long.MaxValue);

    public bool TryStepClock(long? step, out string error)
    {
        error = "";
        MachineClock clock = Guest.Clock;
        ulong ns;
        if (step is long given)
        {
            if (given <= 0) return true;
            ns = (ulong)given;
        }
        else if (clock.NextDeadline is ulong deadline)
        {
            ns = deadline > clock.Nanoseconds ? deadline - clock.Nanoseconds : 0;
        }
        else
        {
            return true; // no timer armed: QEMU's deadline is -1, and the clock stays
        }
        if (ns > long.MaxValue - (ulong)ClockNs)
        {
            error = $"stepping {ns} ns from {ClockNs} ns would overflow the 64-bit clock";
            return false;
        }
        clock.Advance(ns);
        return true;
    }

    public void SetClock(long ns)
    {
        MachineClock clock = Guest.Clock;
        if (ns > 0 && (ulong)ns > clock.Nanoseconds) clock.Advance((ulong)ns - clock.Nanoseconds);
    }

    /// <summary>
    /// Under `-icount …,sleep=off` the vCPU is idle between commands, so QEMU lets the virtual clock jump to the next
    /// deadline and runs the timer; the model does so for every timer armed when the command ended, in deadline order
    /// (one armed by such a timer waits for the next command, so a periodic timer cannot hold the session; decision Q43).
    /// </summary>
    public void Idle()
    {
        if (!_icountNoSleep) return;
        MachineClock clock = Guest.Clock;
        for (int armed = clock.PendingTimers; armed > 0 && Ended is null && clock.NextDeadline is ulong deadline; armed--)
            clock.Advance(deadline > clock.Nanoseconds ? deadline - clock.Nanoseconds : 0);
    }

    /// <summary>A device's hardware error aborts the VMM, as it aborts QEMU: the lines QEMU prints on stderr.</summary>
    public IReadOnlyList<string>? Ended => Vmm.State == VmmState.Aborted ? Vmm.Log.Lines : null;

    // ---- extensions ----

    public VtdUnit? Unit => Vmm.VIommu;

    public IDmaPort Dma => Guest.Dma;

    public FaultEvent? LastFaultEvent { get; private set; }

    /// <summary>The vIOMMU's events, then what the VMM's devices printed on stdout since the last call (`stdout: …`).</summary>
    public IReadOnlyList<string> TakeEvents(out long dropped)
    {
        IReadOnlyList<string> output = Vmm.StandardOutput;
        for (; _stdoutSeen < output.Count; _stdoutSeen++) _events.Add("stdout: " + output[_stdoutSeen]);
        return _events.Take(out dropped);
    }

    public void Reset()
    {
        if (!TryBuild(out string error)) throw new InvalidOperationException($"the machine that started before does not start again: {error}");
    }

    public string Info()
    {
        string viommu = Vmm.VIommu is { } u ? $"viommu=0x{u.RegisterBase.Value:x} cap=0x{u.Profile.Cap.Raw:x16} ecap=0x{u.Profile.Ecap.Raw:x16}" : "viommu=none";
        string devices = Vmm.Machine.Devices.Count == 0 ? "none" : string.Join(',', Vmm.Machine.Devices.Select(d => $"{d.Model}@{Slot(d.Function.DevFn)}"));
        return $"machine={TypeName} ram=0x{Options.Machine.RamSize:x} {viommu} " +
            $"devices={devices} accel={(_icountNoSleep ? "tcg,icount-sleep=off" : "qtest")} clock={ClockNs}";
    }

    // ---- internals ----

    private static string Slot(int devFn) => $"{devFn >> 3:x2}.{devFn & 7:x}";

    private bool TryBuild(out string error)
    {
        error = "";
        LinuxKernel host = BootHost(Options.Machine.RamSize);
        var vmm = VtdSim.Vmm.Vmm.Start(host, Options);
        if (vmm.State != VmmState.Running)
        {
            string first = vmm.Log.Lines.Count == 0 ? "the VMM did not start" : vmm.Log.Lines[0];
            error = first.StartsWith(VmmLog.Program + ": ", StringComparison.Ordinal) ? first[(VmmLog.Program.Length + 2)..] : first;
            return false;
        }
        LoadFirmware(vmm);
        if (_subscribed is not null) _subscribed.Events.Raised -= OnEvent;
        _subscribed = vmm.VIommu;
        if (_subscribed is not null) _subscribed.Events.Raised += OnEvent;
        Host = host;
        Vmm = vmm;
        _events.Clear();
        _stdoutSeen = 0;
        LastFaultEvent = null;
        return true;
    }

    /// <summary>
    /// A host for the VMM: memory for the guest's RAM and ROMs plus a GiB, the kernel's user pages above 4 GiB (sparse:
    /// only what the guest touches costs memory).
    /// </summary>
    private static LinuxKernel BootHost(ulong guestRam)
    {
        const ulong GiB = 1UL << 30;
        ulong user = (guestRam + 2 * GiB - 1) & ~(GiB - 1);
        var machine = PhysicalMachine.Host(BuiltInProfiles.Architectural, HostUserPages + user);
        return LinuxKernel.Boot(machine, new KernelMemoryLayout(new Hpa(0x10_0000), 63UL << 20, new Hpa(HostUserPages), user));
    }

    /// <summary>
    /// What QEMU's ROMs hold at reset (decision Q42): pc.rom is empty (option ROMs come with firmware, which does not
    /// run), and pc.bios holds the -bios image at its top (below it zeros, which read as QEMU's unassigned space does).
    /// </summary>
    private void LoadFirmware(VtdSim.Vmm.Vmm vmm)
    {
        vmm.TryWriteGuest(new Gpa(PcRomBase), new byte[PcRomSize]);
        if (_bios is null) return;
        var image = new byte[BiosRegionSize];
        _bios.CopyTo(image.AsSpan(BiosRegionSize - _bios.Length));
        vmm.TryWriteGuest(new Gpa((1UL << 32) - BiosRegionSize), image);
    }

    private void OnEvent(VtdEvent e)
    {
        if (e is FaultEvent f) LastFaultEvent = f;
        _events.Add(e.ToString() ?? "");
    }

    private static bool CheckPort(ulong port, out string error)
    {
        error = port > 0xffff ? $"ADDR (argument 1) 0x{port:x} is beyond the port I/O space (0x0..0xffff)" : "";
        return error.Length == 0;
    }

    /// <summary>
    /// One access as QEMU's flatview_read/write_continue makes it: section by section; memory copied (a write only to
    /// RAM; to ROM it is dropped), I/O regions and holes in naturally aligned pieces of at
    /// most 8 bytes given to <see cref="AddressSpace.TryReadDevice"/>/<see cref="AddressSpace.TryWriteDevice"/> (holes read
    /// as the space's unassigned value and drop writes). False only for a range past the end of the 64-bit space.
    /// </summary>
    private bool TryAccess(AddressSpace space, ulong address, Span<byte> data, bool write, out string error)
    {
        error = "";
        if (data.Length != 0 && address > ulong.MaxValue - (ulong)(data.Length - 1))
        {
            error = $"0x{address:x} + 0x{data.Length:x} bytes runs past the top of the 64-bit address space";
            return false;
        }
        IReadOnlyList<MemorySection> sections = space.Sections;
        bool device = false;
        int done = 0;
        while (done < data.Length)
        {
            ulong at = address + (ulong)done;
            int length = data.Length - done;
            MemorySection? found = null;
            foreach (MemorySection s in sections)
            {
                if (s.Size == 0) continue;
                if (s.Start <= at && at <= s.Last)
                {
                    found = s;
                    break;
                }
                if (s.Start > at)
                {
                    length = (int)Math.Min((ulong)length, s.Start - at); // a hole up to the next section
                    break;
                }
            }
            if (found is { } section) length = (int)Math.Min((ulong)length, section.Last - at + 1);
            Span<byte> piece = data.Slice(done, length);
            if (found is { IsMemory: true } memory)
            {
                if (!write)
                {
                    if (!Guest.Memory.TryRead(new Hpa(at), piece))
                    {
                        error = $"'{memory.Region.Name}' at 0x{at:x} (+0x{length:x}) could not be read";
                        return false;
                    }
                }
                // QEMU's address_space_write drops a store only where the region itself is ROM; RAM that an alias shows
                // read-only (a PAM segment) takes it, as the VMM's own writes into its RAM block do (decision Q44).
                else if (memory.Kind == RegionKind.Ram && !memory.Region.ReadOnly && !Vmm.TryWriteGuest(new Gpa(at), piece))
                {
                    error = $"'{memory.Region.Name}' at 0x{at:x} (+0x{length:x}) could not be written";
                    return false;
                }
            }
            else
            {
                AccessDevice(space, at, piece, write);
                device = true;
            }
            done += length;
        }
        if (device && write) Guest.Interrupts.DeliverPending(); // a register store may have raised an MSI
        return true;
    }

    private static void AccessDevice(AddressSpace space, ulong address, Span<byte> data, bool write)
    {
        Span<byte> bytes = stackalloc byte[8];
        for (int done = 0; done < data.Length;)
        {
            ulong at = address + (ulong)done;
            int size = 8;
            while (size > data.Length - done || (at & (ulong)(size - 1)) != 0) size >>= 1;
            Span<byte> part = data.Slice(done, size);
            if (write)
            {
                bytes.Clear();
                part.CopyTo(bytes);
                space.TryWriteDevice(at, size, BinaryPrimitives.ReadUInt64LittleEndian(bytes));
            }
            else
            {
                space.TryReadDevice(at, size, out ulong value);
                BinaryPrimitives.WriteUInt64LittleEndian(bytes, value);
                bytes[..size].CopyTo(part);
            }
            done += size;
        }
    }
}
