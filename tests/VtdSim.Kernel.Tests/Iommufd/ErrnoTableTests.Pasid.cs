using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Profiles;
using VtdSim.Kernel.Iommufd;
using VtdSim.Machine;
using static VtdSim.Kernel.Tests.Iommufd.IommufdBench;

namespace VtdSim.Kernel.Tests.Iommufd;

/// <summary>The P rows of the errno table: attaching, replacing and detaching a PASID.</summary>
public partial class ErrnoTableTests
{
    private Errno AttachPasid(uint dev, uint pt, uint pasid) => Fd.DeviceAttach(dev, ref pt, pasid);

    private static Errno AttachPasidOn(VtdProfile profile)
    {
        var b = new IommufdBench(profile);
        uint ioas = b.Ioas();
        uint dev = b.Bind(Dev0);
        uint hwpt = b.Hwpt(dev, ioas, HwptAllocFlags.Pasid);
        uint pt = hwpt;
        Errno e = b.Fd.DeviceAttach(dev, ref pt, 1);
        uint viaIoas = ioas;
        Assert.Equal(e, b.Fd.DeviceAttach(dev, ref viaIoas, 1)); // the automatic domain made for it fails the same way
        Assert.Single(b.IoasOf(ioas).Hwpts); // and is gone again
        Assert.Empty(b.Fd.Get<IommufdDevice>(dev)!.PasidAttached);
        return e;
    }

    [Fact]
    public void P1_PasidAttachOnAUnitWithoutPasidSupportIsEopnotsupp()
    {
        Assert.Equal(Errno.EOPNOTSUPP, AttachPasidOn(BuiltInProfiles.Qemu72Legacy)); // legacy mode
        Assert.Equal(Errno.EOPNOTSUPP, AttachPasidOn(BuiltInProfiles.Qemu72Scalable)); // scalable, no ECAP.PASID
    }

    [Fact]
    public void P2_PasidAttachOfAHwptAllocatedWithoutPasidIsEinval()
    {
        uint ioas = _b.Ioas();
        uint dev = _b.Bind(Dev0);
        uint plain = _b.Hwpt(dev, ioas, HwptAllocFlags.NestParent);
        Assert.Equal(Errno.EINVAL, AttachPasid(dev, plain, 100));
        uint nested = _b.Nested(dev, plain); // a nested HWPT needs the flag itself
        Assert.Equal(Errno.EINVAL, AttachPasid(dev, nested, 100));
        Assert.Empty(Fd.Get<IommufdDevice>(dev)!.PasidAttached);
        Assert.Same(_b.Kernel.Iommu.Blocked, _b.Kernel.Iommu.DomainOf(Dev0, 100));
    }

    [Fact]
    public void P3_PasidAttachWhileTheRidUsesAHwptThatIsNotPasidCapableIsEinval()
    {
        uint ioas = _b.Ioas();
        uint dev = _b.Bind(Dev0);
        uint plain = _b.Hwpt(dev, ioas);
        uint capable = _b.Hwpt(dev, ioas, HwptAllocFlags.Pasid);
        uint pt = plain;
        Assert.Equal(Errno.Success, Fd.DeviceAttach(dev, ref pt));
        Assert.Equal(Errno.EINVAL, AttachPasid(dev, capable, 1));
        pt = capable;
        Assert.Equal(Errno.Success, Fd.DeviceReplace(dev, ref pt));
        Assert.Equal(Errno.Success, AttachPasid(dev, capable, 1));
    }

    [Fact]
    public void P4_TheRidOfADeviceWithPasidsOnAHwptThatIsNotPasidCapableIsEinval()
    {
        uint ioas = _b.Ioas();
        uint dev = _b.Bind(Dev0);
        uint plain = _b.Hwpt(dev, ioas);
        uint capable = _b.Hwpt(dev, ioas, HwptAllocFlags.Pasid);
        Assert.Equal(Errno.Success, AttachPasid(dev, capable, 1));
        uint pt = plain;
        Assert.Equal(Errno.EINVAL, Fd.DeviceAttach(dev, ref pt));
        pt = capable;
        Assert.Equal(Errno.Success, Fd.DeviceAttach(dev, ref pt));
        pt = plain;
        Assert.Equal(Errno.EINVAL, Fd.DeviceReplace(dev, ref pt));
        Assert.Equal(capable, Fd.Get<IommufdDevice>(dev)!.Attached!.Id);
        Assert.Equal(Errno.Success, Fd.DeviceDetach(dev, 1));
        Assert.Equal(Errno.Success, Fd.DeviceReplace(dev, ref pt)); // no PASIDs left: any HWPT again
    }

    [Fact]
    public void P5_PasidAttachOfAnAttachedPasidToAnotherHwptIsEbusy()
    {
        uint ioas = _b.Ioas();
        uint dev = _b.Bind(Dev0);
        uint one = _b.Hwpt(dev, ioas, HwptAllocFlags.Pasid), two = _b.Hwpt(dev, ioas, HwptAllocFlags.Pasid);
        Assert.Equal(Errno.Success, AttachPasid(dev, one, 100));
        Assert.Equal(Errno.Success, AttachPasid(dev, one, 100)); // the same HWPT again
        Assert.Equal(Errno.EBUSY, AttachPasid(dev, two, 100));
        Assert.Equal(one, Fd.Get<IommufdDevice>(dev)!.PasidAttached[100].Id);
        Assert.Equal(2, Fd.Get<Hwpt>(one)!.Users); // the table's and one attachment: the repeat took no reference
    }

    [Fact]
    public void P6_APasidBeyondTheDevicesMaxPasidsIsEinval()
    {
        var b = new IommufdBench();
        var narrow = new SourceId(0, 7, 0);
        b.Machine.AddFunction(new PciFunction(narrow, "4-bit PASID", PasidWidth: 4));
        b.Machine.AddFunction(new PciFunction(new SourceId(0, 8, 0), "no PASID", PasidWidth: 0));
        uint ioas = b.Ioas();
        uint dev = b.Bind(narrow), none = b.Bind(new SourceId(0, 8, 0)), wide = b.Bind(Dev0);
        uint hwpt = b.Hwpt(dev, ioas, HwptAllocFlags.Pasid);
        uint pt = hwpt;
        Assert.Equal(Errno.Success, b.Fd.DeviceAttach(dev, ref pt, 15));
        Assert.Equal(Errno.EINVAL, b.Fd.DeviceAttach(dev, ref pt, 16));
        Assert.Equal(Errno.EINVAL, b.Fd.DeviceAttach(none, ref pt, 1));
        Assert.Equal(Errno.Success, b.Fd.DeviceAttach(wide, ref pt, 0xFFFFF)); // the last entry of a 32-page directory
        Assert.Equal(Errno.EINVAL, b.Fd.DeviceAttach(wide, ref pt, 0x100000)); // beyond the unit's 20 bits
    }

    [Fact]
    public void P7_PasidAttachOfADirtyTrackingHwptIsEinval()
    {
        uint ioas = _b.Ioas();
        uint dev = _b.Bind(Dev0);
        uint dirty = _b.Hwpt(dev, ioas, HwptAllocFlags.DirtyTracking | HwptAllocFlags.Pasid);
        Assert.Equal(Errno.EINVAL, AttachPasid(dev, dirty, 1));
        uint pt = dirty;
        Assert.Equal(Errno.Success, Fd.DeviceAttach(dev, ref pt)); // the RID may use it
    }

    [Fact]
    public void P8_ReplaceOfAPasidThatIsNotAttachedIsEinval()
    {
        uint ioas = _b.Ioas();
        uint dev = _b.Bind(Dev0);
        uint hwpt = _b.Hwpt(dev, ioas, HwptAllocFlags.Pasid);
        uint pt = hwpt;
        Assert.Equal(Errno.EINVAL, Fd.DeviceReplace(dev, ref pt, 200));
        pt = ioas;
        Assert.Equal(Errno.EINVAL, Fd.DeviceReplace(dev, ref pt, 200));
        Assert.Empty(Fd.Get<IommufdDevice>(dev)!.PasidAttached);
    }

    [Fact]
    public void P9_DetachOfAPasidThatIsNotAttachedDoesNothing()
    {
        uint dev = _b.Bind(Dev0);
        Assert.Equal(Errno.Success, Fd.DeviceDetach(dev, 42));
        Assert.Equal(Errno.ENOENT, Fd.DeviceDetach(99, 42));
    }

    [Fact]
    public void P10_DestroyOfAHwptAttachedAtAPasidIsEbusy()
    {
        uint ioas = _b.Ioas();
        uint dev = _b.Bind(Dev0);
        uint hwpt = _b.Hwpt(dev, ioas, HwptAllocFlags.Pasid);
        Assert.Equal(Errno.Success, AttachPasid(dev, hwpt, 3));
        Assert.Equal(Errno.EBUSY, Fd.Destroy(hwpt));
        Assert.Equal(Errno.EBUSY, Fd.Destroy(ioas));
        Assert.Equal(Errno.Success, Fd.DeviceDetach(dev, 3));
        Assert.Equal(Errno.Success, Fd.Destroy(hwpt));
    }
}
