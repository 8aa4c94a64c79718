using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Building;
using VtdSim.Hardware.Events;
using VtdSim.Hardware.Memory;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Registers;
using VtdSim.Hardware.Structures;
using VtdSim.Hardware.Tests.Support;
using VtdSim.Hardware.Translation;

namespace VtdSim.Hardware.Tests.Registers;

/// <summary>GCMD/GSTS (vtd-facts 1.4, 1.5; decisions D18): translation enable, root-table pointer latching, command hygiene.</summary>
public class GlobalCommandTests
{
    private const uint Te = (uint)GlobalCommand.TranslationEnable, Srtp = (uint)GlobalCommand.SetRootTablePointer;
    private const ulong Iova = 0x5000;
    private const ulong PageA = 0x4000_0000, PageB = 0x5000_0000;

    private static VtdUnit NewUnit(VtdProfile? profile = null) =>
        new(new PhysicalMemory(1UL << 32), profile ?? BuiltInProfiles.Architectural);

    [Fact]
    public void AtResetTranslationIsOffAndDmaPassesUntranslated()
    {
        var unit = NewUnit();

        var result = unit.Translate(new DmaRequest(new SourceId(0, 1, 0), new Iova(0x1234_5678), DmaAccess.Write));

        Assert.Equal(0u, unit.ReadRegister32(RegisterOffset.GSTS));
        Assert.True(result.Success);
        Assert.Equal(TranslationKind.Disabled, result.Kind);
        Assert.Equal(new Hpa(0x1234_5678), result.Address);
        Assert.Empty(unit.Events.OfType<FaultEvent>());
    }

    [Fact]
    public void EnablingOneCommandAtATimeSetsRtpsAndTesWithoutWarnings()
    {
        var bench = new LegacyBench().WithMapping(Iova, PageA);

        uint gsts = bench.Unit.ReadRegister32(RegisterOffset.GSTS);
        Assert.Equal(Te | Srtp, gsts);
        Assert.True(bench.Unit.TranslationEnabled);
        Assert.Empty(bench.Unit.Events.OfType<RegisterWarningEvent>());
        Assert.Equal(new Hpa(PageA), bench.Unit.Translate(LegacyBench.Read(Iova)).Address);
    }

    [Fact]
    public void ClearingTeTurnsTranslationOffAgain()
    {
        var bench = new LegacyBench().WithMapping(Iova, PageA);

        bench.Unit.WriteRegister32(RegisterOffset.GCMD, 0);
        var result = bench.Unit.Translate(LegacyBench.Read(0x9_9000)); // unmapped: would fault with TE on

        Assert.Equal(0u, bench.Unit.ReadRegister32(RegisterOffset.GSTS) & Te);
        Assert.True(result.Success);
        Assert.Equal(TranslationKind.Disabled, result.Kind);
        Assert.Equal(new Hpa(0x9_9000), result.Address);
        Assert.Empty(bench.Unit.Events.OfType<FaultEvent>());
    }

    [Fact]
    public void RtaddrTakesEffectOnlyWhenSrtpLatchesIt()
    {
        var bench = new LegacyBench().WithMapping(Iova, PageA);
        Hpa rootA = bench.Tables.Root;
        var tablesB = new RemappingTables(bench.Frames, scalable: false);
        var secondLevelB = new SecondStageTableBuilder(bench.Frames, 3);
        secondLevelB.Map(new Gpa(Iova), new Hpa(PageB));
        tablesB.SetLegacyContext(LegacyBench.Device, LegacyContextEntry.Create(secondLevelB.Root, secondLevelB.AddressWidth, 2));

        bench.Unit.WriteRegister64(RegisterOffset.RTADDR, tablesB.Root.Value);

        Assert.Equal(tablesB.Root.Value, bench.Unit.ReadRegister64(RegisterOffset.RTADDR)); // the register holds the new value
        Assert.Equal(rootA, bench.Unit.RootTable);                                         // the hardware still uses the old one
        Assert.Equal(new Hpa(PageA), bench.Unit.Translate(LegacyBench.Read(Iova)).Address);

        bench.Unit.WriteRegister32(RegisterOffset.GCMD, Te | Srtp); // TE unchanged, SRTP one-shot

        Assert.Equal(tablesB.Root, bench.Unit.RootTable);
        Assert.Equal(new Hpa(PageB), bench.Unit.Translate(LegacyBench.Read(Iova)).Address);
        Assert.Empty(bench.Unit.Events.OfType<RegisterWarningEvent>());
    }

    [Fact]
    public void SrtpAlsoLatchesTheTranslationTableMode()
    {
        var unit = NewUnit();
        unit.WriteRegister64(RegisterOffset.RTADDR, 0x10_0000 | (ulong)TranslationTableMode.Scalable << 10);
        Assert.Equal(TranslationTableMode.Legacy, unit.TableMode);

        unit.WriteRegister32(RegisterOffset.GCMD, Srtp);

        Assert.Equal(TranslationTableMode.Scalable, unit.TableMode);
        Assert.Equal(new Hpa(0x10_0000), unit.RootTable);
    }

    [Fact]
    public void GcmdReadsAsZero()
    {
        var bench = new LegacyBench().WithMapping(Iova, PageA); // TE and SRTP have been written

        Assert.Equal(0u, bench.Unit.ReadRegister32(RegisterOffset.GCMD));
    }

    [Fact]
    public void ChangingTwoCommandsInOneWriteIsCarriedOutButWarned()
    {
        var unit = NewUnit();
        unit.WriteRegister64(RegisterOffset.RTADDR, 0x10_0000);

        unit.WriteRegister32(RegisterOffset.GCMD, Te | Srtp);

        RegisterWarningEvent warning = Assert.Single(unit.Events.OfType<RegisterWarningEvent>());
        Assert.Equal(RegisterOffset.GCMD, warning.Offset);
        Assert.Equal(Te | Srtp, unit.ReadRegister32(RegisterOffset.GSTS));
        Assert.True(unit.TranslationEnabled);
    }

    [Fact]
    public void EnablingTranslationBeforeAnyRootPointerIsWarned()
    {
        var unit = NewUnit();

        unit.WriteRegister32(RegisterOffset.GCMD, Te);

        Assert.Single(unit.Events.OfType<RegisterWarningEvent>());
    }

    [Fact]
    public void CommandForAFeatureTheUnitLacksIsIgnoredAndWarned()
    {
        // Neither profile family offers advanced fault logging (CAP.AFL=0): SFL has nothing to latch.
        var unit = NewUnit();
        Assert.False(unit.Profile.Cap.AdvancedFaultLogging);

        unit.WriteRegister32(RegisterOffset.GCMD, (uint)GlobalCommand.SetFaultLog);

        Assert.Equal(0u, unit.ReadRegister32(RegisterOffset.GSTS));
        Assert.Single(unit.Events.OfType<RegisterWarningEvent>());
    }
}
