using System.Buffers.Binary;
using System.Diagnostics;

namespace VtdSim.Differential.Tests.Infrastructure;

/// <summary>
/// The driver side of a scenario: register sequences (one GCMD change at a time, repeating the persistent bits as
/// QEMU needs), queued invalidation with a wait descriptor, and the fault registers. Only <see cref="IVtdTarget"/> is
/// used, so both targets see the same accesses.
/// </summary>
public sealed class VtdDriver(IVtdTarget target)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);
    private uint _waitSequence;
    private ulong _queue;

    public IVtdTarget Target { get; } = target;
    public ulong Cap => Target.Read64(Reg.CAP);
    public ulong Ecap => Target.Read64(Reg.ECAP);
    public int FrcdOffset => Reg.FaultRecordOffset(Cap);
    public int IotlbOffset => Reg.IotlbRegisterOffset(Ecap);

    private uint Persistent => Target.Read32(Reg.GSTS) & Reg.PersistentStatus;

    public void SetRootTable(ulong root, bool scalable)
    {
        Target.Write64(Reg.RTADDR, root | (scalable ? Reg.RtaddrScalable : 0));
        Target.Write32(Reg.GCMD, Persistent | Reg.SRTP);
        WaitFor(() => (Target.Read32(Reg.GSTS) & Reg.SRTP) != 0, "GSTS.RTPS after SRTP");
    }

    public void EnableTranslation()
    {
        Target.Write32(Reg.GCMD, Persistent | Reg.TE);
        WaitFor(() => (Target.Read32(Reg.GSTS) & Reg.TE) != 0, "GSTS.TES after TE");
    }

    /// <summary>IQA ← a 4 KiB queue of 128-bit descriptors (QS=0, DW=0), then GCMD.QIE (repeating TE).</summary>
    public void EnableQueuedInvalidation(ulong queue = Layout.Queue)
    {
        _queue = queue;
        Target.Write64(Reg.IQA, queue);
        Target.Write32(Reg.GCMD, Persistent | Reg.QIE);
        WaitFor(() => (Target.Read32(Reg.GSTS) & Reg.QIE) != 0, "GSTS.QIES after QIE");
    }

    /// <summary>
    /// Queues <paramref name="descriptors"/> and a wait descriptor (SW) after them, moves IQT, and waits for the status
    /// write. Fails if FSTS.IQE is raised.
    /// </summary>
    public void Invalidate(params (ulong Q0, ulong Q1)[] descriptors)
    {
        if (_queue == 0) throw new InvalidOperationException("queued invalidation is not enabled");
        uint token = ++_waitSequence | 0xD1FF_0000;
        ulong tail = Target.Read64(Reg.IQT) & 0x7_FFF0;
        Span<byte> slot = stackalloc byte[16];
        foreach (var (q0, q1) in descriptors.Append(Descriptor.WaitWrite(Layout.QueueStatus, token)))
        {
            BinaryPrimitives.WriteUInt64LittleEndian(slot, q0);
            BinaryPrimitives.WriteUInt64LittleEndian(slot[8..], q1);
            Target.WriteMem(_queue + tail, slot);
            tail = (tail + 16) % 4096;
        }
        Target.Write64(Reg.IQT, tail);
        WaitFor(() => (Target.Read32(Reg.FSTS) & Reg.FstsIqe) != 0 || BinaryPrimitives.ReadUInt32LittleEndian(Target.ReadMem(Layout.QueueStatus, 4)) == token,
            "the invalidation wait descriptor's status write");
        if ((Target.Read32(Reg.FSTS) & Reg.FstsIqe) != 0)
            throw new InvalidOperationException($"{Target.Name}: FSTS.IQE set by the invalidation queue (IQH=0x{Target.Read64(Reg.IQH):x}, IQERCD=0x{Target.Read64(Reg.IQERCD):x})");
    }

    /// <summary>Register-based global IOTLB invalidation: IOTLB_REG ← IVT | IIRG=01, then wait for IVT to clear.</summary>
    public void InvalidateIotlbGlobalByRegister()
    {
        int reg = IotlbOffset;
        Target.Write64(reg, (1UL << 63) | (1UL << 60));
        WaitFor(() => (Target.Read64(reg) >> 63) == 0, "IOTLB_REG.IVT to clear");
    }

    /// <summary>Register-based global context-cache invalidation: CCMD ← ICC | CIRG=01, then wait for ICC to clear.</summary>
    public void InvalidateContextGlobalByRegister()
    {
        Target.Write64(Reg.CCMD, (1UL << 63) | (1UL << 61));
        WaitFor(() => (Target.Read64(Reg.CCMD) >> 63) == 0, "CCMD.ICC to clear");
    }

    public FaultRecord ReadFault() => FaultRecord.Decode(Target.Read64(FrcdOffset), Target.Read64(FrcdOffset + 8));
    public uint FaultStatus => Target.Read32(Reg.FSTS);

    /// <summary>Clears FRCD[0].F (write 1 to bit 31 of its last dword).</summary>
    public void ClearFault() => Target.Write32(FrcdOffset + 12, 1u << 31);

    /// <summary>Clears FSTS write-1-to-clear bits (PFO, IQE).</summary>
    public void ClearFaultStatus(uint bits) => Target.Write32(Reg.FSTS, bits);

    public Outcome Observe(ulong address, int length) => new(Pattern.Hex(Target.ReadMem(address, length)), ReadFault(), FaultStatus, Target.Read32(Reg.FECTL));

    public Outcome Observe() => new("", ReadFault(), FaultStatus, Target.Read32(Reg.FECTL));

    private void WaitFor(Func<bool> done, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!done())
        {
            if (clock.Elapsed > Timeout) throw new TimeoutException($"{Target.Name}: no {what} within {Timeout.TotalSeconds} s");
            Thread.Sleep(1);
        }
    }
}
