using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Profiles;
using VtdSim.Kernel;
using VtdSim.Machine;
using VtdSim.Vmm.Devices;
using VtdSim.Vmm.Machines;
using VtdSim.Vmm.Vfio;

namespace VtdSim.Vmm.Tests.Vfio;

/// <summary>README's "A VM on an erratum host": the code and the lines it shows.</summary>
public class ReadmeExampleTests
{
    private static string Run(ErratumPolicy policy)
    {
        var host = PhysicalMachine.Host(BuiltInProfiles.SapphireRapids, 8UL << 30);
        host.AddFunction(new PciFunction(new SourceId(0, 4, 0), "nic"));
        var kernel = LinuxKernel.Boot(host);
        IntelIommuProperties.TryParse(QemuVersion.Qemu11, "x-scalable-mode=on,x-flts=on,caching-mode=on", out var intelIommu, out _);
        var vmm = Vmm.Start(kernel, new VmmOptions
        {
            Machine = new MachineOptions { Type = MachineType.Q35, RamSize = 256UL << 20, Booted = true },
            ErratumPolicy = policy,
            Passthrough = [new SourceId(0, 4, 0)],
        }.WithIntelIommu(intelIommu));
        if (vmm.State != VmmState.Running)
            return string.Join('\n', kernel.Log.Lines.Where(l => l.Contains("ERRATA", StringComparison.Ordinal)).Distinct().Concat(vmm.Log.Lines));
        var mapped = vmm.Container!.Mappings;
        var skipped = vmm.Container.BypassedSections.Select(s => $"{s.Region.Name}@0x{s.Start:x}");
        int readOnly = mapped.Count(a => a.Prot == Kernel.Intel.IommuProt.Read);
        return $"{mapped.Count} mappings ({readOnly} read-only), skipped: {string.Join(' ', skipped)}".TrimEnd();
    }

    [Fact]
    public void ShowsWhatEachPolicyMapsSkipsOrRefuses()
    {
        string all = string.Join("\n", ErratumPolicies.All.Select(p => $"{p.Name()}: {Run(p)}"));
        Assert.Equal(
            """
            qemu-7.2: qemu-system-x86_64: -device intel-iommu,x-scalable-mode=on,x-flts=on,caching-mode=on: Property 'intel-iommu.x-flts' not found
            qemu-11: 5 mappings (0 read-only), skipped: pc.ram@0xc0000 pc.ram@0xce000 pc.ram@0xf0000 pc.bios@0xfffc0000
            wants-nesting-maps-ro: DMAR: Read-only mapping is disallowed on the domain which serves as the parent in a nested configuration, due to HW errata (ERRATA_772415_SPR17)
            qemu-system-x86_64: -device vfio-pci,host=0000:00:04.0,iommufd=iommufd0: vfio 0000:00:04.0: memory listener initialization failed: Region pc.rom: vfio_container_dma_map(0x100000200, 0xc0000, 0x20000, 0x110050000) = -22 (Invalid argument)
            never-ro: 9 mappings (0 read-only), skipped:
            """, all);
    }
}
