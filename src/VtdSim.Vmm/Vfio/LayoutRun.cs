using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Profiles;
using VtdSim.Kernel;
using VtdSim.Kernel.Iommufd;
using VtdSim.Machine;
using VtdSim.Vmm.Devices;
using VtdSim.Vmm.Machines;
using VtdSim.Vmm.Memory.Import;

namespace VtdSim.Vmm.Vfio;

/// <summary>What happened when the model's VMM started on an imported memory map (`vtdsim analyze mtree --start-vmm`).</summary>
public sealed record LayoutRunResult(
    string Profile,
    ErratumPolicy Policy,
    string CommandLine,
    VmmState State,
    IReadOnlyList<string> VmmLog,
    IReadOnlyList<string> KernelLog,
    IReadOnlyList<IoasAreaInfo> Mappings,
    bool BypassRo);

/// <summary>
/// Starts the model's VMM on a user's memory map (decision I11): a model host of the given profile (sparse memory for
/// the guest's RAM and a quarter more, one PCI function 0000:00:04.0 to pass through) boots the model kernel; the VMM starts on the imported layout with an
/// intel-iommu that wants nesting where the policy's QEMU has it (x-scalable-mode=on,x-flts=on,caching-mode=on; QEMU
/// 7.2: x-scalable-mode=on,caching-mode=on) and the function passed through under the policy; what the VMM and the
/// kernel printed, and the IOAS's mappings, are kept; then the VMM quits.
/// </summary>
public static class LayoutRun
{
    /// <summary>The host function passed through.</summary>
    public static readonly SourceId Device = new(0, 4, 0);

    public static LayoutRunResult Start(ImportedMemoryMap map, ErratumPolicy policy, VtdProfile profile)
    {
        ArgumentNullException.ThrowIfNull(map);
        ArgumentNullException.ThrowIfNull(profile);
        // Room for the guest's RAM, pinned (sparse memory: only what is touched costs): user pages from 4 GiB on, above
        // the host's own MMIO below 4 GiB.
        const ulong mib = 1UL << 20, gib = 1UL << 30;
        ulong ram = map.RamSize;
        ulong size = (ulong)UInt128.Min((UInt128)ram + ram / 4 + 5 * gib, (UInt128)MachineOptions.MaxRamSize * 2);
        size = (size + gib - 1) & ~(gib - 1);
        var host = PhysicalMachine.Host(profile, size);
        host.AddFunction(new PciFunction(Device, "nic"));
        LinuxKernel kernel = LinuxKernel.Boot(host, new KernelMemoryLayout(new Hpa(mib), 255 * mib, new Hpa(4 * gib), size - 4 * gib));
        int bootLines = kernel.Log.Lines.Count;

        // Guest RAM in 2 MiB huge pages where it divides into them (as a VMM with hugetlbfs backing: fewer pins).
        var options = new VmmOptions
        {
            ErratumPolicy = policy,
            Passthrough = [Device],
            RamBackend = map.MainRamSize % (2 * mib) == 0 ? GuestRamBackend.Hugetlb2M : GuestRamBackend.Anonymous,
        }.WithLayout(map);
        string properties = options.QemuVersion == QemuVersion.Qemu72 ? "x-scalable-mode=on,caching-mode=on" : "x-scalable-mode=on,x-flts=on,caching-mode=on";
        if (!IntelIommuProperties.TryParse(options.QemuVersion, properties, out IntelIommuProperties viommu, out string error))
            throw new InvalidOperationException(error); // the model's own defaults: a defect if refused
        options = options.WithIntelIommu(viommu);
        string commandLine = $"-device intel-iommu,{properties} -device vfio-pci,host={PassthroughDevice.NameOf(Device)},iommufd=iommufd0 (erratum-policy={policy.Name()})";

        Vmm vmm = Vmm.Start(kernel, options);
        IReadOnlyList<IoasAreaInfo> mappings = vmm.Container?.Mappings.ToList() ?? [];
        bool bypass = vmm.Container?.BypassRo ?? false;
        VmmState state = vmm.State;
        var vmmLog = vmm.Log.Lines.ToList();
        var kernelLog = kernel.Log.Lines.Skip(bootLines).ToList();
        vmm.Quit();
        return new LayoutRunResult(profile.Name, policy, commandLine, state, vmmLog, kernelLog, mappings, bypass);
    }
}
