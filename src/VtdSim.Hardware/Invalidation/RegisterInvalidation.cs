using VtdSim.Hardware.Events;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Registers;
using VtdSim.Hardware.Structures;

namespace VtdSim.Hardware.Invalidation;

/// <summary>
/// Register-based invalidation (spec 6.5.1): the context command register CCMD and the IOTLB registers (IVA and
/// IOTLB at ECAP.IRO). Software sets ICC or IVT with a requested granularity; the unit invalidates, reports the actual
/// granularity (CAIG/IAIG) and clears ICC/IVT. Only legal while queued invalidation is off.
/// </summary>
internal sealed class RegisterInvalidation
{
    private readonly VtdProfile _profile;
    private readonly VtdEventLog _events;
    private readonly IInvalidationTarget _target;
    private readonly Func<string?> _allowed;
    private readonly int _iro;
    private ulong _ccmd, _iva, _iotlb;

    /// <param name="allowed">Returns null when register-based invalidation may be used now, else why not.</param>
    public RegisterInvalidation(VtdProfile profile, VtdEventLog events, IInvalidationTarget target, Func<string?> allowed)
    {
        _profile = profile;
        _events = events;
        _target = target;
        _allowed = allowed;
        _iro = profile.Ecap.IotlbRegisterOffset;
    }

    /// <summary>Told of every invalidation carried out (null: nobody).</summary>
    public IVtdUnitObserver? Observer { get; set; }

    public bool Owns(int offset) => offset is RegisterOffset.CCMD or RegisterOffset.CCMD + 4 || (offset >= _iro && offset < _iro + 16);

    public uint Read32(int offset)
    {
        ulong q = offset switch
        {
            RegisterOffset.CCMD or RegisterOffset.CCMD + 4 => _ccmd,
            _ when offset < _iro + 8 => _iva,
            _ => _iotlb,
        };
        return (uint)(offset % 8 == 0 ? q : q >> 32);
    }

    /// <summary>The command takes effect on the write of the dword holding ICC/IVT (bit 63), as a 64-bit write's upper half.</summary>
    public void Write32(int offset, uint value)
    {
        if (offset == RegisterOffset.CCMD) { _ccmd = (_ccmd & ~0xFFFF_FFFFUL) | value; return; }
        if (offset == RegisterOffset.CCMD + 4) { _ccmd = (_ccmd & 0xFFFF_FFFF) | ((ulong)(value & 0xE000_0003) << 32); ContextCommand(); return; }
        if (offset == _iro) { _iva = (_iva & ~0xFFFF_FFFFUL) | (value & 0xFFFF_F07F); return; }
        if (offset == _iro + 4) { _iva = (_iva & 0xFFFF_FFFF) | ((ulong)value << 32); return; }
        if (offset == _iro + 12) { _iotlb = (ulong)(value & 0xB303_FFFF) << 32; IotlbCommand(); }
    }

    private void ContextCommand()
    {
        if (!Bits.Test(_ccmd, 63)) return;
        int requested = (int)Bits.Get(_ccmd, 62, 61);
        int actual = 0;
        if (!Refuse(RegisterOffset.CCMD))
        {
            ushort did = (ushort)Bits.Get(_ccmd, 15, 0), sid = (ushort)Bits.Get(_ccmd, 31, 16);
            switch (requested)
            {
                case 1: _target.InvalidateContextGlobal(); actual = 1; break;
                case 2: _target.InvalidateContextDomain(did); actual = 2; break;
                case 3: _target.InvalidateContextDevice(did, sid, (int)Bits.Get(_ccmd, 33, 32)); actual = 3; break;
                default: Warn(RegisterOffset.CCMD, "CCMD with CIRG=0 (reserved granularity): nothing invalidated, CAIG=0"); break;
            }
        }
        _ccmd = Bits.Set(Bits.Set(_ccmd, 60, 59, (ulong)actual, "CAIG"), 63, false);
        if (actual != 0 && Observer is { } observer)
        {
            var kind = actual switch { 1 => UnitNoticeKind.ContextCacheGlobal, 2 => UnitNoticeKind.ContextCacheDomain, _ => UnitNoticeKind.ContextCacheDevice };
            observer.Notice(new UnitNotice(kind, (ushort)Bits.Get(_ccmd, 15, 0), (ushort)Bits.Get(_ccmd, 31, 16), (int)Bits.Get(_ccmd, 33, 32)));
        }
    }

    private void IotlbCommand()
    {
        if (!Bits.Test(_iotlb, 63)) return;
        int requested = (int)Bits.Get(_iotlb, 61, 60);
        int actual = 0;
        if (!Refuse(_iro + 8))
        {
            ushort did = (ushort)Bits.Get(_iotlb, 47, 32);
            switch (requested)
            {
                case 1: _target.InvalidateIotlbGlobal(); actual = 1; break;
                case 2: _target.InvalidateIotlbDomain(did); actual = 2; break;
                case 3:
                    int am = (int)Bits.Get(_iva, 5, 0);
                    ulong address = _iva & Bits.Mask(63, 12);
                    if (!_profile.Cap.PageSelectiveInvalidation || am > _profile.Cap.MaximumAddressMaskValue || (address & ((4096UL << Math.Min(am, 51)) - 1)) != 0)
                    {
                        // Hardware may widen a request it cannot honour: a domain-selective flush covers it.
                        _target.InvalidateIotlbDomain(did);
                        actual = 2;
                    }
                    else
                    {
                        _target.InvalidateIotlbPages(did, address, am, Bits.Test(_iva, 6));
                        actual = 3;
                    }
                    break;
                default: Warn(_iro + 8, "IOTLB invalidation with IIRG=0 (reserved granularity): nothing invalidated, IAIG=0"); break;
            }
        }
        _iotlb = Bits.Set(Bits.Set(_iotlb, 58, 57, (ulong)actual, "IAIG"), 63, false);
        if (actual != 0 && Observer is { } observer)
        {
            ushort did = (ushort)Bits.Get(_iotlb, 47, 32);
            observer.Notice(actual switch
            {
                1 => new UnitNotice(UnitNoticeKind.IotlbGlobal),
                2 => new UnitNotice(UnitNoticeKind.IotlbDomain, did),
                _ => new UnitNotice(UnitNoticeKind.IotlbPages, did, Address: _iva & Bits.Mask(63, 12), AddressMask: (int)Bits.Get(_iva, 5, 0), LeafOnly: Bits.Test(_iva, 6)),
            });
        }
    }

    private bool Refuse(int offset)
    {
        string? why = _allowed();
        if (why is null) return false;
        Warn(offset, why + "; ignored");
        return true;
    }

    private void Warn(int offset, string message) => _events.Add(new RegisterWarningEvent(_events.NextSequence(), offset, message));
}
