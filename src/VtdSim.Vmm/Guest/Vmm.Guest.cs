using System.Numerics;
using VtdSim.Hardware;
using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Invalidation;
using VtdSim.Hardware.Memory;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Registers;
using VtdSim.Kernel;
using VtdSim.Machine;
using VtdSim.Vmm.Devices;
using VtdSim.Vmm.Guest;
using VtdSim.Vmm.Machines;
using VtdSim.Vmm.Memory;
using VtdSim.Vmm.Vfio;

namespace VtdSim.Vmm;

// The guest machine the VMM builds (docs/vmm.md "Guest machine", decisions G1–G12).
public sealed partial class Vmm
{
    /// <summary>The guest CPU's physical address bits unless RAM needs more: QEMU's default CPU model has 40.</summary>
    public const int DefaultGuestPhysBits = 40;

    /// <summary>Where the intel_iommu register page is (QEMU's Q35_HOST_BRIDGE_IOMMU_ADDR).</summary>
    public static readonly Hpa VIommuBase = new(0xfed90000);

    private readonly List<string> standardOutput = [];
    private VtdProfile? viommuProfile; // set by the option checks when the machine has intel-iommu
    private GuestPageResolver? resolver;
    private GuestDmaPort? guestDma;
    private VIommuWatch? viommuWatch; // the vIOMMU's observer: the routes' ear, in front of shadowing and nesting

    /// <summary>
    /// A passthrough device's DMA is refused: the vIOMMU translates and the host neither nests nor shadows for it. What
    /// <see cref="GuestDmaPort"/>'s routes are decided from (decision N70); every change of it refreshes them.
    /// </summary>
    internal bool PassthroughRefused => VIommu is { TranslationEnabled: true } && !PassthroughNested && !PassthroughShadowed;

    /// <summary>
    /// The observer the VMM sets on its vIOMMU: after SRTP and a TE change (what <see cref="PassthroughRefused"/> reads
    /// of the unit) the passthrough routes are decided again, before the shadowing and nesting observers behind it hear
    /// of the notice.
    /// </summary>
    private sealed class VIommuWatch(GuestDmaPort port) : IVtdUnitObserver
    {
        /// <summary>The shadowing or nesting observer, or null.</summary>
        public IVtdUnitObserver? Next { get; set; }

        public void Notice(in UnitNotice notice)
        {
            if (notice.Kind is UnitNoticeKind.RootTablePointerSet or UnitNoticeKind.TranslationEnableChanged) port.Refresh();
            Next?.Notice(in notice);
        }
    }

    /// <summary>
    /// The guest machine: memory that is the VMM process's guest RAM (a <see cref="GuestMemory"/> view over the
    /// memory of the machine the VMM's kernel runs on), MMIO through the flat view of the "memory" address space, the
    /// vIOMMU with <c>-device intel-iommu</c>, and a DMA port for its functions (<see cref="GuestDmaPort"/>). The same
    /// <c>LinuxKernel</c> boots on it. Null if the VMM failed before making it.
    /// </summary>
    public PhysicalMachine GuestMachine { get; private set; } = null!;

    /// <summary>What the VMM's devices printed on stdout (edu's "EDU: clamping DMA …!"), line by line.</summary>
    public IReadOnlyList<string> StandardOutput => standardOutput;

    /// <summary>The vIOMMU (a VT-d unit over guest memory), with <c>-device intel-iommu</c>.</summary>
    public VtdUnit? VIommu { get; private set; }

    /// <summary>The size of the guest's physical address space: 2^40, or the power of two that holds the end of RAM.</summary>
    public ulong GuestPhysicalAddressSize => GuestAddressSpaceSize(Options.Machine);

    private static ulong GuestAddressSpaceSize(MachineOptions machine)
    {
        const ulong fourGiB = 1UL << 32;
        // RAM ends below 4 GiB, or at 4 GiB + what lies above it (the split depends on the type, but never exceeds -m).
        ulong end = fourGiB + machine.RamSize;
        return Math.Max(1UL << DefaultGuestPhysBits, BitOperations.RoundUpToPowerOf2(end));
    }

    /// <summary>
    /// The vIOMMU's unit profile: CAP/ECAP as the VMM's QEMU release derives them from the intel-iommu properties
    /// (QEMU's vtd_cap_init, <see cref="IntelIommuProperties.TryToProfile"/>), or null without intel-iommu.
    /// </summary>
    public VtdProfile? VIommuProfile() => viommuProfile;

    /// <summary>
    /// A memory layout for a kernel booted on the guest machine, from the guest's RAM below 4 GiB: kernel pages from
    /// 1 MiB, user pages from the next 2 MiB boundary past a quarter of that RAM (64 MiB at most) to its end. Null when
    /// the guest has less than 8 MiB below 4 GiB (too little for a kernel).
    /// </summary>
    public KernelMemoryLayout? GuestKernelLayout()
    {
        const ulong mib = 1UL << 20;
        if (Machine is null) return null;
        ulong below = Machine.RamBelow4G & ~(2 * mib - 1);
        if (below < 8 * mib) return null;
        ulong user = Math.Min(64 * mib, (mib + (below - mib) / 4 + 2 * mib - 1) & ~(2 * mib - 1));
        return new KernelMemoryLayout(new Hpa(mib), user - mib, new Hpa(user), below - user);
    }

    /// <summary>Makes the guest machine over the process's guest memory (after the RAM blocks are mmapped).</summary>
    private void BuildGuestMachine()
    {
        resolver = new GuestPageResolver(this);
        var memory = new GuestMemory(GuestPhysicalAddressSize, resolver);
        resolver.View = memory;
        Machine.SystemMemory.AddListener(resolver);
        var interrupts = new InterruptController();
        IDmaPort own;
        RemappingUnitDescription[] units = [];
        if (Options.Machine.IntelIommu)
        {
            var unit = new VtdUnit(memory, viommuProfile!, VIommuBase);
            unit.Events.Raised += interrupts.OnUnitEvent; // its fault and completion events are MSIs of the guest
            if (FindRegion(Machine.System, "intel_iommu") is { } registers) registers.Ops = new VIommuRegisters(unit);
            VIommu = unit;
            own = new VtdUnitDmaPort(unit, interrupts);
            units = [new RemappingUnitDescription(VIommuBase)];
        }
        else
        {
            own = new DirectDmaPort(memory, interrupts);
        }
        guestDma = new GuestDmaPort(own, Kernel.Machine.Dma, () => PassthroughRefused, DeliverHostFaults);
        if (VIommu is { } viommu) viommu.Observer = viommuWatch = new VIommuWatch(guestDma);
        GuestMachine = new PhysicalMachine(memory, units, guestDma, interrupts, new FlatViewMmio(Machine.SystemMemory));
        ConnectEmulatedDevices();
    }

    /// <summary>
    /// Wires every emulated device (`-device edu`, `-device iommu-testdev`) to the guest machine (decision G14): it is a
    /// function on the guest's bus with its requester id (bus 0, its devfn), its DMA goes through the guest's port (the
    /// vIOMMU, or straight to guest memory), its timers run on the guest's clock, iommu-testdev reads back through the
    /// guest's memory, a hardware error aborts the VMM, and what it prints goes to <see cref="StandardOutput"/>. INTx
    /// is not delivered (the model's interrupt controller takes MSIs only).
    /// </summary>
    private void ConnectEmulatedDevices()
    {
        foreach (IEmulatedPciDevice device in Machine.Devices)
        {
            int devFn = device.Function.DevFn;
            var id = new SourceId(0, devFn >> 3, devFn & 7);
            GuestMachine.AddFunction(new PciFunction(id, device.Model));
            device.Connect(new EmulatedDeviceContext(GuestMachine.Dma, id, GuestMachine.Clock, null, GuestMachine.Memory, ReportHardwareError, standardOutput.Add));
        }
    }

    /// <summary>Puts every realized passthrough device on the guest's bus, in the first free slots (as QEMU's PCI bus does).</summary>
    private void AddPassthroughFunctions()
    {
        var used = new HashSet<int>(Machine.Functions.Select(f => f.DevFn >> 3));
        int slot = 0;
        foreach (PassthroughDevice device in devices)
        {
            while (used.Contains(slot)) slot++;
            if (slot > 31) return; // the bus is full (QEMU refuses such a device at realize; the model has 32 slots)
            used.Add(slot);
            var id = new SourceId(0, (byte)slot, 0);
            device.Guest = id;
            GuestMachine.AddFunction(new PciFunction(id, device.Name));
            guestDma!.AddPassthrough(id, device.Host);
        }
    }

    /// <summary>After the process's guest memory is gone: the guest machine has no RAM and no passthrough devices left.</summary>
    private void ForgetGuestMemory()
    {
        resolver?.Invalidate();
        guestDma?.ClearPassthrough();
    }

    private static MemoryRegion? FindRegion(MemoryRegion container, string name) =>
        container.Subregions.FirstOrDefault(r => r.Name == name);
}
