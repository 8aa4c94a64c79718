using VtdSim.Hardware.Addressing;
using VtdSim.Kernel.Intel;

namespace VtdSim.Kernel.Iommufd;

public sealed partial class IommufdContext
{
    /// <summary>
    /// The interrupt window VT-d reports as a reserved region of every device (IOMMU_RESV_MSI, 0xFEE00000–0xFEEFFFFF):
    /// DMA there is an interrupt request, so it is reserved in the IOAS of every attached device.
    /// </summary>
    public static readonly IovaRange MsiWindow = new(0xFEE0_0000, 0xFEEF_FFFF);

    /// <summary>
    /// VFIO_DEVICE_BIND_IOMMUFD (iommufd_device_bind): takes DMA ownership of a PCI function (ENOENT if the machine
    /// has none with that id, EBUSY if another iommufd owns it) and leaves it blocked until it is attached.
    /// </summary>
    public Errno DeviceBind(SourceId function, out uint devId)
    {
        ThrowIfClosed();
        devId = 0;
        var pci = Kernel.Machine.Functions.FirstOrDefault(f => f.Id == function);
        if (pci is null) return Errno.ENOENT;
        if (Kernel.BoundDevice(function) is not null) return Errno.EBUSY;
        Errno e = Driver.Attach(function, Driver.Blocked);
        if (e != Errno.Success) return e;
        var device = new IommufdDevice(pci) { Users = 2 }; // the binding driver holds it until unbind
        devId = Insert(device);
        Kernel.AddBound(device);
        return Errno.Success;
    }

    /// <summary>iommufd_device_unbind (closing the VFIO device): detaches the device and destroys its object.</summary>
    public Errno DeviceUnbind(uint devId)
    {
        ThrowIfClosed();
        Errno e = Lookup(devId, out IommufdDevice device);
        if (e != Errno.Success) return e;
        if (device.Attached is not null) DetachInternal(device, destroyAuto: true);
        device.Users--;
        DestroyObject(device);
        return Errno.Success;
    }

    /// <summary>
    /// IOMMU attach (VFIO_DEVICE_ATTACH_IOMMUFD_PT → iommufd_device_attach) of requests without PASID. A HWPT id
    /// attaches to that HWPT; an IOAS id reuses a compatible automatic HWPT of the IOAS or makes one, and writes its id
    /// back to <paramref name="ptId"/>. EBUSY if the device is already attached (use replace); EADDRINUSE if an area
    /// covers the device's reserved interrupt window.
    /// </summary>
    public Errno DeviceAttach(uint devId, ref uint ptId) => ChangePageTable(devId, ref ptId, replace: false);

    /// <summary>iommufd_device_replace: moves an attached device (EINVAL if it is not) to another HWPT or IOAS without a blocked gap.</summary>
    public Errno DeviceReplace(uint devId, ref uint ptId) => ChangePageTable(devId, ref ptId, replace: true);

    /// <summary>VFIO_DEVICE_DETACH_IOMMUFD_PT: the device goes back to blocked (nothing to do if it is not attached).</summary>
    public Errno DeviceDetach(uint devId)
    {
        ThrowIfClosed();
        Errno e = Lookup(devId, out IommufdDevice device);
        if (e != Errno.Success) return e;
        if (device.Attached is not null) DetachInternal(device, destroyAuto: true);
        return Errno.Success;
    }

    private Errno ChangePageTable(uint devId, ref uint ptId, bool replace)
    {
        ThrowIfClosed();
        Errno e = Lookup(devId, out IommufdDevice device);
        if (e != Errno.Success) return e;
        if (Find(ptId) is not IommufdObject pt) return Errno.ENOENT;
        switch (pt)
        {
            case Hwpt hwpt:
                return replace ? DoReplace(device, hwpt) : DoAttach(device, hwpt);
            case Ioas ioas:
                return AutoGetDomain(device, ioas, replace, ref ptId);
            default:
                return Errno.EINVAL;
        }
    }

    /// <summary>iommufd_hw_pagetable_attach: reserve the device's regions in the IOAS, then the driver's attach.</summary>
    private Errno DoAttach(IommufdDevice device, Hwpt hwpt)
    {
        if (device.Attached is not null) return Errno.EBUSY;
        var ioas = hwpt.PagingRoot.Ioas;
        Errno e = ioas.Iopt.ReserveIova(MsiWindow.Start, MsiWindow.Last, device);
        if (e != Errno.Success) return e;
        e = Driver.Attach(device.SourceId, hwpt.Domain);
        if (e != Errno.Success)
        {
            ioas.Iopt.RemoveReserved(device);
            return e;
        }
        device.Attached = hwpt;
        device.ReservedIn = ioas;
        hwpt.Devices.Add(device);
        hwpt.Users++;
        return Errno.Success;
    }

    /// <summary>iommufd_device_do_replace: reserved regions move with the IOAS; the old HWPT's automatic domain may go.</summary>
    private Errno DoReplace(IommufdDevice device, Hwpt hwpt)
    {
        if (device.Attached is not Hwpt old) return Errno.EINVAL;
        if (ReferenceEquals(old, hwpt)) return Errno.Success;
        var newIoas = hwpt.PagingRoot.Ioas;
        var oldIoas = device.ReservedIn!;
        bool moveReserved = !ReferenceEquals(newIoas, oldIoas);
        Errno e;
        if (moveReserved)
        {
            e = newIoas.Iopt.ReserveIova(MsiWindow.Start, MsiWindow.Last, device);
            if (e != Errno.Success) return e;
        }
        e = Driver.Attach(device.SourceId, hwpt.Domain);
        if (e != Errno.Success)
        {
            if (moveReserved) newIoas.Iopt.RemoveReserved(device);
            return e;
        }
        if (moveReserved) oldIoas.Iopt.RemoveReserved(device);
        device.Attached = hwpt;
        device.ReservedIn = newIoas;
        hwpt.Devices.Add(device);
        hwpt.Users++;
        old.Devices.Remove(device);
        old.Users--;
        DestroyIfUnusedAuto(old);
        return Errno.Success;
    }

    private void DetachInternal(IommufdDevice device, bool destroyAuto)
    {
        var old = device.Attached!;
        Errno e = Driver.Attach(device.SourceId, Driver.Blocked);
        if (e != Errno.Success) throw new InvalidOperationException($"blocking {device.SourceId} failed: {e}");
        device.ReservedIn!.Iopt.RemoveReserved(device);
        device.Attached = null;
        device.ReservedIn = null;
        old.Devices.Remove(device);
        old.Users--;
        if (destroyAuto) DestroyIfUnusedAuto(old);
    }

    /// <summary>iommufd_hw_pagetable_put: an automatic domain goes with its last device.</summary>
    private void DestroyIfUnusedAuto(Hwpt hwpt)
    {
        if (hwpt is HwptPaging { AutoDomain: true, Users: 1 } && _objects.ContainsKey(hwpt.Id)) DestroyObject(hwpt);
    }

    /// <summary>
    /// iommufd_device_auto_get_domain: try the IOAS's automatic HWPTs in order (EINVAL means "incompatible, try the
    /// next"); else allocate one (flags 0) — attached at once for attach, filled first for replace.
    /// </summary>
    private Errno AutoGetDomain(IommufdDevice device, Ioas ioas, bool replace, ref uint ptId)
    {
        Errno e;
        foreach (var existing in ioas.HwptList.Where(h => h.AutoDomain).ToList())
        {
            e = replace ? DoReplace(device, existing) : DoAttach(device, existing);
            if (e == Errno.EINVAL) continue;
            if (e != Errno.Success) return e;
            ptId = existing.Id;
            return Errno.Success;
        }
        e = PagingAlloc(ioas, device, HwptAllocFlags.None, hasUserData: false, autoDomain: true, immediateAttach: !replace, out var hwpt);
        if (e != Errno.Success) return e;
        if (replace)
        {
            e = DoReplace(device, hwpt!);
            if (e != Errno.Success)
            {
                DestroyObject(hwpt!);
                return e;
            }
        }
        ptId = Insert(hwpt!);
        return Errno.Success;
    }

    /// <summary>
    /// IOMMU_GET_HW_INFO for a device: the 24-byte struct iommu_hw_info_vtd (flags = ERRATA_772415_SPR17 on every
    /// VT-d unit, cap_reg, ecap_reg). Copies min(data_len, 24) bytes, zeroes the rest of a bigger buffer, and writes
    /// back data_len = 24 and the type; data_len 0 only asks for those. out_capabilities has DIRTY_TRACKING where
    /// second-stage A/D is usable; out_max_pasid_log2 is the PASID width the device and unit share (0 without PASID).
    /// </summary>
    public Errno GetHwInfo(uint devId, ref uint dataLen, byte[]? data, ref HwInfoType dataType, out byte maxPasidLog2, out HwCapabilities capabilities,
        HwInfoFlags flags = HwInfoFlags.None, uint reserved = 0) =>
        GetHwInfo(devId, ref dataLen, UserPointer.Of(data), ref dataType, out maxPasidLog2, out capabilities, flags, reserved);

    /// <summary>
    /// iommufd_get_hw_info with data_uptr as a user pointer: min(data_len, 24) bytes are copied, then the rest of
    /// data_len is cleared; a fault in either is EFAULT (what was written before it stays).
    /// </summary>
    internal Errno GetHwInfo(uint devId, ref uint dataLen, UserPointer data, ref HwInfoType dataType, out byte maxPasidLog2, out HwCapabilities capabilities,
        HwInfoFlags flags, uint reserved)
    {
        ThrowIfClosed();
        maxPasidLog2 = 0;
        capabilities = HwCapabilities.None;
        if ((flags & ~HwInfoFlags.InputType) != 0) return Errno.EOPNOTSUPP;
        if ((reserved & 0xFF_FFFF) != 0) return Errno.EOPNOTSUPP; // __reserved[3]
        var inType = (flags & HwInfoFlags.InputType) != 0 ? dataType : HwInfoType.Default;
        Errno e = Lookup(devId, out IommufdDevice device);
        if (e != Errno.Success) return e;

        // intel_iommu_hw_info
        if (inType is not (HwInfoType.Default or HwInfoType.IntelVtd)) return Errno.EOPNOTSUPP;
        byte[] info = VtdUapi.EncodeHwInfo(Driver.HwInfo());

        uint copy = Math.Min(dataLen, (uint)info.Length);
        if (dataLen != 0)
        {
            if (data.Write(0, info.AsSpan(0, (int)copy)) != Errno.Success) return Errno.EFAULT;
            if (copy < dataLen && data.Clear(copy, dataLen - copy) != Errno.Success) return Errno.EFAULT;
        }
        dataLen = (uint)info.Length;
        dataType = HwInfoType.IntelVtd;
        if (Driver.DirtyTrackingSupported) capabilities |= HwCapabilities.DirtyTracking;
        var unit = Driver.Unit;
        if (unit.ScalableMode && unit.Ecap.Pasid && device.Function.PasidWidth > 0)
            maxPasidLog2 = (byte)Math.Min(device.Function.PasidWidth, unit.Ecap.PasidWidth);
        return Errno.Success;
    }
}
