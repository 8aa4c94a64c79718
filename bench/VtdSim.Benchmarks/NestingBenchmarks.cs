using BenchmarkDotNet.Attributes;
using VtdSim.Hardware;
using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Invalidation;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Registers;
using VtdSim.Hardware.Structures;
using VtdSim.Kernel;
using VtdSim.Kernel.Iommufd;
using VtdSim.Kernel.Process;
using VtdSim.Machine;
using VtdSim.Vmm;
using VtdSim.Vmm.Devices;
using VtdSim.Vmm.Machines;
using VtdSim.Vmm.Vfio;

namespace VtdSim.Benchmarks;

/// <summary>
/// Issue 10's targets for a passthrough device under a vIOMMU (docs/performance.md, "Nesting and shadowing"):
/// <list type="bullet">
/// <item>a guest's page-selective PASID-based IOTLB invalidation of one 4 KiB page, end to end: the guest writes the
/// descriptor and a wait into its queue and moves IQT; the vIOMMU carries them out; the VMM forwards the invalidation
/// in one IOMMU_HWPT_INVALIDATE; the host kernel flushes its unit with a queued P_IOTLB and a wait (target &lt; 1 µs);</item>
/// <item>shadowing one 4 KiB guest map and its unmap: the guest writes a second-level leaf and a page-selective IOTLB
/// invalidation; the vIOMMU carries it out; the VMM walks the guest's table for that page and maps the page into the
/// shadow IOAS, pinning it; then the same with the leaf cleared, which unmaps and unpins it (target: the map &lt; 2 µs).
/// Once with that page alone in the shadow (its page-table pages are freed and allocated again each time), once with
/// a neighbour that keeps them, and once among 4,096 other mapped pages (a sync must not cost more with more
/// mappings).</item>
/// </list>
/// </summary>
[MemoryDiagnoser]
public class NestingBenchmarks
{
    private const ulong Iova = 0x100_0000, ShadowIova = 0x200_0000;
    private static readonly SourceId Nic = new(0, 4, 0);
    private VtdSim.Vmm.Vmm _nested = null!;
    private InvalidationDescriptor[] _forward = null!;
    private Shadowed _alone = null!, _withNeighbour = null!, _among4096 = null!;

    [GlobalSetup]
    public void Setup()
    {
        // Nesting: x-flts, a guest process's page mapped for the device through the guest kernel's iommufd (first stage).
        _nested = Start("x-scalable-mode=on,x-flts=on,caching-mode=on", out SourceId device);
        MapForDevice(_nested, device, Iova);
        ushort did = _nested.NestingBindings[0].CachedEntry!.Value.DomainId;
        _forward = [InvalidationDescriptor.PasidIotlbPage(did, 0, Iova, hint: true), InvalidationDescriptor.Wait(0x8000, 1)];
        long before = _nested.NestingBindings[0].ForwardedInvalidations;
        ForwardOnePage();
        if (_nested.NestingBindings[0].ForwardedInvalidations != before + 1 || _nested.Log.Lines.Count != 0)
            throw new InvalidOperationException("the guest's invalidation is not forwarded");

        // Shadowing: legacy mode with caching mode; the guest's second-level leaf for ShadowIova found by walking its tables.
        _alone = new Shadowed(pages: 1);
        _withNeighbour = new Shadowed(pages: 2);
        _among4096 = new Shadowed(pages: 4097);
    }

    [Benchmark(Description = "Guest P_IOTLB of one 4 KiB page forwarded to the host, end to end")]
    public int ForwardOnePage()
    {
        Submit(_nested, _forward);
        return (int)_nested.NestingBindings[0].ForwardedInvalidations;
    }

    [Benchmark(Description = "Shadow one 4 KiB guest map and its unmap (PSI, walk, IOAS map/unmap with pinning)")]
    public int ShadowMapUnmap() => _alone.MapUnmap();

    [Benchmark(Description = "The same, a mapped neighbour keeping the shadow's page-table pages")]
    public int ShadowMapUnmapBesideANeighbour() => _withNeighbour.MapUnmap();

    [Benchmark(Description = "The same, among 4,096 other mapped pages")]
    public int ShadowMapUnmapAmong4096() => _among4096.MapUnmap();

    /// <summary>
    /// A shadowing VMM whose guest maps <c>pages</c> pages from ShadowIova; the first page's guest leaf is cleared, so
    /// each <see cref="MapUnmap"/> maps it and unmaps it again while the others stay.
    /// </summary>
    private sealed class Shadowed
    {
        private readonly VtdSim.Vmm.Vmm _vmm;
        private readonly Hpa _leaf;
        private readonly ulong _leafValue;
        private readonly ushort _did;

        public Shadowed(int pages)
        {
            _vmm = Start("caching-mode=on", out SourceId device);
            MapForDevice(_vmm, device, ShadowIova, pages);
            (_leaf, _did) = LegacyLeaf(_vmm, device, ShadowIova);
            _leafValue = _vmm.GuestMachine.Memory.Read64(_leaf);
            _vmm.GuestMachine.Memory.Write64(_leaf, 0); // start unmapped: each operation maps, then unmaps
            Submit(_vmm, InvalidationDescriptor.IotlbPage(_did, ShadowIova));
            var binding = _vmm.ShadowBindings[0];
            long maps = binding.Maps, unmaps = binding.Unmaps;
            MapUnmap();
            if (binding.Maps != maps + 1 || binding.Unmaps != unmaps + 1 || binding.Mappings.Count != pages - 1 || _vmm.Log.Lines.Count != 0)
                throw new InvalidOperationException($"the guest's map of {pages} page(s) is not shadowed: {binding.Maps - maps} map(s), "
                    + $"{binding.Unmaps - unmaps} unmap(s), {binding.Mappings.Count} left; {string.Join("; ", _vmm.Log.Lines)}");
        }

        public int MapUnmap()
        {
            var memory = _vmm.GuestMachine.Memory;
            memory.Write64(_leaf, _leafValue);
            Submit(_vmm, InvalidationDescriptor.IotlbPage(_did, ShadowIova));
            memory.Write64(_leaf, 0);
            Submit(_vmm, InvalidationDescriptor.IotlbPage(_did, ShadowIova));
            return (int)_vmm.ShadowBindings[0].Maps;
        }
    }

    private static VtdSim.Vmm.Vmm Start(string properties, out SourceId guestDevice)
    {
        var machine = PhysicalMachine.Host(BuiltInProfiles.SapphireRapids, 8UL << 30);
        machine.AddFunction(new PciFunction(Nic, "nic"));
        LinuxKernel host = LinuxKernel.Boot(machine);
        if (!IntelIommuProperties.TryParse(QemuVersion.Qemu11, properties, out IntelIommuProperties viommu, out string error))
            throw new InvalidOperationException(error);
        var vmm = VtdSim.Vmm.Vmm.Start(host, new VmmOptions
        {
            Machine = new MachineOptions { Type = MachineType.Q35, RamSize = 256UL << 20, Booted = true, Defaults = false },
            ErratumPolicy = ErratumPolicy.Qemu11,
            Passthrough = [Nic],
        }.WithIntelIommu(viommu));
        guestDevice = vmm.Devices[0].Guest!.Value;
        return vmm;
    }

    private static void MapForDevice(VtdSim.Vmm.Vmm vmm, SourceId device, ulong iova, int pages = 1)
    {
        LinuxKernel guest = LinuxKernel.Boot(vmm.GuestMachine, "intel_iommu=on", vmm.GuestKernelLayout());
        ProcessAddressSpace app = guest.CreateProcess("app");
        IommufdContext fd = guest.OpenIommufd(app);
        KernelBenchHost.Check(fd.DeviceBind(device, out uint dev), "bind");
        KernelBenchHost.Check(fd.IoasAlloc(0, out uint ioas), "ioas");
        uint pt = ioas;
        KernelBenchHost.Check(fd.DeviceAttach(dev, ref pt), "attach");
        KernelBenchHost.Check(app.Mmap(0x1000UL * (ulong)pages, MemoryProtection.ReadWrite, out Uva va), "mmap");
        // One 4 KiB map each, every other IOVA page: no two are contiguous, so the guest's tables hold 4 KiB leaves only.
        for (int i = 0; i < pages; i++)
        {
            ulong at = iova + 0x2000UL * (ulong)i;
            KernelBenchHost.Check(fd.IoasMap(ioas, IoasMapFlags.ReadWrite | IoasMapFlags.FixedIova, va + 0x1000UL * (ulong)i, 0x1000, ref at), "map");
        }
    }

    /// <summary>The guest's legacy second-level leaf entry for <paramref name="iova"/> (a guest-physical address) and its domain id.</summary>
    private static (Hpa Leaf, ushort Did) LegacyLeaf(VtdSim.Vmm.Vmm vmm, SourceId device, ulong iova)
    {
        VtdUnit unit = vmm.VIommu!;
        var m = vmm.GuestMachine.Memory;
        Hpa rootSlot = unit.RootTable + (ulong)device.Bus * 16;
        var root = new RootEntry(m.Read64(rootSlot), m.Read64(rootSlot + 8));
        Hpa slot = root.ContextTablePointer + (ulong)device.DevFn * 16;
        var context = new LegacyContextEntry(m.Read64(slot), m.Read64(slot + 8));
        ulong table = context.SecondLevelPageTablePointer.Value;
        for (int level = 2 + context.AddressWidth; ; level--)
        {
            var at = new Hpa(table + ((iova >> (12 + 9 * (level - 1))) & 0x1FF) * 8);
            if (level == 1) return (at, context.DomainId);
            table = m.Read64(at) & 0x000F_FFFF_FFFF_F000;
        }
    }

    /// <summary>What a guest driver does to queue descriptors: writes them at IQT in its queue and moves IQT past them.</summary>
    private static void Submit(VtdSim.Vmm.Vmm vmm, params InvalidationDescriptor[] descriptors)
    {
        VtdUnit unit = vmm.VIommu!;
        var memory = vmm.GuestMachine.Memory;
        ulong iqa = unit.ReadRegister64(RegisterOffset.IQA);
        int size = (iqa & (1UL << 11)) != 0 ? 32 : 16;
        ulong entries = (4096UL << (int)(iqa & 7)) / (ulong)size;
        ulong tail = unit.ReadRegister64(RegisterOffset.IQT) / (ulong)size;
        foreach (var d in descriptors)
        {
            var slot = new Hpa((iqa & ~0xFFFUL) + tail * (ulong)size);
            memory.Write64(slot, d.Q0);
            memory.Write64(slot + 8, d.Q1);
            if (size == 32)
            {
                memory.Write64(slot + 16, 0);
                memory.Write64(slot + 24, 0);
            }
            tail = (tail + 1) % entries;
        }
        unit.WriteRegister64(RegisterOffset.IQT, tail * (ulong)size);
    }
}
