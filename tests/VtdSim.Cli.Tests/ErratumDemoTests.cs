using VtdSim.Cli.Demo;
using VtdSim.Hardware.Events;
using VtdSim.Hardware.Faults;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Structures;
using VtdSim.Hardware.Tracing;
using VtdSim.Hardware.Translation;

namespace VtdSim.Cli.Tests;

public class ErratumDemoTests
{
    private static readonly ErratumDemoResult Default = ErratumDemo.Run(new ErratumDemoOptions());

    [Fact]
    public void ArchitecturalRunFaultsSfs8AndLeavesTheReadOnlyPageUnchanged()
    {
        var run = Default.Architectural;
        Assert.Equal(FaultReason.SFS8_EntryNotWritable, run.Transfer.Fault?.Reason);
        Assert.Equal(0, run.Transfer.BytesTransferred);
        Assert.Empty(run.ChangedBytes());
        Assert.Contains(run.Events, e => e is FaultEvent { Disposition: FaultDisposition.Recorded });
    }

    [Fact]
    public void ErratumRunCompletesAndSetsAOnlyInTheTopLevelEntryOfTheReadOnlyPage()
    {
        var run = Default.Erratum;
        Assert.True(run.Transfer.Completed);
        Assert.Equal(Default.Options.Length, run.Transfer.BytesTransferred);

        // The PML4 entry used for the DMA address sits at index bits 47:39 of the IOVA.
        int entryOffset = (int)((Default.Layout.DmaAddress.Value >> 39) & 0x1FF) * 8;
        var changed = Assert.Single(run.ChangedBytes());
        Assert.Equal(entryOffset, changed.Offset);
        Assert.Equal((byte)(changed.Before | (byte)FirstStageEntry.AccessedBit), changed.After);

        var write = Assert.Single(run.Events.OfType<ErratumWriteEvent>());
        Assert.Equal(4, write.Level);
        Assert.Equal(Default.Layout.ReadOnlyPage.Value + (ulong)entryOffset, write.EntryGpa.Value);
        Assert.Equal(Default.Layout.ReadOnlyPageHost.Value + (ulong)entryOffset, write.EntryHpa.Value);
    }

    [Fact]
    public void TheErratumWalkMakesTwentyFourPagingReadsForFourLevelsOverFourLevels()
    {
        Assert.Equal(24, Default.Erratum.Trace.PagingReads);
        Assert.Equal(1, Default.Erratum.Trace.References.Count(r => r.Kind == ReferenceKind.ErratumFlagUpdate));
    }

    [Fact]
    public void WithTopLevelReachALowerReadOnlyTableStillFaultsOnTheErratumUnit()
    {
        var result = ErratumDemo.Run(new ErratumDemoOptions { ReadOnlyTableLevel = 2, Reach = ErratumReach.TopLevelOnly });
        Assert.Equal(FaultReason.SFS8_EntryNotWritable, result.Erratum.Transfer.Fault?.Reason);
        Assert.Empty(result.Erratum.ChangedBytes());
    }

    [Fact]
    public void WithAllLevelsReachAWriteModifiesTheReadOnlyLeafTableWithAAndD()
    {
        var result = ErratumDemo.Run(new ErratumDemoOptions { ReadOnlyTableLevel = 1, Reach = ErratumReach.AllLevels, Access = DmaAccess.Write });
        Assert.True(result.Erratum.Transfer.Completed);
        var changed = Assert.Single(result.Erratum.ChangedBytes());
        Assert.Equal((byte)(FirstStageEntry.AccessedBit | FirstStageEntry.DirtyBit), (byte)(changed.After & ~changed.Before));
        Assert.Equal(2, result.Erratum.Events.OfType<ErratumWriteEvent>().Count());
        Assert.Equal(FaultReason.SFS8_EntryNotWritable, result.Architectural.Transfer.Fault?.Reason);
    }

    [Fact]
    public void ADemoOnAProfileWithoutNestingIsRefusedWithAClearMessage()
    {
        var e = Assert.Throws<ArgumentException>(() => ErratumDemo.Run(new ErratumDemoOptions { Profile = BuiltInProfiles.Qemu72Scalable }));
        Assert.Contains("NEST", e.Message);
    }
}
