using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Structures;
using VtdSim.Kernel.Memory;
using VtdSim.Machine;

namespace VtdSim.Kernel.Intel;

/// <summary>IOMMU_HWPT_ALLOC flags the paging-domain allocator understands.</summary>
[Flags]
public enum PagingDomainFlags
{
    None = 0,
    NestParent = 1 << 0,
    DirtyTracking = 1 << 1,
}

/// <summary>struct iommu_hw_info_vtd: the erratum flag and the raw capability registers.</summary>
public readonly record struct VtdHwInfo(uint Flags, ulong CapReg, ulong EcapReg)
{
    public const uint Errata772415Spr17 = 1u << 0;
    public const int Size = 24;
}

/// <summary>
/// The Intel IOMMU driver: finds the unit through the machine's firmware tables (its register base), brings it up, and
/// gives the iommu core domains to allocate, map and attach. It programs the unit only through registers and
/// in-memory tables, so it runs the same on a host and inside a guest whose IOMMU is a vIOMMU.
/// </summary>
public sealed class IntelIommuDriver
{
    /// <summary>The PASID used for requests without PASID (Linux's IOMMU_NO_PASID, RID_PASID = 0).</summary>
    public const uint RidPasid = 0;

    private readonly PhysicalMachine _machine;
    private readonly PageAllocator _pages;
    private readonly KernelLog _log;
    private readonly Dictionary<(SourceId Device, uint Pasid), IntelDomain> _deviceDomains = new();
    private readonly RateLimit _faultRateLimit;
    private IntelIommu? _unit;

    public IntelIommuDriver(PhysicalMachine machine, PageAllocator pages, KernelLog log, IntelIommuOptions? options = null)
    {
        _machine = machine;
        _pages = pages;
        _log = log;
        Options = options ?? IntelIommuOptions.Default;
        // dmar_fault's ratelimit state is static: one for every unit.
        _faultRateLimit = new RateLimit(machine.Clock, log, "dmar_fault");
    }

    public IntelIommuOptions Options { get; }
    /// <summary>Whether the driver has taken a remapping unit and translation is on (intel_iommu_enabled).</summary>
    public bool Active => _unit is { Enabled: true };
    /// <summary>Told of every fault record the fault handler takes from the unit, after it is logged (decisions N40–N44).</summary>
    internal Action<DmarFaultRecord>? FaultTaken { get; set; }

    /// <summary>The vector of dmar0's fault interrupt, once probed.</summary>
    public int? FaultVector => _unit?.FaultVector;
    /// <summary>Fault records the fault handler has taken from the unit (printed or rate-limited).</summary>
    public long FaultRecordsHandled => _unit?.FaultRecordsHandled ?? 0;

    /// <summary>
    /// device_iommu_capable / dev_has_iommu: whether the driver translates this device's DMA — it is active and the
    /// unit it drives covers the device (INCLUDE_PCI_ALL or the device scope of firmware's description).
    /// </summary>
    public bool Covers(SourceId device) => Active && _machine.RemappingUnits[0].Covers(device);
    public BlockedDomain Blocked { get; } = new();
    public IdentityDomain Identity { get; } = new();
    internal IntelIommu Unit => _unit ?? throw new InvalidOperationException("the Intel IOMMU driver has not been probed");
    public bool ScalableMode => Unit.ScalableMode;
    public bool NestingSupported => Unit.NestingSupported;
    public bool DirtyTrackingSupported => Unit.DirtyTrackingSupported;
    public long InvalidationsSubmitted => Unit.InvalidationsSubmitted;
    /// <summary>Kernel pages the unit's remapping structures hold (root, context and PASID tables, the queue).</summary>
    internal int StructurePages => Unit.StructurePages;
    /// <summary>Domain ids in use on the unit.</summary>
    internal int DomainIdsInUse => Unit.DomainIdsInUse;
    /// <summary>(device, PASID) pairs with a translation installed (not blocked).</summary>
    internal int Translations => _deviceDomains.Count;

    /// <summary>
    /// intel_iommu_init: finds the remapping units in firmware's description and brings the first one up (the machine
    /// model allows several; the driver drives dmar0, decisions B1). Without a DMAR table the driver is never
    /// initialised: ENODEV, and nothing is logged (Linux prints no DMAR line then). With intel_iommu=off the driver
    /// turns translation off in every unit (intel_disable_iommus: a kexec'd kernel may find it on) and does not use
    /// them: ENODEV. A unit that cannot be brought up is logged ("Initialization failed") and left alone.
    /// </summary>
    public Errno Probe()
    {
        if (!_machine.HasIommu) return Errno.ENODEV;
        if (!Options.Enabled)
        {
            DisableTranslation();
            return Errno.ENODEV;
        }
        _unit ??= new IntelIommu(_machine, _machine.IommuBase, _pages, _log, Options, "dmar0", _faultRateLimit, r => FaultTaken?.Invoke(r));
        if (_unit.Enabled) return Errno.Success;
        Errno e = _unit.Enable();
        if (e != Errno.Success)
        {
            _log.Write("DMAR: ", "Initialization failed");
            return e;
        }
        _log.Write("DMAR: ", "Intel(R) Virtualization Technology for Directed I/O");
        return Errno.Success;
    }

    /// <summary>
    /// intel_iommu_shutdown, the kernel's last act before a kexec or a reboot: translation off in every unit
    /// (intel_disable_iommus clears GCMD.TE alone, one command at a time). Queued invalidation, the root table pointer
    /// and the fault interrupt stay as they are, for the next kernel to find (it turns queued invalidation off before it
    /// sets the queue up again, as dmar_disable_qi does). The driver is inactive afterwards.
    /// </summary>
    public void Shutdown()
    {
        if (!_machine.HasIommu) return;
        DisableTranslation();
        _unit?.MarkShutDown();
    }

    private void DisableTranslation()
    {
        foreach (var description in _machine.RemappingUnits)
            new IommuRegisters(_machine, description.RegisterBase).SetPersistent(Hardware.Registers.GlobalCommand.TranslationEnable, false);
    }

    /// <summary>
    /// The driver's debugfs directory, /sys/kernel/debug/iommu/intel/, as Linux 6.7 and later writes it: file path
    /// under intel/ → its text, made from the unit's registers and the tables in memory now (docs/analyze.md). Every
    /// PCI function has a directory (Linux makes one when it probes a device); a PASID has one while a paging domain
    /// is attached to it, as Linux creates them. Empty before the driver has taken a unit.
    /// </summary>
    public IReadOnlyDictionary<string, string> DebugfsFiles()
    {
        if (_unit is null) return new SortedDictionary<string, string>(StringComparer.Ordinal);
        var devices = _machine.Functions.Select(f => f.Id).Distinct().OrderBy(d => d.Value);
        var pasids = _deviceDomains.Where(p => p.Key.Pasid != RidPasid && p.Value is PagingDomain).Select(p => p.Key)
            .OrderBy(k => k.Device.Value).ThenBy(k => k.Pasid);
        return new Debugfs.IntelDebugfs(_machine, _unit).Files(devices, pasids);
    }

    /// <summary>The domain a device's requests without PASID use (blocked if none).</summary>
    public IntelDomain DomainOf(SourceId device) => DomainOf(device, RidPasid);

    /// <summary>The domain a device's requests with <paramref name="pasid"/> use (RID_PASID: the RID's); blocked if none.</summary>
    public IntelDomain DomainOf(SourceId device, uint pasid) => _deviceDomains.TryGetValue((device, pasid), out var d) ? d : Blocked;

    /// <summary>
    /// dev_iommu max_pasids: the PASIDs a device may use here, min(its PCI PASID width, the unit's); 0 if either has
    /// none (a PASID-less function, or a unit without PASID support).
    /// </summary>
    public uint MaxPasids(SourceId device)
    {
        var function = _machine.Functions.FirstOrDefault(f => f.Id == device);
        if (function is null || function.PasidWidth <= 0) return 0;
        return Math.Min(function.PasidWidth >= 32 ? uint.MaxValue : 1u << function.PasidWidth, Unit.MaxPasids);
    }

    /// <summary>pasid_supported on the unit the device sits behind.</summary>
    public bool PasidSupported => Unit.PasidSupported;

    /// <summary>intel_iommu_hw_info: every VT-d unit reports the erratum flag (Linux sets it without a CPU-model check).</summary>
    public VtdHwInfo HwInfo() => new(VtdHwInfo.Errata772415Spr17, Unit.Cap.Raw, Unit.Ecap.Raw);

    /// <summary>
    /// domain_alloc_paging_flags: nest parents and dirty tracking need scalable mode with a second stage (and NEST or
    /// SS A/D) and force the second-stage format; otherwise first stage is preferred where the unit has it.
    /// </summary>
    public Errno AllocPaging(PagingDomainFlags flags, out PagingDomain? domain)
    {
        domain = null;
        var unit = Unit;
        if ((flags & ~(PagingDomainFlags.NestParent | PagingDomainFlags.DirtyTracking)) != 0) return Errno.EOPNOTSUPP;
        bool nestParent = (flags & PagingDomainFlags.NestParent) != 0, dirty = (flags & PagingDomainFlags.DirtyTracking) != 0;
        if (nestParent && !unit.NestingSupported) return Errno.EOPNOTSUPP;
        if (dirty && !unit.DirtyTrackingSupported) return Errno.EOPNOTSUPP;
        if ((nestParent || dirty) && !(unit.ScalableMode && unit.Ecap.SecondStageTranslation)) return Errno.EOPNOTSUPP;

        bool firstStage = !nestParent && !dirty && Options.FirstStageByDefault && unit.FirstStageSupported;
        if (!firstStage && !unit.SecondStageSupported) return Errno.EOPNOTSUPP;
        if (_pages.TryAllocate() is not Hpa root) return Errno.ENOMEM;
        bool superPages = Options.SuperPages;
        IoPageTable table = firstStage
            ? new FirstStagePageTable(_machine, _pages, unit.Cap.FirstStage5LevelPaging ? 5 : 4, root, superPages && unit.Cap.FirstStage1GiBPages)
            : new SecondStagePageTable(_machine, _pages, SecondStageLevels(unit), root,
                superPages && unit.Cap.SecondStage2MiBPages, superPages && unit.Cap.SecondStage1GiBPages, snoop: false);
        domain = new PagingDomain(table, firstStage ? PagingFormat.FirstStage : PagingFormat.SecondStage, nestParent, dirty, Options, _log);
        return Errno.Success;
    }

    /// <summary>intel_iommu_domain_alloc_nested: a VT-d stage-1 over a nest-parent second-stage domain of this driver.</summary>
    public Errno AllocNested(IntelDomain parent, VtdS1Config s1, out NestedDomain? domain)
    {
        domain = null;
        if (!Unit.NestingSupported) return Errno.EOPNOTSUPP;
        if (parent is not PagingDomain { Format: PagingFormat.SecondStage, NestParent: true } s2) return Errno.EINVAL;
        domain = new NestedDomain(s2, s1);
        s2.AddChild(domain);
        return Errno.Success;
    }

    /// <summary>Frees a domain no device is attached to (the core holds references, so that is always the case here).</summary>
    public void Free(IntelDomain domain)
    {
        if (domain.Devices.Count != 0) throw new InvalidOperationException("freeing a domain that devices are still attached to");
        if (domain is NestedDomain nested) nested.Parent.RemoveChild(nested);
        if (domain is PagingDomain paging)
        {
            if (paging.Children.Count != 0) throw new InvalidOperationException("freeing a nest parent that still has nested domains");
            paging.Table.FreeAll();
        }
    }

    /// <summary>
    /// Attaches a device (its requests without PASID) to a domain, replacing what it had: the old translation is torn
    /// down first, as the specification's PASID-entry sequence requires, then the new one installed.
    /// </summary>
    public Errno Attach(SourceId device, IntelDomain domain) => Install(device, RidPasid, domain);

    /// <summary>
    /// set_dev_pasid (iommu_attach_device_pasid / iommu_replace_device_pasid, and the blocked domain's for detach):
    /// points the PASID-table entry of (device, <paramref name="pasid"/>) at a domain, replacing what it had, with the
    /// same teardown sequence as the RID. The unit must support PASID (EOPNOTSUPP); RID_PASID is the RID's entry and
    /// a PASID at or beyond the device's max PASIDs is EINVAL; so is a paging domain with dirty tracking (dirty_ops).
    /// Nested, paging (either stage), identity and blocked domains may be used.
    /// </summary>
    public Errno SetDevPasid(SourceId device, uint pasid, IntelDomain domain)
    {
        if (!Unit.PasidSupported) return Errno.EOPNOTSUPP;
        if (pasid == RidPasid || pasid >= MaxPasids(device)) return Errno.EINVAL;
        if (domain is PagingDomain { DirtyTrackingCapable: true }) return Errno.EINVAL;
        return Install(device, pasid, domain);
    }

    /// <summary>One (device, PASID)'s translation, replaced atomically: it happens or the old one stays.</summary>
    private Errno Install(SourceId device, uint pasid, IntelDomain domain)
    {
        var unit = Unit;
        IntelDomain old = DomainOf(device, pasid);
        if (ReferenceEquals(old, domain)) return Errno.Success;
        Errno e = CheckCompatible(unit, domain);
        if (e != Errno.Success) return e;

        // Claim the new domain's id first: if none is free, the device keeps its old translation (a replace either
        // happens or does not). After that only the table writes remain, which cannot fail for an entry that was
        // present (its context entry and PASID table exist); a fresh entry that cannot get its tables leaves nothing.
        ushort did = 0;
        if (domain is not BlockedDomain)
        {
            e = domain.AddDevice(unit, device, pasid, out did);
            if (e != Errno.Success) return e;
        }
        e = unit.ScalableMode ? unit.ClearPasidEntry(device, pasid) : unit.ClearLegacyContext(device);
        if (e != Errno.Success)
        {
            if (domain is not BlockedDomain) domain.RemoveDevice(unit, device, pasid);
            return e;
        }
        old.RemoveDevice(unit, device, pasid);
        _deviceDomains.Remove((device, pasid));
        if (domain is BlockedDomain) return Errno.Success;

        e = unit.ScalableMode
            ? unit.SetPasidEntry(device, pasid, PasidEntryFor(unit, domain, did))
            : unit.SetLegacyContext(device, ContextEntryFor(unit, domain, did));
        if (e != Errno.Success)
        {
            domain.RemoveDevice(unit, device, pasid);
            return e;
        }
        _deviceDomains[(device, pasid)] = domain;
        return Errno.Success;
    }

    /// <summary>Turns second-stage A/D (SSADE) on or off in every PASID entry that uses the domain's table.</summary>
    public Errno SetDirtyTracking(PagingDomain domain, bool enable)
    {
        if (!domain.DirtyTrackingCapable) return Errno.EOPNOTSUPP;
        if (domain.DirtyTrackingEnabled == enable) return Errno.Success;
        domain.DirtyTrackingEnabled = enable;
        // Every PASID entry built on the table: the domain's own (RIDs only: dirty_ops keep it off PASIDs) and its
        // nested domains', at the RID or at any PASID.
        var users = domain.PasidAttachments.Select(a => (a.Device, a.Pasid, Domain: (IntelDomain)domain))
            .Concat(domain.Children.SelectMany(c => c.PasidAttachments.Select(a => (a.Device, a.Pasid, Domain: (IntelDomain)c))));
        foreach (var (device, pasid, owner) in users.ToList())
        {
            var unit = Unit;
            ushort did = owner.DomainIdOn(unit)!.Value;
            Errno e = unit.ClearPasidEntry(device, pasid);
            if (e == Errno.Success) e = unit.SetPasidEntry(device, pasid, PasidEntryFor(unit, owner, did));
            if (e != Errno.Success) return e;
        }
        return Errno.Success;
    }

    private Errno CheckCompatible(IntelIommu unit, IntelDomain domain)
    {
        switch (domain)
        {
            case IdentityDomain when !unit.Ecap.PassThrough:
                return Errno.EINVAL;
            case PagingDomain { Format: PagingFormat.SecondStage } p when !unit.Cap.SupportsAddressWidth(p.Levels - 2):
                return Errno.EINVAL;
            case NestedDomain n:
                if (!unit.ScalableMode) return Errno.EOPNOTSUPP;
                if (!unit.Cap.SupportsAddressWidth(n.Parent.Levels - 2))
                {
                    _log.Write("DMAR: ", "Adjusted guest address width not compatible");
                    return Errno.ENODEV;
                }
                if (n.S1.AddressWidth == 57 && !unit.Cap.FirstStage5LevelPaging) return Invalid("5-level paging not supported");
                if (n.S1.AddressWidth is not (48 or 57)) return Invalid($"Invalid stage-1 address width {n.S1.AddressWidth}");
                if ((n.S1.Flags & VtdS1Flags.SupervisorRequestEnable) != 0 && !unit.Ecap.SupervisorRequests) return Invalid($"No supervisor request support on {unit.Name}");
                if ((n.S1.Flags & VtdS1Flags.ExtendedAccessedFlagEnable) != 0 && !unit.Ecap.ExtendedAccessedFlag) return Invalid($"No extended access flag support on {unit.Name}");
                return Errno.Success;
        }
        return Errno.Success;
    }

    private Errno Invalid(string why)
    {
        _log.Write("DMAR: ", why);
        return Errno.EINVAL;
    }

    private static PasidEntry PasidEntryFor(IntelIommu unit, IntelDomain domain, ushort did)
    {
        bool snoop = unit.Ecap.ScalableModePageWalkCoherency;
        switch (domain)
        {
            case IdentityDomain:
                return PasidEntry.PassThroughEntry(did);
            case PagingDomain { Format: PagingFormat.FirstStage } p:
                // AW as Linux's pasid_pte_config_first_level sets it: the unit's agaw (the largest SAGAW width). The
                // hardware ignores it for a first-stage-only entry; debugfs dumps show it (decision B15).
                return PasidEntry.FirstStage(p.Table.Root.Value, did, p.Levels == 5).WithPageWalkSnoop(snoop)
                    .WithAddressWidth(LargestAddressWidth(unit));
            case PagingDomain p:
                return PasidEntry.SecondStage(p.Table.Root, p.Levels - 2, did).WithPageWalkSnoop(snoop)
                    .WithSecondStageAccessedDirtyEnable(p.DirtyTrackingEnabled);
            case NestedDomain n:
                var s1 = n.S1;
                bool sre = (s1.Flags & VtdS1Flags.SupervisorRequestEnable) != 0;
                var nested = PasidEntry.NestedEntry(0, n.Parent.Table.Root, n.Parent.Levels - 2, did, s1.AddressWidth == 57)
                    .WithPageWalkSnoop(snoop)
                    .WithSecondStageAccessedDirtyEnable(n.Parent.DirtyTrackingEnabled)
                    .WithSupervisorRequestEnable(sre)
                    .WithWriteProtectEnable(sre && (s1.Flags & VtdS1Flags.WriteProtectEnable) != 0)
                    .WithExtendedAccessedFlagEnable((s1.Flags & VtdS1Flags.ExtendedAccessedFlagEnable) != 0);
                // FSPTPTR is bits 63:12 of the entry: the guest's pgtbl_addr goes there masked to 4 KiB and otherwise
                // as it is. Linux does not range-check it (it is a GPA the guest owns); a pointer the unit cannot use
                // faults at DMA time, never here.
                return nested with { Q2 = (nested.Q2 & 0xFFF) | (s1.PageTableAddress & ~0xFFFUL) };
            default:
                throw new InvalidOperationException($"no PASID entry for a {domain.Type} domain");
        }
    }

    private static LegacyContextEntry ContextEntryFor(IntelIommu unit, IntelDomain domain, ushort did) => domain switch
    {
        // Pass-through must carry the largest supported AGAW: it bounds the addresses the device may use.
        IdentityDomain => LegacyContextEntry.Create(new Hpa(0), LargestAddressWidth(unit), did, TranslationType.PassThrough),
        PagingDomain { Format: PagingFormat.SecondStage } p => LegacyContextEntry.Create(p.Table.Root, p.Levels - 2, did),
        _ => throw new InvalidOperationException($"a {domain.Type} domain cannot be used in legacy mode"),
    };

    private static int LargestAddressWidth(IntelIommu unit)
    {
        for (int aw = 3; aw > 0; aw--)
            if (unit.Cap.SupportsAddressWidth(aw)) return aw;
        return 0;
    }

    /// <summary>Second-stage width as Linux picks it: 57-bit if SAGAW has 5-level and MGAW ≥ 48, else 48-bit, else 39-bit.</summary>
    private static int SecondStageLevels(IntelIommu unit)
    {
        int mgaw = unit.Cap.MaximumGuestAddressWidth;
        if (unit.Cap.SupportsAddressWidth(3) && mgaw >= 48) return 5;
        if (unit.Cap.SupportsAddressWidth(2) && mgaw >= 39) return 4;
        return 3;
    }
}
