using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Profiles;
using VtdSim.Kernel;
using VtdSim.Kernel.Intel;
using VtdSim.Kernel.Iommufd;
using VtdSim.Machine;
using VtdSim.Vmm.Devices;
using VtdSim.Vmm.Machines;
using VtdSim.Vmm.Memory;
using VtdSim.Vmm.Vfio;

namespace VtdSim.Vmm.Tests.Support;

/// <summary>Booted hosts with PCI functions to pass through, and what a policy says a flat view should map.</summary>
internal static class VmmHosts
{
    public static readonly SourceId Nic = new(0, 4, 0);
    public static readonly SourceId Gpu = new(0, 5, 0);

    /// <summary>A host of the profile with 8 GiB of sparse memory, two passthrough-able functions, booted.</summary>
    public static LinuxKernel Boot(VtdProfile profile, KernelMemoryLayout? layout = null, ulong memory = 8UL << 30)
    {
        var machine = PhysicalMachine.Host(profile, memory);
        machine.AddFunction(new PciFunction(Nic, "nic"));
        machine.AddFunction(new PciFunction(Gpu, "gpu"));
        return LinuxKernel.Boot(machine, layout);
    }

    public static VtdProfile Host(string name) => BuiltInProfiles.Find(name);

    /// <summary>
    /// q35, -m 64M, intel-iommu (scalable, caching-mode — which QEMU 11 needs for device assignment; x-flts as asked),
    /// the NIC passed through, SeaBIOS run.
    /// </summary>
    public static VmmOptions Options(ErratumPolicy policy, bool xflts, bool booted = true, ulong ram = 64UL << 20) => new VmmOptions
    {
        Machine = new MachineOptions { Type = MachineType.Q35, RamSize = ram, Booted = booted },
        ErratumPolicy = policy,
        Passthrough = [Nic],
    }.WithIntelIommu(IntelIommu(xflts ? "x-scalable-mode=on,x-flts=on,caching-mode=on" : "x-scalable-mode=on,caching-mode=on"));

    /// <summary>QEMU 11's intel-iommu with these properties (the VMM moves them to its policy's QEMU release).</summary>
    public static IntelIommuProperties IntelIommu(string properties)
    {
        Assert.True(IntelIommuProperties.TryParse(QemuVersion.Qemu11, properties, out var result, out string error), error);
        return result;
    }

    /// <summary>One IOAS mapping as the tests compare them.</summary>
    public readonly record struct Mapping(ulong Iova, ulong Length, IommuProt Prot);

    /// <summary>
    /// What the policy says the flat view should have in the IOAS, written from the rules in docs/vmm.md (not from the
    /// listener's code): RAM and ROM sections (ram-device maps fail, I/O is skipped), read-only ones skipped under
    /// bypass_ro, trimmed to whole pages, READ only when read-only unless the policy is never-ro.
    /// </summary>
    public static List<Mapping> Expected(IReadOnlyList<MemorySection> view, ErratumPolicy policy, bool bypassRo)
    {
        var list = new List<Mapping>();
        foreach (MemorySection s in view)
        {
            if (s.Region.Kind is not (RegionKind.Ram or RegionKind.Rom)) continue;
            if (bypassRo && s.ReadOnly) continue;
            if ((s.Start % 4096) != (s.OffsetInRegion % 4096)) continue;
            ulong start = (s.Start + 4095) / 4096 * 4096;
            UInt128 end = ((UInt128)s.Start + s.Size) / 4096 * 4096;
            if (start >= end) continue;
            IommuProt prot = s.ReadOnly && policy != ErratumPolicy.NeverRo ? IommuProt.Read : IommuProt.Read | IommuProt.Write;
            list.Add(new Mapping(start, (ulong)(end - start), prot));
        }
        return list;
    }

    public static List<Mapping> Actual(Vmm vmm) =>
        vmm.Container!.Mappings.Select(a => new Mapping(a.Iova, a.Length, a.Prot)).OrderBy(m => m.Iova).ToList();

    /// <summary>What a VMM can leave behind in the kernel: user folios, pins, kernel pages, processes' iommufd objects.</summary>
    public readonly record struct Counts(int UserFolios, long Pins, int KernelPages, int KernelLogLines);

    public static Counts Take(LinuxKernel k) => new(k.UserMemory.PagesInUse, k.UserMemory.TotalPins, k.Pages.PagesInUse, k.Log.Lines.Count);

    /// <summary>Whether a host function is free to bind (no iommufd holds it).</summary>
    public static bool Unbound(LinuxKernel k, SourceId function)
    {
        var probe = k.OpenIommufd(k.CreateProcess("probe"));
        bool free = probe.DeviceBind(function, out _) == Errno.Success;
        probe.Close();
        return free;
    }
}
