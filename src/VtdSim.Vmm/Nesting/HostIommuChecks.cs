using System.Numerics;
using VtdSim.Kernel;
using VtdSim.Kernel.Intel;
using VtdSim.Kernel.Iommufd;
using VtdSim.Vmm.Devices;
using VtdSim.Vmm.Vfio;

namespace VtdSim.Vmm.Nesting;

/// <summary>
/// QEMU 11's vtd_check_hiod and vtd_check_hiod_accel (qemu-facts §5.4, decision N11): is the host IOMMU behind a
/// passthrough device compatible with the vIOMMU? Checked in QEMU's order with its texts, after the device is attached
/// (QEMU runs them from pci_device_set_iommu_device, after vfio_device_attach).
/// </summary>
internal static class HostIommuChecks
{
    /// <summary>QEMU's message for the first check that fails, or null.</summary>
    public static string? Check(IntelIommuProperties viommu, IommufdContext iommufd, VfioContainer container, PassthroughDevice device)
    {
        // 1. Device assignment needs caching mode (QEMU 11 checks it for every assigned device behind intel-iommu).
        if (!viommu.CachingMode) return "Device assignment is not allowed without enabling caching-mode=on for Intel IOMMU.";
        // 2.–3. A second registration of the device and a host IOMMU device without get_cap cannot happen here.
        // 4. aw-bits against the host's: HOST_IOMMU_DEVICE_CAP_AW_BITS, the bits of the last usable IOVA of the IOAS.
        int hostAwBits = HostAwBits(iommufd, container.IoasId);
        if (viommu.AwBits > hostAwBits) return $"aw-bits {viommu.AwBits} > host aw-bits {hostAwBits}";
        if (!viommu.XFlts) return null;
        // 5. x-flts: the device is iommufd-backed (always, in this VMM: it has no legacy VFIO container backend).
        uint dataLen = VtdUapi.HwInfoSize;
        var info = new byte[VtdUapi.HwInfoSize];
        HwInfoType type = HwInfoType.Default;
        Errno e = iommufd.GetHwInfo(device.DevId, ref dataLen, info, ref type, out _, out _);
        if (e != Errno.Success) return $"Failed to get hardware info: {Strerror.Of(e)}";
        if (type != HwInfoType.IntelVtd) return $"Incompatible host platform IOMMU type {(uint)type}";
        var cap = new Hardware.Registers.Capability(VtdUapi.DecodeHwInfo(info).CapReg);
        if (viommu.Fs1gp && !cap.FirstStage1GiBPages) return "First stage 1GB large page is unsupported by host IOMMU";
        // A device behind a PCI bridge ("Host device downstream to a PCI bridge is unsupported when x-flts=on"): the
        // guest's bus has no bridges, so every passthrough device sits on bus 0 without an alias.
        return null;
    }

    private static int HostAwBits(IommufdContext iommufd, uint ioasId)
    {
        Span<IovaRange> ranges = stackalloc IovaRange[16];
        uint num = (uint)ranges.Length;
        if (iommufd.IoasIovaRanges(ioasId, ref num, ranges, out _) != Errno.Success || num == 0) return 64;
        ulong last = ranges[(int)Math.Min(num, (uint)ranges.Length) - 1].Last;
        return 64 - BitOperations.LeadingZeroCount(last);
    }
}
