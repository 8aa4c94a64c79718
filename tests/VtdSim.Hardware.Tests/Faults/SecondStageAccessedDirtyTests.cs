using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Structures;
using VtdSim.Hardware.Tests.Support;
using VtdSim.Hardware.Translation;

namespace VtdSim.Hardware.Tests.Faults;

/// <summary>Second-stage A/D (SSADE=1): a first write to a fresh page sets A on its path and both A and D in the leaf.</summary>
public class SecondStageAccessedDirtyTests
{
    [Fact]
    public void AFirstWriteSetsAAndDInTheLeafInOneWalk()
    {
        var bench = new NestedBench();
        const ulong gpa = 0x80_0000;
        bench.SecondStage.Map(new Gpa(gpa), NestedBench.GuestToHost(gpa));
        bench.Tables.SetPasidEntry(NestedBench.Device, 0,
            PasidEntry.SecondStage(bench.SecondStage.Root, bench.SecondStage.AddressWidth, 3).WithSecondStageAccessedDirtyEnable(true));

        var result = bench.Unit.Translate(new DmaRequest(NestedBench.Device, new Iova(gpa), DmaAccess.Write));

        Assert.True(result.Success, result.Fault?.ToString());
        var leaf = new SecondStageEntry(bench.Memory.Read64(bench.SecondStage.EntryAddress(new Gpa(gpa), 1)));
        Assert.True(leaf.Accessed);
        Assert.True(leaf.Dirty);
        Assert.True(new SecondStageEntry(bench.Memory.Read64(bench.SecondStage.EntryAddress(new Gpa(gpa), 4))).Accessed);
    }
}
