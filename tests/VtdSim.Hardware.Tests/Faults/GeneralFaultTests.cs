using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Building;
using VtdSim.Hardware.Faults;
using VtdSim.Hardware.Memory;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Structures;
using VtdSim.Hardware.Tests.Support;
using VtdSim.Hardware.Translation;

namespace VtdSim.Hardware.Tests.Faults;

/// <summary>
/// Faults decided by the root-table mode (RTA.x, vtd-facts 1.5 and 5.2) and by scalable-mode pass-through (SGN.4/SGN.8,
/// decisions D8/D9), which no paging walk is involved in.
/// </summary>
public class GeneralFaultTests
{
    private static readonly SourceId Device = new(0, 4, 0);

    public enum BadMode { ScalableWithoutSmts, ReservedTtm, AbortDmaWithoutAdms }

    [Theory]
    [InlineData(BadMode.ScalableWithoutSmts)] // TTM=01 on the qemu-7.2 legacy unit (ECAP.SMTS=0)
    [InlineData(BadMode.ReservedTtm)]         // TTM=10 is reserved everywhere
    [InlineData(BadMode.AbortDmaWithoutAdms)] // TTM=11 needs ECAP.ADMS, which the architectural unit lacks
    [FaultCoverage(FaultReason.RTA1_InvalidTtm)]
    public void UnsupportedTranslationTableModeFaultsRta1(BadMode mode)
    {
        (VtdProfile profile, TranslationTableMode ttm) = mode switch
        {
            BadMode.ScalableWithoutSmts => (FaultProfiles.Qemu72Legacy, TranslationTableMode.Scalable),
            BadMode.ReservedTtm => (BuiltInProfiles.Architectural, TranslationTableMode.Reserved),
            _ => (BuiltInProfiles.Architectural, TranslationTableMode.AbortDma),
        };
        VtdUnit unit = UnitWithRootTable(profile, ttm);
        var request = new DmaRequest(Device, new Iova(0x1000), DmaAccess.Read);

        FaultAssert.Recorded(unit, unit.Translate(request), FaultReason.RTA1_InvalidTtm, request);
    }

    [Fact]
    [FaultCoverage(FaultReason.RTA2_PasidInLegacyMode)]
    public void RequestWithPasidInLegacyModeFaultsRta2()
    {
        // The device has a working legacy domain; only the PASID prefix makes the request illegal.
        var bench = new LegacyBench().WithMapping(0x5000, LegacyBench.DataBase);
        Assert.True(bench.Unit.Translate(LegacyBench.Read(0x5000)).Success);
        var request = LegacyBench.Read(0x5000) with { Pasid = 7 };

        FaultAssert.Recorded(bench.Unit, bench.Unit.Translate(request), FaultReason.RTA2_PasidInLegacyMode, request);
        FaultRecord record = FaultRecord.Read(bench.Unit);
        Assert.True(record.PasidPresent);
        Assert.Equal(7u, record.PasidValue);
    }

    [Fact]
    [FaultCoverage(FaultReason.RTA4_AbortDmaMode)]
    public void AbortDmaModeBlocksEveryRequestWithRta4()
    {
        // No built-in profile has ECAP.ADMS; a unit that does blocks all DMA once TTM=11 is latched.
        VtdUnit unit = UnitWithRootTable(FaultProfiles.WithAbortDma, TranslationTableMode.AbortDma);
        var write = new DmaRequest(Device, new Iova(0x2000), DmaAccess.Write);
        var target = new Hpa(0x2000);

        var result = unit.DmaWrite(write, new byte[] { 0xAA });

        FaultAssert.Recorded(unit, result, FaultReason.RTA4_AbortDmaMode, write);
        Assert.Equal(0UL, unit.Memory.Read64(target));
    }

    [Theory]
    [InlineData(1UL << 46)]            // first address at HAW (46 bits on the architectural unit)
    [InlineData(0x8000_0000_0000_0000)]
    [FaultCoverage(FaultReason.SGN4_AddressBeyondHostWidth)]
    public void PassThroughAddressBeyondHostWidthFaultsSgn4(ulong address)
    {
        var bench = new NestedBench();
        bench.Tables.SetPasidEntry(NestedBench.Device, 0, PasidEntry.PassThroughEntry(3));
        Assert.Equal(new Hpa(0x3000_0000), bench.Unit.Translate(bench.Read(0x3000_0000)).Address);
        var request = bench.Read(address);

        FaultAssert.Recorded(bench.Unit, bench.Unit.Translate(request), FaultReason.SGN4_AddressBeyondHostWidth, request);
    }

    [Fact]
    [FaultCoverage(FaultReason.SGN8_InterruptAddress)]
    public void PassThroughIntoTheInterruptRangeFaultsSgn8()
    {
        var bench = new NestedBench();
        bench.Tables.SetPasidEntry(NestedBench.Device, 0, PasidEntry.PassThroughEntry(3));
        var request = bench.Write(0xFEE0_0040);

        FaultAssert.Recorded(bench.Unit, bench.Unit.Translate(request), FaultReason.SGN8_InterruptAddress, request);
    }

    private static VtdUnit UnitWithRootTable(VtdProfile profile, TranslationTableMode mode)
    {
        var memory = new PhysicalMemory(1UL << 32);
        var unit = new VtdUnit(memory, Support.Uncached.Of(profile));
        RegisterProgramming.EnableTranslation(unit, new Hpa(0x10_0000), mode);
        return unit;
    }
}
