using VtdSim.Hardware.Events;
using VtdSim.Hardware.Faults;
using VtdSim.Hardware.Registers;
using VtdSim.Hardware.Translation;

namespace VtdSim.Hardware.Tests.Support;

/// <summary>
/// Checks that a fault was raised with the expected reason and that software can see it the way a driver would:
/// in the fault-recording register (F, FR, SID, FI) and in FSTS.PPF, and as a recorded <see cref="FaultEvent"/>.
/// </summary>
public static class FaultAssert
{
    public const uint FstsPfo = 1u << 0, FstsPpf = 1u << 1;

    /// <summary>The translation failed with <paramref name="reason"/>, and FRCD[<paramref name="index"/>] holds it.</summary>
    public static DmaFault Recorded(VtdUnit unit, TranslationResult result, FaultReason reason, in DmaRequest request, int index = 0)
    {
        Assert.False(result.Success, $"expected fault {FaultReasonInfo.Of(reason).Condition}, but the request translated to {result.Address}");
        return Recorded(unit, result.Fault, reason, in request, index);
    }

    /// <summary>A DMA transfer stopped at the first byte with <paramref name="reason"/>, and FRCD[<paramref name="index"/>] holds it.</summary>
    public static DmaFault Recorded(VtdUnit unit, DmaTransferResult result, FaultReason reason, in DmaRequest request, int index = 0)
    {
        Assert.Equal(0, result.BytesTransferred);
        return Recorded(unit, result.Fault, reason, in request, index);
    }

    public static DmaFault Recorded(VtdUnit unit, DmaFault? fault, FaultReason reason, in DmaRequest request, int index = 0)
    {
        Assert.NotNull(fault);
        Assert.Equal(reason, fault.Reason);
        Assert.False(fault.SuppressedByFpd);
        // Every fault says what happened in a sentence a person can act on (what `vtdsim explain`, the scenarios and
        // the report show): never empty, never a clause cut off after its separator.
        Assert.False(string.IsNullOrWhiteSpace(fault.Explanation), $"fault {fault.Condition} has no explanation");
        Assert.False(fault.Explanation.TrimEnd().EndsWith(':') || fault.Explanation.TrimEnd().EndsWith(','),
            $"the explanation of {fault.Condition} stops short: {fault.Explanation}");

        FaultRecord record = FaultRecord.Read(unit, index);
        Assert.True(record.Fault, $"FRCD[{index}].F is clear: {record}");
        Assert.Equal((byte)reason, record.Reason);
        Assert.Equal(request.Source.Value, record.SourceId);
        Assert.Equal(request.Address.Value & ~0xFFFUL, record.Low); // FI; bits 11:0 are reserved and read 0
        Assert.NotEqual(0u, unit.ReadRegister32(RegisterOffset.FSTS) & FstsPpf);

        FaultEvent e = LastFaultEvent(unit);
        Assert.Same(fault, e.Fault);
        Assert.Equal(FaultDisposition.Recorded, e.Disposition);
        return fault;
    }

    /// <summary>
    /// The fault's explanation (what `vtdsim explain`, the scenarios and the report show a person) names each of
    /// <paramref name="facts"/>: the address, the level and entry, the cause.
    /// </summary>
    public static void Explains(DmaFault fault, params string[] facts)
    {
        foreach (string fact in facts)
            Assert.True(fault.Explanation.Contains(fact, StringComparison.Ordinal),
                $"the explanation of {fault.Condition} does not name \"{fact}\": {fault.Explanation}");
    }

    /// <summary>The fault was raised with <paramref name="reason"/> but FPD kept it out of every fault-recording register.</summary>
    public static void SuppressedByFpd(VtdUnit unit, TranslationResult result, FaultReason reason)
    {
        Assert.False(result.Success);
        Assert.NotNull(result.Fault);
        Assert.Equal(reason, result.Fault.Reason);
        Assert.True(result.Fault.SuppressedByFpd);
        Assert.Equal(FaultDisposition.SuppressedByFpd, LastFaultEvent(unit).Disposition);
        AssertNoRecords(unit);
    }

    /// <summary>No fault-recording register has F set and FSTS shows nothing pending.</summary>
    public static void AssertNoRecords(VtdUnit unit)
    {
        int count = new Capability(unit.ReadRegister64(RegisterOffset.CAP)).NumberOfFaultRecords;
        for (int i = 0; i < count; i++) Assert.False(FaultRecord.Read(unit, i).Fault, $"FRCD[{i}] unexpectedly holds a fault");
        Assert.Equal(0u, unit.ReadRegister32(RegisterOffset.FSTS) & (FstsPpf | FstsPfo));
    }

    public static FaultEvent LastFaultEvent(VtdUnit unit)
    {
        FaultEvent? last = unit.Events.OfType<FaultEvent>().LastOrDefault();
        Assert.NotNull(last);
        return last;
    }
}
