using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Faults;
using VtdSim.Hardware.Structures;
using VtdSim.Hardware.Tests.Support;
using VtdSim.Hardware.Translation;

namespace VtdSim.Hardware.Tests.Faults;

/// <summary>
/// FPD (vtd-facts 2.2-2.5 and 5; decisions D12/D13): a qualified fault is not recorded when FPD is set in the context,
/// PASID-directory or PASID entry the walk reached; a non-qualified fault is recorded regardless. Either way the fault
/// is still reported in the event stream, with its disposition.
/// </summary>
public class FaultProcessingDisableTests
{
    private const ulong Gpa0 = 0x40_0000;

    // ---- legacy ----

    [Fact]
    public void LegacyContextFpdSuppressesAQualifiedFault()
    {
        var bench = new LegacyBench();
        bench.SetContext(bench.DefaultContext().WithFaultProcessingDisable(true));

        var result = bench.Unit.Translate(LegacyBench.Read(0x9000)); // nothing mapped: LGN.3, qualified

        FaultAssert.SuppressedByFpd(bench.Unit, result, FaultReason.LGN3_ReadDenied);
    }

    [Fact]
    public void LegacyContextFpdDoesNotSuppressANonQualifiedFault()
    {
        // LCT.3 is non-qualified: an entry with reserved bits set cannot be trusted for its FPD bit either.
        var bench = new LegacyBench();
        Hpa context = bench.SetContext(bench.DefaultContext().WithFaultProcessingDisable(true));
        FaultTables.SetBit(bench.Memory, context, 4);
        var request = LegacyBench.Read(0x9000);

        FaultAssert.Recorded(bench.Unit, bench.Unit.Translate(request), FaultReason.LCT3_ContextReserved, request);
    }

    [Fact]
    public void LegacyFpdIsPerDevice()
    {
        var bench = new LegacyBench();
        bench.SetContext(bench.DefaultContext().WithFaultProcessingDisable(true));
        var other = new SourceId(0, 3, 0);
        bench.Tables.SetLegacyContext(other, bench.DefaultContext());
        FaultAssert.SuppressedByFpd(bench.Unit, bench.Unit.Translate(LegacyBench.Read(0x9000)), FaultReason.LGN3_ReadDenied);

        var request = new DmaRequest(other, new Iova(0x9000), DmaAccess.Read);
        FaultAssert.Recorded(bench.Unit, bench.Unit.Translate(request), FaultReason.LGN3_ReadDenied, request);
    }

    // ---- scalable ----

    public enum FpdAt { Context, PasidDirectory, PasidEntry }

    /// <summary>Device 00:01.0, PASID 0 → a second stage mapping only <see cref="Gpa0"/>, with FPD set at <paramref name="at"/>.</summary>
    private static NestedBench ScalableDevice(FpdAt? at)
    {
        var bench = new NestedBench();
        bench.SecondStage.Map(new Gpa(Gpa0), new Hpa(0x3000_0000));
        PasidEntry entry = PasidEntry.SecondStage(bench.SecondStage.Root, bench.SecondStage.AddressWidth, 1);
        bench.Tables.SetPasidEntry(NestedBench.Device, 0, entry.WithFaultProcessingDisable(at == FpdAt.PasidEntry));
        if (at == FpdAt.Context)
            bench.Tables.SetScalableContext(NestedBench.Device, dir => ScalableContextEntry.Create(dir).WithPasidEnable(true).WithFaultProcessingDisable(true));
        if (at == FpdAt.PasidDirectory)
            FaultTables.SetBit(bench.Memory, bench.Tables.PasidDirectoryEntryAddress(NestedBench.Device, 0), 1);
        Assert.True(bench.Unit.Translate(bench.Read(Gpa0)).Success);
        return bench;
    }

    [Theory]
    [InlineData(FpdAt.Context)]
    [InlineData(FpdAt.PasidDirectory)]
    [InlineData(FpdAt.PasidEntry)]
    public void ScalableFpdAtAnyLevelSuppressesAQualifiedWalkFault(FpdAt at)
    {
        var bench = ScalableDevice(at);

        var result = bench.Unit.Translate(bench.Read(Gpa0 + 0x1000)); // not mapped: SSS.2, qualified

        FaultAssert.SuppressedByFpd(bench.Unit, result, FaultReason.SSS2_EntryNotPresent);
    }

    [Fact]
    public void WithoutFpdTheSameFaultIsRecorded()
    {
        var bench = ScalableDevice(null);
        var request = bench.Read(Gpa0 + 0x1000);

        FaultAssert.Recorded(bench.Unit, bench.Unit.Translate(request), FaultReason.SSS2_EntryNotPresent, request);
    }

    [Fact]
    public void ContextFpdSuppressesAQualifiedContextFault()
    {
        var bench = new NestedBench();
        bench.Tables.SetScalableContext(NestedBench.Device, dir => ScalableContextEntry.Create(dir).WithFaultProcessingDisable(true)); // PASIDE=0

        var result = bench.Unit.Translate(bench.Read(Gpa0) with { Pasid = 3 }); // SCT.6, qualified

        FaultAssert.SuppressedByFpd(bench.Unit, result, FaultReason.SCT6_PasidDisabled);
    }

    [Fact]
    public void FpdInContextAndDirectoryDoesNotSuppressAPasidTableAccessError()
    {
        // SPT.1 is non-qualified: the PASID entry (and its FPD) could not be read at all.
        var bench = ScalableDevice(FpdAt.Context);
        FaultTables.SetBit(bench.Memory, bench.Tables.PasidDirectoryEntryAddress(NestedBench.Device, 0), 1);
        ulong table = bench.Memory.Read64(bench.Tables.PasidDirectoryEntryAddress(NestedBench.Device, 0)) & ~0xFFFUL;
        bench.Memory.InjectError(new Hpa(table), 4096);
        var request = bench.Read(Gpa0);

        FaultAssert.Recorded(bench.Unit, bench.Unit.Translate(request), FaultReason.SPT1_PasidEntryAccessError, request);
    }

    [Fact]
    public void ContextFpdDoesNotSuppressAPasidDirectoryAccessError()
    {
        var bench = ScalableDevice(FpdAt.Context);
        bench.Memory.InjectError(bench.Tables.PasidDirectoryEntryAddress(NestedBench.Device, 0).PageBase, 4096);
        var request = bench.Read(Gpa0);

        FaultAssert.Recorded(bench.Unit, bench.Unit.Translate(request), FaultReason.SPD1_DirectoryAccessError, request);
    }

    [Fact]
    public void FpdInAnotherPasidsEntryDoesNotSuppress()
    {
        // FPD belongs to the entry the walk used: PASID 1's FPD says nothing about PASID 0's faults.
        var bench = ScalableDevice(null);
        bench.Tables.SetPasidEntry(NestedBench.Device, 1,
            PasidEntry.SecondStage(bench.SecondStage.Root, bench.SecondStage.AddressWidth, 1).WithFaultProcessingDisable(true));
        FaultAssert.SuppressedByFpd(bench.Unit, bench.Unit.Translate(bench.Read(Gpa0 + 0x1000) with { Pasid = 1 }), FaultReason.SSS2_EntryNotPresent);

        var request = bench.Read(Gpa0 + 0x1000);
        FaultAssert.Recorded(bench.Unit, bench.Unit.Translate(request), FaultReason.SSS2_EntryNotPresent, request);
    }

    public enum NotPresentEntry { LegacyContext, ScalableContext, PasidDirectory, PasidEntry }

    [Theory]
    [InlineData(NotPresentEntry.LegacyContext, FaultReason.LCT2_ContextNotPresent)]
    [InlineData(NotPresentEntry.ScalableContext, FaultReason.SCT2_ContextNotPresent)]
    [InlineData(NotPresentEntry.PasidDirectory, FaultReason.SPD2_DirectoryNotPresent)]
    [InlineData(NotPresentEntry.PasidEntry, FaultReason.SPT2_PasidEntryNotPresent)]
    public void FpdInANotPresentEntryIsIgnored(NotPresentEntry where, FaultReason expected)
    {
        // Decisions D12: the fields of a not-present entry mean nothing, FPD included, so its not-present fault
        // (qualified in every case here) is recorded.
        VtdUnit unit;
        DmaRequest request;
        if (where == NotPresentEntry.LegacyContext)
        {
            var legacy = new LegacyBench();
            legacy.SetContext(legacy.DefaultContext().WithPresent(false).WithFaultProcessingDisable(true));
            (unit, request) = (legacy.Unit, LegacyBench.Read(0x9000));
        }
        else
        {
            var bench = ScalableDevice(null);
            request = bench.Read(Gpa0);
            switch (where)
            {
                case NotPresentEntry.ScalableContext:
                    bench.Tables.SetScalableContext(NestedBench.Device, dir => ScalableContextEntry.Create(dir).WithPresent(false).WithFaultProcessingDisable(true));
                    break;
                case NotPresentEntry.PasidDirectory:
                    bench.Memory.Write64(bench.Tables.PasidDirectoryEntryAddress(NestedBench.Device, 0), 1UL << 1); // FPD=1, P=0
                    break;
                default:
                    bench.Tables.SetPasidEntry(NestedBench.Device, 0,
                        PasidEntry.SecondStage(bench.SecondStage.Root, bench.SecondStage.AddressWidth, 1).WithPresent(false).WithFaultProcessingDisable(true));
                    break;
            }
            unit = bench.Unit;
        }
        Assert.True(FaultReasonInfo.Of(expected).Qualified);

        FaultAssert.Recorded(unit, unit.Translate(request), expected, request);
    }
}
