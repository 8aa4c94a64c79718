using VtdSim.Kernel.Iommufd;
using VtdSim.Kernel.Process;

namespace VtdSim.Kernel.Tests.Iommufd;

public class SmokeTests
{
    [Fact]
    public void MapAttachDmaUnmap()
    {
        var b = new IommufdBench();
        uint ioas = b.Ioas();
        Uva va = b.Buffer(4);
        ulong iova = b.Map(ioas, va, 4 * 4096, iova: 0x10_0000);
        var (dev, hwpt) = b.BindAttach(IommufdBench.Dev0, ioas);
        Assert.NotEqual(ioas, hwpt);
        Assert.Equal(IommufdBench.Stamp(0xA0, 2), b.DmaRead64(IommufdBench.Dev0, iova + 2 * 4096));
        Assert.True(b.DmaWrite64(IommufdBench.Dev0, iova + 8, 0x1234));
        Assert.Equal(Errno.Success, b.Process.Read64(va + 8, out ulong v));
        Assert.Equal(0x1234UL, v);
        ulong len = 4 * 4096;
        Assert.Equal(Errno.Success, b.Fd.IoasUnmap(ioas, iova, ref len));
        Assert.Null(b.DmaRead64(IommufdBench.Dev0, iova));
        Assert.Equal(Errno.Success, b.Fd.DeviceDetach(dev));
        Assert.Null(b.Fd.Find(hwpt));
    }
}
