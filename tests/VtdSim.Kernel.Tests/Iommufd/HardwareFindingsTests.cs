using VtdSim.Kernel.Iommufd;
using static VtdSim.Kernel.Tests.Iommufd.IommufdBench;

namespace VtdSim.Kernel.Tests.Iommufd;

/// <summary>Behaviour of the layers below iommufd that the iommufd tests ran into; skipped while the fix is pending.</summary>
public class HardwareFindingsTests
{
    /// <summary>
    /// With SSADE=1, the first DMA write to a page whose second-stage leaf has A clear must set A and D. The walker
    /// (TranslationEngine.SecondStage.cs) sets A with a compare-exchange, then tries D with a compare-exchange that
    /// still expects the value from before A was set, fails, and reports SSS.6.
    /// </summary>
    [Fact]
    public void TheFirstDmaWriteUnderSecondStageAdSetsAccessedAndDirty()
    {
        var b = new IommufdBench();
        uint ioas = b.Ioas();
        b.Map(ioas, b.Buffer(1), 4096, iova: 0x100_0000);
        uint dev = b.Bind(Dev0);
        uint hwpt = b.Hwpt(dev, ioas, HwptAllocFlags.DirtyTracking);
        uint pt = hwpt;
        Assert.Equal(Errno.Success, b.Fd.DeviceAttach(dev, ref pt));
        Assert.Equal(Errno.Success, b.Fd.HwptSetDirtyTracking(hwpt, DirtyTrackingFlags.Enable));

        var result = b.DmaWrite(Dev0, 0x100_0000, new byte[8]);
        Assert.Null(result.Fault);
        var bitmap = new ulong[1];
        Assert.Equal(Errno.Success, b.Fd.HwptGetDirtyBitmap(hwpt, 0x100_0000, 4096, 4096, bitmap));
        Assert.Equal(1UL, bitmap[0]);
    }
}
