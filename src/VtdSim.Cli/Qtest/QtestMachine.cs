using System.Buffers.Binary;
using VtdSim.Hardware;
using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Events;
using VtdSim.Machine;

namespace VtdSim.Cli.Qtest;

/// <summary>
/// The machine a qtest server serves for vtdsim's own options (`--profile`, `--ram-size`, …), and what outlives one
/// connection: physical memory with the VT-d unit's register page at its MMIO base, a virtual clock that only
/// clock_step/clock_set move, and the events not yet fetched. It has no I/O ports, devices or timers. Not thread-safe:
/// one session at a time drives it.
/// </summary>
public sealed class QtestMachine : IQtestMachine
{
    /// <summary>Events kept for the `events` command; older ones are counted as dropped.</summary>
    public const int MaxPendingEvents = QtestEventQueue.Capacity;

    private readonly QtestEventQueue _pending = new();
    private VtdUnit? _subscribed;

    public QtestMachine(QtestMachineOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        Options = options;
        Build();
    }

    public QtestMachineOptions Options { get; }
    public PhysicalMachine Machine { get; private set; } = null!;
    public VtdUnit Unit => Machine.HardwareIommu!;
    /// <summary>QEMU_CLOCK_VIRTUAL as qtest sees it, in nanoseconds. Nothing in the model schedules timers.</summary>
    public long ClockNs { get; private set; }
    /// <summary>The last fault event the unit raised (to report a DMA fault's disposition).</summary>
    public FaultEvent? LastFaultEvent { get; private set; }

    public string Description => $"profile {Unit.Profile.Name}, RAM 0x{Machine.Memory.Size:x}";
    VtdUnit? IQtestMachine.Unit => Unit;
    public IDmaPort Dma => Machine.Dma;
    /// <summary>The clock commands are always there: this machine stands for QEMU with the qtest accelerator.</summary>
    public bool HasClockCommands => true;
    /// <summary>This machine never ends.</summary>
    public IReadOnlyList<string>? Ended => null;

    /// <summary>Throws the machine away and builds it again as at startup: memory zero, registers at reset, clock 0, no events.</summary>
    public void Reset() => Build();

    /// <summary>
    /// clock_step NS: advances the clock; a step that is not positive leaves it (QEMU never moves the clock back).
    /// Without NS QEMU steps to the next timer deadline; this machine has no timers, so the clock stays.
    /// </summary>
    public bool TryStepClock(long? step, out string error)
    {
        error = "";
        if (step is not long ns || ns <= 0) return true;
        if (ClockNs > long.MaxValue - ns)
        {
            error = $"stepping {ns} ns from {ClockNs} ns would overflow the 64-bit clock";
            return false;
        }
        ClockNs += ns;
        return true;
    }

    /// <summary>clock_set NS: moves the clock to NS if that is later; otherwise keeps it.</summary>
    public void SetClock(long ns)
    {
        if (ns > ClockNs) ClockNs = ns;
    }

    /// <summary>Nothing runs between commands: the machine has no timers.</summary>
    public void Idle()
    {
    }

    /// <summary>The unit's events since the last call, oldest first, and how many were dropped because nobody fetched them.</summary>
    public IReadOnlyList<string> TakeEvents(out long dropped) => _pending.Take(out dropped);

    public bool TryPortRead(ulong port, int size, out uint value, out string error)
    {
        value = 0;
        error = NoPorts;
        return false;
    }

    public bool TryPortWrite(ulong port, int size, uint value, out string error)
    {
        error = NoPorts;
        return false;
    }

    private const string NoPorts = "port I/O is not modelled: this machine has RAM and the VT-d register page only";

    /// <summary>QEMU's answer when the QOM path names no device; this machine has none with IRQ lines.</summary>
    public string IrqReply(string command) => "FAIL Unknown device";

    public string Info()
    {
        var p = Unit.Profile;
        return $"profile={p.Name} ram=0x{Machine.Memory.Size:x} iommu=0x{Machine.IommuBase.Value:x} " +
            $"cap=0x{p.Cap.Raw:x16} ecap=0x{p.Ecap.Raw:x16} haw={p.HostAddressWidth} clock={ClockNs}";
    }

    // ---- CPU accesses ----

    /// <summary>A CPU load of 1, 2, 4 or 8 bytes, with the reason when nothing answers.</summary>
    public bool TryRead(ulong address, int size, out ulong value, out string error)
    {
        if (!CheckRange(address, (ulong)size, out error))
        {
            value = 0;
            return false;
        }
        if (Machine.TryRead(new Hpa(address), size, out value)) return true;
        error = DescribeRefusal(address, size, "read");
        return false;
    }

    /// <summary>A CPU store of 1, 2, 4 or 8 bytes, with the reason when nothing accepts it.</summary>
    public bool TryWrite(ulong address, int size, ulong value, out string error)
    {
        if (!CheckRange(address, (ulong)size, out error)) return false;
        if (Machine.TryWrite(new Hpa(address), size, value)) return true;
        error = DescribeRefusal(address, size, "write");
        return false;
    }

    /// <summary>
    /// Reads a byte range. RAM parts are copied; parts in an MMIO region are read as 8- or 4-byte naturally aligned
    /// register accesses. The whole range is checked before anything is read.
    /// </summary>
    public bool TryReadBytes(ulong address, Span<byte> destination, out string error)
    {
        var pieces = new List<Piece>();
        if (!TryPlan(address, (ulong)destination.Length, pieces, out error)) return false;
        Span<byte> bytes = stackalloc byte[8];
        foreach (var p in pieces)
        {
            Span<byte> target = destination.Slice(checked((int)(p.Address - address)), p.Length);
            if (p.Region is null)
            {
                if (!Machine.Memory.TryRead(new Hpa(p.Address), target))
                {
                    error = $"RAM at 0x{p.Address:x} (+0x{p.Length:x}) could not be read";
                    return false;
                }
                continue;
            }
            if (!p.Region.TryRead(p.Address - p.Region.Base.Value, p.Length, out ulong v))
            {
                error = DescribeRefusal(p.Address, p.Length, "read");
                return false;
            }
            BinaryPrimitives.WriteUInt64LittleEndian(bytes, v);
            bytes[..p.Length].CopyTo(target);
        }
        return true;
    }

    /// <summary>Writes a byte range, the same way <see cref="TryReadBytes"/> reads; nothing is written unless the whole range can be.</summary>
    public bool TryWriteBytes(ulong address, ReadOnlySpan<byte> source, out string error)
    {
        var pieces = new List<Piece>();
        if (!TryPlan(address, (ulong)source.Length, pieces, out error)) return false;
        Span<byte> bytes = stackalloc byte[8];
        foreach (var p in pieces)
        {
            ReadOnlySpan<byte> data = source.Slice(checked((int)(p.Address - address)), p.Length);
            if (p.Region is null)
            {
                if (!Machine.Memory.TryWrite(new Hpa(p.Address), data))
                {
                    error = $"RAM at 0x{p.Address:x} (+0x{p.Length:x}) could not be written";
                    return false;
                }
                continue;
            }
            bytes.Clear();
            data.CopyTo(bytes);
            if (!p.Region.TryWrite(p.Address - p.Region.Base.Value, p.Length, BinaryPrimitives.ReadUInt64LittleEndian(bytes)))
            {
                error = DescribeRefusal(p.Address, p.Length, "write");
                return false;
            }
        }
        return true;
    }

    /// <summary>Fills a byte range with one value, in 64 KiB chunks so a large fill needs no large buffer.</summary>
    public bool TryFill(ulong address, ulong length, byte value, out string error)
    {
        if (length > int.MaxValue)
        {
            error = $"0x{length:x} bytes is too much for one fill";
            return false;
        }
        if (!TryPlan(address, length, new List<Piece>(), out error)) return false;
        const int chunk = 64 * 1024;
        var buffer = new byte[(int)Math.Min(length, chunk)];
        Array.Fill(buffer, value);
        for (ulong done = 0; done < length;)
        {
            // Chunks end on 64 KiB boundaries, so none splits a (4 KiB aligned) register page at an odd offset.
            ulong at = address + done;
            int n = (int)Math.Min(length - done, chunk - (at % chunk));
            if (!TryWriteBytes(at, buffer.AsSpan(0, n), out error)) return false;
            done += (ulong)n;
        }
        return true;
    }

    public static string Name(IMmioRegion region) =>
        region is VtdUnitMmio ? $"the VT-d register page at 0x{region.Base.Value:x}" : $"the MMIO region at 0x{region.Base.Value:x}";

    // ---- internals ----

    private readonly record struct Piece(ulong Address, int Length, IMmioRegion? Region);

    private void Build()
    {
        if (_subscribed is not null) _subscribed.Events.Raised -= OnEvent;
        Machine = PhysicalMachine.Host(Options.Profile, Options.RamSize);
        _subscribed = Unit;
        Unit.Events.Raised += OnEvent;
        ClockNs = 0;
        _pending.Clear();
        LastFaultEvent = null;
    }

    private void OnEvent(VtdEvent e)
    {
        if (e is FaultEvent f) LastFaultEvent = f;
        _pending.Add(e.ToString() ?? "");
    }

    private static bool CheckRange(ulong address, ulong length, out string error)
    {
        if (length != 0 && address > ulong.MaxValue - (length - 1))
        {
            error = $"0x{address:x} + 0x{length:x} bytes runs past the top of the 64-bit address space";
            return false;
        }
        error = "";
        return true;
    }

    /// <summary>Splits [address, address+length) into RAM runs and register accesses; false if some part has nothing behind it.</summary>
    private bool TryPlan(ulong address, ulong length, List<Piece> pieces, out string error)
    {
        if (!CheckRange(address, length, out error)) return false;
        ulong p = address, remaining = length;
        while (remaining > 0)
        {
            ulong last = p + (remaining - 1);
            IMmioRegion? region = null;
            foreach (var r in Machine.MmioRegions)
            {
                ulong rLast = r.Base.Value + (r.Size - 1);
                if (r.Base.Value <= last && p <= rLast && (region is null || r.Base.Value < region.Base.Value)) region = r;
            }
            if (region is null || region.Base.Value > p)
            {
                ulong n = region is null ? remaining : region.Base.Value - p;
                ulong size = Machine.Memory.Size;
                if (p >= size || n > size - p)
                {
                    error = $"0x{Math.Max(p, size):x} is beyond RAM (RAM is 0x0..0x{size - 1:x}, --ram-size) and no device is mapped there";
                    return false;
                }
                pieces.Add(new Piece(p, (int)n, null));
                p += n;
                remaining -= n;
                continue;
            }
            ulong offset = p - region.Base.Value;
            ulong inRegion = Math.Min(remaining, region.Size - offset);
            while (inRegion > 0)
            {
                int width = offset % 8 == 0 && inRegion >= 8 ? 8 : offset % 4 == 0 && inRegion >= 4 ? 4 : 0;
                if (width == 0)
                {
                    error = $"{Name(region)} takes only 4- or 8-byte naturally aligned accesses; the range reaches offset 0x{offset:x} " +
                        $"with {inRegion} byte(s) that do not form one";
                    return false;
                }
                pieces.Add(new Piece(p, width, region));
                p += (ulong)width;
                offset += (ulong)width;
                inRegion -= (ulong)width;
                remaining -= (ulong)width;
            }
        }
        return true;
    }

    private string DescribeRefusal(ulong address, int size, string what)
    {
        if (Machine.FindRegion(new Hpa(address), size) is { } region)
        {
            return address < region.Base.Value || address + (ulong)size > region.Base.Value + region.Size
                ? $"the {size}-byte {what} at 0x{address:x} straddles the edge of {Name(region)}"
                : $"{Name(region)} refused the {size}-byte {what} at offset 0x{address - region.Base.Value:x}: it takes only 4- or 8-byte naturally aligned accesses";
        }
        ulong ram = Machine.Memory.Size;
        return $"0x{address:x} (+{size}) is beyond RAM (RAM is 0x0..0x{ram - 1:x}, --ram-size) and no device is mapped there";
    }
}
