using VtdSim.Hardware.Events;
using VtdSim.Hardware.Registers;
using VtdSim.Hardware.Structures;
using VtdSim.Hardware.Translation;

namespace VtdSim.Hardware.Faults;

/// <summary>
/// Primary fault logging (spec 7.2.1 and 11.4.14): the fault-recording registers at CAP.FRO, the fault bits of FSTS,
/// and the fault-event control/data/address registers. Records faults in order, circularly; sets PFO when the next
/// record is still in use; raises the fault event when a fault becomes pending.
/// </summary>
internal sealed class FaultRecordingRegisters
{
    public const uint Pfo = 1u << 0, Ppf = 1u << 1, Iqe = 1u << 4, Ice = 1u << 5, Ite = 1u << 6;
    private const uint ClearableStatus = Pfo | Iqe | Ice | Ite;
    private const uint InterruptMask = 1u << 31, InterruptPending = 1u << 30;

    private readonly ulong[] _low, _high;
    private readonly bool _compressBySource;
    private readonly VtdEventLog _events;
    private uint _status;          // PFO, IQE, ICE, ITE (PPF and FRI are computed)
    private int _fri;
    private int _next;
    private uint _control = InterruptMask; // FECTL resets with IM=1
    private uint _data, _address, _upperAddress;
    private bool _deliver; // an interrupt decided on but not yet sent (see DeliverPendingInterrupt)

    public FaultRecordingRegisters(Capability cap, bool compressBySource, VtdEventLog events)
    {
        Offset = cap.FaultRecordingOffset;
        Count = cap.NumberOfFaultRecords;
        _low = new ulong[Count];
        _high = new ulong[Count];
        _compressBySource = compressBySource;
        _events = events;
    }

    public int Offset { get; }
    public int Count { get; }
    public bool PrimaryPending
    {
        get
        {
            // A plain loop: FSTS is read on every invalidation wait a driver polls, and a delegate per record shows.
            foreach (ulong h in _high)
                if ((h & (1UL << 63)) != 0) return true;
            return false;
        }
    }
    public uint Status => _status | (PrimaryPending ? Ppf : 0) | ((uint)_fri << 8);
    public uint Control => _control;

    public bool Covers(int offset) => offset >= Offset && offset < Offset + 16 * Count;

    /// <summary>
    /// Records a fault (spec 7.2.1). A fault event is raised only when the fault status goes from quiet (no PFO, PPF,
    /// IQE, ICE or ITE) to pending; it is delivered by <see cref="DeliverPendingInterrupt"/>, so the caller can log the
    /// fault before the interrupt it causes.
    /// </summary>
    public FaultDisposition Record(DmaFault fault)
    {
        if (fault.SuppressedByFpd) return FaultDisposition.SuppressedByFpd;
        if (fault.Request.AddressType == AddressType.TranslationRequest) return FaultDisposition.ReturnedToDevice;
        ushort sid = fault.Request.Source.Value;
        if (_compressBySource && Array.Exists(_high, h => (h & (1UL << 63)) != 0 && (ushort)h == sid))
            return FaultDisposition.DroppedSameSource;
        bool quiet = Quiet;
        if ((_high[_next] & (1UL << 63)) != 0)
        {
            _status |= Pfo;
            if (quiet) RaiseEvent();
            return FaultDisposition.DroppedOverflow;
        }
        if (!PrimaryPending) _fri = _next; // FRI names the first pending record
        _low[_next] = fault.FaultAddress.Value;
        _high[_next] = Encode(fault);
        if (quiet) RaiseEvent();
        _next = (_next + 1) % Count;
        return FaultDisposition.Recorded;
    }

    /// <summary>Sends the fault-event interrupt that <see cref="Record"/> decided on, if any.</summary>
    public void DeliverPendingInterrupt()
    {
        if (!_deliver) return;
        _deliver = false;
        SendInterrupt();
    }

    private bool Quiet => (_status & ClearableStatus) == 0 && !PrimaryPending;

    /// <summary>FRCD high quadword: SID, T2, PRIV, EXE, PP, FR, PV, AT, T1, F.</summary>
    private static ulong Encode(DmaFault fault)
    {
        DmaRequest r = fault.Request;
        ulong hi = r.Source.Value;
        bool t1 = r.Access != DmaAccess.Write, t2 = r.Access == DmaAccess.AtomicOp;
        hi = Bits.Set(hi, 28, t2);
        hi = Bits.Set(hi, 29, r.Privileged);
        hi = Bits.Set(hi, 30, r.Execute);
        // PP says the request carried a PASID prefix; a request without one reports PP=0 even when scalable mode
        // translated it with RID_PASID (Linux prints such faults as NO_PASID). See decisions D27.
        if (r.Pasid is uint p)
        {
            hi = Bits.Set(hi, 31, true);
            hi = Bits.Set(hi, 59, 40, p, "PV");
        }
        hi = Bits.Set(hi, 39, 32, fault.Code, "FR");
        hi = Bits.Set(hi, 61, 60, (ulong)r.AddressType, "AT");
        hi = Bits.Set(hi, 62, t1);
        return hi | (1UL << 63);
    }

    private void RaiseEvent()
    {
        if ((_control & InterruptPending) != 0) return;
        if ((_control & InterruptMask) != 0) _control |= InterruptPending;
        else _deliver = true;
    }

    private void SendInterrupt()
    {
        _control &= ~InterruptPending;
        _events.Add(new FaultInterruptEvent(_events.NextSequence(), ((ulong)_upperAddress << 32) | _address, _data));
    }

    private void ClearPendingIfQuiet()
    {
        if ((_status & ClearableStatus) == 0 && !PrimaryPending) _control &= ~InterruptPending;
    }

    public uint Read32(int offset)
    {
        switch (offset)
        {
            case RegisterOffset.FSTS: return Status;
            case RegisterOffset.FECTL: return _control;
            case RegisterOffset.FEDATA: return _data;
            case RegisterOffset.FEADDR: return _address;
            case RegisterOffset.FEUADDR: return _upperAddress;
        }
        int rel = offset - Offset, index = rel / 16, dword = rel % 16 / 4;
        ulong q = dword < 2 ? _low[index] : _high[index];
        return (uint)(dword % 2 == 0 ? q : q >> 32);
    }

    public void Write32(int offset, uint value)
    {
        switch (offset)
        {
            case RegisterOffset.FSTS:
                _status &= ~(value & ClearableStatus);
                ClearPendingIfQuiet();
                return;
            case RegisterOffset.FECTL:
                _control = (_control & ~InterruptMask) | (value & InterruptMask);
                if ((_control & (InterruptMask | InterruptPending)) == InterruptPending) SendInterrupt();
                return;
            case RegisterOffset.FEDATA: _data = value; return;
            case RegisterOffset.FEADDR: _address = value & ~3u; return;
            case RegisterOffset.FEUADDR: _upperAddress = value; return;
        }
        int rel = offset - Offset, index = rel / 16;
        if (rel % 16 == 12 && (value & (1u << 31)) != 0) // F is write-1-to-clear; the rest of the record is read-only
        {
            _high[index] &= ~(1UL << 63);
            ClearPendingIfQuiet();
        }
    }

    public void SetQueueError()
    {
        bool quiet = Quiet;
        _status |= Iqe;
        if (quiet) RaiseEvent();
        DeliverPendingInterrupt();
    }
}
