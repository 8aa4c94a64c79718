using VtdSim.Hardware.Addressing;
using VtdSim.Kernel;
using VtdSim.Kernel.Process;
using VtdSim.Vmm.Machines;

namespace VtdSim.Vmm.Tests.Guest;

/// <summary>Guest machines for the tests: a VMM on a booted host, and the way from a GPA down to the host frame.</summary>
internal static class GuestSupport
{
    /// <summary>
    /// q35 after SeaBIOS, without default devices, with or without intel-iommu (QEMU 11's, scalable, x-flts and
    /// caching-mode — which QEMU 11 needs for device assignment — as asked).
    /// </summary>
    public static VmmOptions Q35(ulong ram = 256UL << 20, bool iommu = true, bool scalable = false, bool defaults = false, bool flts = false, bool cachingMode = false)
    {
        string properties = string.Join(",", new[] { scalable ? "x-scalable-mode=on" : null, flts ? "x-flts=on" : null, cachingMode ? "caching-mode=on" : null }.OfType<string>());
        return new VmmOptions
        {
            Machine = new MachineOptions { Type = MachineType.Q35, RamSize = ram, Booted = true, Defaults = defaults },
        }.WithIntelIommu(iommu ? Support.VmmHosts.IntelIommu(properties) : null);
    }

    /// <summary>The host frame behind a guest-physical address, found the VMM's way: the flat view, then the process's page table.</summary>
    public static Hpa HostAddressOf(Vmm vmm, Gpa gpa)
    {
        GuestMapping m = vmm.Resolve(gpa);
        Assert.True(m.IsRam, $"{gpa} is not RAM");
        return vmm.Process.Translate(m.UserVa!.Value) ?? throw new InvalidOperationException($"{gpa} is not resident");
    }

    /// <summary>The frame of the bottom memory behind a guest kernel's process address (guest page table, then the VMM's way).</summary>
    public static Hpa HostAddressOf(Vmm vmm, ProcessAddressSpace guestProcess, Uva va)
    {
        Hpa guestPhysical = guestProcess.Translate(va) ?? throw new InvalidOperationException($"{va} is not resident in the guest");
        return HostAddressOf(vmm, new Gpa(guestPhysical.Value));
    }

    public static LinuxKernel BootGuest(Vmm vmm, string commandLine = "intel_iommu=on")
    {
        Assert.Equal(VmmState.Running, vmm.State);
        return LinuxKernel.Boot(vmm.GuestMachine, commandLine, vmm.GuestKernelLayout());
    }
}
