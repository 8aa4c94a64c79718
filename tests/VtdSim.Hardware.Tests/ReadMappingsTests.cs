using CsCheck;
using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Registers;
using VtdSim.Hardware.Tests.Properties;
using VtdSim.Hardware.Tests.Support;
using VtdSim.Hardware.Translation;

namespace VtdSim.Hardware.Tests;

/// <summary>
/// <see cref="VtdUnit.ReadMappings"/>, the unit's own reading of a device's second-stage tables for a VMM's shadow
/// (decision N31): every present leaf in the range with its output and rights, no fault recorded, no IOTLB or paging-structure
/// cache filled.
/// </summary>
public class ReadMappingsTests
{
    private readonly record struct Page(int Index, bool Read, bool Write);

    private static readonly Gen<Page> PageGen = Gen.Select(Gen.Int[0, 4095], Gen.Bool, Gen.Bool, (i, r, w) => new Page(i, r, w));

    [Fact]
    public void EveryPresentLeafInTheRangeIsReadWithItsOutputAndRightsAndNothingIsRecorded()
    {
        PropertyRunner.Run(Gen.Select(PageGen.Array[0, 40], Gen.Int[0, 4095], Gen.Int[0, 4095]), t =>
        {
            var (pages, a, b) = t;
            var bench = new LegacyBench(cached: true);
            bench.SetContext(bench.DefaultContext());
            // Pages spread over several tables (4096 pages of 2 MiB strides apart: every level is used).
            var expected = new Dictionary<ulong, SecondStageMapping>();
            foreach (Page p in pages)
            {
                ulong iova = (ulong)p.Index * 0x20_1000;
                if (expected.ContainsKey(iova)) continue;
                var hpa = new Hpa(LegacyBench.DataBase + (ulong)p.Index * 0x1000);
                bench.SecondLevel.Map(new Gpa(iova), hpa, 4096, p.Read, p.Write);
                var rights = (p.Read ? AccessRights.Read : 0) | (p.Write ? AccessRights.Write : 0);
                if (rights != 0) expected[iova] = new SecondStageMapping(iova, 0x1000, hpa, rights);
            }
            ulong first = (ulong)Math.Min(a, b) * 0x20_1000, last = (ulong)Math.Max(a, b) * 0x20_1000 + 0xFFF;

            var into = new List<SecondStageMapping>();
            DeviceMappingView view = bench.Unit.ReadMappings(LegacyBench.Device, first, last, into);

            Assert.Equal(new DeviceMappingView(true, TranslationKind.Legacy, LegacyBench.DomainId), view);
            Assert.Equal(expected.Values.Where(m => m.Iova >= first && m.Iova <= last).OrderBy(m => m.Iova), into);
            Assert.Equal(0u, bench.Unit.ReadRegister32(RegisterOffset.FSTS)); // no fault recorded
            Assert.All(bench.Unit.CacheReports().Where(r => r.Name != "context"), r => Assert.Equal(0, r.Statistics.Fills));
        }, seed: 0x31, iterations: 60);
    }

    [Fact]
    public void ADeviceWithoutAContextIsNotPresentAndReadsNothing()
    {
        var bench = new LegacyBench();
        var into = new List<SecondStageMapping>();
        Assert.False(bench.Unit.ReadMappings(LegacyBench.Device, 0, ulong.MaxValue, into).Present);
        Assert.Empty(into);
        Assert.Equal(0u, bench.Unit.ReadRegister32(RegisterOffset.FSTS));
    }
}
