using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Invalidation;
using VtdSim.Hardware.Registers;
using VtdSim.Machine;

namespace VtdSim.Kernel.Intel;

/// <summary>
/// How the driver invalidates the unit's caches: queued invalidation when ECAP.QI is offered (descriptors followed by
/// a wait descriptor whose status write tells completion, as Linux's qi_submit_sync does), else the register-based
/// CCMD and IOTLB registers. Only the descriptors the driver needs exist here.
/// </summary>
internal sealed class InvalidationSubmitter
{
    private const uint WaitDone = 1;
    private const int PollLimit = 1000;

    private readonly PhysicalMachine _machine;
    private readonly IommuRegisters _regs;
    private readonly KernelLog _log;
    private readonly Hpa _queue;
    private readonly Hpa _status;
    private readonly int _descriptorSize;
    private readonly int _entries;
    private readonly int _iro;
    private int _tail;

    private InvalidationSubmitter(PhysicalMachine machine, IommuRegisters regs, KernelLog log, Hpa queue, Hpa status, bool wide, int iro)
    {
        _machine = machine;
        _regs = regs;
        _log = log;
        _queue = queue;
        _status = status;
        _descriptorSize = wide ? 32 : 16;
        _entries = 4096 / _descriptorSize;
        _iro = iro;
        Queued = !queue.Equals(default(Hpa));
    }

    /// <summary>True for queued invalidation, false for the register-based interface.</summary>
    public bool Queued { get; }

    public long Submitted { get; private set; }

    /// <summary>Queued invalidation on a one-page queue (256-bit descriptors in scalable mode, as Linux uses).</summary>
    public static InvalidationSubmitter Queue(PhysicalMachine machine, IommuRegisters regs, KernelLog log, Hpa queuePage, Hpa statusPage, bool wide)
    {
        // dmar_disable_qi: a kernel started by kexec may find queued invalidation on; the queue must be off before its
        // registers change (the model's unit has completed every descriptor by then: IQH equals IQT).
        if ((regs.Read32(RegisterOffset.GSTS) & (uint)Hardware.Registers.GlobalCommand.QueuedInvalidationEnable) != 0 &&
            !regs.SetPersistent(Hardware.Registers.GlobalCommand.QueuedInvalidationEnable, false))
            throw new InvalidOperationException("the IOMMU did not acknowledge clearing GCMD.QIE");
        regs.Write64(RegisterOffset.IQT, 0);
        regs.Write64(RegisterOffset.IQA, queuePage.Value | (wide ? 1UL << 11 : 0)); // QS=0: one 4 KiB page
        if (!regs.SetPersistent(Hardware.Registers.GlobalCommand.QueuedInvalidationEnable, true))
            throw new InvalidOperationException("the IOMMU did not acknowledge GCMD.QIE");
        return new InvalidationSubmitter(machine, regs, log, queuePage, statusPage, wide, 0);
    }

    public static InvalidationSubmitter Registers(PhysicalMachine machine, IommuRegisters regs, KernelLog log, int iotlbRegisterOffset) =>
        new(machine, regs, log, default, default, wide: false, iotlbRegisterOffset);

    /// <summary>Submits descriptors and waits for them to complete; register-based units get the equivalent register commands.</summary>
    public Errno Submit(params ReadOnlySpan<InvalidationDescriptor> descriptors)
    {
        Submitted += descriptors.Length;
        return Queued ? SubmitQueued(descriptors) : SubmitRegisters(descriptors);
    }

    private Errno SubmitQueued(ReadOnlySpan<InvalidationDescriptor> descriptors)
    {
        if (descriptors.Length + 1 >= _entries)
            throw new ArgumentException($"{descriptors.Length} descriptors do not fit in a {_entries}-entry queue");
        _machine.Write(_status, 4, 0);
        foreach (var d in descriptors) Put(d);
        Put(InvalidationDescriptor.Wait(_status.Value, WaitDone));
        _regs.Write64(RegisterOffset.IQT, (ulong)(_tail * _descriptorSize));
        for (int i = 0; i < PollLimit; i++)
        {
            if ((_regs.Read32(RegisterOffset.FSTS) & (1u << 4)) != 0)
            {
                ulong head = _regs.Read64(RegisterOffset.IQH);
                _log.Write("DMAR: ", $"Invalidation Queue Error (IQE) cleared; IQERCD=0x{_regs.Read64(RegisterOffset.IQERCD):x}, head 0x{head:x}");
                throw new InvalidOperationException($"the IOMMU rejected an invalidation descriptor (IQERCD=0x{_regs.Read64(RegisterOffset.IQERCD):x}): a driver bug");
            }
            if ((uint)_machine.Read(_status, 4) == WaitDone) return Errno.Success;
        }
        _log.Write("DMAR: ", "VT-d hardware uses up to 1000 polls without completing an invalidation wait");
        return Errno.ETIMEDOUT;
    }

    private void Put(in InvalidationDescriptor d)
    {
        Hpa slot = _queue + (ulong)(_tail * _descriptorSize);
        _machine.Write(slot, 8, d.Q0);
        _machine.Write(slot + 8, 8, d.Q1);
        if (_descriptorSize == 32)
        {
            _machine.Write(slot + 16, 8, d.Q2);
            _machine.Write(slot + 24, 8, d.Q3);
        }
        _tail = (_tail + 1) % _entries;
    }

    private Errno SubmitRegisters(ReadOnlySpan<InvalidationDescriptor> descriptors)
    {
        foreach (var d in descriptors)
        {
            switch (d.Type)
            {
                case InvalidationDescriptorType.ContextCache:
                    ulong ccmd = (1UL << 63) | ((ulong)d.Granularity << 61) | ((ulong)d.FunctionMask << 32) | ((ulong)d.SourceId << 16) | d.DomainId;
                    _regs.Write64(RegisterOffset.CCMD, ccmd);
                    if (!Poll(() => (_regs.Read64(RegisterOffset.CCMD) >> 63) == 0)) return Errno.ETIMEDOUT;
                    break;
                case InvalidationDescriptorType.Iotlb:
                    if (d.Granularity == 3) _regs.Write64(_iro, d.Address | (uint)d.AddressMask | (d.InvalidationHint ? 1UL << 6 : 0));
                    _regs.Write64(_iro + 8, (1UL << 63) | ((ulong)d.Granularity << 60) | ((ulong)d.DomainId << 32));
                    if (!Poll(() => (_regs.Read64(_iro + 8) >> 63) == 0)) return Errno.ETIMEDOUT;
                    break;
                default: // PASID-granular and wait descriptors exist only on the queue (the driver never sends a wait here)
                    throw new InvalidOperationException($"{d.Type} invalidation needs queued invalidation, which this unit lacks");
            }
        }
        return Errno.Success;
    }

    private static bool Poll(Func<bool> done)
    {
        for (int i = 0; i < PollLimit; i++)
            if (done()) return true;
        return false;
    }
}
