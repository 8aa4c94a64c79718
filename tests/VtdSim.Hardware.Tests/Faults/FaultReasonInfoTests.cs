using VtdSim.Hardware.Faults;
using VtdSim.Hardware.Tests.Support;

namespace VtdSim.Hardware.Tests.Faults;

/// <summary>
/// Every fault carries the specification's reason code under the specification's condition name (vtd-facts 5.1/5.2),
/// and is classified qualified or not as decisions D13 says.
/// </summary>
public class FaultReasonInfoTests
{
    [Theory]
    [InlineData(0x01, "LRT.2")] [InlineData(0x02, "LCT.2")] [InlineData(0x03, "LCT.4")] [InlineData(0x04, "LGN.1")]
    [InlineData(0x05, "LGN.2")] [InlineData(0x06, "LGN.3")] [InlineData(0x07, "LSL.1")] [InlineData(0x08, "LRT.1")]
    [InlineData(0x09, "LCT.1")] [InlineData(0x0A, "LRT.3")] [InlineData(0x0B, "LCT.3")] [InlineData(0x0C, "LSL.2")]
    [InlineData(0x0D, "LCT.5")] [InlineData(0x0E, "LGN.4")]
    [InlineData(0x30, "RTA.1")] [InlineData(0x31, "RTA.2")] [InlineData(0x32, "RTA.3")] [InlineData(0x33, "RTA.4")]
    [InlineData(0x38, "SRT.1")] [InlineData(0x39, "SRT.2")] [InlineData(0x3A, "SRT.3")]
    [InlineData(0x40, "SCT.1")] [InlineData(0x41, "SCT.2")] [InlineData(0x42, "SCT.3")] [InlineData(0x43, "SCT.4")]
    [InlineData(0x44, "SCT.5")] [InlineData(0x45, "SCT.6")] [InlineData(0x46, "SCT.7")] [InlineData(0x47, "SCT.8")]
    [InlineData(0x48, "SCT.9")]
    [InlineData(0x50, "SPD.1")] [InlineData(0x51, "SPD.2")] [InlineData(0x52, "SPD.3")]
    [InlineData(0x58, "SPT.1")] [InlineData(0x59, "SPT.2")] [InlineData(0x5A, "SPT.3")] [InlineData(0x5B, "SPT.4")]
    [InlineData(0x5C, "SPT.5")] [InlineData(0x5D, "SPT.6")]
    [InlineData(0x70, "SFS.1")] [InlineData(0x71, "SFS.2")] [InlineData(0x72, "SFS.3")] [InlineData(0x73, "SFS.4")]
    [InlineData(0x74, "SFS.5")] [InlineData(0x75, "SFS.6")] [InlineData(0x76, "SFS.7")] [InlineData(0x77, "SFS.8")]
    [InlineData(0x90, "SFS.9")] [InlineData(0x91, "SFS.10")]
    [InlineData(0x78, "SSS.1")] [InlineData(0x79, "SSS.2")] [InlineData(0x7A, "SSS.3")] [InlineData(0x7B, "SSS.4")]
    [InlineData(0x7C, "SSS.5")] [InlineData(0x7D, "SSS.6")]
    [InlineData(0x80, "SGN.1")] [InlineData(0x81, "SGN.2")] [InlineData(0x82, "SGN.3")] [InlineData(0x83, "SGN.4")]
    [InlineData(0x84, "SGN.5")] [InlineData(0x85, "SGN.6")] [InlineData(0x86, "SGN.7")] [InlineData(0x87, "SGN.8")]
    public void CodeCarriesTheSpecificationsConditionName(int code, string condition)
    {
        var reason = (FaultReason)code;

        Assert.True(Enum.IsDefined(reason), $"0x{code:x2} is not a FaultReason");
        Assert.Equal(condition, FaultReasonInfo.Of(reason).Condition);
        Assert.Equal((byte)code, FaultReasonInfo.Of(reason).Code);
    }

    [Fact]
    public void EveryReasonHasInfo()
    {
        var described = FaultReasonInfo.All.Select(i => i.Reason).ToHashSet();

        foreach (FaultReason r in Enum.GetValues<FaultReason>().Where(r => r != FaultReason.None))
            Assert.Contains(r, described);
    }

    [Fact]
    public void NonQualifiedFaultsAreExactlyThoseFoundBeforeATrustworthyFpd()
    {
        // Decisions D13.
        FaultReason[] nonQualified =
        [
            FaultReason.LRT1_RootAccessError, FaultReason.LRT2_RootNotPresent, FaultReason.LRT3_RootReserved,
            FaultReason.LCT1_ContextAccessError, FaultReason.LCT3_ContextReserved,
            FaultReason.SRT1_RootAccessError, FaultReason.SRT2_RootNotPresent, FaultReason.SRT3_RootReserved,
            FaultReason.SCT1_ContextAccessError, FaultReason.SCT3_ContextReserved,
            FaultReason.SPD1_DirectoryAccessError, FaultReason.SPT1_PasidEntryAccessError,
            FaultReason.RTA1_InvalidTtm, FaultReason.RTA2_PasidInLegacyMode, FaultReason.RTA3_PageRequestInLegacyMode, FaultReason.RTA4_AbortDmaMode,
        ];

        var actual = FaultReasonInfo.All.Where(i => !i.Qualified).Select(i => i.Reason).Order();

        Assert.Equal(nonQualified.Order(), actual);
    }

    [Fact]
    public void FaultDescriptionNamesTheConditionAndCode()
    {
        var bench = new LegacyBench().WithMapping(0x5000, LegacyBench.DataBase, read: false, write: true);

        DmaFault? fault = bench.Unit.Translate(LegacyBench.Read(0x5000)).Fault;

        Assert.NotNull(fault);
        Assert.Contains("LGN.3 (0x06)", fault.ToString(), StringComparison.Ordinal);
        Assert.False(string.IsNullOrWhiteSpace(fault.Explanation));
    }
}
