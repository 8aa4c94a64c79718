using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Profiles;
using VtdSim.Kernel.Intel;
using VtdSim.Kernel.Iommufd;
using VtdSim.Kernel.Process;
using VtdSim.Machine;

namespace VtdSim.Kernel.Tests.Mutation;

/// <summary>
/// Device calls (IommufdContext.Device.cs) where mutation testing (docs/testing.md) found that no test noticed a
/// change: IOMMU_GET_HW_INFO on a closed iommufd and its PASID width, a replace the driver refuses, an automatic domain
/// that cannot serve a PASID, and a PASID attach that runs out of pages.
/// </summary>
public class DeviceMutationTests
{
    private const ulong Page = 4096, MiB = 1UL << 20;
    private static readonly SourceId NoPasidDevice = new(0, 3, 0), Narrow = new(0, 4, 0), Wide = new(0, 5, 0);

    private static (LinuxKernel Kernel, ProcessAddressSpace Process, IommufdContext Fd) Boot(string commandLine = "intel_iommu=on", KernelMemoryLayout? layout = null)
    {
        var machine = PhysicalMachine.Host(BuiltInProfiles.SapphireRapids, 1UL << 32);
        machine.AddFunction(new PciFunction(NoPasidDevice, "no PASID", PasidWidth: 0));
        machine.AddFunction(new PciFunction(Narrow, "8-bit PASIDs", PasidWidth: 8));
        machine.AddFunction(new PciFunction(Wide, "20-bit PASIDs", PasidWidth: 20));
        var kernel = LinuxKernel.Boot(machine, commandLine, layout);
        var process = kernel.CreateProcess("vmm");
        return (kernel, process, kernel.OpenIommufd(process));
    }

    private static uint Bind(IommufdContext fd, SourceId sid)
    {
        Assert.Equal(Errno.Success, fd.DeviceBind(sid, out uint id));
        return id;
    }

    private static byte MaxPasidLog2(IommufdContext fd, uint dev)
    {
        uint len = 0;
        var type = HwInfoType.Default;
        Assert.Equal(Errno.Success, fd.GetHwInfo(dev, ref len, null, ref type, out byte log2, out _));
        return log2;
    }

    [Fact]
    public void GetHwInfoOnAClosedIommufdIsAUseAfterCloseEvenWithAFlagItWouldRefuse()
    {
        var (_, _, fd) = Boot();
        fd.Close();
        uint len = 0;
        var type = HwInfoType.Default;
        Assert.Throws<ObjectDisposedException>(() => fd.GetHwInfo(1, ref len, null, ref type, out _, out _, (HwInfoFlags)0x80));
    }

    [Fact]
    public void TheReportedPasidWidthIsTheNarrowerOfDeviceAndUnitAndNoneWithoutScalableMode()
    {
        // out_max_pasid_log2: min(device, unit) in scalable mode with PASID support; 0 for a device without PASIDs
        // and for every device when the kernel runs the unit in legacy mode (intel_iommu=sm_off).
        var (_, _, fd) = Boot();
        Assert.Equal(8, MaxPasidLog2(fd, Bind(fd, Narrow)));
        Assert.Equal(20, MaxPasidLog2(fd, Bind(fd, Wide)));
        Assert.Equal(0, MaxPasidLog2(fd, Bind(fd, NoPasidDevice)));
        var (_, _, legacy) = Boot("intel_iommu=on,sm_off");
        Assert.Equal(0, MaxPasidLog2(legacy, Bind(legacy, Wide)));
        Assert.Equal(0, MaxPasidLog2(legacy, Bind(legacy, Narrow)));
    }

    [Fact]
    public void AReplaceTheDriverRefusesLeavesTheNewIoasWithoutTheDevicesReservedWindow()
    {
        // iommufd_device_do_replace reserves the MSI window in the new IOAS first; when the driver then refuses the
        // domain (a stage-1 address width of 39: EINVAL), the reservation goes again and the device stays where it was.
        var (kernel, _, fd) = Boot();
        uint dev = Bind(fd, Wide);
        uint a = fd.IoasAlloc(), b = fd.IoasAlloc();
        uint pt = a;
        Assert.Equal(Errno.Success, fd.DeviceAttach(dev, ref pt));
        uint attached = pt;
        Assert.Equal(Errno.Success, fd.HwptAlloc(dev, b, HwptAllocFlags.NestParent, out uint parent));
        byte[] data = VtdUapi.EncodeS1(new VtdS1Config(VtdS1Flags.None, 0x10_0000, 39));
        Assert.Equal(Errno.Success, fd.HwptAlloc(dev, parent, HwptAllocFlags.None, out uint nested, HwptDataType.VtdS1, (uint)data.Length, data));
        pt = nested;
        Assert.Equal(Errno.EINVAL, fd.DeviceReplace(dev, ref pt));
        Assert.Contains(kernel.Log.Lines, l => l.Contains("Invalid stage-1 address width 39"));
        Assert.DoesNotContain(fd.Get<Ioas>(b)!.Iopt.Reserved, r => r.Owner is IommufdDevice);
        Assert.Single(fd.Get<Ioas>(a)!.Iopt.Reserved, r => r.Owner is IommufdDevice);
        Assert.Same(fd.Get<Hwpt>(attached), fd.Get<IommufdDevice>(dev)!.Attached);
    }

    [Fact]
    public void APasidAttachSkipsAnAutomaticDomainThatCannotServePasidsAndMakesItsOwn()
    {
        // iommufd_device_auto_get_domain: the IOAS's automatic domain was made for a device without PASIDs, so it is
        // not PASID-capable; attaching another device at a PASID finds it incompatible (EINVAL), tries the next, and
        // allocates a PASID-capable one.
        var (_, _, fd) = Boot();
        uint ioas = fd.IoasAlloc();
        uint plain = Bind(fd, NoPasidDevice), wide = Bind(fd, Wide);
        uint first = ioas;
        Assert.Equal(Errno.Success, fd.DeviceAttach(plain, ref first));
        uint second = ioas;
        Assert.Equal(Errno.Success, fd.DeviceAttach(wide, ref second, pasid: 1));
        Assert.NotEqual(first, second);
        Assert.True(fd.Get<Hwpt>(second)!.PasidCapable);
        Assert.False(fd.Get<Hwpt>(first)!.PasidCapable);
    }

    [Fact]
    public void APasidAttachThatRunsOutOfPagesLeavesThePasidUnattachedAndEveryPageFree()
    {
        // The automatic domain for a PASID is attached at once and then filled; when the fill finds no page for a
        // table the PASID is detached again, the domain freed, and a later attach with pages succeeds.
        var (kernel, process, user) = Boot(layout: new KernelMemoryLayout(new Hpa(0x10_0000), 2 * MiB, new Hpa(64 * MiB), 960 * MiB));
        uint dev = Bind(user, Wide);
        uint scratch = user.IoasAlloc(), pt = scratch;
        Assert.Equal(Errno.Success, user.DeviceAttach(dev, ref pt, pasid: 1)); // the PASID tables exist from now on
        Assert.Equal(Errno.Success, user.DeviceDetach(dev, pasid: 1));
        uint ioas = user.IoasAlloc();
        Assert.Equal(Errno.Success, process.Mmap(Page, MemoryProtection.ReadWrite, out Uva va));
        ulong iova = 0x8000_0000;
        Assert.Equal(Errno.Success, user.IoasMap(ioas, IoasMapFlags.ReadWrite | IoasMapFlags.FixedIova, va, Page, ref iova));
        int inUse = kernel.Pages.PagesInUse;
        for (int free = 0; ; free++)
        {
            Assert.True(free < 64, "the attach never succeeded");
            pt = ioas;
            Errno e;
            using (new KernelPageStarvation(kernel, leave: free)) e = user.DeviceAttach(dev, ref pt, pasid: 1);
            if (e == Errno.Success) break;
            Assert.Equal(Errno.ENOMEM, e);
            Assert.Equal(inUse, kernel.Pages.PagesInUse);
            Assert.Empty(user.Get<IommufdDevice>(dev)!.PasidHwpts);
        }
        Assert.NotEmpty(user.Get<IommufdDevice>(dev)!.PasidHwpts);
    }
}
