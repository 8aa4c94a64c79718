using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Profiles;
using VtdSim.Kernel;
using VtdSim.Kernel.Process;
using VtdSim.Vmm.Devices;
using VtdSim.Vmm.Memory;
using VtdSim.Vmm.Vfio;

namespace VtdSim.Vmm;

public sealed partial class Vmm
{
    private readonly Dictionary<string, MemoryRegion> backends = new(StringComparer.Ordinal);

    /// <summary>The RAM block of each `-object memory-backend-file` by its id (decision S61).</summary>
    public IReadOnlyDictionary<string, MemoryRegion> MemoryBackends => backends;

    /// <summary>
    /// The guest-physical address where device memory starts (QEMU's device_memory base on pc and q35): the first GiB
    /// boundary at or above the end of RAM above 4 GiB (4 GiB when all RAM is below it).
    /// </summary>
    public ulong DeviceMemoryBase => (0x1_0000_0000UL + Machine.RamAbove4G + (1UL << 30) - 1) & ~((1UL << 30) - 1);

    /// <summary>
    /// Makes every `-object memory-backend-file` (QEMU's file_backend_memory_alloc, then file_ram_open and the mmap):
    /// opens the file in the VMM's kernel — creating it if it is not there, unless read-only — and maps it MAP_SHARED,
    /// PROT_READ for a read-only backend, as a RAM block named by the id (read-only memory when `readonly=on`). The first
    /// failure stops the start with QEMU's message (decision S61).
    /// </summary>
    private bool CreateMemoryBackends()
    {
        foreach (MemoryBackendFile b in Options.MemoryBackends)
        {
            Log.Location = b.Location;
            string? error = CreateMemoryBackend(b);
            if (error is not null)
            {
                Log.Error(error);
                return false;
            }
        }
        Log.Location = null;
        return true;
    }

    private string? CreateMemoryBackend(MemoryBackendFile b)
    {
        if (backends.ContainsKey(b.Id)) return $"attempt to add duplicate property '{b.Id}' to object (type 'container')";
        if (b.Size == 0) return "can't create backend with size 0";
        if (b.MemPath is not string path) return "mem-path property not set";
        if (!b.Share) return "share=off (a private, copy-on-write mapping of the file) is not modelled by vtdsim; give share=on";
        ulong size = (b.Size + ProcessAddressSpace.PageSize - 1) & ~(ProcessAddressSpace.PageSize - 1); // HOST_PAGE_ALIGN
        Errno e = Kernel.OpenFile(path, out SharedFile? file);
        if (e == Errno.ENOENT && !b.ReadOnly) e = Kernel.CreateNamedFile(path, size, out file); // O_RDWR falls back to O_CREAT
        if (e != Errno.Success) return $"can't open backing store {path} for guest RAM: {Strerror.Of(e)}";
        if (file!.Size < size)
        {
            return Options.QemuVersion == QemuVersion.Qemu72
                ? $"backing store size 0x{file.Size:x} does not match 'size' option 0x{size:x}"
                : $"{b.Id} backing store size 0x{file.Size:x} is too small for 'size' option 0x{size:x} plus 'offset' option 0x0";
        }
        e = Process.MmapShared(file, 0, size, b.ReadOnly ? MemoryProtection.Read : MemoryProtection.ReadWrite, out Uva va);
        if (e != Errno.Success) return $"unable to map backing store for guest RAM: {Strerror.Of(e)}";
        MemoryRegion ram = Machine.Memory.Ram(b.Id, size, new ProcessBacking(Process, va, size));
        if (b.ReadOnly) ram.SetReadOnly(true); // memory_region_init_ram_from_file with RAM_READONLY: a ROM to the guest
        backends.Add(b.Id, ram);
        return null;
    }

    /// <summary>
    /// Plugs every `-device nvdimm` (pc_dimm_realize, nvdimm_prepare_memory_region, memory_device_pre_plug): its backend
    /// must exist and be free, a read-only one needs `unarmed=on`, and its memory — an "nvdimm-memory" alias of the
    /// backend's whole RAM block (no label area) — goes at `addr` or the first free page-aligned address of device memory.
    /// The first failure stops the start with QEMU's message (decision S62).
    /// </summary>
    private bool PlugNvdimms()
    {
        var busy = new HashSet<string>(StringComparer.Ordinal);
        var placed = new List<(ulong Start, ulong End, string Id)>();
        foreach (NvdimmOptions n in Options.Nvdimms)
        {
            Log.Location = n.Location;
            string? error = PlugNvdimm(n, busy, placed);
            if (error is not null)
            {
                Log.Error(error);
                return false;
            }
        }
        Log.Location = null;
        return true;
    }

    private string? PlugNvdimm(NvdimmOptions n, HashSet<string> busy, List<(ulong Start, ulong End, string Id)> placed)
    {
        if (n.Memdev is not string memdev) return "'memdev' property is not set";
        if (!backends.TryGetValue(memdev, out MemoryRegion? backend)) return $"Device '{memdev}' not found";
        if (!busy.Add(memdev)) return $"can't use already busy memdev: {memdev}";
        if (!n.Unarmed && backend.ReadOnly) return $"'unarmed' property must be 'on' since memdev {memdev} is read-only";
        ulong size = (ulong)backend.Size, page = ProcessAddressSpace.PageSize;
        ulong start;
        if (n.Address is ulong at)
        {
            if ((at & (page - 1)) != 0) return $"address must be aligned to 0x{page:x} bytes";
            if (at < DeviceMemoryBase || at > GuestPhysicalAddressSize || size > GuestPhysicalAddressSize - at)
                return $"can't add memory device [0x{at:x}:0x{at + (size - 1):x}], usable range for memory devices [0x{DeviceMemoryBase:x}:0x{GuestPhysicalAddressSize - 1:x}]";
            foreach (var p in placed)
                if (at < p.End && p.Start < at + size) return $"address range conflicts with memory device id='{p.Id}'";
            start = at;
        }
        else
        {
            start = DeviceMemoryBase;
            foreach (var p in placed.OrderBy(p => p.Start))
                if (start < p.End && p.Start < start + size) start = p.End;
            if (start > GuestPhysicalAddressSize || size > GuestPhysicalAddressSize - start)
                return $"could not find position in guest address space for memory device - memory fragmented due to alignments";
        }
        placed.Add((start, start + size, n.Id ?? "(null)"));
        MemoryRegion alias = Machine.Memory.Alias("nvdimm-memory", backend, 0, size);
        Machine.System.AddSubregion(alias, start);
        return null;
    }
}
