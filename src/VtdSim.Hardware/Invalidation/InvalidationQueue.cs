using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Events;
using VtdSim.Hardware.Memory;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Registers;
using VtdSim.Hardware.Structures;
using VtdSim.Hardware.Translation;
using T = VtdSim.Hardware.Invalidation.InvalidationDescriptorType;

namespace VtdSim.Hardware.Invalidation;

/// <summary>
/// Queued invalidation (spec 6.5.2): the IQA/IQH/IQT registers, the invalidation-completion registers (ICS, IECTL,
/// IEDATA, IEADDR, IEUADDR) and IQERCD. Writing IQT while QIE is on makes the unit fetch and carry out descriptors
/// from IQH up to IQT. A bad descriptor sets FSTS.IQE and IQERCD.IQEI and stops the queue with IQH pointing at it;
/// clearing FSTS.IQE lets it go on. IQT holds what software wrote; each time fetching would start (IQT written, QIE
/// set, IQE cleared) the unit first checks the width and the tail against the queue as IQA defines it then, and a tail
/// it rejects is never fetched toward (D40). One start fetches at most one pass of the queue.
/// </summary>
internal sealed class InvalidationQueue
{
    private const uint InterruptMask = 1u << 31, InterruptPending = 1u << 30;

    private readonly MachineMemory _memory;
    private readonly VtdProfile _profile;
    private readonly VtdEventLog _events;
    private readonly IInvalidationTarget _target;
    private readonly Func<bool> _errorPending;
    private readonly Action<QueueErrorCode> _raiseError;
    private ulong _iqa, _head, _tailRegister; // IQH as an index; IQT as written (QT, bits 18:4)
    private QueueErrorCode _errorCode;
    private bool _running, _rerun; // a run in progress; a start asked for while it was (decision N2)
    private uint _ics, _control = InterruptMask, _data, _address, _upperAddress;

    public InvalidationQueue(MachineMemory memory, VtdProfile profile, VtdEventLog events, IInvalidationTarget target,
        Func<bool> errorPending, Action<QueueErrorCode> raiseError)
    {
        _memory = memory;
        _profile = profile;
        _events = events;
        _target = target;
        _errorPending = errorPending;
        _raiseError = raiseError;
    }

    public bool Enabled { get; private set; }

    /// <summary>Told of every descriptor carried out, before each wait and at the end of each run (null: nobody).</summary>
    public IVtdUnitObserver? Observer { get; set; }
    /// <summary>The translation-table mode in force, for the descriptors that only exist in scalable mode.</summary>
    public Func<TranslationTableMode> Mode { get; set; } = () => TranslationTableMode.Legacy;

    private bool WideDescriptors => Bits.Test(_iqa, 11);
    private int DescriptorSize => WideDescriptors ? 32 : 16;
    private ulong Entries => (4096UL << (int)(_iqa & 7)) / (ulong)DescriptorSize;

    public static bool Owns(int offset) => offset is RegisterOffset.IQH or RegisterOffset.IQH + 4 or RegisterOffset.IQT or RegisterOffset.IQT + 4
        or RegisterOffset.IQA or RegisterOffset.IQA + 4 or RegisterOffset.ICS or RegisterOffset.IECTL or RegisterOffset.IEDATA
        or RegisterOffset.IEADDR or RegisterOffset.IEUADDR or RegisterOffset.IQERCD or RegisterOffset.IQERCD + 4;

    public uint Read32(int offset) => offset switch
    {
        RegisterOffset.IQH => (uint)(_head * (ulong)DescriptorSize),
        RegisterOffset.IQT => (uint)_tailRegister,
        RegisterOffset.IQA => (uint)_iqa,
        RegisterOffset.IQA + 4 => (uint)(_iqa >> 32),
        RegisterOffset.ICS => _ics,
        RegisterOffset.IECTL => _control,
        RegisterOffset.IEDATA => _data,
        RegisterOffset.IEADDR => _address,
        RegisterOffset.IEUADDR => _upperAddress,
        RegisterOffset.IQERCD => (uint)_errorCode,
        _ => 0,
    };

    public void Write32(int offset, uint value)
    {
        switch (offset)
        {
            case RegisterOffset.IQT:
                _tailRegister = value & 0x7_FFF0;
                if (Enabled) Process();
                break;
            case RegisterOffset.IQA:
                if (Enabled) { Warn(offset, "IQA written while queued invalidation is enabled; ignored"); break; }
                _iqa = (_iqa & ~0xFFFF_FFFFUL) | (value & 0xFFFF_F807);
                break;
            case RegisterOffset.IQA + 4:
                if (Enabled) { Warn(offset, "IQA written while queued invalidation is enabled; ignored"); break; }
                _iqa = (_iqa & 0xFFFF_FFFF) | ((ulong)value << 32);
                break;
            case RegisterOffset.ICS:
                if ((value & 1) != 0) { _ics = 0; _control &= ~InterruptPending; }
                break;
            case RegisterOffset.IECTL:
                _control = (_control & ~InterruptMask) | (value & InterruptMask);
                if ((_control & (InterruptMask | InterruptPending)) == InterruptPending) SendCompletionInterrupt();
                break;
            case RegisterOffset.IEDATA: _data = value; break;
            case RegisterOffset.IEADDR: _address = value & ~3u; break;
            case RegisterOffset.IEUADDR: _upperAddress = value; break;
        }
    }

    /// <summary>GCMD.QIE. Enabling starts at IQH=0 and processes anything already queued; disabling resets IQH to 0.</summary>
    public void SetEnabled(bool on)
    {
        if (on == Enabled) return;
        if (!on && TailIsValid(out _, out _) && _head != TailIndex)
            Warn(RegisterOffset.GCMD, $"queued invalidation disabled with {(TailIndex + Entries - _head) % Entries} descriptor(s) still queued; they are dropped");
        Enabled = on;
        _head = 0;
        if (on) Process();
    }

    /// <summary>Called when software clears FSTS.IQE: fetching resumes at the descriptor that failed.</summary>
    public void Resume()
    {
        if (Enabled) Process();
    }

    private ulong TailIndex => _tailRegister / (ulong)DescriptorSize;

    /// <summary>
    /// The checks made before any fetch (spec 6.5.2, IQERCD.IQEI): IQA.DW=1 needs ECAP.SMTS (IQEI 5); with DW=1, QT bit 4
    /// must be 0 (IQEI 6); QT must lie inside the queue that IQA.QS and DW give now (IQEI 1) — IQA may have shrunk the
    /// queue since IQT was written.
    /// </summary>
    private bool TailIsValid(out QueueErrorCode code, out string problem)
    {
        (code, problem) = (QueueErrorCode.InfoNotAvailable, "");
        if (WideDescriptors && !_profile.Ecap.ScalableModeTranslation)
            (code, problem) = (QueueErrorCode.InvalidDescriptorWidth, "IQA.DW=1 (256-bit descriptors) but ECAP.SMTS=0");
        else if (WideDescriptors && (_tailRegister & 0x10) != 0)
            (code, problem) = (QueueErrorCode.TailMisaligned, $"IQT=0x{_tailRegister:x} is not 256-bit aligned while IQA.DW=1");
        else if (TailIndex >= Entries)
            (code, problem) = (QueueErrorCode.InvalidTailPointer, $"IQT=0x{_tailRegister:x} is beyond the {Entries}-entry queue");
        return code == QueueErrorCode.InfoNotAvailable;
    }

    /// <summary>
    /// Fetches and carries out descriptors from IQH up to IQT, unless an error is pending. The tail is checked first;
    /// the loop is bounded by the queue's size, so one start never fetches more than one pass of the queue.
    /// </summary>
    private void Process()
    {
        if (_running)
        {
            // Started again from inside the run (an observer wrote IQT, cleared IQE or re-enabled the queue): the
            // running loop fetches it once the current pass is done, so the queue never recurses (decision N2).
            _rerun = true;
            return;
        }
        _running = true;
        try
        {
            do
            {
                _rerun = false;
                if (RunOnce() && Observer is { } observer) observer.Notice(new UnitNotice(UnitNoticeKind.QueueRunEnded));
            }
            while (_rerun);
        }
        finally
        {
            _running = false;
        }
    }

    /// <summary>One start: the tail check, then at most one pass of the queue. True if any descriptor was carried out.</summary>
    private bool RunOnce()
    {
        if (!Enabled || _errorPending()) return false;
        if (!TailIsValid(out QueueErrorCode tailError, out string tailProblem))
        {
            SetError(tailError, tailProblem);
            return false;
        }
        ulong entries = Entries, tail = TailIndex; // a tail written during the run is checked and fetched by the next
        bool any = false;
        for (ulong fetched = 0; fetched < entries && Enabled && _head != tail && !_errorPending(); fetched++)
        {
            Hpa slot = new Hpa(_iqa & ~0xFFFUL) + _head * (ulong)DescriptorSize;
            if (!ReadDescriptor(slot, out InvalidationDescriptor d))
            {
                SetError(QueueErrorCode.DescriptorFetchError, $"the descriptor at {slot} cannot be read");
                return any;
            }
            var (code, problem) = Execute(in d);
            if (code != QueueErrorCode.InfoNotAvailable)
            {
                SetError(code, $"descriptor {_head} at {slot} (Q0=0x{d.Q0:x16}, Q1=0x{d.Q1:x16}): {problem}");
                return any;
            }
            any = true;
            _head = (_head + 1) % entries;
            if (Observer is { } observer && d.Type != T.InvalidationWait && Notice(in d) is UnitNotice n) observer.Notice(in n);
        }
        return any;
    }

    /// <summary>What a carried-out descriptor tells an observer (null for the types a vIOMMU's owner has no use for).</summary>
    private static UnitNotice? Notice(in InvalidationDescriptor d) => (d.Type, d.Granularity) switch
    {
        (T.ContextCache, 1) => new UnitNotice(UnitNoticeKind.ContextCacheGlobal),
        (T.ContextCache, 2) => new UnitNotice(UnitNoticeKind.ContextCacheDomain, d.DomainId),
        (T.ContextCache, _) => new UnitNotice(UnitNoticeKind.ContextCacheDevice, d.DomainId, d.SourceId, d.FunctionMask),
        (T.Iotlb, 1) => new UnitNotice(UnitNoticeKind.IotlbGlobal),
        (T.Iotlb, 2) => new UnitNotice(UnitNoticeKind.IotlbDomain, d.DomainId),
        (T.Iotlb, _) => new UnitNotice(UnitNoticeKind.IotlbPages, d.DomainId, Address: d.Address, AddressMask: d.AddressMask, LeafOnly: d.InvalidationHint),
        (T.PasidIotlb, 2) => new UnitNotice(UnitNoticeKind.PasidIotlbAll, d.DomainId, Pasid: d.Pasid),
        (T.PasidIotlb, _) => new UnitNotice(UnitNoticeKind.PasidIotlbPages, d.DomainId, Pasid: d.Pasid, Address: d.Address, AddressMask: d.AddressMask, LeafOnly: d.InvalidationHint),
        (T.PasidCache, 0) => new UnitNotice(UnitNoticeKind.PasidCacheDomain, d.DomainId),
        (T.PasidCache, 1) => new UnitNotice(UnitNoticeKind.PasidCachePasid, d.DomainId, Pasid: d.Pasid),
        (T.PasidCache, _) => new UnitNotice(UnitNoticeKind.PasidCacheGlobal),
        _ => null,
    };

    private bool ReadDescriptor(Hpa slot, out InvalidationDescriptor descriptor)
    {
        descriptor = default;
        if (!_memory.TryRead64(slot, out ulong q0) || !_memory.TryRead64(slot + 8, out ulong q1)) return false;
        ulong q2 = 0, q3 = 0;
        if (WideDescriptors && (!_memory.TryRead64(slot + 16, out q2) || !_memory.TryRead64(slot + 24, out q3))) return false;
        descriptor = new InvalidationDescriptor(q0, q1, q2, q3);
        return true;
    }

    /// <summary>Validates and carries out one descriptor; returns an error code and why, or InfoNotAvailable (0) for success.</summary>
    private (QueueErrorCode, string?) Execute(in InvalidationDescriptor d)
    {
        var ecap = _profile.Ecap;
        T type = d.Type;
        bool scalableOnly = type is T.PasidIotlb or T.PasidCache or T.PasidDeviceTlb;
        if (type is < T.ContextCache or > T.PasidDeviceTlb || (scalableOnly && !ecap.ScalableModeTranslation)
            || (type == T.InterruptEntryCache && !ecap.InterruptRemapping) || (type == T.DeviceTlb && !ecap.DeviceTlb)
            || (type == T.PasidDeviceTlb && !ecap.DeviceTlb))
            return (QueueErrorCode.InvalidDescriptorType, $"descriptor type 0x{d.TypeCode:x} is not supported by this unit");
        if (scalableOnly && Mode() != TranslationTableMode.Scalable)
            return (QueueErrorCode.InvalidForTranslationTableMode, $"descriptor type {type} is only valid while the root table is in scalable mode");
        if (d.Q2 != 0 || d.Q3 != 0)
            return (QueueErrorCode.ReservedFieldSet, "the upper 128 bits of a 256-bit descriptor must be zero");
        var (reserved0, reserved1) = ReservedMasks(type);
        if ((d.Q0 & reserved0) != 0 || (d.Q1 & reserved1) != 0)
            return (QueueErrorCode.ReservedFieldSet, $"reserved bits set (Q0&0x{d.Q0 & reserved0:x}, Q1&0x{d.Q1 & reserved1:x})");

        switch (type)
        {
            case T.ContextCache:
                switch (d.Granularity)
                {
                    case 1: _target.InvalidateContextGlobal(); break;
                    case 2: _target.InvalidateContextDomain(d.DomainId); break;
                    case 3: _target.InvalidateContextDevice(d.DomainId, d.SourceId, d.FunctionMask); break;
                    default: return (QueueErrorCode.ReservedFieldSet, "context-cache granularity 0 is reserved");
                }
                break;
            case T.Iotlb:
                switch (d.Granularity)
                {
                    case 1: _target.InvalidateIotlbGlobal(); break;
                    case 2: _target.InvalidateIotlbDomain(d.DomainId); break;
                    case 3:
                        var psi = CheckPageRange(d.Address, d.AddressMask);
                        if (psi is not null) return (QueueErrorCode.ReservedFieldSet, psi);
                        _target.InvalidateIotlbPages(d.DomainId, d.Address, d.AddressMask, d.InvalidationHint);
                        break;
                    default: return (QueueErrorCode.ReservedFieldSet, "IOTLB granularity 0 is reserved");
                }
                break;
            case T.PasidIotlb:
                switch (d.Granularity)
                {
                    case 2: _target.InvalidatePasidIotlb(d.DomainId, d.Pasid); break;
                    case 3:
                        var psi = CheckPageRange(d.Address, d.AddressMask);
                        if (psi is not null) return (QueueErrorCode.ReservedFieldSet, psi);
                        _target.InvalidatePasidIotlbPages(d.DomainId, d.Pasid, d.Address, d.AddressMask, d.InvalidationHint);
                        break;
                    default: return (QueueErrorCode.ReservedFieldSet, $"PASID-based IOTLB granularity {d.Granularity} is reserved");
                }
                break;
            case T.PasidCache:
                switch (d.Granularity)
                {
                    case 0: _target.InvalidatePasidCacheDomain(d.DomainId); break;
                    case 1: _target.InvalidatePasidCachePasid(d.DomainId, d.Pasid); break;
                    case 3: _target.InvalidatePasidCacheGlobal(); break;
                    default: return (QueueErrorCode.ReservedFieldSet, "PASID-cache granularity 2 is reserved");
                }
                break;
            case T.DeviceTlb:
            case T.PasidDeviceTlb:
                var (start, length) = d.DeviceTlbRange();
                _events.Add(new DeviceTlbInvalidationEvent(_events.NextSequence(), new SourceId(d.DeviceTlbSourceId),
                    type == T.PasidDeviceTlb ? d.Pasid : null, start, length));
                break;
            case T.InterruptEntryCache:
                break; // interrupt remapping is not modelled: accepted, nothing cached
            case T.InvalidationWait:
                // A wait completes only once everything before it has: an observer mirroring those invalidations
                // finishes its work first (decision N3).
                Observer?.Notice(new UnitNotice(UnitNoticeKind.WaitDescriptor));
                return Wait(in d);
        }
        return (QueueErrorCode.InfoNotAvailable, null);
    }

    private (QueueErrorCode, string?) Wait(in InvalidationDescriptor d)
    {
        if (d.StatusWrite)
        {
            Span<byte> data = stackalloc byte[4];
            BitConverter.TryWriteBytes(data, d.StatusData);
            if (!_memory.TryWrite(new Hpa(d.StatusAddress), data, WriteOrigin.IommuOther))
                return (QueueErrorCode.DescriptorFetchError, $"the wait descriptor's status address 0x{d.StatusAddress:x} cannot be written");
        }
        if (d.InterruptFlag)
        {
            _ics |= 1; // IWC
            if ((_control & InterruptPending) == 0)
            {
                if ((_control & InterruptMask) != 0) _control |= InterruptPending;
                else SendCompletionInterrupt();
            }
        }
        return (QueueErrorCode.InfoNotAvailable, null);
    }

    private string? CheckPageRange(ulong address, int addressMask)
    {
        if (!_profile.Cap.PageSelectiveInvalidation) return "page-selective invalidation needs CAP.PSI";
        if (addressMask > _profile.Cap.MaximumAddressMaskValue) return $"AM={addressMask} exceeds CAP.MAMV={_profile.Cap.MaximumAddressMaskValue}";
        if ((address & ((4096UL << addressMask) - 1)) != 0) return $"address 0x{address:x} is not aligned to the 2^{addressMask}-page range";
        return null;
    }

    /// <summary>Reserved bits of Q0 and Q1 for each type (bits 11:9 hold Type[6:4], zero for every defined type).</summary>
    private static (ulong Q0, ulong Q1) ReservedMasks(T type) => type switch
    {
        T.ContextCache => (Bits.Mask(15, 6) | Bits.Mask(63, 50), ulong.MaxValue),
        T.Iotlb => (Bits.Mask(15, 8) | Bits.Mask(63, 32), Bits.Mask(11, 7)),
        T.DeviceTlb => (Bits.Mask(11, 4) | Bits.Mask(31, 21) | Bits.Mask(51, 48), Bits.Mask(11, 1)),
        T.InterruptEntryCache => (Bits.Mask(26, 5) | Bits.Mask(63, 48), ulong.MaxValue),
        T.InvalidationWait => (Bits.Mask(31, 8), Bits.Mask(1, 0)),
        T.PasidIotlb => (Bits.Mask(15, 6) | Bits.Mask(63, 52), Bits.Mask(11, 7)),
        T.PasidCache => (Bits.Mask(15, 6) | Bits.Mask(63, 52), ulong.MaxValue),
        T.PasidDeviceTlb => (Bits.Mask(11, 9), Bits.Mask(10, 1)),
        _ => (0, 0),
    };

    private void SetError(QueueErrorCode code, string message)
    {
        _errorCode = code;
        _raiseError(code);
        _events.Add(new InvalidationQueueErrorEvent(_events.NextSequence(), code, _head, message));
    }

    private void SendCompletionInterrupt()
    {
        _control &= ~InterruptPending;
        _events.Add(new InvalidationCompletionInterruptEvent(_events.NextSequence(), ((ulong)_upperAddress << 32) | _address, _data));
    }

    private void Warn(int offset, string message) => _events.Add(new RegisterWarningEvent(_events.NextSequence(), offset, message));
}
