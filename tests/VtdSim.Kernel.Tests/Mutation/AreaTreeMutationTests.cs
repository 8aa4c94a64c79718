using VtdSim.Kernel.Iommufd;
using VtdSim.Kernel.Tests.Iommufd;

namespace VtdSim.Kernel.Tests.Mutation;

/// <summary>
/// The area tree's bounds (AreaTree.cs), where mutation testing (docs/testing.md) found that no test noticed a change:
/// an access (iommufd_access_rw) that touches only the first or only the last byte of an area reaches that area.
/// </summary>
public class AreaTreeMutationTests
{
    private const ulong Page = 4096, Iova = 0x10_0000;

    [Fact]
    public void AnAccessToTheFirstOrLastByteOfEachAreaReachesIt()
    {
        // Two areas of two pages each, [Iova, Iova + 2 pages) and the one right after it: a one-byte read of the first
        // or last byte of either succeeds; the byte after the second area is mapped by none (ENOENT).
        var b = new IommufdBench();
        uint ioas = b.Ioas();
        b.Map(ioas, b.Buffer(2, stamp: 0xA1), 2 * Page, iova: Iova);
        b.Map(ioas, b.Buffer(2, stamp: 0xB2), 2 * Page, iova: Iova + 2 * Page);
        Assert.Equal(Errno.Success, b.Fd.AccessCreate(ioas, out uint access));
        foreach (ulong iova in new[] { Iova, Iova + 2 * Page - 1, Iova + 2 * Page, Iova + 4 * Page - 1 })
            Assert.Equal(Errno.Success, b.Fd.AccessRead(access, iova, new byte[1]));
        var stamp = new byte[8];
        Assert.Equal(Errno.Success, b.Fd.AccessRead(access, Iova + 2 * Page, stamp));
        Assert.Equal(IommufdBench.Stamp(0xB2, 0), BitConverter.ToUInt64(stamp));
        Assert.Equal(Errno.ENOENT, b.Fd.AccessRead(access, Iova + 4 * Page, new byte[1]));
    }
}
