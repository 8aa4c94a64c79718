using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Building;
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

    /// <summary>
    /// An ATS translation request for a write moves no data, so it marks nothing dirty (decisions D15): neither the
    /// second-stage leaf of an SS-only translation nor, nested, the data page's second-stage leaf (nor the FS leaf).
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void AWriteTranslationRequestSetsNoDirtyFlag(bool nested)
    {
        var bench = new NestedBench();
        const ulong gpa = 0x80_0000, gva = 0x7000_0000;
        bench.SecondStage.Map(new Gpa(gpa), NestedBench.GuestToHost(gpa));
        bench.Tables.SetScalableContext(NestedBench.Device, dir => ScalableContextEntry.Create(dir).WithPasidEnable(true).WithDeviceTlbEnable(true));
        FirstStageTableBuilder? fs = null;
        if (nested)
        {
            fs = bench.NewGuestFirstStage();
            fs.Map(new Iova(gva), gpa);
        }
        bench.Tables.SetPasidEntry(NestedBench.Device, 0, (nested
            ? PasidEntry.NestedEntry(fs!.Root, bench.SecondStage.Root, bench.SecondStage.AddressWidth, 3)
            : PasidEntry.SecondStage(bench.SecondStage.Root, bench.SecondStage.AddressWidth, 3)).WithSecondStageAccessedDirtyEnable(true));

        var result = bench.Unit.Translate(new DmaRequest(NestedBench.Device, new Iova(nested ? gva : gpa), DmaAccess.Write,
            AddressType: AddressType.TranslationRequest));

        Assert.True(result.Success, result.Fault?.ToString());
        Assert.False(new SecondStageEntry(bench.Memory.Read64(bench.SecondStage.EntryAddress(new Gpa(gpa), 1))).Dirty);
        if (fs is not null) Assert.False(new FirstStageEntry(bench.Memory.Read64(fs.EntryHpa(new Iova(gva), 1))).Dirty);
    }
}
