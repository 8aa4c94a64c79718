using System.Buffers.Binary;
using VtdSim.Hardware;
using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Memory;
using VtdSim.Hardware.Profiles;

namespace VtdSim.Machine;

/// <summary>
/// A machine as software on it sees it: physical memory, MMIO regions that claim parts of the address space (the
/// IOMMU's register page among them), the DMA port its PCI functions use, and the interrupt controller their MSIs
/// reach. CPU accesses go to the MMIO region that claims the address, else to the machine's <see cref="MmioRouter"/> if
/// it has one (a guest machine's device dispatch, its VMM's flat view), else to memory. Firmware's description of the
/// DMA remapping units (<see cref="RemappingUnits"/>, the DMAR table) is how the kernel finds an IOMMU; a machine may
/// have none.
/// </summary>
public sealed class PhysicalMachine
{
    private readonly List<IMmioRegion> _mmio = new();
    private MmioWindow[] _windows = []; // _mmio's address ranges, for the check every CPU access makes
    private ulong _mmioLow = ulong.MaxValue, _mmioHigh; // [lowest start, highest end) of all windows: most RAM is outside
    private readonly List<PciFunction> _functions = new();
    private readonly IMmioRouter? _router;

    /// <summary>A machine with one remapping unit at <paramref name="iommuBase"/> and its own interrupt controller.</summary>
    public PhysicalMachine(MachineMemory memory, Hpa iommuBase, IDmaPort dma)
        : this(memory, [new RemappingUnitDescription(iommuBase)], dma, new InterruptController())
    {
    }

    /// <summary>
    /// A machine whose firmware lists <paramref name="remappingUnits"/> (none: no DMAR table), whose devices' DMA goes
    /// through <paramref name="dma"/>, and whose MSIs reach <paramref name="interrupts"/>. With <paramref name="router"/>,
    /// CPU accesses that no mapped <see cref="IMmioRegion"/> claims are offered to it before memory.
    /// </summary>
    public PhysicalMachine(MachineMemory memory, IReadOnlyList<RemappingUnitDescription> remappingUnits, IDmaPort dma, InterruptController interrupts, IMmioRouter? router = null)
    {
        Memory = memory;
        _router = router;
        RemappingUnits = [.. remappingUnits];
        Dma = dma;
        Interrupts = interrupts;
    }

    /// <summary>
    /// A bare-metal host: memory and a hardware VT-d unit of the given profile at its default base. The unit's
    /// interrupt messages (fault event, invalidation completion) go to the machine's interrupt controller.
    /// </summary>
    public static PhysicalMachine Host(VtdProfile profile, ulong memorySize)
    {
        var memory = new PhysicalMemory(memorySize);
        var unit = new VtdUnit(memory, profile);
        var interrupts = new InterruptController();
        unit.Events.Raised += interrupts.OnUnitEvent;
        var machine = new PhysicalMachine(memory, [new RemappingUnitDescription(unit.RegisterBase)], new VtdUnitDmaPort(unit, interrupts), interrupts)
        {
            HardwareIommu = unit,
        };
        machine.Map(new VtdUnitMmio(unit));
        return machine;
    }

    /// <summary>
    /// A machine with memory and no DMA remapping unit (no DMAR table): devices' DMA addresses are physical addresses
    /// and go straight to memory (<see cref="DirectDmaPort"/>) — a guest without a vIOMMU, or a host with VT-d off in
    /// firmware.
    /// </summary>
    public static PhysicalMachine WithoutIommu(ulong memorySize)
    {
        var memory = new PhysicalMemory(memorySize);
        var interrupts = new InterruptController();
        return new PhysicalMachine(memory, [], new DirectDmaPort(memory, interrupts), interrupts);
    }

    public MachineMemory Memory { get; }
    /// <summary>The DMA remapping units firmware describes (ACPI DMAR's DRHDs), in table order; empty without an IOMMU.</summary>
    public IReadOnlyList<RemappingUnitDescription> RemappingUnits { get; }
    /// <summary>Whether firmware describes any DMA remapping unit.</summary>
    public bool HasIommu => RemappingUnits.Count != 0;
    /// <summary>
    /// Where the first remapping unit's registers are (what firmware's DMAR table tells the kernel). A machine without
    /// one has no such address: asking is a mistake of the caller (check <see cref="HasIommu"/>).
    /// </summary>
    public Hpa IommuBase => HasIommu ? RemappingUnits[0].RegisterBase : throw new InvalidOperationException("this machine has no DMA remapping unit");
    public IDmaPort Dma { get; }
    /// <summary>Where MSIs go: the IOMMU's fault event, devices' interrupts.</summary>
    public InterruptController Interrupts { get; }
    /// <summary>The machine's time, moved only by whoever drives the machine.</summary>
    public MachineClock Clock { get; } = new();

    /// <summary>The machine is gone (a guest machine whose VMM quit, aborted or died with the machine it ran on).</summary>
    public bool PoweredOff { get; private set; }

    /// <summary>Raised once, when the machine goes: what ran on it (a VMM in a guest, with its own guest) goes with it.</summary>
    public event Action? PoweringOff;

    /// <summary>Ends the machine: <see cref="PoweringOff"/> is raised the first time, later calls do nothing.</summary>
    public void PowerOff()
    {
        if (PoweredOff) return;
        PoweredOff = true;
        PoweringOff?.Invoke();
    }
    /// <summary>The hardware unit when this is a bare-metal machine (for tools and tests, never for the kernel).</summary>
    public VtdUnit? HardwareIommu { get; init; }
    public IReadOnlyList<IMmioRegion> MmioRegions => _mmio;
    /// <summary>The device dispatch this machine takes from elsewhere (a guest's: its VMM's flat view), if any.</summary>
    public IMmioRouter? MmioRouter => _router;
    /// <summary>The PCI functions on the machine's bus, as enumeration finds them.</summary>
    public IReadOnlyList<PciFunction> Functions => _functions;

    public PciFunction AddFunction(PciFunction function)
    {
        if (_functions.Exists(f => f.Id == function.Id)) throw new ArgumentException($"a PCI function {function.Id} already exists");
        _functions.Add(function);
        return function;
    }

    public void Map(IMmioRegion region)
    {
        foreach (var r in _mmio)
        {
            if (region.Base.Value < r.Base.Value + r.Size && r.Base.Value < region.Base.Value + region.Size)
                throw new ArgumentException($"MMIO region at {region.Base} (+0x{region.Size:x}) overlaps the one at {r.Base}");
        }
        _mmio.Add(region);
        _windows = [.. _mmio.Select(r => new MmioWindow(r.Base.Value, r.Base.Value + r.Size, r))];
        _mmioLow = _windows.Min(w => w.Start);
        _mmioHigh = _windows.Max(w => w.End);
    }

    /// <summary>An MMIO region's range [Start, End), read without calling into the region.</summary>
    private readonly record struct MmioWindow(ulong Start, ulong End, IMmioRegion Region);

    /// <summary>A CPU load of 1, 2, 4 or 8 bytes. False when nothing answers (beyond memory, or an access the device refuses).</summary>
    public bool TryRead(Hpa address, int size, out ulong value)
    {
        CheckSize(size);
        if (FindRegion(address, size) is { } region) return region.TryRead(address.Value - region.Base.Value, size, out value);
        if (_router is not null && _router.Read(address, size, out value) is var outcome && outcome != MmioOutcome.Memory)
            return outcome == MmioOutcome.Device || Refused(size, out value);
        if (size == 8 && (address.Value & 7) == 0) return Memory.TryRead64(address, out value); // the common case: a table entry
        Span<byte> bytes = stackalloc byte[8];
        bytes.Clear();
        bool ok = Memory.TryRead(address, bytes[..size]);
        value = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        return ok;
    }

    /// <summary>A CPU store of 1, 2, 4 or 8 bytes.</summary>
    public bool TryWrite(Hpa address, int size, ulong value)
    {
        CheckSize(size);
        if (FindRegion(address, size) is { } region)
        {
            bool accepted = region.TryWrite(address.Value - region.Base.Value, size, value);
            Interrupts.DeliverPending(); // a store to a device register (e.g. unmasking FECTL) may have raised an MSI (B8)
            return accepted;
        }
        if (_router is not null && _router.Write(address, size, value) is var outcome && outcome != MmioOutcome.Memory)
        {
            Interrupts.DeliverPending();
            return outcome == MmioOutcome.Device;
        }
        if (size == 8 && (address.Value & 7) == 0) return Memory.TryWrite64(address, value);
        Span<byte> bytes = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, value);
        return Memory.TryWrite(address, bytes[..size]);
    }

    /// <summary>A load a device refused reads as all ones, as an unclaimed bus read.</summary>
    private static bool Refused(int size, out ulong value)
    {
        value = size == 8 ? ulong.MaxValue : (1UL << (8 * size)) - 1;
        return false;
    }

    public ulong Read(Hpa address, int size) =>
        TryRead(address, size, out ulong v) ? v : throw new MemoryAccessException(address, size, "no memory or device answered");

    public void Write(Hpa address, int size, ulong value)
    {
        if (!TryWrite(address, size, value)) throw new MemoryAccessException(address, size, "no memory or device accepted the write");
    }

    /// <summary>A CPU copy out of RAM (never MMIO): what a kernel does to read a table or a buffer.</summary>
    public bool TryReadBytes(Hpa address, Span<byte> destination) =>
        FindRegion(address, Math.Max(destination.Length, 1)) is null && Memory.TryRead(address, destination);

    /// <summary>A CPU copy into RAM (never MMIO).</summary>
    public bool TryWriteBytes(Hpa address, ReadOnlySpan<byte> source) =>
        FindRegion(address, Math.Max(source.Length, 1)) is null && Memory.TryWrite(address, source);

    /// <summary>
    /// Zeroes a RAM range (never MMIO), paying only for the memory in it that was ever written: how a kernel clears a
    /// huge page it hands out.
    /// </summary>
    public bool TryZeroBytes(Hpa address, ulong length)
    {
        foreach (var r in _mmio)
        {
            bool overlaps = address.Value < r.Base.Value + r.Size && (r.Base.Value <= address.Value || r.Base.Value - address.Value < length);
            if (length != 0 && overlaps) return false;
        }
        return Memory.TryZero(address, length);
    }

    /// <summary>The MMIO region an access falls in, if any (an access straddling a region's edge belongs to it too).</summary>
    public IMmioRegion? FindRegion(Hpa address, int size)
    {
        if (address.Value >= _mmioHigh || address.Value + (ulong)size <= _mmioLow) return null;
        foreach (ref readonly MmioWindow w in _windows.AsSpan())
        {
            if (address.Value < w.End && w.Start < address.Value + (ulong)size) return w.Region;
        }
        return null;
    }

    private static void CheckSize(int size)
    {
        if (size is not (1 or 2 or 4 or 8)) throw new ArgumentOutOfRangeException(nameof(size), size, "a CPU access is 1, 2, 4 or 8 bytes");
    }
}
