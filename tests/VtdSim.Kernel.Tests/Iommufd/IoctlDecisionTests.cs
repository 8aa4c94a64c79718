namespace VtdSim.Kernel.Tests.Iommufd;

/// <summary>The ioctl-layer decisions of docs/decisions.md that no errno row pins (K19).</summary>
public class IoctlDecisionTests
{
    [Fact]
    public void K19_ReservedFieldsLinuxDoesNotCheckAreIgnored()
    {
        var b = new IommufdBench();
        var alloc = IoctlScenarios.Make(b, Uapi.HwptAlloc);
        alloc["__reserved2"] = 0xFFFF_FFFF;
        Assert.Equal(Errno.Success, alloc.Ioctl(b.Fd));
        Assert.Equal(0xFFFF_FFFFUL, alloc["__reserved2"]); // written back as given

        var dirty = IoctlScenarios.Make(b, Uapi.HwptSetDirtyTracking);
        dirty["__reserved"] = 0xFFFF_FFFF;
        Assert.Equal(Errno.Success, dirty.Ioctl(b.Fd));

        // The checked ones stay checked: HWPT_ALLOC's __reserved, GET_HW_INFO's three bytes.
        alloc["__reserved"] = 1;
        Assert.Equal(Errno.EOPNOTSUPP, alloc.Ioctl(b.Fd));
        var info = IoctlScenarios.Make(b, Uapi.GetHwInfo);
        info["__reserved"] = 0x01_0000;
        Assert.Equal(Errno.EOPNOTSUPP, info.Ioctl(b.Fd));
    }
}
