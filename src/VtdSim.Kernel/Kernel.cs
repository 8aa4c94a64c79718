using VtdSim.Hardware.Addressing;
using VtdSim.Kernel.Intel;
using VtdSim.Kernel.Iommufd;
using VtdSim.Kernel.Memory;
using VtdSim.Kernel.Process;
using VtdSim.Machine;

namespace VtdSim.Kernel;

/// <summary>
/// Which physical memory the kernel uses: its own pages (page tables, PASID tables, queues) and, separately, the pages
/// it gives to user processes. Keeping them apart means a DMA that reaches a kernel page is always a bug.
/// </summary>
public sealed record KernelMemoryLayout(Hpa KernelPages, ulong KernelPagesLength, Hpa UserPages, ulong UserPagesLength)
{
    /// <summary>Kernel pages in [1 MiB, 64 MiB), user pages in [64 MiB, 1 GiB): needs a machine with at least 1 GiB.</summary>
    public static KernelMemoryLayout Default { get; } = new(new Hpa(0x10_0000), 63UL << 20, new Hpa(64UL << 20), 960UL << 20);

    public override string ToString() => $"kernel pages {KernelPages}+0x{KernelPagesLength:x}, user pages {UserPages}+0x{UserPagesLength:x}";
}

/// <summary>
/// A booted Linux-like kernel on a machine (the class is in Kernel.cs): the page allocators, the message log, the Intel
/// IOMMU driver, user processes and files, and iommufd. The same kernel boots on a host or inside a guest whose IOMMU
/// is a vIOMMU: it reaches the IOMMU only through the machine's register block and memory.
/// </summary>
public sealed class LinuxKernel
{
    private readonly Dictionary<SourceId, IommufdDevice> _boundDevices = new();
    private readonly Dictionary<string, SharedFile> _files = new(StringComparer.Ordinal);

    private LinuxKernel(PhysicalMachine machine, KernelMemoryLayout layout, IntelIommuOptions? options, KernelLog log)
    {
        Log = log;
        Machine = machine;
        Layout = layout;
        Pages = new PageAllocator(machine, layout.KernelPages, layout.KernelPagesLength);
        UserMemory = new UserMemory(machine, layout.UserPages, layout.UserPagesLength);
        Iommu = new IntelIommuDriver(machine, Pages, Log, options) { FaultTaken = HandOverFault };
    }

    /// <summary>
    /// The model's fault hand-over (decisions N40–N44), after the DMAR handler has logged the record: a fault of a device
    /// bound to an iommufd whose requests (that PASID's, or the RID's) go through a HWPT with a fault queue is queued
    /// there with its stage. Every other fault stays the host's only.
    /// </summary>
    private void HandOverFault(DmarFaultRecord record)
    {
        if (BoundDevice(record.Source) is not { } device) return;
        Hwpt? hwpt = record.Pasid is uint p ? device.PasidHwpts.GetValueOrDefault(p) : device.Attached;
        if (hwpt?.FaultQueue is not { } queue) return;
        VtdFaultStage stage = hwpt is HwptNested nested
            ? NestedFaultStage.Classify(Machine, nested.NestedDomain, in record)
            : NestedFaultStage.OfPaging(in record);
        queue.Push(new VtdFaultEvent(device.Id, record.Pasid, new Iova(record.Address), record.Access, record.Privileged, record.Execute,
            (Hardware.Faults.FaultReason)record.Reason, stage));
    }

    /// <summary>
    /// Boots: sets up the allocators and probes the IOMMU. A layout that does not fit the machine is the caller's
    /// mistake and throws. The IOMMU is the driver's business, as in Linux: without a DMAR unit, with intel_iommu=off
    /// (<see cref="IntelIommuOptions.Enabled"/>), or when the unit cannot be brought up, the kernel boots on without
    /// it (what happened is in <see cref="Log"/>), and devices then have no IOMMU: iommufd refuses to bind them.
    /// </summary>
    public static LinuxKernel Boot(PhysicalMachine machine, KernelMemoryLayout? layout = null, IntelIommuOptions? options = null) =>
        Boot(machine, layout, options, null);

    /// <summary>
    /// Boots with a kernel command line: logs it ("Kernel command line: …") and applies its intel_iommu= parameters
    /// on top of <paramref name="options"/>, logging what Linux logs for them (<see cref="IntelIommuOptions.FromCommandLine"/>).
    /// </summary>
    public static LinuxKernel Boot(PhysicalMachine machine, string commandLine, KernelMemoryLayout? layout = null, IntelIommuOptions? options = null) =>
        Boot(machine, layout, options, commandLine);

    private static LinuxKernel Boot(PhysicalMachine machine, KernelMemoryLayout? layout, IntelIommuOptions? options, string? commandLine)
    {
        layout ??= KernelMemoryLayout.Default;
        ulong size = machine.Memory.Size;
        if (layout.KernelPages.Value + layout.KernelPagesLength > size || layout.UserPages.Value + layout.UserPagesLength > size)
            throw new ArgumentException($"the kernel's memory layout ({layout}) does not fit in the machine's 0x{size:x} bytes of memory");
        if (layout.KernelPages.Value < layout.UserPages.Value + layout.UserPagesLength && layout.UserPages.Value < layout.KernelPages.Value + layout.KernelPagesLength)
            throw new ArgumentException($"the kernel's memory layout ({layout}) overlaps kernel and user pages");
        var log = new KernelLog();
        if (commandLine is not null)
        {
            log.Write("", $"Kernel command line: {commandLine}");
            options = IntelIommuOptions.FromCommandLine(commandLine, log, options);
        }
        var kernel = new LinuxKernel(machine, layout, options, log);
        kernel.Iommu.Probe(); // a refused probe is logged by the driver; the kernel runs on without the IOMMU
        return kernel;
    }

    public PhysicalMachine Machine { get; }
    public KernelMemoryLayout Layout { get; }
    public KernelLog Log { get; }
    /// <summary>The kernel's own pages.</summary>
    public PageAllocator Pages { get; }
    /// <summary>Pages of user processes and the page cache.</summary>
    public UserMemory UserMemory { get; }
    public IntelIommuDriver Iommu { get; }

    public ProcessAddressSpace CreateProcess(string name) => new(UserMemory, name);

    public SharedFile CreateFile(string name, ulong size) => new(UserMemory, name, size);

    /// <summary>
    /// open(path, O_CREAT|O_EXCL) and ftruncate(size) in the kernel's tmpfs (/dev/shm and the like): a file every later
    /// <see cref="OpenFile"/> of the path finds, so every process that maps it maps the same page-cache pages (decision
    /// S60). EEXIST if the path is taken; EINVAL for a size that is not a non-zero multiple of 4 KiB (files here are whole
    /// pages and do not grow); either way nothing is made.
    /// </summary>
    public Errno CreateNamedFile(string path, ulong size, out SharedFile? file)
    {
        ArgumentNullException.ThrowIfNull(path);
        file = null;
        if (_files.ContainsKey(path)) return Errno.EEXIST;
        if (size == 0 || size % 4096 != 0) return Errno.EINVAL;
        file = new SharedFile(UserMemory, path, size);
        _files.Add(path, file);
        return Errno.Success;
    }

    /// <summary>open(path) of a file in the kernel's tmpfs: the file made by <see cref="CreateNamedFile"/>, or ENOENT.</summary>
    public Errno OpenFile(string path, out SharedFile? file)
    {
        ArgumentNullException.ThrowIfNull(path);
        return _files.TryGetValue(path, out file) ? Errno.Success : Errno.ENOENT;
    }

    /// <summary>open("/dev/iommu") by a process: a new iommufd context whose user addresses are that process's.</summary>
    public IommufdContext OpenIommufd(ProcessAddressSpace process) => new(this, process);

    /// <summary>Which context a PCI function is bound to (DMA ownership is exclusive), if any.</summary>
    internal int BoundDeviceCount => _boundDevices.Count;
    internal IommufdDevice? BoundDevice(SourceId function) => _boundDevices.GetValueOrDefault(function);
    internal void AddBound(IommufdDevice device) => _boundDevices.Add(device.SourceId, device);
    internal void RemoveBound(IommufdDevice device) => _boundDevices.Remove(device.SourceId);
}
