using VtdSim.Hardware.Events;

namespace VtdSim.Machine;

/// <summary>
/// The machine's interrupt sink, as the CPU's local APIC sees message-signalled interrupts: an MSI is a DWORD write to
/// the interrupt address range 0xFEE00000–0xFEEFFFFF whose data carries the vector (bits 7:0). The IOMMU's fault and
/// invalidation-completion events and devices' MSIs arrive here.
/// <para>
/// An MSI is never handled where it is raised. It is latched as pending, one bit per vector like the APIC's IRR (a
/// second MSI with a vector already pending merges with it), and delivered to the handler software registered for
/// the vector only at defined points (decisions B8): when the DMA port call that raised it returns, when the CPU store
/// that raised it (an MMIO write, e.g. unmasking FECTL) completes, and when software calls
/// <see cref="DeliverPending"/>. Delivery is not re-entrant: an MSI raised while a handler runs is delivered by the
/// same delivery loop after that handler returns. Pending vectors are delivered highest first, as the APIC does.
/// </para>
/// </summary>
public sealed class InterruptController
{
    /// <summary>The interrupt address range (x86 MSI address window).</summary>
    public const ulong MsiWindowBase = 0xFEE0_0000, MsiWindowLast = 0xFEEF_FFFF;
    /// <summary>Vectors 0–15 are reserved: an MSI carrying one is an illegal vector and is dropped (the APIC's ESR bit 6).</summary>
    public const int FirstLegalVector = 16;

    private readonly Action?[] _handlers = new Action?[256];
    private readonly ulong[] _pending = new ulong[4];
    private int _pendingCount;
    private bool _delivering;
    private bool _enabled = true;

    /// <summary>MSIs accepted (latched), including those merged with a vector already pending.</summary>
    public long Received { get; private set; }
    /// <summary>Handler calls made (one per delivered vector).</summary>
    public long Delivered { get; private set; }
    /// <summary>Delivered vectors that had no handler (Linux: "No irq handler for vector").</summary>
    public long Unhandled { get; private set; }
    /// <summary>MSIs that were not interrupts: an address outside the window, the remappable format, or an illegal vector.</summary>
    public long Dropped { get; private set; }
    /// <summary>Whether any vector is latched and not yet delivered.</summary>
    public bool AnyPending => _pendingCount != 0;

    /// <summary>
    /// Whether the CPU takes interrupts (RFLAGS.IF). While false, MSIs stay pending; setting it back to true delivers
    /// them at once. Software uses it to let several events accumulate before one handler run.
    /// </summary>
    public bool DeliveryEnabled
    {
        get => _enabled;
        set
        {
            _enabled = value;
            if (value) DeliverPending();
        }
    }

    /// <summary>Whether a vector is latched and not yet delivered.</summary>
    public bool IsPending(int vector) => (uint)vector < 256 && (_pending[vector >> 6] & (1UL << (vector & 63))) != 0;

    /// <summary>Whether software registered a handler for the vector.</summary>
    public bool HasHandler(int vector) => (uint)vector < 256 && _handlers[vector] is not null;

    /// <summary>Registers software's handler for a vector (request_irq). False if the vector is illegal or taken.</summary>
    public bool TryRegister(int vector, Action handler)
    {
        ArgumentNullException.ThrowIfNull(handler);
        if (vector < FirstLegalVector || vector > 255 || _handlers[vector] is not null) return false;
        _handlers[vector] = handler;
        return true;
    }

    /// <summary>Removes a vector's handler (free_irq); an MSI still pending on it is then unhandled.</summary>
    public void Unregister(int vector)
    {
        if ((uint)vector < 256) _handlers[vector] = null;
    }

    /// <summary>
    /// An MSI: a DWORD write of <paramref name="data"/> to <paramref name="address"/>. Latched if it is a
    /// compatibility-format interrupt (address in the window, bit 4 clear: interrupt remapping is not modelled) with
    /// a legal vector; otherwise counted in <see cref="Dropped"/>. False when dropped. Never calls a handler.
    /// </summary>
    public bool Signal(ulong address, uint data)
    {
        int vector = (int)(data & 0xFF);
        if (address < MsiWindowBase || address > MsiWindowLast || (address & 0x10) != 0 || vector < FirstLegalVector)
        {
            Dropped++;
            return false;
        }
        Received++;
        ref ulong word = ref _pending[vector >> 6];
        ulong bit = 1UL << (vector & 63);
        if ((word & bit) == 0)
        {
            word |= bit;
            _pendingCount++;
        }
        return true;
    }

    /// <summary>
    /// A remapping unit's event, if it is one of its MSIs (the fault event, the invalidation completion event): what a
    /// machine subscribes to its unit's event stream so the unit's interrupt messages reach this controller.
    /// </summary>
    public void OnUnitEvent(VtdEvent e)
    {
        switch (e)
        {
            case FaultInterruptEvent f: Signal(f.Address, f.Data); break;
            case InvalidationCompletionInterruptEvent i: Signal(i.Address, i.Data); break;
        }
    }

    /// <summary>
    /// A delivery point: runs the handlers of the pending vectors, highest first, until none is pending. Does nothing
    /// while a handler is running (the running loop picks up what arrives) or while <see cref="DeliveryEnabled"/> is false.
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    public void DeliverPending()
    {
        if (_pendingCount != 0) Deliver(); // the common case, after every DMA: nothing pending, one compare
    }

    private void Deliver()
    {
        if (_delivering || !_enabled) return;
        _delivering = true;
        try
        {
            while (_pendingCount != 0 && _enabled)
            {
                int vector = Highest();
                _pending[vector >> 6] &= ~(1UL << (vector & 63));
                _pendingCount--;
                Delivered++;
                if (_handlers[vector] is { } handler) handler();
                else Unhandled++;
            }
        }
        finally
        {
            _delivering = false;
        }
    }

    private int Highest()
    {
        for (int w = 3; w >= 0; w--)
            if (_pending[w] != 0) return w * 64 + 63 - System.Numerics.BitOperations.LeadingZeroCount(_pending[w]);
        return -1;
    }
}
