using VtdSim.Kernel.Intel;
using VtdSim.Kernel.Iommufd;
using static VtdSim.Kernel.Tests.Iommufd.IommufdBench;

namespace VtdSim.Kernel.Tests.Iommufd;

/// <summary>iommufd_device_pasid.pasid_attach, on the VT-d model (the mock's PASID_CHECK_HWPT becomes a look at the
/// device's PASID attachments and at the driver's domain for the PASID).</summary>
public partial class SelftestMirrorTests
{
    [Fact]
    public void DevicePasid_PasidAttach()
    {
        var b = new IommufdBench();
        var fd = b.Fd;
        uint ioas = b.Ioas();
        b.Map(ioas, b.Buffer(4), 4 * Page, iova: 0x10_0000);
        var (dev, hwpt) = b.BindAttach(Dev0, ioas); // the fixture's mock domain: a PASID-capable device on an IOAS
        var device = fd.Get<IommufdDevice>(dev)!;

        void Check(uint pasid, uint? expected)
        {
            if (expected is uint id)
            {
                Assert.Equal(id, device.PasidAttached[pasid].Id);
                Assert.Same(fd.Get<Hwpt>(id)!.Domain, b.Kernel.Iommu.DomainOf(Dev0, pasid));
            }
            else
            {
                Assert.False(device.PasidAttached.ContainsKey(pasid));
                Assert.Same(b.Kernel.Iommu.Blocked, b.Kernel.Iommu.DomainOf(Dev0, pasid));
            }
        }
        Errno Attach(uint pasid, uint pt) => fd.DeviceAttach(dev, ref pt, pasid);
        Errno Replace(uint pasid, uint pt) => fd.DeviceReplace(dev, ref pt, pasid);

        // Two nested HWPTs sharing one parent, all PASID-capable.
        uint parent = b.Hwpt(dev, ioas, HwptAllocFlags.NestParent | HwptAllocFlags.Pasid);
        byte[] s1 = S1();
        Assert.Equal(Errno.Success, fd.HwptAlloc(dev, parent, HwptAllocFlags.Pasid, out uint nested0, HwptDataType.VtdS1, 24, s1));
        Assert.Equal(Errno.Success, fd.HwptAlloc(dev, parent, HwptAllocFlags.Pasid, out uint nested1, HwptDataType.VtdS1, 24, s1));

        // PASID 100 on the IOAS shares the RID's automatic domain; again is fine; another HWPT is EBUSY.
        Assert.Equal(Errno.Success, Attach(100, ioas));
        Check(100, hwpt);
        Assert.Equal(b.DmaRead64(Dev0, 0x10_0000), b.DmaRead64(Dev0, 100, 0x10_0000));
        Assert.Equal(Errno.Success, Attach(100, ioas));
        Assert.Equal(Errno.EBUSY, Attach(100, nested0));
        Assert.Equal(Errno.Success, fd.DeviceDetach(dev, 100));
        Check(100, null);
        Assert.Equal(Errno.Success, Attach(100, nested0));
        Check(100, nested0);
        Assert.Equal(Errno.Success, fd.DeviceDetach(dev, 100));
        Check(100, null);

        // Replace: not attached is EINVAL; then parent → IOAS → nested[0] → nested[1].
        Assert.Equal(Errno.EINVAL, Replace(200, parent));
        Assert.Equal(Errno.Success, Attach(200, parent));
        Check(200, parent);
        Assert.Equal(Errno.Success, Replace(200, ioas));
        Check(200, hwpt);
        Assert.Equal(Errno.Success, Replace(200, nested0));
        Check(200, nested0);
        Assert.Equal(Errno.Success, Replace(200, nested1));
        Check(200, nested1);
        Assert.Equal(Errno.Success, fd.DeviceDetach(dev, 200));
        Check(200, null);

        // A replace that fails keeps the old domain (the mock injects ENOMEM; here the driver refuses a
        // dirty-tracking domain at a PASID).
        uint dirty = b.Hwpt(dev, ioas, HwptAllocFlags.DirtyTracking | HwptAllocFlags.Pasid);
        Assert.Equal(Errno.Success, Attach(1024, parent));
        Assert.Equal(Errno.EINVAL, Replace(1024, dirty));
        Check(1024, parent);
        Assert.Equal(Errno.Success, fd.DeviceDetach(dev, 1024));
        Check(1024, null);

        // A HWPT allocated without IOMMU_HWPT_ALLOC_PASID cannot be attached at a PASID.
        uint noPasidCompat = b.Hwpt(dev, ioas, HwptAllocFlags.NestParent);
        Assert.Equal(Errno.EINVAL, Attach(2048, noPasidCompat));
        Check(2048, null);

        foreach (uint id in new[] { noPasidCompat, dirty, nested0, nested1, parent })
            Assert.Equal(Errno.Success, fd.Destroy(id));
    }
}
