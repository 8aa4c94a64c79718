using System.Buffers;
using System.Text;
using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Memory;
using VtdSim.Kernel;
using VtdSim.Kernel.Iommufd;
using VtdHwInfo = VtdSim.Kernel.Intel.VtdHwInfo;
using VtdSim.Kernel.Process;
using VtdSim.Vmm.Machines;
using VtdSim.Vmm.Memory;
using VtdSim.Vmm.Vfio;

namespace VtdSim.Vmm;

/// <summary>Where a VMM is in its life.</summary>
public enum VmmState
{
    /// <summary>Started: devices realized, the guest can run.</summary>
    Running,

    /// <summary>Did not start (a bad option, or a device that failed to realize); nothing of it is left in the kernel.</summary>
    Failed,

    /// <summary>Stopped by a fatal error at run time (hw_error); nothing of it is left in the kernel.</summary>
    Aborted,

    /// <summary>Quit by its user; nothing of it is left in the kernel.</summary>
    Stopped,

    /// <summary>
    /// Gone with the machine it ran on: the VMM of that guest machine quit or aborted, and this process, its kernel and
    /// everything they held went at once (decision G20).
    /// </summary>
    Killed,
}

/// <summary>
/// A QEMU-like VMM: a user process of a kernel (the host's, or later a guest's), using nothing but what a process
/// can — mmap for guest RAM and ROMs, /dev/iommu and its ioctls for passthrough devices. It lays out the machine's
/// memory map (<see cref="PcMachine"/>), backs every RAM and ROM region with memory of its process
/// (<see cref="ProcessBacking"/>), and gives host PCI functions to the guest through a VFIO container whose memory
/// listener maps guest memory into an IOAS under the <see cref="ErratumPolicy"/> (docs/vmm.md). Start never throws for
/// what QEMU answers with a message: a VMM that fails to start is <see cref="VmmState.Failed"/>, its messages are in
/// <see cref="Log"/>, and it has left nothing behind in the kernel.
/// </summary>
public sealed partial class Vmm
{
    /// <summary>Where the VMM mmaps its passthrough devices' BARs (nothing the model's kernel can map lives there, decision F11).</summary>
    public const ulong DeviceMmapBase = 0x7e00_0000_0000;

    /// <summary>The size of each passthrough device's BAR 0.</summary>
    public const ulong PassthroughBarSize = 0x10_0000;

    private readonly List<PassthroughDevice> devices = [];
    private readonly List<MemoryRegion> hotAdded = [];
    private IommufdContext? iommufd;
    private VfioContainer? container;
    private Uva heap;
    private int heapUsed;

    private Vmm(LinuxKernel kernel, VmmOptions options)
    {
        Kernel = kernel;
        Options = options;
        Process = kernel.CreateProcess(VmmLog.Program);
    }

    public LinuxKernel Kernel { get; }

    public VmmOptions Options { get; }

    /// <summary>The VMM's process in its kernel.</summary>
    public ProcessAddressSpace Process { get; }

    public VmmState State { get; private set; }

    /// <summary>What the VMM printed (QEMU's stderr).</summary>
    public VmmLog Log { get; } = new();

    /// <summary>The machine's memory map (null if the VMM failed before making it).</summary>
    public PcMachine Machine { get; private set; } = null!;

    public IReadOnlyList<PassthroughDevice> Devices => devices;

    /// <summary>The VFIO container of the passthrough devices (null without any).</summary>
    public VfioContainer? Container => container;

    /// <summary>The shared file behind guest RAM with <see cref="GuestRamBackend.SharedFile"/>.</summary>
    public SharedFile? RamFile { get; private set; }

    /// <summary>
    /// Starts a VMM on <paramref name="kernel"/>: validates the options, makes the process, its guest memory and the
    /// memory map at reset, realizes the passthrough devices in order (QEMU's iommufd_cdev_attach), then lets the
    /// firmware run if <see cref="MachineOptions.Booted"/>. Check <see cref="State"/> and <see cref="Log"/>.
    /// </summary>
    public static Vmm Start(LinuxKernel kernel, VmmOptions options)
    {
        ArgumentNullException.ThrowIfNull(kernel);
        ArgumentNullException.ThrowIfNull(options);
        var vmm = new Vmm(kernel, options);
        if (!vmm.TryStart()) vmm.TearDown(VmmState.Failed);
        else kernel.Machine.PoweringOff += vmm.DieWithMachine;
        return vmm;
    }

    private bool TryStart()
    {
        if (!CheckOptions()) return false;
        try
        {
            if (Options.Layout is { } layout)
            {
                // A user's map (decision I10): built anew for this VMM, taken as the firmware left it.
                MemorySystem? memory = layout.Build();
                string problem = "the memory map has no \"memory\" address space (the system memory)";
                if (memory is null || !PcMachine.TryFromLayout(Options.Machine, memory, out PcMachine? imported, out problem))
                {
                    Log.Error($"{layout.File}: {problem}");
                    return false;
                }
                Machine = imported!;
            }
            else Machine = PcMachine.Create(Options.Machine with { Booted = false });
        }
        catch (ArgumentException e)
        {
            Log.Error(e.Message);
            return false;
        }
        if (Process.Mmap(0x10000, MemoryProtection.ReadWrite, out heap) != Errno.Success)
        {
            Log.Error("failed to allocate memory");
            return false;
        }
        if (!BackGuestMemory() || !CreateMemoryBackends() || !PlugNvdimms()) return false;
        BuildGuestMachine();

        foreach (SourceId host in Options.Passthrough)
        {
            Log.Location = $"-device vfio-pci,host={PassthroughDevice.NameOf(host)},iommufd=iommufd0";
            string? error = Realize(host) ?? SetIommuDevice(devices[^1]);
            if (error is not null)
            {
                Log.Error($"vfio {PassthroughDevice.NameOf(host)}: {error}");
                return false;
            }
        }
        Log.Location = null;
        AddPassthroughFunctions();
        StartNesting();
        StartShadowing();

        if (Options.Machine.Booted && Options.Layout is null) RunFirmware();
        return State == VmmState.Running;
    }

    /// <summary>The option checks QEMU makes before any device is realized, in its order.</summary>
    private bool CheckOptions()
    {
        if ((Options.IntelIommu is not null) != Options.Machine.IntelIommu)
        {
            Log.Error(Options.IntelIommu is not null
                ? "intel-iommu properties are given, but the machine has no -device intel-iommu"
                : "the machine has -device intel-iommu, but its properties are not given");
            return false;
        }
        if (Options.IntelIommu is { } intelIommu)
        {
            // The properties as the VMM's QEMU release has them (x-flts is "not found" in 7.2), then its realize checks.
            Log.Location = $"-device {Options.IntelIommuDeviceText}";
            // TryToProfile realizes it, and refuses by name what the unit does not model (decision P6).
            if (!intelIommu.ForVersion(Options.QemuVersion).TryToProfile(out viommuProfile, out string error))
            {
                Log.Error(error);
                return false;
            }
            Log.Location = null;
        }
        var seen = new HashSet<SourceId>();
        foreach (SourceId host in Options.Passthrough)
        {
            if (!seen.Add(host))
            {
                Log.Location = $"-device vfio-pci,host={PassthroughDevice.NameOf(host)},iommufd=iommufd0";
                Log.Error($"vfio {PassthroughDevice.NameOf(host)}: device is already attached");
                return false;
            }
        }
        return true;
    }

    // ---------------------------------------------------------------- guest memory

    /// <summary>Backs every RAM and ROM region with process memory and loads the ROMs (QEMU's RAM blocks and rom_add_*).</summary>
    private bool BackGuestMemory()
    {
        List<MemoryRegion> regions = RamRegions();
        foreach (MemoryRegion region in regions)
        {
            bool main = region == Machine.PcRam;
            if (!Allocate(region.Name, (ulong)region.Size, main ? Options.RamBackend : GuestRamBackend.Anonymous, out ProcessBacking? backing))
                return false;
            region.Backing = backing;
        }
        Fill(regions, "pc.bios", "pc.bios (vtdsim SeaBIOS image) ");
        Fill(regions, "pc.rom", "pc.rom (vtdsim option ROM area) ");
        return true;
    }

    /// <summary>mmap for one RAM block; QEMU's "cannot set up guest memory" when the kernel refuses.</summary>
    private bool Allocate(string name, ulong size, GuestRamBackend backend, out ProcessBacking? backing)
    {
        backing = null;
        Errno e;
        Uva va;
        switch (backend)
        {
            case GuestRamBackend.Hugetlb2M:
                e = Process.Mmap(size, MemoryProtection.ReadWrite, out va, flags: MapFlags.Hugetlb | MapFlags.Huge2MB);
                break;
            case GuestRamBackend.Hugetlb1G:
                e = Process.Mmap(size, MemoryProtection.ReadWrite, out va, flags: MapFlags.Hugetlb | MapFlags.Huge1GB);
                break;
            case GuestRamBackend.SharedFile:
                RamFile = Kernel.CreateFile($"{VmmLog.Program}:{name}", (size + 0xFFF) & ~0xFFFUL);
                e = Process.MmapShared(RamFile, 0, size, MemoryProtection.ReadWrite, out va);
                break;
            default:
                e = Process.Mmap(size, MemoryProtection.ReadWrite, out va);
                break;
        }
        if (e != Errno.Success)
        {
            Log.Error($"cannot set up guest memory '{name}': {Strerror.Of(e)}");
            return false;
        }
        backing = new ProcessBacking(Process, va, size);
        return true;
    }

    /// <summary>Fills a ROM with a recognisable text, repeated (what QEMU loads from the firmware file).</summary>
    private void Fill(List<MemoryRegion> regions, string regionName, string text)
    {
        if (regions.Find(r => r.Name == regionName)?.Backing is not ProcessBacking b) return;
        byte[] pattern = Encoding.ASCII.GetBytes(text);
        // A page at a time from one page of the pattern plus a period (not an array the size of the ROM): byte `at` of
        // the image is pattern[at mod its length], so the page at `at` is the buffer from that index on.
        const int page = (int)ProcessAddressSpace.PageSize;
        var buffer = new byte[page + pattern.Length];
        for (int i = 0; i < buffer.Length; i++) buffer[i] = pattern[i % pattern.Length];
        for (ulong at = 0; at < b.Length;)
        {
            int n = (int)Math.Min(page, b.Length - at);
            if (Process.Write(b.UserVa + at, buffer.AsSpan((int)(at % (ulong)pattern.Length), n)) != Errno.Success) return;
            at += (ulong)n;
        }
    }

    /// <summary>Every RAM and ROM region of the machine, placed or not (a BAR's RAM before the firmware places it).</summary>
    private List<MemoryRegion> RamRegions()
    {
        var found = new List<MemoryRegion>();
        var seen = new HashSet<MemoryRegion>(ReferenceEqualityComparer.Instance);
        var stack = new Stack<MemoryRegion>();
        foreach (AddressSpace space in Machine.Memory.AddressSpaces) stack.Push(space.Root);
        foreach (PciFunctionModel f in Machine.Functions)
            foreach (Bar bar in f.Bars)
                if (bar.Region is { } r) stack.Push(r);
        while (stack.Count > 0)
        {
            MemoryRegion r = stack.Pop();
            if (!seen.Add(r)) continue;
            if (r.Kind is RegionKind.Ram or RegionKind.Rom or RegionKind.RomDevice) found.Add(r); // RAM, ROM and pflash: memory of the process
            if (r.AliasTarget is { } t) stack.Push(t);
            foreach (MemoryRegion s in r.Subregions) stack.Push(s);
        }
        // Creation order for determinism: pc.ram first, then by name; the devices' expansion ROMs last, as QEMU makes
        // them when it realizes the devices (E9).
        return found.OrderBy(r => r == Machine.PcRam ? 0 : IsExpansionRom(r) ? 2 : 1).ThenBy(r => r.Name, StringComparer.Ordinal).ToList();

        bool IsExpansionRom(MemoryRegion r) => Machine.Functions.Any(f => f.Bars.Any(b => b.Space == BarSpace.Rom && b.Region == r));
    }

    /// <summary>
    /// What a guest-physical address is: the section of the "memory" address space that holds it and, for RAM and ROM,
    /// the process address of the byte (the process's page tables give the frame of the machine below). The one
    /// lookup behind the guest machine's memory (<see cref="GuestMachine"/>) and the VMM's own accesses.
    /// </summary>
    public GuestMapping Resolve(Gpa gpa) =>
        FindSection(gpa.Value, out Uva? va) is { } s
            ? new GuestMapping(gpa, s.Region.Name, va is not null, s.ReadOnly, va)
            : new GuestMapping(gpa, null, false, false, null);

    /// <summary>The section at <paramref name="gpa"/>, and the process address of the byte when it is RAM or ROM backed by the process.</summary>
    private MemorySection? FindSection(ulong gpa, out Uva? va)
    {
        va = null;
        if (Machine is null || Machine.SystemMemory.Find(gpa) is not { } s) return null;
        bool ram = s.Kind is RegionKind.Ram or RegionKind.Rom || (s.Kind == RegionKind.RomDevice && s.RomdMode);
        if (ram && s.Region.Backing is ProcessBacking b) va = b.At(s.OffsetInRegion + (gpa - s.Start));
        return s;
    }

    /// <summary>
    /// Page <paramref name="pfn"/> of guest-physical memory as the guest machine's memory sees it: RAM or ROM only when
    /// one such section covers the whole page at a page-aligned process address (decision G3); its process address and
    /// whether the section is read-only.
    /// </summary>
    internal bool TryResolvePage(ulong pfn, out Uva va, out bool readOnly)
    {
        ulong gpa = pfn << MachineMemory.PageShift;
        va = default;
        readOnly = false;
        if (FindSection(gpa, out Uva? at) is not { } s || at is not Uva page) return false;
        if (page.PageOffset != 0 || (UInt128)s.Start + s.Size < (UInt128)gpa + MachineMemory.PageSize) return false;
        va = page;
        readOnly = s.ReadOnly || s.Kind == RegionKind.RomDevice; // pflash: its command interface (writes) is not modelled (V52)
        return true;
    }

    /// <summary>
    /// Reads guest RAM or ROM as the VMM does, through the guest machine's memory (the same bytes the guest and its
    /// devices see); false where any of it is not memory.
    /// </summary>
    public bool TryReadGuest(Gpa gpa, Span<byte> destination) =>
        GuestMachine is { } guest && guest.Memory.TryRead(new Hpa(gpa.Value), destination);

    /// <summary>
    /// Writes guest RAM or ROM as the VMM does when it loads an image: through the guest machine's memory, and a
    /// read-only page (ROM, PAM read-only RAM) through the VMM's own process memory, which it may write. False where the
    /// address is not memory (what came before it stays written).
    /// </summary>
    public bool TryWriteGuest(Gpa gpa, ReadOnlySpan<byte> source)
    {
        if (GuestMachine is not { } guest) return false;
        ulong at = gpa.Value;
        while (!source.IsEmpty)
        {
            int n = (int)Math.Min((ulong)source.Length, MachineMemory.PageSize - (at & (MachineMemory.PageSize - 1)));
            if (!guest.Memory.TryWrite(new Hpa(at), source[..n]))
            {
                GuestMapping page = Resolve(new Gpa(at));
                if (!page.ReadOnly || page.UserVa is not Uva va || Process.Write(va, source[..n]) != Errno.Success) return false;
            }
            source = source[n..];
            at += (ulong)n;
        }
        return true;
    }

    // ---------------------------------------------------------------- vfio

    /// <summary>
    /// Realizes one passthrough device (QEMU's iommufd_cdev_attach): bind it to the iommufd (opened on first use), join
    /// the existing container or make one — IOAS, IOMMU_GET_HW_INFO, the default HWPT with the policy's flags, attach,
    /// IOVA ranges — and register the memory listener, whose replay maps the current map. Returns QEMU's error text
    /// (without the "vfio NAME: " prefix) or null; on error everything this call made is undone.
    /// </summary>
    private string? Realize(SourceId host)
    {
        if (!Kernel.Machine.Functions.Any(f => f.Id == host))
            return "no such host device: No such file or directory";
        iommufd ??= Kernel.OpenIommufd(Process);
        const int iommufdFd = 3;
        int deviceFd = 4 + devices.Count;
        Errno e = iommufd.DeviceBind(host, out uint devId);
        if (e != Errno.Success) return $"error bind device fd={deviceFd} to iommufd={iommufdFd}: {Strerror.Of(e)}";

        var device = new PassthroughDevice(host, Machine.Memory.RamDevice($"{PassthroughDevice.NameOf(host)} BAR 0 mmaps[0]", PassthroughBarSize)) { DevId = devId };
        device.Bar.Backing = new ProcessBacking(Process, new Uva(DeviceMmapBase + (ulong)devices.Count * 0x1_0000_0000), PassthroughBarSize);

        if (container is not null)
        {
            // Try the container's HWPT (or its IOAS, when the devices are attached to the IOAS itself).
            uint pt = container.HwptId ?? container.IoasId;
            e = iommufd.DeviceAttach(devId, ref pt);
            if (e == Errno.Success)
            {
                device.Container = container;
                devices.Add(device);
                return null;
            }
            // QEMU would go on to a container of its own for an incompatible (EINVAL) HWPT; the model has one container.
            iommufd.DeviceUnbind(devId);
            return $"[iommufd={iommufdFd}] error attach {device.Name} ({deviceFd}) to id={container.HwptId ?? container.IoasId}: {Strerror.Of(e)}";
        }

        string? error = CreateContainer(device, iommufdFd, deviceFd);
        if (error is not null)
        {
            iommufd.DeviceUnbind(devId);
            return error;
        }
        device.Container = container;
        devices.Add(device);
        return null;
    }

    private string? CreateContainer(PassthroughDevice device, int iommufdFd, int deviceFd)
    {
        IommufdContext fd = iommufd!;
        if (fd.IoasAlloc(0, out uint ioasId) is var e && e != Errno.Success) return $"Failed to allocate ioas: {Strerror.Of(e)}";
        var made = new VfioContainer(this, fd, ioasId, (heap + (ulong)(heapUsed += 0x200)).Value);

        // iommufd_cdev_autodomains_get: GET_HW_INFO, then the default HWPT.
        var info = new byte[24];
        uint dataLen = (uint)info.Length;
        HwInfoType type = HwInfoType.Default;
        e = fd.GetHwInfo(device.DevId, ref dataLen, info, ref type, out _, out HwCapabilities caps);
        if (e != Errno.Success) return Undo($"Failed to get hardware info: {Strerror.Of(e)}");
        bool erratum = type == HwInfoType.IntelVtd && dataLen >= 24 && (VtdUapi.DecodeHwInfo(info).Flags & VtdHwInfo.Errata772415Spr17) != 0;

        uint hwptId;
        if (Options.ErratumPolicy == ErratumPolicy.Qemu72)
        {
            // No HWPT of the VMM's own: the device is attached to the IOAS and the kernel makes the domain (F3).
            uint pt = ioasId;
            e = fd.DeviceAttach(device.DevId, ref pt);
            if (e != Errno.Success) return Undo($"[iommufd={iommufdFd}] error attach {device.Name} ({deviceFd}) to id={ioasId}: {Strerror.Of(e)}");
        }
        else
        {
            HwptAllocFlags flags = (caps & HwCapabilities.DirtyTracking) != 0 ? HwptAllocFlags.DirtyTracking : 0;
            if (Options.XFlts)
            {
                flags |= HwptAllocFlags.NestParent;
                if (Options.ErratumPolicy == ErratumPolicy.Qemu11 && erratum) made.BypassRo = true;
            }
            e = fd.HwptAlloc(device.DevId, ioasId, flags, out hwptId);
            if (e != Errno.Success) return Undo($"Failed to allocate hwpt: {Strerror.Of(e)}");
            uint pt = hwptId;
            e = fd.DeviceAttach(device.DevId, ref pt);
            if (e != Errno.Success)
            {
                fd.Destroy(hwptId);
                return Undo($"[iommufd={iommufdFd}] error attach {device.Name} ({deviceFd}) to id={hwptId}: {Strerror.Of(e)}");
            }
            made.HwptId = hwptId;
            made.HwptFlags = flags;
        }

        // iommufd_cdev_get_info_iova_range: the alignment is the container's page size.
        uint num = 0;
        e = fd.IoasIovaRanges(ioasId, ref num, [], out ulong alignment);
        if (e is Errno.Success or Errno.EMSGSIZE && alignment != 0) made.IovaAlignment = alignment;

        container = made;
        Machine.SystemMemory.AddListener(made);
        if (made.Error is { } mapError)
        {
            Machine.SystemMemory.RemoveListener(made); // vfio_listener_unregister: region_del of every section
            container = null;
            fd.DeviceDetach(device.DevId);
            if (made.HwptId is uint h) fd.Destroy(h);
            fd.Destroy(ioasId);
            return "memory listener initialization failed: " + mapError;
        }
        made.Initialized = true;
        return null;

        string Undo(string message)
        {
            fd.DeviceDetach(device.DevId);
            fd.Destroy(ioasId);
            return message;
        }
    }

    /// <summary>The passthrough device whose BAR <paramref name="region"/> is, if any.</summary>
    internal PassthroughDevice? DeviceOwning(MemoryRegion region) => devices.FirstOrDefault(d => d.Bar == region);

    // ---------------------------------------------------------------- run time

    /// <summary>What SeaBIOS does to the map (PAM, BARs, SMRAM) and to RAM (the VGA BIOS shadowed at 0xc0000, itself at 0xe0000).</summary>
    public bool RunFirmware()
    {
        if (State != VmmState.Running || !Machine.RunFirmware()) return false;
        if (State != VmmState.Running) return false; // a fatal map failure while the firmware changed the map
        if (Options.Machine.Defaults)
        {
            byte[] vgaBios = new byte[0xa000];
            byte[] sig = Encoding.Latin1.GetBytes("\x55\xAA\x50VGA BIOS (vtdsim) "); // Latin-1: ASCII would turn 0xAA into '?'
            for (int i = 0; i < vgaBios.Length; i++) vgaBios[i] = i < 3 ? sig[i] : sig[3 + (i - 3) % (sig.Length - 3)];
            TryWriteGuest(new Gpa(0xc0000), vgaBios);
        }
        // The BIOS's top 128 KiB (a pooled buffer: a new one per start would be a large-object allocation each time).
        byte[] bios = ArrayPool<byte>.Shared.Rent(0x20000);
        Span<byte> image = bios.AsSpan(0, 0x20000);
        if (!TryReadGuest(new Gpa(0xfffe0000), image)) image.Clear();
        TryWriteGuest(new Gpa(0xe0000), image);
        ArrayPool<byte>.Shared.Return(bios);
        return true;
    }

    /// <summary>Sets what PAM segment <paramref name="index"/> shows (a guest write to the chipset's PAM registers).</summary>
    public bool TrySetPam(int index, PamMode mode, out string error)
    {
        error = "";
        if (!CheckRunning(out error)) return false;
        if (Machine.Pam.Count == 0) return Fail("the memory map has no PAM segments (a map read from QEMU's output is run as it is)", out error);
        if (index < 0 || index >= PcMachine.PamSegments || !Enum.IsDefined(mode))
        {
            error = $"PAM segment {index} mode {mode}: there are {PcMachine.PamSegments} segments (0-{PcMachine.PamSegments - 1}) with modes 0-3";
            return false;
        }
        Machine.Pam[index].SetMode(mode);
        return true;
    }

    /// <summary>
    /// Places a passthrough device's BAR 0 at <paramref name="address"/> in the PCI space, or takes it out (null): what a
    /// guest does by programming the BAR. The address must be aligned to the BAR's size (a BAR's low bits are read-only).
    /// </summary>
    public bool TryPlacePassthroughBar(int device, ulong? address, out string error) =>
        device >= 0 && device < devices.Count
            ? TryPlace(devices[device].Bar, address, out error)
            : Fail($"no passthrough device {device} (the VM has {devices.Count})", out error);

    /// <summary>Places an emulated function's memory BAR (e.g. the VGA's vga.vram) at an address, or takes it out (null).</summary>
    public bool TryPlaceBar(Bar bar, ulong? address, out string error) =>
        bar.Region is { } region && bar.Space is BarSpace.Memory or BarSpace.Prefetchable
            ? TryPlace(region, address, out error, () => Machine.Bus.ProgramBar(bar, address))
            : Fail($"BAR {bar.Index} does not decode memory", out error);

    private bool TryPlace(MemoryRegion region, ulong? address, out string error, Action? program = null)
    {
        if (!CheckRunning(out error)) return false;
        ulong size = (ulong)region.Size;
        if (address is ulong a && ((a & (size - 1)) != 0 || a > ulong.MaxValue - (size - 1)))
            return Fail($"BAR '{region.Name}' (size 0x{size:x}) cannot be placed at 0x{a:x}: a BAR is aligned to its size", out error);
        if (program is not null)
        {
            program(); // an emulated function's BAR: through its configuration space (E8)
            return true;
        }
        using (Machine.Memory.BeginTransaction())
        {
            if (region.Container is { } parent) parent.RemoveSubregion(region);
            if (address is ulong at) Machine.Pci.AddSubregion(region, at, 1);
        }
        return true;
    }

    /// <summary>
    /// Hot-adds RAM (a pc-dimm): <paramref name="size"/> bytes of new process memory (the RAM backend) shown as region
    /// <paramref name="id"/> at <paramref name="address"/>. The range must be page-aligned, inside the guest's physical
    /// address space (<see cref="GuestPhysicalAddressSize"/>) and show nothing yet in the map; a refused hot-add changes
    /// nothing.
    /// </summary>
    public bool TryHotAddMemory(string id, Gpa address, ulong size, out string error)
    {
        ulong gpa = address.Value;
        if (!CheckRunning(out error)) return false;
        ArgumentNullException.ThrowIfNull(id);
        if (size == 0 || (size & 0xFFF) != 0 || (gpa & 0xFFF) != 0)
            return Fail($"memory hot-add '{id}': address 0x{gpa:x} and size 0x{size:x} must be non-zero multiples of the page size 0x1000", out error);
        if (gpa > ulong.MaxValue - (size - 1))
            return Fail($"memory hot-add '{id}': 0x{gpa:x} + 0x{size:x} passes the end of the address space", out error);
        ulong last = gpa + (size - 1);
        if (GuestMachine is { } guest && last >= guest.Memory.Size)
            return Fail($"memory hot-add '{id}': [0x{gpa:x}, 0x{last:x}] is beyond the guest's physical address space (0x{guest.Memory.Size:x} bytes)", out error);
        foreach (MemorySection hit in Machine.SystemMemory.Sections.Where(s => s.Size != 0 && s.Start <= last && gpa <= s.Last).Take(1))
            return Fail($"memory hot-add '{id}': [0x{gpa:x}, 0x{gpa + (size - 1):x}] overlaps '{hit.Region.Name}' at [0x{hit.Start:x}, 0x{hit.Last:x}]", out error);
        if (hotAdded.Exists(r => r.Name == id)) return Fail($"Duplicate ID '{id}' for device", out error);
        if (!Allocate(id, size, Options.RamBackend, out ProcessBacking? backing))
        {
            error = Log.Lines[^1];
            return false;
        }
        MemoryRegion ram = Machine.Memory.Ram(id, size, backing);
        hotAdded.Add(ram);
        Machine.System.AddSubregion(ram, gpa);
        return true;
    }

    /// <summary>Quits: the devices go, the process exits; the kernel has nothing of the VMM left.</summary>
    public void Quit()
    {
        if (State == VmmState.Running) TearDown(VmmState.Stopped);
    }

    /// <summary>hw_error: QEMU aborts; the process and everything it held goes.</summary>
    internal void Abort() => TearDown(VmmState.Aborted);

    /// <summary>
    /// A device's hw_error (edu's DMA range check): QEMU prints `qemu: hardware error: MESSAGE` and aborts (decision E16).
    /// What the guest machine gives its emulated devices as <see cref="Devices.EmulatedDeviceContext.HardwareError"/>.
    /// </summary>
    public void ReportHardwareError(string message)
    {
        if (State != VmmState.Running) return;
        Log.HardwareError(message);
        Abort();
    }

    private void TearDown(VmmState state)
    {
        State = state;
        StopShadowing();
        StopNesting();
        if (container is not null && Machine is not null) Machine.SystemMemory.RemoveListener(container);
        container = null;
        iommufd?.Close();
        iommufd = null;
        Process.Exit();
        RamFile?.Delete();
        ForgetGuestMemory(); // the process's pages are gone: the guest machine's memory is no longer RAM
        GuestMachine?.PowerOff(); // and a VMM running in the guest goes with it
    }

    /// <summary>
    /// The machine this VMM runs on went (its own VMM quit or aborted): the kernel under this process is gone, so
    /// nothing is undone in it — the references are dropped, the guest machine goes too, and so does any VMM in it.
    /// </summary>
    private void DieWithMachine()
    {
        if (State != VmmState.Running) return;
        State = VmmState.Killed;
        if (nesting is not null && Kernel.Machine.HardwareIommu is { } host) host.Events.Raised -= OnHostIommuEvent;
        nesting = null;
        shadowing = null;
        container = null;
        iommufd = null;
        ForgetGuestMemory();
        GuestMachine?.PowerOff();
    }

    private bool CheckRunning(out string error)
    {
        error = State == VmmState.Running ? "" : $"the VM is not running ({State.ToString().ToLowerInvariant()})";
        return State == VmmState.Running;
    }

    private static bool Fail(string message, out string error)
    {
        error = message;
        return false;
    }
}
