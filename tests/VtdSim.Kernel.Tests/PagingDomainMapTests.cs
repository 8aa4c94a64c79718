using VtdSim.Hardware.Profiles;
using VtdSim.Kernel.Intel;

namespace VtdSim.Kernel.Tests;

/// <summary>iommu_map / iommu_unmap on an Intel paging domain: what is refused (EINVAL, EEXIST), and that a refused map leaves nothing.</summary>
public class PagingDomainMapTests
{
    private const ulong K4 = 0x1000, M2 = 0x20_0000, Ram = 0x4000_0000;

    private static PagingDomain SecondStage(out KernelBench bench)
    {
        bench = new KernelBench(BuiltInProfiles.SapphireRapids, IntelIommuOptions.Default with { FirstStageByDefault = false });
        Assert.Equal(Errno.Success, bench.Driver.AllocPaging(PagingDomainFlags.None, out var domain));
        Assert.Equal(PagingFormat.SecondStage, domain!.Format);
        return domain;
    }

    public static TheoryData<ulong, ulong, ulong, IommuProt> RefusedMaps => new()
    {
        { 0x10_0800, Ram, K4, IommuProt.Read },          // IOVA not page aligned
        { 0x10_0000, Ram + 8, K4, IommuProt.Read },      // physical address not page aligned
        { 0x10_0000, Ram, 0x1800, IommuProt.Read },      // length not whole pages
        { 0x10_0000, Ram, 0, IommuProt.Read },           // nothing to map
        { 0x10_0000, Ram, K4, IommuProt.None },          // neither read nor write
        { ulong.MaxValue - 0xFFF, Ram, K4, IommuProt.Read },       // beyond the aperture
        { 0xFFFF_F000, Ram, ulong.MaxValue - 0xFFF, IommuProt.Read }, // wraps around 2^64
    };

    [Theory]
    [MemberData(nameof(RefusedMaps))]
    public void AMapOutsideTheRulesIsEinvalAndMapsNothing(ulong iova, ulong physical, ulong length, IommuProt prot)
    {
        var domain = SecondStage(out var bench);
        int pages = bench.Pages.PagesInUse;
        Assert.Equal(Errno.EINVAL, domain.Map(iova, physical, length, prot));
        Assert.Null(domain.Table.Lookup(iova & ~0xFFFUL));
        Assert.Equal(pages, bench.Pages.PagesInUse);
    }

    [Fact]
    public void AMapThatRunsPastTheAperturesEndIsEinval()
    {
        var domain = SecondStage(out _);
        Assert.Equal(Errno.EINVAL, domain.Map(domain.Aperture - K4, Ram, 2 * K4, IommuProt.Read));
        Assert.Null(domain.Table.Lookup(domain.Aperture - K4));
        Assert.Equal(Errno.Success, domain.Map(domain.Aperture - K4, Ram, K4, IommuProt.Read)); // its last page is fine
    }

    [Fact]
    public void APageInsideAMappedHugePageIsEexist()
    {
        var domain = SecondStage(out _);
        Assert.Equal(Errno.Success, domain.Map(M2, Ram, M2, IommuProt.Read | IommuProt.Write));
        Assert.Equal(M2, domain.Table.Lookup(M2 + 5 * K4)!.Value.PageSize);
        Assert.Equal(Errno.EEXIST, domain.Map(M2 + 5 * K4, 0x8000_0000, K4, IommuProt.Read));
        Assert.Equal(Ram + 5 * K4, domain.Table.Lookup(M2 + 5 * K4)!.Value.Physical); // the huge page is untouched
    }

    [Fact]
    public void AMapThatRunsIntoAMappedPageIsEexistAndUndoesTheFirstPart()
    {
        var domain = SecondStage(out var bench);
        Assert.Equal(Errno.Success, domain.Map(0x10_2000, Ram, K4, IommuProt.Read));
        int pages = bench.Pages.PagesInUse;
        Assert.Equal(Errno.EEXIST, domain.Map(0x10_0000, 0x8000_0000, 4 * K4, IommuProt.Read));
        Assert.Null(domain.Table.Lookup(0x10_0000));   // the two pages mapped before the clash went again
        Assert.Null(domain.Table.Lookup(0x10_1000));
        Assert.Equal(Ram, domain.Table.Lookup(0x10_2000)!.Value.Physical);
        Assert.Equal(pages, bench.Pages.PagesInUse);
    }

    [Fact]
    public void UnmapCountsOnlyTheBytesThatWereMapped()
    {
        var domain = SecondStage(out var bench);
        int pages = bench.Pages.PagesInUse;
        Assert.Equal(Errno.Success, domain.Map(0x10_0000, Ram, K4, IommuProt.Read));
        Assert.Equal(Errno.Success, domain.Map(0x10_2000, Ram + 2 * K4, K4, IommuProt.Read));
        int mapped = bench.Pages.PagesInUse;
        Assert.Equal(2 * K4, domain.Unmap(0x10_0000, 3 * K4));  // a hole in the middle is not counted
        Assert.Null(domain.Table.Lookup(0x10_2000));
        Assert.Equal(mapped, bench.Pages.PagesInUse);           // the range covers no table whole: they stay (K31)
        Assert.Equal(0UL, domain.Unmap(0x10_0000, 3 * K4));      // nothing left to unmap
        Assert.Equal(0UL, domain.Unmap(0, domain.Aperture));     // a range that covers them whole frees them
        Assert.Equal(pages, bench.Pages.PagesInUse);
    }
}
