using VtdSim.Kernel.Iommufd;
using static VtdSim.Kernel.Tests.Iommufd.IommufdBench;

namespace VtdSim.Kernel.Tests.Iommufd;

/// <summary>The Q rows of the errno table: the model-only fault event queues (decisions N40–N44), not Linux's uAPI.</summary>
public partial class ErrnoTableTests
{
    [Fact]
    public void Q1_FaultQueueAllocWithFlagsIsEopnotsupp()
    {
        var (_, _, _, nested) = NestedSetup();
        Assert.Equal(Errno.EOPNOTSUPP, Fd.VtdFaultQueueAlloc(nested, 16, out _, flags: 1));
    }

    [Fact]
    public void Q2_FaultQueueAllocOfDepthZeroIsEinval()
    {
        var (_, _, _, nested) = NestedSetup();
        Assert.Equal(Errno.EINVAL, Fd.VtdFaultQueueAlloc(nested, 0, out _));
    }

    [Fact]
    public void Q3_FaultQueueAllocOnAnUnknownIdIsEnoent()
    {
        Assert.Equal(Errno.ENOENT, Fd.VtdFaultQueueAlloc(99, 16, out _));
    }

    [Fact]
    public void Q4_FaultQueueAllocOnAnAutomaticDomainAnIoasOrADeviceIsEinval()
    {
        uint ioas = _b.Ioas();
        var (dev, auto) = _b.BindAttach(Dev0, ioas);
        Assert.True(Fd.Get<HwptPaging>(auto)!.AutoDomain);
        Assert.Equal(Errno.EINVAL, Fd.VtdFaultQueueAlloc(auto, 16, out _));
        Assert.Equal(Errno.EINVAL, Fd.VtdFaultQueueAlloc(ioas, 16, out _));
        Assert.Equal(Errno.EINVAL, Fd.VtdFaultQueueAlloc(dev, 16, out uint id));
        Assert.Equal(0u, id);
        Assert.DoesNotContain(Fd.Objects, o => o is VtdFaultQueue);
    }

    [Fact]
    public void Q5_ASecondFaultQueueOnAHwptIsEexist()
    {
        var (_, _, _, nested) = NestedSetup();
        Assert.Equal(Errno.Success, Fd.VtdFaultQueueAlloc(nested, 16, out _));
        Assert.Equal(Errno.EEXIST, Fd.VtdFaultQueueAlloc(nested, 16, out _));
    }

    [Fact]
    public void Q6_DestroyOfAHwptAFaultQueueHoldsIsEbusy()
    {
        var (_, _, _, nested) = NestedSetup();
        Assert.Equal(Errno.Success, Fd.VtdFaultQueueAlloc(nested, 16, out uint queue));
        Assert.Equal(Errno.EBUSY, Fd.Destroy(nested));
        Assert.Equal(Errno.Success, Fd.Destroy(queue));
        Assert.Equal(Errno.Success, Fd.Destroy(nested));
    }

    [Fact]
    public void Q7_FaultQueueReadOfAnotherObjectIsEnoent()
    {
        var (_, _, _, nested) = NestedSetup();
        Assert.Equal(Errno.ENOENT, Fd.VtdFaultQueueRead(nested, new VtdFaultEvent[1], out int count));
        Assert.Equal(Errno.ENOENT, Fd.VtdFaultQueueRead(99, new VtdFaultEvent[1], out _));
        Assert.Equal(0, count);
    }
}
