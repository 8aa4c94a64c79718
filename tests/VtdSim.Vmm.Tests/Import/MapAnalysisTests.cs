using VtdSim.Hardware.Profiles;
using VtdSim.Kernel.Intel;
using VtdSim.Vmm.Memory.Import;
using VtdSim.Vmm.Tests.Support;
using VtdSim.Vmm.Vfio;

namespace VtdSim.Vmm.Tests.Import;

/// <summary>
/// The analysis of a real memory map for vfio (MapAnalysis) and the model's VMM started on it (LayoutRun): what the
/// analysis predicts from the listener's rules is what the VMM and the kernel then do.
/// </summary>
public class MapAnalysisTests
{
    private static ImportedMemoryMap Map(string name, string command = "info-mtree-f")
    {
        Assert.True(MtreeParser.TryParse(Captures.Read(name, command), $"{name}.{command}.txt", out ImportedMemoryMap? map, out MtreeParseError? error), error?.Message);
        return map!;
    }

    [Fact]
    public void TheBootedQ35sVgaBiosAndBiosAreReadOnlyRamThatANestParentRefusesAndBypassRoSkips()
    {
        MapAnalysis analysis = MapAnalysis.Analyze(Map("q35-4g-booted"), ErratumPolicy.Qemu11)!;
        Assert.True(analysis.FromFlatView);
        // QEMU 7.2's flat view after SeaBIOS: the VGA BIOS shadowed at 0xc0000 is read-only guest RAM; pc.bios is ROM.
        SectionVerdict vgaBios = analysis.Sections.Single(s => s.Start == 0xc0000);
        Assert.Equal(("pc.ram", "rom", true), (vgaBios.Region, vgaBios.Type, vgaBios.ReadOnly));
        Assert.True(vgaBios.NestParentRefuses);
        Assert.True(vgaBios.BypassRoSkips);
        Assert.Equal(SectionOutcome.Bypassed, vgaBios.Outcome);
        SectionVerdict bios = analysis.Sections.Single(s => s.Region == "pc.bios");
        Assert.Equal((0xfffc0000UL, 0xffffffffUL, SectionOutcome.Bypassed), (bios.Start, bios.Last, bios.Outcome));
        SectionVerdict low = analysis.Sections[0];
        Assert.Equal((0UL, "pc.ram", SectionOutcome.MappedReadWrite, false), (low.Start, low.Region, low.Outcome, low.NestParentRefuses));
        Assert.All(analysis.Sections.Where(s => s.Type == "i/o"), s => Assert.Equal((VfioSectionVerdict.NotRam, SectionOutcome.NotMapped), (s.Plan.Verdict, s.Outcome)));
        Assert.Contains((0xfffc0000UL, 0xffffffffUL), analysis.Unreachable);
        Assert.Contains(analysis.Unreachable, r => r.Start == 0xc0000);
        Assert.False(analysis.Refused);
    }

    [Fact]
    public void PoliciesDecideWhatBecomesOfTheReadOnlySections()
    {
        ImportedMemoryMap map = Map("q35-4g-booted");
        SectionVerdict Bios(ErratumPolicy p) => MapAnalysis.Analyze(map, p)!.Sections.Single(s => s.Region == "pc.bios");
        Assert.Equal(SectionOutcome.MappedReadOnly, Bios(ErratumPolicy.Qemu72).Outcome);
        Assert.Equal(SectionOutcome.Bypassed, Bios(ErratumPolicy.Qemu11).Outcome);
        Assert.Equal(SectionOutcome.Refused, Bios(ErratumPolicy.WantsNestingMapsRo).Outcome);
        Assert.Equal(SectionOutcome.MappedWritable, Bios(ErratumPolicy.NeverRo).Outcome);
        MapAnalysis refused = MapAnalysis.Analyze(map, ErratumPolicy.WantsNestingMapsRo)!;
        Assert.True(refused.Refused);
        Assert.Empty(refused.Unreachable);
        Assert.Equal(0xc0000UL, refused.FirstRefused!.Start);
    }

    [Fact]
    public void OvmfsFlashIsNotRamSoNoPolicyMapsIt()
    {
        MapAnalysis analysis = MapAnalysis.Analyze(Map("q35-2g-nodefaults-ovmf-booted"), ErratumPolicy.WantsNestingMapsRo)!;
        SectionVerdict flash = analysis.Sections.Single(s => s.Region == "system.flash0");
        Assert.Equal(("romd", VfioSectionVerdict.NotRam, false, SectionOutcome.NotMapped), (flash.Type, flash.Plan.Verdict, flash.NestParentRefuses, flash.Outcome));
    }

    [Fact]
    public void ATreeAloneIsAnalysedFromTheModelsRendering()
    {
        MapAnalysis fromTree = MapAnalysis.Analyze(Map("q35-4g-booted", "info-mtree"), ErratumPolicy.Qemu11)!;
        MapAnalysis fromFlat = MapAnalysis.Analyze(Map("q35-4g-booted"), ErratumPolicy.Qemu11)!;
        Assert.False(fromTree.FromFlatView);
        Assert.Equal(Memory(fromFlat), Memory(fromTree));

        static List<(ulong, ulong, string, SectionOutcome)> Memory(MapAnalysis a) =>
            a.Sections.Where(s => s.Type != "i/o").Select(s => (s.Start, s.Last, s.Region, s.Outcome)).ToList();
    }

    public static TheoryData<string, ErratumPolicy> RunCases()
    {
        var cases = new TheoryData<string, ErratumPolicy>();
        foreach (string name in new[] { "q35-4g-booted", "q35-2g", "pc-2g-booted", "q35-2g-nodefaults-ovmf-booted", "q35-8g" })
            foreach (ErratumPolicy p in ErratumPolicies.All)
                cases.Add(name, p);
        return cases;
    }

    /// <summary>
    /// The VMM started on the imported map does what the analysis predicts: it maps exactly the planned ranges with the
    /// planned permissions, or — where a nest parent must take a read-only map — fails on the first such region with the
    /// kernel's EINVAL and DMAR line.
    /// </summary>
    [Theory]
    [MemberData(nameof(RunCases))]
    public void TheVmmOnTheImportedMapDoesWhatTheAnalysisSays(string name, ErratumPolicy policy)
    {
        ImportedMemoryMap map = Map(name);
        MapAnalysis analysis = MapAnalysis.Analyze(map, policy)!;
        LayoutRunResult run = LayoutRun.Start(map, policy, BuiltInProfiles.SapphireRapids);
        if (analysis.Refused)
        {
            Assert.Equal(VmmState.Failed, run.State);
            Assert.Contains("DMAR: Read-only mapping is disallowed on the domain which serves as the parent in a nested configuration, due to HW errata (ERRATA_772415_SPR17)", run.KernelLog);
            Assert.Contains(run.VmmLog, l => l.Contains($"memory listener initialization failed: Region {analysis.FirstRefused!.Region}: vfio_container_dma_map(", StringComparison.Ordinal)
                                             && l.Contains($", 0x{analysis.FirstRefused.Plan.Iova:x}, ", StringComparison.Ordinal) && l.EndsWith("= -22 (Invalid argument)", StringComparison.Ordinal));
            return;
        }
        Assert.True(run.State == VmmState.Running, $"{run.State}: {string.Join('\n', run.VmmLog)}");
        Assert.Equal(analysis.BypassRo, run.BypassRo);
        var expected = analysis.Sections
            .Where(s => s.Outcome is SectionOutcome.MappedReadWrite or SectionOutcome.MappedReadOnly or SectionOutcome.MappedWritable)
            .Select(s => (s.Plan.Iova, s.Plan.Size, s.Outcome == SectionOutcome.MappedReadOnly ? IommuProt.Read : IommuProt.Read | IommuProt.Write)).ToList();
        Assert.Equal(expected, run.Mappings.Select(a => (a.Iova, a.Length, a.Prot)).OrderBy(m => m.Iova).ToList());
    }

    [Fact]
    public void AMapWithoutSystemMemoryCannotBeRun()
    {
        Assert.True(MtreeParser.TryParse("memory-region: pc.ram\n  0000000000000000-0000000007ffffff (prio 0, ram): pc.ram\n\n", "ram.txt", out ImportedMemoryMap? map, out _));
        Assert.Null(MapAnalysis.Analyze(map!, ErratumPolicy.Qemu11));
        LayoutRunResult run = LayoutRun.Start(map!, ErratumPolicy.Qemu11, BuiltInProfiles.SapphireRapids);
        Assert.Equal(VmmState.Failed, run.State);
        Assert.Contains("ram.txt: the memory map has no \"memory\" address space (the system memory)", run.VmmLog[^1]);
    }
}
