using VtdSim.Hardware;
using VtdSim.Hardware.Events;
using VtdSim.Machine;

namespace VtdSim.Cli.Qtest;

/// <summary>
/// What the qtest interpreter drives (decision Q40): CPU accesses to the machine's memory address space, port I/O, the
/// virtual clock, and what VtdSim's extension commands need (the remapping unit, the DMA port of the machine's
/// functions, the unit's events). Two machines implement it: <see cref="QtestMachine"/>, RAM plus a VT-d unit, served
/// for vtdsim's own options; and <see cref="QtestGuestMachine"/>, the guest machine of a VMM, served for QEMU's command
/// line. Not thread-safe: one session at a time drives it. Failures are said as text; nothing here throws for what a
/// client sends.
/// </summary>
public interface IQtestMachine
{
    /// <summary>One line that says what is served, for the server's diagnostics on stderr.</summary>
    string Description { get; }

    /// <summary>A CPU load of 1, 2, 4 or 8 bytes, with the reason when the machine cannot answer it.</summary>
    bool TryRead(ulong address, int size, out ulong value, out string error);

    /// <summary>A CPU store of 1, 2, 4 or 8 bytes.</summary>
    bool TryWrite(ulong address, int size, ulong value, out string error);

    /// <summary>A CPU copy out of the address space (`read`, `b64read`); nothing is read unless the whole range can be.</summary>
    bool TryReadBytes(ulong address, Span<byte> destination, out string error);

    /// <summary>A CPU copy into the address space (`write`, `b64write`); nothing is written unless the whole range can be.</summary>
    bool TryWriteBytes(ulong address, ReadOnlySpan<byte> source, out string error);

    /// <summary>`memset`: fills a range with one byte.</summary>
    bool TryFill(ulong address, ulong length, byte value, out string error);

    /// <summary>`inb`/`inw`/`inl`: a load of 1, 2 or 4 bytes from the port I/O space.</summary>
    bool TryPortRead(ulong port, int size, out uint value, out string error);

    /// <summary>`outb`/`outw`/`outl`: a store of 1, 2 or 4 bytes to the port I/O space.</summary>
    bool TryPortWrite(ulong port, int size, uint value, out string error);

    /// <summary>The reply to `irq_intercept_in`, `irq_intercept_out` and `set_irq_in`.</summary>
    string IrqReply(string command);

    /// <summary>Whether `clock_step` and `clock_set` exist: QEMU has them only with the qtest accelerator.</summary>
    bool HasClockCommands { get; }

    /// <summary>QEMU_CLOCK_VIRTUAL as qtest reports it, in nanoseconds.</summary>
    long ClockNs { get; }

    /// <summary>`clock_step [NS]`: advances the clock by NS (null: to the next timer deadline), firing the timers on the way.</summary>
    bool TryStepClock(long? ns, out string error);

    /// <summary>`clock_set NS`: moves the clock to NS if that is later, firing the timers on the way.</summary>
    void SetClock(long ns);

    /// <summary>What happens between two commands while the (absent) vCPU idles: no-sleep icount lets timers fire.</summary>
    void Idle();

    /// <summary>Set when the machine ended (a device's hardware error aborts QEMU): the lines it printed on stderr.</summary>
    IReadOnlyList<string>? Ended { get; }

    // ---- what VtdSim's extension commands use ----

    /// <summary>The remapping unit the extension commands inspect (the vIOMMU on a guest machine), or null without one.</summary>
    VtdUnit? Unit { get; }

    /// <summary>The DMA port of the machine's functions (`dma`).</summary>
    IDmaPort Dma { get; }

    /// <summary>The last fault event the unit raised (to report a DMA fault's disposition).</summary>
    FaultEvent? LastFaultEvent { get; }

    /// <summary>The event lines since the last call, oldest first, and how many were dropped because nobody fetched them.</summary>
    IReadOnlyList<string> TakeEvents(out long dropped);

    /// <summary>`reset`: the machine as at startup.</summary>
    void Reset();

    /// <summary>`info`: what follows "OK ".</summary>
    string Info();
}

/// <summary>The events a machine keeps for the `events` command: at most <see cref="Capacity"/>, older ones counted as dropped.</summary>
internal sealed class QtestEventQueue
{
    public const int Capacity = 10_000;

    private readonly Queue<string> _pending = new();
    private long _dropped;

    public void Add(string line)
    {
        if (_pending.Count == Capacity)
        {
            _pending.Dequeue();
            _dropped++;
        }
        _pending.Enqueue(line);
    }

    public IReadOnlyList<string> Take(out long dropped)
    {
        var list = _pending.ToList();
        _pending.Clear();
        dropped = _dropped;
        _dropped = 0;
        return list;
    }

    public void Clear()
    {
        _pending.Clear();
        _dropped = 0;
    }
}
