using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Invalidation;
using VtdSim.Hardware.Registers;
using VtdSim.Hardware.Structures;
using VtdSim.Kernel.Memory;
using VtdSim.Machine;

namespace VtdSim.Kernel.Intel;

/// <summary>
/// The driver's state for one remapping unit (Linux's struct intel_iommu): what CAP/ECAP offer, the root table and the
/// context/PASID tables hanging off it, domain ids, and the invalidation sequences the specification prescribes
/// (vtd-facts §7.2). It touches the unit only through MMIO registers and in-memory tables.
/// </summary>
internal sealed class IntelIommu
{
    /// <summary>DIDs 0 and 1 are reserved (0: CM=1 tags not-present entries; 1: Linux's FLPT_DEFAULT_DID).</summary>
    private const int ReservedDomainIds = 2;
    /// <summary>Without PASID support only RID_PASID is used: one directory page, 512 entries (PDTS=2).</summary>
    private const int MinPasidDirectorySize = 2;

    private readonly PhysicalMachine _machine;
    private readonly PageAllocator _pages;
    private readonly KernelLog _log;
    private readonly IommuRegisters _regs;
    private readonly SortedSet<ushort> _freeDomainIds = new();
    private readonly Dictionary<(int Bus, bool Upper), Hpa> _contextTables = new();
    private readonly Dictionary<ushort, Hpa> _pasidDirectories = new();
    private readonly Dictionary<(ushort Sid, uint DirIndex), Hpa> _pasidTables = new();
    private ushort _nextDomainId = ReservedDomainIds;
    private int _structurePages;
    private InvalidationSubmitter? _invalidation;
    private readonly RateLimit _faultRateLimit;
    private DmarFaultHandler? _faultHandler;
    private readonly Action<DmarFaultRecord>? _faultTaken;

    public IntelIommu(PhysicalMachine machine, Hpa registerBase, PageAllocator pages, KernelLog log, IntelIommuOptions options, string name,
        RateLimit faultRateLimit, Action<DmarFaultRecord>? faultTaken = null)
    {
        _faultTaken = faultTaken;
        _machine = machine;
        _pages = pages;
        _log = log;
        _regs = new IommuRegisters(machine, registerBase);
        _faultRateLimit = faultRateLimit;
        Options = options;
        Name = name;
        Cap = new Capability(_regs.Read64(RegisterOffset.CAP));
        Ecap = new ExtendedCapability(_regs.Read64(RegisterOffset.ECAP));
        ScalableMode = options.ScalableMode && Ecap.ScalableModeTranslation;
        DomainIdCount = 1 << (4 + 2 * Cap.NumberOfDomains);
        // Each device's PASID directory covers every PASID the unit supports (2^(PDTS+7) entries of 64 PASIDs), as
        // Linux sizes it for max_pasids: 2^20 PASIDs are 16384 entries, 32 contiguous pages.
        PasidDirectorySize = PasidSupported ? Math.Max(MinPasidDirectorySize, Ecap.PasidWidth - 13) : MinPasidDirectorySize;
    }

    public string Name { get; }
    /// <summary>The unit's register page (the DRHD's register base address).</summary>
    public Hpa RegisterBase => _regs.Base;
    public IntelIommuOptions Options { get; }
    public Capability Cap { get; }
    public ExtendedCapability Ecap { get; }
    public bool ScalableMode { get; }
    /// <summary>The PDTS of every scalable context entry this driver writes.</summary>
    public int PasidDirectorySize { get; }
    public int DomainIdCount { get; }
    public Hpa RootTable { get; private set; }
    public bool Enabled { get; private set; }

    /// <summary>After intel_iommu_shutdown: the unit's translation is off and this kernel no longer drives it.</summary>
    internal void MarkShutDown() => Enabled = false;

    /// <summary>sm_supported && ecap_nest.</summary>
    public bool NestingSupported => ScalableMode && Ecap.NestedTranslation;
    /// <summary>ssads_supported: scalable, SS A/D and coherent scalable-mode walks.</summary>
    public bool DirtyTrackingSupported => ScalableMode && Ecap.SecondStageAccessedDirty && Ecap.ScalableModePageWalkCoherency;
    public bool FirstStageSupported => ScalableMode && Ecap.FirstStageTranslation;
    /// <summary>pasid_supported: requests-with-PASID need scalable mode and ECAP.PASID.</summary>
    public bool PasidSupported => ScalableMode && Ecap.Pasid;
    /// <summary>iommu.max_pasids: 2^(the PSS width) PASIDs where the unit supports them, else 0.</summary>
    public uint MaxPasids => PasidSupported ? 1u << Ecap.PasidWidth : 0;
    public bool SecondStageSupported => !ScalableMode || Ecap.SecondStageTranslation;
    public long InvalidationsSubmitted => _invalidation?.Submitted ?? 0;
    /// <summary>Kernel pages held by the remapping structures: queue, root, context and PASID tables (kept once made).</summary>
    public int StructurePages => _structurePages;
    /// <summary>Domain ids handed out and not freed.</summary>
    public int DomainIdsInUse => _nextDomainId - ReservedDomainIds - _freeDomainIds.Count;
    /// <summary>The vector of the unit's fault event interrupt, once the driver has set it up.</summary>
    public int? FaultVector { get; private set; }
    /// <summary>Fault records the handler has taken from the unit.</summary>
    public long FaultRecordsHandled => _faultHandler?.RecordsHandled ?? 0;

    /// <summary>The first vector the driver hands out (a model choice: any free vector would do; decisions B10).</summary>
    public const int FirstDeviceVector = 0x21;

    /// <summary>Brings the unit up: queued invalidation, root table (SRTP), global invalidation, translation on.</summary>
    public Errno Enable()
    {
        if (Enabled) return Errno.Success;
        if ((_regs.Read32(RegisterOffset.GSTS) & (uint)GlobalCommand.TranslationEnable) != 0)
        {
            _log.Write("DMAR: ", $"Translation was enabled for {Name} but we are not in kdump mode"); // init_dmars, word for word
            _regs.SetPersistent(GlobalCommand.TranslationEnable, false);
        }
        if (Ecap.QueuedInvalidation)
        {
            if (_pages.TryAllocate() is not Hpa queue || _pages.TryAllocate() is not Hpa status) return Errno.ENOMEM;
            _structurePages += 2;
            _invalidation = InvalidationSubmitter.Queue(_machine, _regs, _log, queue, status, wide: ScalableMode);
        }
        else
        {
            if (ScalableMode) return NoDevice("scalable mode needs queued invalidation");
            _invalidation = InvalidationSubmitter.Registers(_machine, _regs, _log, Ecap.IotlbRegisterOffset);
        }

        if (_pages.TryAllocate() is not Hpa root) return Errno.ENOMEM;
        _structurePages++;
        RootTable = root;
        _regs.Write64(RegisterOffset.RTADDR, root.Value | (ScalableMode ? 1UL << 10 : 0));
        if (!_regs.OneShot(GlobalCommand.SetRootTablePointer, s => (s & GlobalCommand.SetRootTablePointer) != 0))
            return NoDevice("the unit did not latch the root table pointer");
        Errno e = Flush(ScalableMode
            ? [InvalidationDescriptor.PasidCacheGlobal(), InvalidationDescriptor.ContextGlobal(), InvalidationDescriptor.IotlbGlobal()]
            : [InvalidationDescriptor.ContextGlobal(), InvalidationDescriptor.IotlbGlobal()]);
        if (e != Errno.Success) return e;
        e = SetUpFaultInterrupt();
        if (e != Errno.Success) return e;
        if (!_regs.SetPersistent(GlobalCommand.TranslationEnable, true)) return NoDevice("the unit did not enable translation");
        Enabled = true;
        _log.Write("DMAR: ", $"{Name}: using {(ScalableMode ? "scalable" : "legacy")} mode, {(_invalidation.Queued ? "queued" : "register-based")} invalidation");
        return Errno.Success;
    }

    /// <summary>
    /// dmar_set_interrupt and enable_drhd_fault_handling: takes a free vector, registers the fault handler for it,
    /// programs the MSI (FEDATA = vector, FEADDR = 0xFEE00000: local APIC 0, physical destination; FEUADDR = 0) and
    /// unmasks FECTL; then runs the handler once to clear faults left from before, and writes FSTS back to clear
    /// what remains. With no free vector the unit is not used ("No free IRQ vectors", EINVAL), as in Linux.
    /// </summary>
    private Errno SetUpFaultInterrupt()
    {
        if (FaultVector is not null) return Errno.Success;
        var handler = new DmarFaultHandler(_regs, Cap, _log, _faultRateLimit, _faultTaken);
        int vector = FirstDeviceVector;
        while (vector <= 255 && !_machine.Interrupts.TryRegister(vector, handler.Handle)) vector++;
        if (vector > 255)
        {
            _log.Write("DMAR: ", "No free IRQ vectors");
            return Errno.EINVAL;
        }
        _faultHandler = handler;
        FaultVector = vector;
        _regs.Write32(RegisterOffset.FEDATA, (uint)vector);
        _regs.Write32(RegisterOffset.FEADDR, 0xFEE0_0000);
        _regs.Write32(RegisterOffset.FEUADDR, 0);
        _regs.Write32(RegisterOffset.FECTL, 0); // unmask: an event held pending is sent now and handled when the store completes
        _regs.Read32(RegisterOffset.FECTL);     // flush the posted write
        handler.Handle();                       // clear any previous faults
        _regs.Write32(RegisterOffset.FSTS, _regs.Read32(RegisterOffset.FSTS));
        return Errno.Success;
    }

    private Errno NoDevice(string why)
    {
        _log.Write("DMAR: ", $"{Name}: {why}");
        return Errno.ENODEV;
    }

    // ---- domain ids ----

    public ushort? AllocateDomainId()
    {
        if (_freeDomainIds.Count != 0)
        {
            ushort did = _freeDomainIds.Min;
            _freeDomainIds.Remove(did);
            return did;
        }
        if (_nextDomainId >= DomainIdCount) return null;
        return _nextDomainId++;
    }

    public void FreeDomainId(ushort did) => _freeDomainIds.Add(did);

    // ---- legacy context entries ----

    /// <summary>Installs a legacy context entry for a device that has none, then the CM=1 / write-buffer flushes.</summary>
    public Errno SetLegacyContext(SourceId sid, LegacyContextEntry entry)
    {
        if (ContextSlot(sid) is not Hpa slot) return Errno.ENOMEM;
        if (new LegacyContextEntry(_machine.Read(slot, 8), _machine.Read(slot + 8, 8)).Present) return Errno.EBUSY;
        _machine.Write(slot + 8, 8, entry.High);
        _machine.Write(slot, 8, entry.Low); // P last
        if (Cap.CachingMode)
            return Flush(InvalidationDescriptor.ContextDevice(0, sid.Value), InvalidationDescriptor.IotlbDomain(entry.DomainId));
        return FlushWriteBuffer();
    }

    /// <summary>Tears down a present legacy context entry: clear, context-cache (device), IOTLB (domain).</summary>
    public Errno ClearLegacyContext(SourceId sid)
    {
        if (ContextSlot(sid) is not Hpa slot) return Errno.ENOMEM;
        var old = new LegacyContextEntry(_machine.Read(slot, 8), _machine.Read(slot + 8, 8));
        if (!old.Present) return Errno.Success;
        _machine.Write(slot, 8, 0);
        _machine.Write(slot + 8, 8, 0);
        return Flush(InvalidationDescriptor.ContextDevice(old.DomainId, sid.Value), InvalidationDescriptor.IotlbDomain(old.DomainId));
    }

    // ---- scalable-mode PASID entries ----

    /// <summary>The PASID entry currently installed for (device, PASID), or an all-zero entry.</summary>
    public PasidEntry ReadPasidEntry(SourceId sid, uint pasid)
    {
        if (PasidSlot(sid, pasid, create: false) is not Hpa slot) return default;
        return new PasidEntry(_machine.Read(slot, 8), _machine.Read(slot + 8, 8), _machine.Read(slot + 16, 8));
    }

    /// <summary>
    /// Installs a PASID entry where none is present (EBUSY otherwise): every other word first, Q0 with P last; then
    /// with CM=1 a PASID-cache and PASID-IOTLB flush, else a write-buffer flush. Under CM=1 the unit may hold the
    /// not-present entry it read before, tagged with the DID that entry carried (0 after a teardown), so the PASID
    /// cache is flushed for that DID too (K25; Linux names only the new DID).
    /// </summary>
    public Errno SetPasidEntry(SourceId sid, uint pasid, PasidEntry entry)
    {
        if (PasidSlot(sid, pasid, create: true) is not Hpa slot) return Errno.ENOMEM;
        if ((_machine.Read(slot, 8) & 1) != 0) return Errno.EBUSY;
        ushort cachedDid = (ushort)_machine.Read(slot + 8, 8);
        ulong[] words = [entry.Q0, entry.Q1, entry.Q2, entry.Q3, entry.Q4, entry.Q5, entry.Q6, entry.Q7];
        for (int i = 7; i >= 1; i--) _machine.Write(slot + (ulong)(8 * i), 8, words[i]);
        _machine.Write(slot, 8, words[0]);
        if (!Cap.CachingMode) return FlushWriteBuffer();
        if (cachedDid != entry.DomainId)
            return Flush(InvalidationDescriptor.PasidCachePasid(cachedDid, pasid), InvalidationDescriptor.PasidCachePasid(entry.DomainId, pasid),
                InvalidationDescriptor.PasidIotlbAll(entry.DomainId, pasid));
        return Flush(InvalidationDescriptor.PasidCachePasid(entry.DomainId, pasid), InvalidationDescriptor.PasidIotlbAll(entry.DomainId, pasid));
    }

    /// <summary>
    /// Tears a PASID entry down as the specification prescribes: clear P, PASID-cache flush (old DID), then the IOTLB
    /// (domain-selective for second-stage and nested entries, PASID-based for first-stage and pass-through), and only
    /// then clear the rest of the entry.
    /// </summary>
    public Errno ClearPasidEntry(SourceId sid, uint pasid)
    {
        if (PasidSlot(sid, pasid, create: false) is not Hpa slot) return Errno.Success;
        ulong q0 = _machine.Read(slot, 8), q1 = _machine.Read(slot + 8, 8);
        var old = new PasidEntry(q0, q1, 0);
        if (!old.Present) return Errno.Success;
        _machine.Write(slot, 8, q0 & ~1UL);
        ushort did = old.DomainId;
        Errno e = Flush(InvalidationDescriptor.PasidCachePasid(did, pasid),
            old.Pgtt is PasidGranularTranslationType.SecondStageOnly or PasidGranularTranslationType.Nested
                ? InvalidationDescriptor.IotlbDomain(did)
                : InvalidationDescriptor.PasidIotlbAll(did, pasid));
        for (int i = 0; i < 8; i++) _machine.Write(slot + (ulong)(8 * i), 8, 0);
        return e;
    }

    // ---- IOTLB flushes after page-table changes ----

    /// <summary>
    /// Second-stage change of [start, last] (inclusive, so a range may end at 2^64 − 1): page-selective within the
    /// domain (rounded to an aligned power-of-two block), or domain-selective where PSI or the mask width is lacking.
    /// </summary>
    public Errno FlushIotlbRange(ushort did, ulong start, ulong last, bool leafOnly)
    {
        var (block, am) = RangeMask(start, last);
        if (Cap.PageSelectiveInvalidation && am <= Cap.MaximumAddressMaskValue)
            return Flush(WithAddress(InvalidationDescriptor.IotlbPage(did, 0, am, leafOnly), block));
        return Flush(InvalidationDescriptor.IotlbDomain(did));
    }

    /// <summary>First-stage change of [start, last] (inclusive): PASID-based IOTLB flush for the block, or for the whole PASID.</summary>
    public Errno FlushPasidIotlbRange(ushort did, uint pasid, ulong start, ulong last, bool leafOnly)
    {
        var (block, am) = RangeMask(start, last);
        if (am <= Cap.MaximumAddressMaskValue)
            return Flush(WithAddress(InvalidationDescriptor.PasidIotlbPage(did, pasid, 0, am, leafOnly), block));
        return Flush(InvalidationDescriptor.PasidIotlbAll(did, pasid));
    }

    /// <summary>
    /// ADDR of a page-selective IOTLB or P_IOTLB descriptor is bits 63:12 of its second quadword: any 4 KiB-aligned
    /// address, as Linux writes it (QI_EIOTLB_ADDR masks nothing but the low 12 bits). A first-stage IOVA may lie
    /// above 2^52, a guest's up to 2^64 − 1.
    /// </summary>
    private static InvalidationDescriptor WithAddress(InvalidationDescriptor d, ulong address) => d with { Q1 = d.Q1 | (address & ~0xFFFUL) };

    public Errno FlushWriteBuffer()
    {
        if (!Cap.RequiredWriteBufferFlush) return Errno.Success;
        return _regs.OneShot(GlobalCommand.WriteBufferFlush, s => (s & GlobalCommand.WriteBufferFlush) == 0) ? Errno.Success : Errno.ETIMEDOUT;
    }

    public Errno Flush(params ReadOnlySpan<InvalidationDescriptor> descriptors) =>
        _invalidation?.Submit(descriptors) ?? throw new InvalidOperationException($"{Name} is not enabled");

    /// <summary>
    /// The smallest naturally aligned power-of-two block of pages covering [start, last], as (base, AM). Inclusive last
    /// addresses: [2^64 − 4K, 2^64 − 1] is one page (AM 0), where start + length would wrap to 0; the whole space is AM 52.
    /// </summary>
    internal static (ulong Start, int AddressMask) RangeMask(ulong start, ulong last)
    {
        if (last < start) throw new ArgumentOutOfRangeException(nameof(last), "an empty flush range");
        ulong first = start >> 12, lastPage = last >> 12;
        int am = 0;
        while ((first >> am) != (lastPage >> am)) am++;
        return (am >= 52 ? 0 : (first >> am) << (am + 12), am);
    }

    // ---- table slots ----

    private Hpa? ContextSlot(SourceId sid)
    {
        bool upper = ScalableMode && sid.DevFn >= 0x80;
        if (!_contextTables.TryGetValue((sid.Bus, upper), out Hpa table))
        {
            if (_pages.TryAllocate() is not Hpa page) return null;
            _structurePages++;
            table = page;
            _contextTables[(sid.Bus, upper)] = table;
            Hpa rootEntry = RootTable + (ulong)sid.Bus * RootEntry.Size;
            if (upper) _machine.Write(rootEntry + 8, 8, table.Value | 1);
            else _machine.Write(rootEntry, 8, table.Value | 1);
        }
        int size = ScalableMode ? ScalableContextEntry.Size : LegacyContextEntry.Size;
        int index = ScalableMode ? sid.DevFn & 0x7F : sid.DevFn;
        return table + (ulong)(index * size);
    }

    /// <summary>The slot of a PASID entry, creating the device's scalable context entry and PASID tables when asked.</summary>
    private Hpa? PasidSlot(SourceId sid, uint pasid, bool create)
    {
        if (!ScalableMode) throw new InvalidOperationException("PASID entries exist only in scalable mode");
        if (pasid >= 1u << (PasidDirectorySize + 13)) return null;
        if (!_pasidDirectories.TryGetValue(sid.Value, out Hpa directory))
        {
            int directoryPages = Math.Max(1, (1 << (PasidDirectorySize + 7)) * PasidDirectoryEntry.Size / 4096);
            if (!create || ContextSlot(sid) is not Hpa contextSlot || _pages.TryAllocateContiguous(directoryPages) is not Hpa dir) return null;
            _structurePages += directoryPages;
            directory = dir;
            _pasidDirectories[sid.Value] = directory;
            var ctx = ScalableContextEntry.Create(directory, PasidDirectorySize).WithPasidEnable(Ecap.Pasid);
            _machine.Write(contextSlot + 8, 8, ctx.Q1);
            _machine.Write(contextSlot, 8, ctx.Q0); // P last
            if (Cap.CachingMode) Flush(InvalidationDescriptor.ContextDevice(0, sid.Value));
            else FlushWriteBuffer();
        }
        uint dirIndex = pasid >> 6;
        if (!_pasidTables.TryGetValue((sid.Value, dirIndex), out Hpa table))
        {
            if (!create || _pages.TryAllocate() is not Hpa page) return null;
            _structurePages++;
            table = page;
            _pasidTables[(sid.Value, dirIndex)] = table;
            _machine.Write(directory + dirIndex * 8UL, 8, PasidDirectoryEntry.Create(table).Raw);
        }
        return table + (pasid & 0x3F) * (ulong)PasidEntry.Size;
    }
}
