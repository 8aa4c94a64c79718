using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Faults;
using VtdSim.Hardware.Structures;
using VtdSim.Hardware.Tests.Support;
using VtdSim.Hardware.Tracing;

namespace VtdSim.Hardware.Tests;

public class NestedSmokeTests
{
    [Theory]
    [InlineData(4, 4)]
    [InlineData(4, 5)]
    [InlineData(5, 4)]
    [InlineData(5, 5)]
    public void UncachedNestedWalkMakesNPlusOneTimesMPlusOneMinusOnePagingReads(int fsLevels, int ssLevels)
    {
        var bench = new NestedBench(ssLevels: ssLevels);
        var fs = bench.NewGuestFirstStage(fsLevels);
        ulong dataGpa = 0x800_0000;
        bench.SecondStage.Map(new Gpa(dataGpa), NestedBench.GuestToHost(dataGpa));
        fs.Map(new Iova(0x7000_1000), dataGpa);
        bench.Tables.SetPasidEntry(NestedBench.Device, 0,
            PasidEntry.NestedEntry(fs.Root, bench.SecondStage.Root, bench.SecondStage.AddressWidth, 1, fsLevels == 5));

        var trace = new WalkTrace();
        var result = bench.Unit.Translate(bench.Read(0x7000_1234), trace);

        Assert.True(result.Success, result.Fault?.ToString());
        Assert.Equal(NestedBench.GuestToHost(dataGpa + 0x234), result.Address);
        Assert.Equal((fsLevels + 1) * (ssLevels + 1) - 1, trace.PagingReads);
    }

    [Fact]
    public void ReadOnlyTopLevelTableFaultsSfs8WithoutTheErratumAndIsWrittenWithIt()
    {
        foreach (var profile in new[] { Profiles.BuiltInProfiles.Architectural, Profiles.BuiltInProfiles.SapphireRapids })
        {
            var bench = new NestedBench(profile);
            var fs = bench.NewGuestFirstStage();
            ulong dataGpa = 0x800_0000;
            bench.SecondStage.Map(new Gpa(dataGpa), NestedBench.GuestToHost(dataGpa));
            fs.Map(new Iova(0x7000_1000), dataGpa);
            // Make the top-level table page read-only in the second stage.
            bench.SecondStage.Map(new Gpa(fs.Root), NestedBench.GuestToHost(fs.Root), 4096, read: true, write: false);
            bench.Tables.SetPasidEntry(NestedBench.Device, 0, PasidEntry.NestedEntry(fs.Root, bench.SecondStage.Root, 2, 1));
            Hpa top = fs.EntryHpa(new Iova(0x7000_1000), 4);
            ulong before = bench.Memory.Read64(top);

            var result = bench.Unit.Translate(bench.Read(0x7000_1000));

            if (profile.Erratum772415)
            {
                Assert.True(result.Success);
                Assert.Equal(before | FirstStageEntry.AccessedBit, bench.Memory.Read64(top));
            }
            else
            {
                Assert.Equal(FaultReason.SFS8_EntryNotWritable, result.Fault?.Reason);
                Assert.Equal(before, bench.Memory.Read64(top));
            }
        }
    }
}
