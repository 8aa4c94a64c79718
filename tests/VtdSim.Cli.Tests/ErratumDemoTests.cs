using VtdSim.Cli.Demo;
using VtdSim.Cli.Tests.Support;
using VtdSim.Hardware.Addressing;
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

    [Theory]
    [InlineData(4096 + 1)]
    [InlineData(3 * 4096 + 100)]
    [InlineData(ErratumDemo.MaxLength)]
    public void ADmaLongerThanAPageMovesEveryByteOnTheErratumUnit(int length)
    {
        var result = ErratumDemo.Run(new ErratumDemoOptions { Length = length, Access = DmaAccess.Write });

        Assert.True(result.Erratum.Transfer.Completed, result.Erratum.Transfer.Fault?.Explanation);
        Assert.Equal(length, result.Erratum.Transfer.BytesTransferred);
        Assert.Equal(FaultReason.SFS8_EntryNotWritable, result.Architectural.Transfer.Fault?.Reason);
        // Every page of the DMA is mapped, one after the other, from the data GPA on.
        Assert.Equal((length + 4095) / 4096, result.Layout.DataPages);
    }

    public static TheoryData<string, ErratumDemoOptions> BadOptions => new()
    {
        { "1 to 4", new ErratumDemoOptions { ReadOnlyTableLevel = 0 } },
        { "1 to 4", new ErratumDemoOptions { ReadOnlyTableLevel = 5 } },
        { "65536", new ErratumDemoOptions { Length = 0 } },
        { "65536", new ErratumDemoOptions { Length = ErratumDemo.MaxLength + 1 } },
        { "TopLevelOnly", new ErratumDemoOptions { Reach = (ErratumReach)99 } },
    };

    [Theory]
    [MemberData(nameof(BadOptions))]
    public void OptionsOutsideTheirRangeAreRefusedInPlainWords(string expected, ErratumDemoOptions options)
    {
        var e = Assert.Throws<ArgumentException>(() => ErratumDemo.Run(options));
        Assert.Contains(expected, e.Message);
        CliProcess.AssertPlain(e.Message);
    }

    [Fact]
    public void RunsAreNamedByWhatTheUnitIs()
    {
        var onArchitectural = ErratumDemo.Run(new ErratumDemoOptions { Profile = BuiltInProfiles.Architectural });
        Assert.False(onArchitectural.Architectural.Profile.Erratum772415);
        Assert.True(onArchitectural.Erratum.Profile.Erratum772415);
        Assert.Equal("architectural (as the profile is, erratum off)", onArchitectural.Architectural.Label);
        Assert.Equal("architectural with erratum 772415 switched on (TopLevelOnly)", onArchitectural.Erratum.Label);

        var wider = ErratumDemo.Run(new ErratumDemoOptions { Reach = ErratumReach.AllLevels });
        Assert.Equal("sapphire-rapids with erratum 772415 switched off", wider.Architectural.Label);
        Assert.Equal("sapphire-rapids with the erratum's reach changed to AllLevels", wider.Erratum.Label);
    }

    [Fact]
    public void ADemoOnAProfileWithoutNestingIsRefusedWithAClearMessage()
    {
        var e = Assert.Throws<ArgumentException>(() => ErratumDemo.Run(new ErratumDemoOptions { Profile = BuiltInProfiles.Qemu72Scalable }));
        Assert.Contains("NEST", e.Message);
        CliProcess.AssertPlain(e.Message);
    }
}
