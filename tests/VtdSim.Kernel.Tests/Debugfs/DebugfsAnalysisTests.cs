using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Structures;
using VtdSim.Kernel.Intel;
using VtdSim.Kernel.Intel.Debugfs;

namespace VtdSim.Kernel.Tests.Debugfs;

/// <summary>
/// The model kernel's dump read back: the rebuilt root, context and PASID entries and page tables equal the originals
/// in the kernel's memory, a clean configuration has no finding, and planted problems are found where they are.
/// </summary>
public class DebugfsAnalysisTests
{
    private static ulong Read(KernelBench bench, ulong address) => bench.Machine.Read(new Hpa(address), 8);

    private static ulong Rebuilt(DebugfsAnalysis a, ulong address) => a.Memory.TryRead64(new Hpa(address), out ulong v) ? v : throw new InvalidOperationException($"0x{address:x} not readable");

    public static TheoryData<string> Clean() => ["scalable", "legacy"];

    private static KernelBench Build(string setup) => setup == "legacy" ? DebugfsSetups.Legacy() : DebugfsSetups.Scalable();

    [Theory]
    [MemberData(nameof(Clean))]
    public void TheRebuiltStructuresEqualTheOriginals(string setup)
    {
        var bench = Build(setup);
        var a = DebugfsAnalysis.Analyze(DebugfsSetups.Parse(bench));
        var unit = bench.Driver.Unit;
        int compared = 0;
        foreach (var row in a.Dump.Translation.Single().Rows)
        {
            var device = row.Device;
            ulong root = unit.RootTable.Value + device.Bus * 16UL;
            Assert.Equal(Read(bench, root), Rebuilt(a, root));
            Assert.Equal(Read(bench, root + 8), Rebuilt(a, root + 8));
            bool upper = unit.ScalableMode && device.DevFn >= 0x80;
            ulong ctx = (Read(bench, upper ? root + 8 : root) & ~0xFFFUL) + (ulong)(unit.ScalableMode ? (device.DevFn & 0x7F) * 32 : device.DevFn * 16);
            Assert.Equal(Read(bench, ctx), Rebuilt(a, ctx));
            Assert.Equal(Read(bench, ctx + 8), Rebuilt(a, ctx + 8));
            if (unit.ScalableMode)
            {
                // The PASID table's page is the importer's (the dump does not show it); the entry in it is the original.
                ulong pde = Rebuilt(a, (Rebuilt(a, ctx) & ~0xFFFUL) + (ulong)(row.Pasid >> 6) * 8);
                Assert.Contains(pde & ~0xFFFUL, a.ImporterPages);
                ulong slot = (pde & ~0xFFFUL) + (ulong)(row.Pasid & 63) * 64;
                var original = unit.ReadPasidEntry(device, (uint)row.Pasid);
                Assert.Equal((original.Q0, original.Q1, original.Q2), (Rebuilt(a, slot), Rebuilt(a, slot + 8), Rebuilt(a, slot + 16)));
            }
            compared++;
        }
        Assert.True(compared >= 2);
        // Every page-table entry on the path of every leaf, at its own address.
        foreach (var d in a.Dump.Domains)
        {
            var domain = bench.Driver.DomainOf(d.Device, d.Pasid ?? 0);
            if (domain is IdentityDomain)
            {
                Assert.Empty(d.Leaves);
                continue;
            }
            var table = domain is NestedDomain n ? n.Parent.Table : ((PagingDomain)domain).Table;
            Assert.Equal(table.Root.Value, d.Pgd);
            int leaves = 0;
            table.ForEachLeaf((iova, entry, value, size) =>
            {
                Assert.Equal(value, Rebuilt(a, entry.Value));
                ulong t = table.Root.Value;
                for (int level = table.Levels; level >= 1; level--)
                {
                    ulong slot = t + ((iova >> (12 + 9 * (level - 1))) & 511) * 8;
                    Assert.Equal(Read(bench, slot), Rebuilt(a, slot));
                    if (slot == entry.Value) break;
                    t = Read(bench, slot) & 0x000F_FFFF_FFFF_F000;
                }
                leaves++;
            });
            Assert.Equal(leaves, d.Leaves.Count);
        }
        Assert.Empty(a.Findings);
    }

    [Fact]
    public void TheDecodedEntriesNameEachDevicesTranslation()
    {
        var bench = DebugfsSetups.Scalable();
        var a = DebugfsAnalysis.Analyze(DebugfsSetups.Parse(bench));
        Assert.Equal(["00:02.0/0 first-stage", "00:02.0/5 second-stage", "00:06.0/0 nested"], a.Devices.Select(d => $"{d.Device}/{d.Pasid} {d.Translation}"));
        var nested = a.Devices.Single(d => d.Translation == "nested");
        Assert.Equal(0x8000UL, nested.FirstStageTable);
        Assert.Contains(nested.Entry.Fields, f => f.Name == "PGTT" && f.Value == 3);
        Assert.Equal(((NestedDomain)bench.Driver.DomainOf(DebugfsSetups.Second)).Parent.Levels, nested.Levels);
    }

    [Fact]
    public void TheVgaBiosHazardIsFound()
    {
        var bench = DebugfsSetups.VgaBiosHazard();
        var a = DebugfsAnalysis.Analyze(DebugfsSetups.Parse(bench));
        var finding = Assert.Single(a.Findings);
        Assert.Equal(DebugfsFindingKind.Spr17Hazard, finding.Kind);
        Assert.Equal("00:02.0 PASID 0", finding.Device);
        Assert.StartsWith("SFS.8 (0x77)", finding.Rule, StringComparison.Ordinal);
        Assert.Contains("erratum 772415 (SPR17)", finding.Rule, StringComparison.Ordinal);
        // The HPA the finding names is where the nest parent maps the VGA BIOS.
        var parent = ((NestedDomain)bench.Driver.DomainOf(DebugfsSetups.Nic)).Parent;
        Assert.Contains($"GPA 0xc0000 lies in a READ-ONLY second-stage page (HPA 0x{parent.Table.Lookup(DebugfsSetups.VgaBiosGpa)!.Value.Physical:x}", finding.Message, StringComparison.Ordinal);
        Assert.Equal("dmar_translation_struct", finding.File);
    }

    [Fact]
    public void AFirstStageTableTheParentDoesNotMapIsFound()
    {
        var bench = DebugfsSetups.Scalable(); // 00:06.0's guest table is at GPA 0x8000, which the parent maps read-write
        var files = DebugfsSetups.Files(bench);
        var a = DebugfsAnalysis.Analyze(DebugfsSetups.Parse(bench));
        Assert.DoesNotContain(a.Findings, f => f.Device.StartsWith("00:06.0", StringComparison.Ordinal));
        var parent = ((NestedDomain)bench.Driver.DomainOf(DebugfsSetups.Second)).Parent;
        Assert.Equal(0x10_0000UL, parent.Unmap(0, 0x10_0000));
        var after = DebugfsAnalysis.Analyze(DebugfsSetups.Parse(bench));
        var f = Assert.Single(after.Findings, x => x.Device == "00:06.0 PASID 0");
        Assert.Equal(DebugfsFindingKind.FirstStageTableUnreadable, f.Kind);
        Assert.StartsWith("SSS.2", f.Rule, StringComparison.Ordinal);
        Assert.NotEmpty(files);
    }

    [Fact]
    public void APageThatMapsItsOwnTableIsFound()
    {
        var bench = DebugfsSetups.Legacy();
        var domain = (PagingDomain)bench.Driver.DomainOf(DebugfsSetups.Nic);
        Assert.Equal(Errno.Success, domain.Map(0x5000_0000, domain.Table.Root.Value, 0x1000, IommuProt.Read | IommuProt.Write));
        var a = DebugfsAnalysis.Analyze(DebugfsSetups.Parse(bench));
        var f = Assert.Single(a.Findings);
        Assert.Equal(DebugfsFindingKind.MapsOwnTables, f.Kind);
        Assert.Equal("00:02.0", f.Device);
        Assert.Equal("PTE for IOVA 0x50000000", f.Entry);
        Assert.Contains($"reaches the top-level table of 00:02.0 at 0x{domain.Table.Root.Value:x} (writable", f.Message, StringComparison.Ordinal);
        Assert.Equal("0000:00:02.0/domain_translation_struct", f.File);
    }

    [Fact]
    public void PagesBeyondTheMemoryTopAreFound()
    {
        var bench = DebugfsSetups.Legacy(); // maps HPA 0x7000000-0x7001fff and 0x7100000
        var a = DebugfsAnalysis.Analyze(DebugfsSetups.Parse(bench), memorySize: 0x700_1000);
        Assert.Equal(["0x7001000", "0x7100000"], a.Findings.Where(f => f.Kind == DebugfsFindingKind.OutsideMemory)
            .Select(f => f.Message.Split(" to ")[1].Split(',')[0]));
        Assert.All(a.Findings, f => Assert.Equal(DebugfsFindingKind.OutsideMemory, f.Kind));
    }

    [Fact]
    public void ReservedBitsAreFoundWithTheFieldAndTheRule()
    {
        var bench = DebugfsSetups.Legacy();
        var files = DebugfsSetups.Files(bench);
        // Bit 71 of the context entry (bit 7 of its high qword) is reserved: LCT.3.
        int i = files.FindIndex(f => f.Path == "dmar_translation_struct");
        string[] lines = files[i].Text.Split('\n');
        string[] cols = lines[2].Split('\t');
        ulong hi = Convert.ToUInt64(cols[2][2..18], 16) | 0x80;
        cols[2] = $"0x{hi:x16}{cols[2][18..]}";
        lines[2] = string.Join('\t', cols);
        files[i] = (files[i].Path, string.Join('\n', lines));
        Assert.True(DebugfsParser.TryParse(files, out var dump, out var error), error?.Message);
        var a = DebugfsAnalysis.Analyze(dump);
        var f = Assert.Single(a.Findings);
        Assert.Equal(DebugfsFindingKind.ReservedBits, f.Kind);
        Assert.Equal(("00:02.0", "context entry", 3), (f.Device, f.Entry, f.Line));
        Assert.StartsWith("LCT.3 (0x0b)", f.Rule, StringComparison.Ordinal);
        Assert.Contains("bits 71", f.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void FilesTakenAtDifferentMomentsAreInconsistent()
    {
        var bench = DebugfsSetups.Legacy();
        var before = DebugfsSetups.Parse(bench);
        var domain = (PagingDomain)bench.Driver.DomainOf(DebugfsSetups.Nic);
        Assert.Equal(0x1000UL, domain.Unmap(0x20_0000, 0x1000));
        Assert.Equal(Errno.Success, domain.Map(0x20_0000, 0x720_0000, 0x1000, IommuProt.Read));
        var later = DebugfsSetups.Parse(bench);
        before.Domains.AddRange(later.Domains.Select(d => d with { File = "later/" + d.File }));
        var a = DebugfsAnalysis.Analyze(before);
        var f = Assert.Single(a.Findings);
        Assert.Equal(DebugfsFindingKind.Inconsistent, f.Kind);
        Assert.Equal(("later/0000:00:02.0/domain_translation_struct", 3), (f.File, f.Line));
        Assert.Contains("at 0000:00:02.0/domain_translation_struct:3", f.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TheAnalysisIsTheSameEveryTime()
    {
        var dump = DebugfsSetups.Parse(DebugfsSetups.VgaBiosHazard());
        var a = DebugfsAnalysis.Analyze(dump);
        var b = DebugfsAnalysis.Analyze(dump);
        Assert.Equal(a.Findings, b.Findings);
        Assert.Equal(a.ImporterPages, b.ImporterPages);
        Assert.Equal(a.Notes, b.Notes);
    }
}
