using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Events;
using VtdSim.Hardware.Caches;
using VtdSim.Hardware.Faults;
using VtdSim.Hardware.Invalidation;
using VtdSim.Hardware.Memory;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Translation;

namespace VtdSim.Hardware.Registers;

/// <summary>
/// The remapping unit's register page, accessed as 32-bit dwords (a 64-bit access is its two dwords, low first, as
/// on the bus). Read-only and reserved bits ignore writes; unknown offsets read 0. GCMD/GSTS command semantics live
/// here; the fault registers, queued invalidation and register-based invalidation are delegated to their own classes.
/// </summary>
internal sealed class RemappingRegisters
{
    private const GlobalCommand OneShot = GlobalCommand.SetRootTablePointer | GlobalCommand.SetFaultLog |
        GlobalCommand.WriteBufferFlush | GlobalCommand.SetInterruptRemapTablePointer;
    private const GlobalCommand Persistent = GlobalCommand.TranslationEnable | GlobalCommand.QueuedInvalidationEnable |
        GlobalCommand.InterruptRemappingEnable | GlobalCommand.CompatibilityFormatInterrupt | GlobalCommand.EnableAdvancedFaultLogging;

    private readonly VtdProfile _profile;
    private readonly VtdEventLog _events;
    private readonly Dictionary<int, uint> _plain = new(); // software-writable registers without side effects
    private readonly Dictionary<int, uint> _writeMasks;
    private GlobalCommand _status;
    private RootTableState _root;

    private readonly RemappingCaches _caches;

    public RemappingRegisters(VtdProfile profile, VtdEventLog events, MachineMemory memory, RemappingCaches caches)
    {
        _profile = profile;
        _events = events;
        _caches = caches;
        Faults = new FaultRecordingRegisters(profile.Cap, profile.CompressFaultsBySourceId, events);
        Queue = new InvalidationQueue(memory, profile, events, caches,
            errorPending: () => (Faults.Status & FaultRecordingRegisters.Iqe) != 0,
            raiseError: _ => Faults.SetQueueError())
        {
            Mode = () => _root.Mode,
        };
        Registers = new RegisterInvalidation(profile, events, caches,
            allowed: () => (_status & GlobalCommand.QueuedInvalidationEnable) != 0
                ? "register-based invalidation while queued invalidation is enabled is not allowed"
                : _root.Mode == TranslationTableMode.Scalable ? "register-based invalidation is not available in scalable mode" : null);
        _writeMasks = new Dictionary<int, uint>
        {
            [RegisterOffset.RTADDR] = 0xFFFF_FC00, [RegisterOffset.RTADDR + 4] = 0xFFFF_FFFF,
            [RegisterOffset.AFLOG] = 0xFFFF_FE00, [RegisterOffset.AFLOG + 4] = 0xFFFF_FFFF,
            [RegisterOffset.IRTA] = 0xFFFF_F80F, [RegisterOffset.IRTA + 4] = 0xFFFF_FFFF,
        };
    }

    /// <summary>The vIOMMU seam (<see cref="IVtdUnitObserver"/>): told of invalidations, SRTP and TE changes; null on a host unit.</summary>
    public IVtdUnitObserver? Observer
    {
        get => Queue.Observer;
        set
        {
            Queue.Observer = value;
            Registers.Observer = value;
        }
    }

    public FaultRecordingRegisters Faults { get; }
    public InvalidationQueue Queue { get; }
    public RegisterInvalidation Registers { get; }
    public RootTableState Root => _root;
    public GlobalCommand GlobalStatus => _status;

    public uint Read32(int offset)
    {
        switch (offset)
        {
            case RegisterOffset.VER: return _profile.Version;
            case RegisterOffset.CAP: return (uint)_profile.Cap.Raw;
            case RegisterOffset.CAP + 4: return (uint)(_profile.Cap.Raw >> 32);
            case RegisterOffset.ECAP: return (uint)_profile.Ecap.Raw;
            case RegisterOffset.ECAP + 4: return (uint)(_profile.Ecap.Raw >> 32);
            case RegisterOffset.GCMD: return 0; // write-only
            case RegisterOffset.GSTS: return (uint)_status;
            case RegisterOffset.FSTS or RegisterOffset.FECTL or RegisterOffset.FEDATA or RegisterOffset.FEADDR or RegisterOffset.FEUADDR:
                return Faults.Read32(offset);
        }
        if (Faults.Covers(offset)) return Faults.Read32(offset);
        if (InvalidationQueue.Owns(offset)) return Queue.Read32(offset);
        if (Registers.Owns(offset)) return Registers.Read32(offset);
        return _plain.TryGetValue(offset, out uint v) ? v : 0;
    }

    public void Write32(int offset, uint value)
    {
        switch (offset)
        {
            case RegisterOffset.GCMD:
                WriteGlobalCommand((GlobalCommand)value);
                return;
            case RegisterOffset.FSTS:
                Faults.Write32(offset, value);
                Queue.Resume(); // clearing IQE lets the queue go on from the descriptor that failed
                return;
            case RegisterOffset.FECTL or RegisterOffset.FEDATA or RegisterOffset.FEADDR or RegisterOffset.FEUADDR:
                Faults.Write32(offset, value);
                return;
        }
        if (Faults.Covers(offset))
        {
            Faults.Write32(offset, value);
            return;
        }
        if (InvalidationQueue.Owns(offset))
        {
            Queue.Write32(offset, value);
            return;
        }
        if (Registers.Owns(offset))
        {
            Registers.Write32(offset, value);
            return;
        }
        if (!_writeMasks.TryGetValue(offset, out uint mask))
            return; // read-only, reserved or unknown: ignored, as hardware does
        uint old = _plain.TryGetValue(offset, out uint o) ? o : 0;
        _plain[offset] = (old & ~mask) | (value & mask);
    }

    private ulong Read64Plain(int offset) => ((ulong)Read32(offset + 4) << 32) | Read32(offset);

    /// <summary>
    /// GCMD: one-shot commands act when written as 1; persistent commands take the written value. Software is meant to
    /// change one persistent command per write (spec 11.4.4); more than one is carried out but reported.
    /// </summary>
    private void WriteGlobalCommand(GlobalCommand command)
    {
        GlobalCommand changed = (command ^ _status) & Persistent;
        if (System.Numerics.BitOperations.PopCount((uint)changed) + System.Numerics.BitOperations.PopCount((uint)(command & OneShot)) > 1)
            Warn(RegisterOffset.GCMD, $"GCMD write 0x{(uint)command:x8} changes more than one command at once; software should change one at a time");

        GlobalCommand unsupported = GlobalCommand.None;
        if (!_profile.Ecap.InterruptRemapping)
            unsupported |= GlobalCommand.InterruptRemappingEnable | GlobalCommand.SetInterruptRemapTablePointer | GlobalCommand.CompatibilityFormatInterrupt;
        if (!_profile.Cap.AdvancedFaultLogging)
            unsupported |= GlobalCommand.SetFaultLog | GlobalCommand.EnableAdvancedFaultLogging;
        if (!_profile.Ecap.QueuedInvalidation)
            unsupported |= GlobalCommand.QueuedInvalidationEnable;
        GlobalCommand requested = (command & OneShot) | changed;
        if ((requested & unsupported & (command | changed)) != 0)
            Warn(RegisterOffset.GCMD, $"GCMD asks for {requested & unsupported}, which this unit does not support; ignored");
        command &= ~unsupported;

        if ((command & GlobalCommand.SetRootTablePointer) != 0)
        {
            ulong rtaddr = Read64Plain(RegisterOffset.RTADDR);
            _root = _root with { RootTable = new Hpa(rtaddr & ~0xFFFUL), Mode = (TranslationTableMode)((rtaddr >> 10) & 3) };
            _caches.NoteRootTableStateChanged();
            _status |= GlobalCommand.SetRootTablePointer; // RTPS: latched (hardware completes at once)
            if (_profile.Cap.EnhancedSetRootTablePointer) _caches.InvalidateAll(); // ESRTPS: SRTP also flushes every cache
        }
        if ((command & GlobalCommand.SetInterruptRemapTablePointer) != 0) _status |= GlobalCommand.SetInterruptRemapTablePointer;
        if ((command & GlobalCommand.SetFaultLog) != 0) _status |= GlobalCommand.SetFaultLog;
        // WBF completes immediately: the model has no write buffer, so WBFS reads 0 again at once.

        _status = (_status & ~Persistent) | (command & Persistent);
        if ((changed & GlobalCommand.QueuedInvalidationEnable) != 0)
            Queue.SetEnabled((command & GlobalCommand.QueuedInvalidationEnable) != 0);
        if ((changed & GlobalCommand.TranslationEnable) != 0 && (command & GlobalCommand.TranslationEnable) != 0 && (_status & GlobalCommand.SetRootTablePointer) == 0)
            Warn(RegisterOffset.GCMD, "translation enabled before any root table pointer was latched (SRTP)");
        bool enabled = (_status & GlobalCommand.TranslationEnable) != 0;
        bool teChanged = enabled != _root.TranslationEnabled;
        if (teChanged)
        {
            _root = _root with { TranslationEnabled = enabled };
            _caches.NoteRootTableStateChanged();
        }
        // The observer hears of SRTP and TE once the command is complete (status and root state as software reads them).
        if (Queue.Observer is { } observer)
        {
            if ((command & GlobalCommand.SetRootTablePointer) != 0) observer.Notice(new UnitNotice(UnitNoticeKind.RootTablePointerSet));
            if (teChanged) observer.Notice(new UnitNotice(UnitNoticeKind.TranslationEnableChanged, On: enabled));
        }
    }

    private void Warn(int offset, string message) => _events.Add(new RegisterWarningEvent(_events.NextSequence(), offset, message));
}
