using System.Runtime.CompilerServices;
using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Caches;
using VtdSim.Hardware.Events;
using VtdSim.Hardware.Faults;
using VtdSim.Hardware.Invalidation;
using VtdSim.Hardware.Memory;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Registers;
using VtdSim.Hardware.Tracing;
using VtdSim.Hardware.Translation;

namespace VtdSim.Hardware;

/// <summary>
/// One VT-d DMA-remapping unit: a 4 KiB register page at <see cref="RegisterBase"/>, the translation engine, and fault
/// recording, over a physical memory. Software programs it only through registers and in-memory tables; devices use
/// <see cref="Translate"/>, <see cref="DmaRead"/> and <see cref="DmaWrite"/>.
/// </summary>
public sealed class VtdUnit
{
    public static readonly Hpa DefaultRegisterBase = new(0xFED9_0000);

    private readonly RemappingRegisters _registers;
    private readonly TranslationEngine _engine;
    private readonly TranslationFastPath _fastPath;

    public VtdUnit(MachineMemory memory, VtdProfile profile, Hpa? registerBase = null, VtdEventLog? events = null)
    {
        ArgumentNullException.ThrowIfNull(memory);
        ArgumentNullException.ThrowIfNull(profile);
        profile.Validate();
        Memory = memory;
        Profile = profile;
        RegisterBase = registerBase ?? DefaultRegisterBase;
        if ((RegisterBase.Value & 0xFFF) != 0) throw new ArgumentException($"register base {RegisterBase} is not 4 KiB aligned", nameof(registerBase));
        Events = events ?? new VtdEventLog();
        Caches = new RemappingCaches(profile.Caches);
        _registers = new RemappingRegisters(profile, Events, memory, Caches);
        _engine = new TranslationEngine(memory, profile, Caches);
        _fastPath = new TranslationFastPath(Caches);
    }

    public MachineMemory Memory { get; }
    public VtdProfile Profile { get; }
    public Hpa RegisterBase { get; }
    public VtdEventLog Events { get; }
    internal RemappingCaches Caches { get; }

    /// <summary>The unit's translation caches with their counters (hits, misses, fills, evictions, invalidations, occupancy).</summary>
    public IReadOnlyList<TranslationCacheReport> CacheReports() =>
    [
        new("context", Profile.Caches.Context, Caches.Context.Statistics),
        new("pasid", Profile.Caches.Pasid, Caches.Pasid.Statistics),
        new("iotlb", Profile.Caches.Iotlb, Caches.Iotlb.Statistics),
        new("fs-paging-structures", Profile.Caches.FirstStagePagingStructures, Caches.FirstStage.Statistics),
        new("ss-paging-structures", Profile.Caches.SecondStagePagingStructures, Caches.SecondStage.Statistics),
    ];

    /// <summary>
    /// The vIOMMU seam (<see cref="IVtdUnitObserver"/>, decisions N1–N3): told, in order, of the invalidations the unit
    /// carries out, waits, queue runs, SRTP and TE changes. Null (the default, and always on a host's unit): nothing is told.
    /// </summary>
    public IVtdUnitObserver? Observer
    {
        get => _registers.Observer;
        set => _registers.Observer = value;
    }

    public bool TranslationEnabled => _registers.Root.TranslationEnabled;
    public Hpa RootTable => _registers.Root.RootTable;
    public TranslationTableMode TableMode => _registers.Root.Mode;

    // ---- registers ----

    public uint ReadRegister32(int offset)
    {
        CheckOffset(offset, 4);
        return _registers.Read32(offset);
    }

    public ulong ReadRegister64(int offset)
    {
        CheckOffset(offset, 8);
        return _registers.Read32(offset) | ((ulong)_registers.Read32(offset + 4) << 32);
    }

    public void WriteRegister32(int offset, uint value)
    {
        CheckOffset(offset, 4);
        _registers.Write32(offset, value);
    }

    public void WriteRegister64(int offset, ulong value)
    {
        CheckOffset(offset, 8);
        _registers.Write32(offset, (uint)value);
        _registers.Write32(offset + 4, (uint)(value >> 32));
    }

    /// <summary>Whether an address falls in this unit's register page.</summary>
    public bool ClaimsMmio(Hpa address) => address.Value - RegisterBase.Value < RegisterOffset.Size;

    /// <summary>
    /// An MMIO read as the CPU issues it. Returns false for an access the register page does not accept (not 4 or 8
    /// bytes, or not naturally aligned); such a read returns all ones, like an unclaimed bus read.
    /// </summary>
    public bool TryMmioRead(Hpa address, int size, out ulong value)
    {
        int offset = (int)(address.Value - RegisterBase.Value);
        if (!ClaimsMmio(address) || !ValidAccess(offset, size))
        {
            value = size >= 8 ? ulong.MaxValue : (1UL << (8 * Math.Clamp(size, 1, 7))) - 1;
            Warn(ClaimsMmio(address) ? offset : -1, $"{size}-byte MMIO read at {address} is not a 4- or 8-byte aligned register access");
            return false;
        }
        value = size == 8 ? ReadRegister64(offset) : ReadRegister32(offset);
        return true;
    }

    /// <summary>An MMIO write as the CPU issues it; an access the register page does not accept is dropped and reported.</summary>
    public bool TryMmioWrite(Hpa address, int size, ulong value)
    {
        int offset = (int)(address.Value - RegisterBase.Value);
        if (!ClaimsMmio(address) || !ValidAccess(offset, size))
        {
            Warn(ClaimsMmio(address) ? offset : -1, $"{size}-byte MMIO write at {address} is not a 4- or 8-byte aligned register access; dropped");
            return false;
        }
        if (size == 8) WriteRegister64(offset, value);
        else WriteRegister32(offset, (uint)value);
        return true;
    }

    // ---- DMA ----

    /// <summary>Translates one request; a fault is recorded in the fault registers (unless FPD suppresses it) and raised as an event.</summary>
    public TranslationResult Translate(in DmaRequest request, WalkTrace? trace = null)
    {
        request.Validate();
        if (trace is null && _fastPath.TryTranslate(in request, out TranslationResult repeated)) return repeated;
        RootTableState root = _registers.Root;
        FaultReason reason = _engine.Translate(in request, in root, trace, out ResolvedContext context, out Hpa output, out ulong pageSize, out AccessRights rights);
        ReportErratumWrites(request.Source);
        if (reason == FaultReason.None)
        {
            var result = new TranslationResult(output, pageSize, rights, context.Kind, null);
            if (_engine.LastAnsweredByCaches(out var slots)) _fastPath.Remember(in request, in result, slots.Context, slots.Pasid, Caches.Iotlb.LastSlot);
            return result;
        }
        DmaFault fault = RaiseFault(in request, in context);
        return new TranslationResult(default, 0, AccessRights.None, context.Kind, fault);
    }

    /// <summary>
    /// Reads the tables the unit would use for <paramref name="source"/>'s requests without PASID and adds every present
    /// second-stage leaf that overlaps [<paramref name="first"/>, <paramref name="last"/>] to <paramref name="into"/>, as a
    /// VMM reads its guest's tables to shadow them (QEMU's vtd_page_walk, decision N31). Nothing is recorded or written:
    /// no fault, no A/D, no IOTLB or paging-structure cache entry (the context and PASID caches answer as for a request).
    /// Mappings are read only for a legacy or second-stage-only context.
    /// </summary>
    public DeviceMappingView ReadMappings(SourceId source, ulong first, ulong last, List<SecondStageMapping> into)
    {
        ArgumentNullException.ThrowIfNull(into);
        RootTableState root = _registers.Root;
        return _engine.ReadMappings(source, in root, first, last, into);
    }

    /// <summary>
    /// A device reads memory: page by page, stopping at the first fault (the bytes before it are delivered), or at the top
    /// of the 64-bit address space (a <see cref="DmaTransferResult.MemoryError"/>: the transfer never wraps to address 0).
    /// </summary>
    public DmaTransferResult DmaRead(in DmaRequest request, Span<byte> destination, WalkTrace? trace = null)
    {
        if (request.Access != DmaAccess.Read) throw new ArgumentException($"DmaRead needs a read request, got {request.Access}", nameof(request));
        return Transfer(in request, destination.Length, trace, destination, default);
    }

    /// <summary>A device writes memory: page by page, stopping at the first fault or at the top of the address space (the pages before it stay written).</summary>
    public DmaTransferResult DmaWrite(in DmaRequest request, ReadOnlySpan<byte> source, WalkTrace? trace = null)
    {
        if (request.Access != DmaAccess.Write) throw new ArgumentException($"DmaWrite needs a write request, got {request.Access}", nameof(request));
        return Transfer(in request, source.Length, trace, default, source);
    }

    private DmaTransferResult Transfer(in DmaRequest request, int length, WalkTrace? trace, Span<byte> readInto, ReadOnlySpan<byte> writeFrom)
    {
        if (request.AddressType == AddressType.TranslationRequest)
            throw new ArgumentException("an ATS translation request moves no data; use Translate", nameof(request));
        int done = 0;
        ulong start = request.Address.Value;
        while (done < length)
        {
            ulong address = start + (ulong)done;
            if (address == 0 && done != 0) // wrapped: no bus address lies above 2^64 - 1
                return new DmaTransferResult(done, null, PastTopOfAddressSpace(request.Address, length));
            int chunk = (int)Math.Min((ulong)(length - done), MachineMemory.PageSize - (address & 0xFFF));
            var pageRequest = request with { Address = new Iova(address) };
            TranslationResult t = Translate(in pageRequest, trace);
            if (!t.Success) return new DmaTransferResult(done, t.Fault, null);
            bool ok = request.Access == DmaAccess.Read
                ? Memory.TryRead(t.Address, readInto.Slice(done, chunk))
                : Memory.TryWrite(t.Address, writeFrom.Slice(done, chunk), WriteOrigin.Dma);
            if (!ok)
                return new DmaTransferResult(done, null, NotBackedByMemory(request.Address + (ulong)done, t.Address));
            done += chunk;
        }
        return new DmaTransferResult(done, null, null);
    }

    // Transfer's messages are built out of line: an interpolated string in Transfer itself puts its builder in Transfer's
    // stack frame, which the prologue zeroes on every DMA, error or not (docs/performance.md).

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static string PastTopOfAddressSpace(Iova start, int length) =>
        $"{start} + 0x{length:x} bytes runs past the top of the 64-bit address space";

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static string NotBackedByMemory(Iova address, Hpa translated) =>
        $"{address} translated to {translated}, which is not backed by memory";

    private DmaFault RaiseFault(in DmaRequest request, in ResolvedContext context)
    {
        ref readonly WalkFault f = ref _engine.LastFault;
        var info = FaultReasonInfo.Of(f.Reason);
        var fault = new DmaFault
        {
            Reason = f.Reason,
            Request = request,
            EffectivePasid = context.Pasid,
            Level = f.Level,
            EntryAddress = f.Entry,
            EntryValue = f.Value,
            Gpa = f.Gpa,
            SuppressedByFpd = info.Qualified && context.FaultProcessingDisabled,
            Explanation = f.Detail,
        };
        Report(fault);
        return fault;
    }

    /// <summary>
    /// The vIOMMU seam for fault delivery (decision N46): records a fault for <paramref name="request"/> with
    /// <paramref name="reason"/> exactly as the unit's own walk would — the context, PASID-directory and PASID entries
    /// decide FPD (a qualified reason is then suppressed), then the same recording as <see cref="Translate"/>: the next
    /// FRCD with F, FSTS.PPF/FRI, PFO when that record is still in use, and the fault event through FECTL/FEDATA/FEADDR
    /// (IP while IM is set). A VMM uses it to deliver a fault the host met in the guest's tables; nothing is translated
    /// and no cache is filled but the context and PASID caches, as for a request.
    /// </summary>
    public FaultDisposition RecordFault(in DmaRequest request, FaultReason reason, string explanation)
    {
        request.Validate();
        if (reason == FaultReason.None) throw new ArgumentException("a fault needs a fault reason", nameof(reason));
        ArgumentNullException.ThrowIfNull(explanation);
        RootTableState root = _registers.Root;
        bool resolved = _engine.ResolveContext(in request, in root, null, out ResolvedContext context) == FaultReason.None;
        var fault = new DmaFault
        {
            Reason = reason,
            Request = request,
            EffectivePasid = resolved ? context.Pasid : null,
            SuppressedByFpd = resolved && FaultReasonInfo.Of(reason).Qualified && context.FaultProcessingDisabled,
            Explanation = explanation,
        };
        return Report(fault);
    }

    private FaultDisposition Report(DmaFault fault)
    {
        FaultDisposition disposition = _registers.Faults.Record(fault);
        Events.Add(new FaultEvent(Events.NextSequence(), fault, disposition));
        _registers.Faults.DeliverPendingInterrupt();
        return disposition;
    }

    private void ReportErratumWrites(SourceId source)
    {
        foreach (var w in _engine.ErratumWrites)
            Events.Add(new ErratumWriteEvent(Events.NextSequence(), source, w.EntryGpa, w.EntryHpa, w.Level, w.OldValue, w.NewValue));
    }

    private static bool ValidAccess(int offset, int size) => size is 4 or 8 && offset % size == 0 && offset + size <= RegisterOffset.Size;

    private static void CheckOffset(int offset, int size)
    {
        if (!ValidAccess(offset, size))
            throw new ArgumentOutOfRangeException(nameof(offset), offset, $"a {size}-byte register access needs a {size}-byte aligned offset inside the 4 KiB register page");
    }

    private void Warn(int offset, string message) => Events.Add(new RegisterWarningEvent(Events.NextSequence(), offset, message));
}
