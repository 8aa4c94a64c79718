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

    /// <summary>IOMMU_NO_PASID: the pasid argument that means the device's requests without PASID (its RID).</summary>
    public const uint NoPasid = IntelIommuDriver.RidPasid;

    /// <summary>
    /// VFIO_DEVICE_BIND_IOMMUFD (iommufd_device_bind): takes DMA ownership of a PCI function (ENOENT if the machine
    /// has none with that id, EBUSY if another iommufd owns it) and leaves it blocked until it is attached. A function
    /// no IOMMU translates (no DMAR unit, intel_iommu=off, or outside the unit's scope) is EINVAL: Linux's first check,
    /// device_iommu_capable(IOMMU_CAP_CACHE_COHERENCY), is false for a device without an IOMMU.
    /// </summary>
    public Errno DeviceBind(SourceId function, out uint devId)
    {
        ThrowIfClosed();
        devId = 0;
        var pci = Kernel.Machine.Functions.FirstOrDefault(f => f.Id == function);
        if (pci is null) return Errno.ENOENT;
        if (!Driver.Covers(function)) return Errno.EINVAL;
        if (Kernel.BoundDevice(function) is not null) return Errno.EBUSY;
        Errno e = Driver.Attach(function, Driver.Blocked);
        if (e != Errno.Success) return e;
        var device = new IommufdDevice(pci) { Users = 2 }; // the binding driver holds it until unbind
        devId = Insert(device);
        Kernel.AddBound(device);
        return Errno.Success;
    }

    /// <summary>iommufd_device_unbind (closing the VFIO device): detaches every PASID and the RID, then destroys the object.</summary>
    public Errno DeviceUnbind(uint devId)
    {
        ThrowIfClosed();
        Errno e = Lookup(devId, out IommufdDevice device);
        if (e != Errno.Success) return e;
        foreach (uint pasid in device.PasidHwpts.Keys.ToList()) DetachPasid(device, pasid);
        if (device.Attached is not null) DetachInternal(device, destroyAuto: true);
        device.Users--;
        DestroyObject(device);
        return Errno.Success;
    }

    /// <summary>
    /// IOMMU attach (VFIO_DEVICE_ATTACH_IOMMUFD_PT → iommufd_device_attach). With <paramref name="pasid"/> 0 (the
    /// default, IOMMU_NO_PASID) it attaches the requests without PASID; any other value is VFIO_DEVICE_ATTACH_PASID
    /// with that PASID. A HWPT id attaches to that HWPT; an IOAS id reuses a compatible automatic HWPT of the IOAS or
    /// makes one, and writes its id back to <paramref name="ptId"/>. The RID: EBUSY if already attached (use
    /// replace); EADDRINUSE if an area covers the device's reserved interrupt window. A PASID: attaching it again to
    /// its HWPT does nothing, to another is EBUSY; the HWPT must be PASID-capable, and so must the RID's (EINVAL).
    /// </summary>
    public Errno DeviceAttach(uint devId, ref uint ptId, uint pasid = NoPasid) => ChangePageTable(devId, ref ptId, replace: false, pasid);

    /// <summary>
    /// iommufd_device_replace: moves an attached RID or PASID (EINVAL if it is not attached) to another HWPT or IOAS
    /// without a blocked gap; if the new translation cannot be installed the old one stays.
    /// </summary>
    public Errno DeviceReplace(uint devId, ref uint ptId, uint pasid = NoPasid) => ChangePageTable(devId, ref ptId, replace: true, pasid);

    /// <summary>
    /// VFIO_DEVICE_DETACH_IOMMUFD_PT (with VFIO_DEVICE_DETACH_PASID for a non-zero <paramref name="pasid"/>): the RID
    /// or the PASID goes back to blocked; nothing to do if it is not attached.
    /// </summary>
    public Errno DeviceDetach(uint devId, uint pasid = NoPasid)
    {
        ThrowIfClosed();
        Errno e = Lookup(devId, out IommufdDevice device);
        if (e != Errno.Success) return e;
        if (pasid != NoPasid)
        {
            if (device.PasidHwpts.ContainsKey(pasid)) DetachPasid(device, pasid);
        }
        else if (device.Attached is not null)
        {
            DetachInternal(device, destroyAuto: true);
        }
        return Errno.Success;
    }

    private Errno ChangePageTable(uint devId, ref uint ptId, bool replace, uint pasid)
    {
        ThrowIfClosed();
        Errno e = Lookup(devId, out IommufdDevice device);
        if (e != Errno.Success) return e;
        if (Find(ptId) is not IommufdObject pt) return Errno.ENOENT;
        switch (pt)
        {
            case Hwpt hwpt:
                return replace ? DoReplace(device, pasid, hwpt) : DoAttach(device, pasid, hwpt);
            case Ioas ioas:
                return AutoGetDomain(device, pasid, ioas, replace, ref ptId);
            default:
                return Errno.EINVAL;
        }
    }

    /// <summary>
    /// iommufd_hwpt_pasid_compat: a PASID may only use a PASID-capable HWPT, and only while the RID does too; once a
    /// device has PASID attachments its RID may only use PASID-capable HWPTs.
    /// </summary>
    private static Errno PasidCompat(IommufdDevice device, uint pasid, Hwpt hwpt)
    {
        if (hwpt.PasidCapable) return pasid == NoPasid || device.Attached is not { PasidCapable: false } ? Errno.Success : Errno.EINVAL;
        return pasid == NoPasid && device.PasidHwpts.Count == 0 ? Errno.Success : Errno.EINVAL;
    }

    private Errno DoAttach(IommufdDevice device, uint pasid, Hwpt hwpt) =>
        pasid == NoPasid ? DoAttach(device, hwpt) : DoPasidAttach(device, pasid, hwpt);

    private Errno DoReplace(IommufdDevice device, uint pasid, Hwpt hwpt) =>
        pasid == NoPasid ? DoReplace(device, hwpt) : DoPasidReplace(device, pasid, hwpt);

    /// <summary>iommufd_hw_pagetable_attach: reserve the device's regions in the IOAS, then the driver's attach.</summary>
    private Errno DoAttach(IommufdDevice device, Hwpt hwpt)
    {
        if (device.Attached is not null) return Errno.EBUSY;
        Errno e = PasidCompat(device, NoPasid, hwpt);
        if (e != Errno.Success) return e;
        var ioas = hwpt.PagingRoot.Ioas;
        e = ioas.Iopt.ReserveIova(MsiWindow.Start, MsiWindow.Last, device);
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
        Errno e = PasidCompat(device, NoPasid, hwpt);
        if (e != Errno.Success) return e;
        var newIoas = hwpt.PagingRoot.Ioas;
        var oldIoas = device.ReservedIn!;
        bool moveReserved = !ReferenceEquals(newIoas, oldIoas);
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

    /// <summary>
    /// A PASID's attach (iommu_attach_device_pasid): no reserved regions (interrupts are requests without PASID), the
    /// driver's set_dev_pasid, and the HWPT held. The same HWPT again succeeds; another is EBUSY (replace moves it).
    /// </summary>
    private Errno DoPasidAttach(IommufdDevice device, uint pasid, Hwpt hwpt)
    {
        if (device.PasidHwpts.TryGetValue(pasid, out var current)) return ReferenceEquals(current, hwpt) ? Errno.Success : Errno.EBUSY;
        return SetPasidHwpt(device, pasid, hwpt);
    }

    /// <summary>The compatibility rule, the driver's set_dev_pasid, then the PASID holds the HWPT.</summary>
    private Errno SetPasidHwpt(IommufdDevice device, uint pasid, Hwpt hwpt)
    {
        Errno e = PasidCompat(device, pasid, hwpt);
        if (e != Errno.Success) return e;
        e = Driver.SetDevPasid(device.SourceId, pasid, hwpt.Domain);
        if (e != Errno.Success) return e;
        device.PasidHwpts[pasid] = hwpt;
        hwpt.Users++;
        return Errno.Success;
    }

    /// <summary>A PASID's replace (iommu_replace_device_pasid): EINVAL if the PASID is not attached; atomic in the driver.</summary>
    private Errno DoPasidReplace(IommufdDevice device, uint pasid, Hwpt hwpt)
    {
        if (!device.PasidHwpts.TryGetValue(pasid, out var old)) return Errno.EINVAL;
        if (ReferenceEquals(old, hwpt)) return Errno.Success;
        Errno e = SetPasidHwpt(device, pasid, hwpt);
        if (e != Errno.Success) return e;
        old.Users--;
        DestroyIfUnusedAuto(old);
        return Errno.Success;
    }

    private void DetachPasid(IommufdDevice device, uint pasid, bool destroyAuto = true)
    {
        var old = device.PasidHwpts[pasid];
        Errno e = Driver.SetDevPasid(device.SourceId, pasid, Driver.Blocked);
        if (e != Errno.Success) throw new InvalidOperationException($"blocking {device.SourceId} PASID {pasid} failed: {e}");
        device.PasidHwpts.Remove(pasid);
        old.Users--;
        if (destroyAuto) DestroyIfUnusedAuto(old);
    }

    private void DetachInternal(IommufdDevice device, uint pasid, bool destroyAuto)
    {
        if (pasid == NoPasid) DetachInternal(device, destroyAuto);
        else DetachPasid(device, pasid, destroyAuto);
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
    /// next"); else allocate one — attached at once for attach, filled first for replace. A new one is PASID-capable
    /// when it is for a PASID or the device can use PASIDs, so the RID's automatic domain serves its PASIDs too.
    /// </summary>
    private Errno AutoGetDomain(IommufdDevice device, uint pasid, Ioas ioas, bool replace, ref uint ptId)
    {
        Errno e;
        foreach (var existing in ioas.HwptList.Where(h => h.AutoDomain).ToList())
        {
            e = replace ? DoReplace(device, pasid, existing) : DoAttach(device, pasid, existing);
            if (e == Errno.EINVAL) continue;
            if (e != Errno.Success) return e;
            ptId = existing.Id;
            return Errno.Success;
        }
        var flags = pasid != NoPasid || Driver.MaxPasids(device.SourceId) > 0 ? HwptAllocFlags.Pasid : HwptAllocFlags.None;
        e = PagingAlloc(ioas, device, flags, hasUserData: false, autoDomain: true, immediateAttach: !replace, out var hwpt, pasid);
        if (e != Errno.Success) return e;
        if (replace)
        {
            e = DoReplace(device, pasid, hwpt!);
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
