using VtdSim.Scenarios.Model;
using VtdSim.Scenarios.Running;

namespace VtdSim.Scenarios.Tests;

/// <summary>
/// `--trace` inside a vIOMMU: a passthrough device's DMA in a guest (L1 or L2) is one nested walk in the host IOMMU, its
/// references labelled by the level whose table they read; an emulated device's DMA is a walk in its guest's vIOMMU.
/// The structure is asserted (which level each reference belongs to, the order of the two dimensions, the A/D
/// updates), not a dump: how many upper levels the paging-structure caches answer is the caches' business.
/// </summary>
public class TraceTests
{
    private const ulong Accessed = 1UL << 5, Dirty = 1UL << 6, PageSize = 1UL << 7;

    private static List<ScenarioEvent> WalkOf(ScenarioRun run, int step) => run.Events.Where(e => e.Step == step && e.Kind == "walk").ToList();

    private static string Dump(IEnumerable<ScenarioEvent> walk) => string.Join("\n", walk.Select(w => $"{w.Level}: {w.Text}"));

    /// <summary>
    /// A nested walk for <paramref name="guest"/>'s passthrough device: the host's root, context, PASID directory and
    /// PASID entries (those its caches do not answer), then each of the guest's first-stage entries — top level first, down to a leaf — read after its
    /// table's GPA went through the host's second stage, then the final GPA through the second stage. First-stage
    /// references are the guest's (with their GPA), every other one the host's.
    /// </summary>
    private static void AssertNestedWalk(List<ScenarioEvent> walk, string guest)
    {
        string dump = Dump(walk);
        Assert.All(walk, w => Assert.Equal("host", w.WalkUnit));
        Assert.All(walk, w => Assert.Equal(w.WalkStage == "first-stage" ? guest : "host", w.Level));
        // The context and PASID structures (unless their caches answer) come before any paging entry.
        int structures = walk.TakeWhile(w => w.WalkStage is "root" or "context" or "pasid-directory" or "pasid").Count();
        Assert.DoesNotContain(walk.Skip(structures), w => w.WalkStage is "root" or "context" or "pasid-directory" or "pasid");
        var reads = walk.Skip(structures).Where(w => w.WalkAccess == "read").ToList();
        var firstStage = reads.Where(w => w.WalkStage == "first-stage").ToList();
        Assert.All(firstStage, w => Assert.Contains(" (GPA 0x", w.Text, StringComparison.Ordinal));
        Assert.Equal(4, firstStage[0].WalkEntryLevel);
        Assert.Equal(Enumerable.Range(0, firstStage.Count).Select(i => 4 - i), firstStage.Select(w => w.WalkEntryLevel!.Value));
        ScenarioEvent leaf = firstStage[^1];
        Assert.True(leaf.WalkEntryLevel == 1 || (leaf.WalkValue!.Value & PageSize) != 0, dump);
        for (int i = 0; i < reads.Count; i++)
        {
            if (reads[i].WalkStage != "first-stage") continue;
            // Right before each first-stage read: its table's GPA through the second stage.
            Assert.True(i > 0 && reads[i - 1].WalkStage == "second-stage" && reads[i - 1].WalkForFirstStageLevel == reads[i].WalkEntryLevel, dump);
        }
        int last = reads.IndexOf(leaf);
        Assert.True(last < reads.Count - 1, dump);
        Assert.All(reads.Skip(last + 1), w => Assert.Equal(("second-stage", 0), (w.WalkStage, w.WalkForFirstStageLevel)));
    }

    [Fact]
    public void AnL2PassthroughDmaIsOneHostWalkOfL1sFirstStageNestedInTheHostsSecondStage()
    {
        Scenario s = BuiltIn.Load("05-l0-l1-l2-first-stage-viommu.yaml");
        // Then L1's kernel clears Accessed and Dirty in the leaf that maps L2's page (a 2 MiB page of its first stage),
        // and the L2 device writes there again: the host walk sets them, in L1's table, at L1's level.
        s = s with
        {
            Steps = [.. s.Steps,
                new TableEntryStep("l1", "nic", 0x200000, 2, 0, Accessed | Dirty, true, default),
                new DmaStep("l2", "nic", 0x200008, true, 8, new byte[8], default)],
        };
        ScenarioRun plain = ScenarioRunner.Run(s), traced = ScenarioRunner.Run(s, trace: true);
        Assert.Equal(plain.Events.Select(e => (e.Level, e.Kind, e.Text)), traced.Events.Where(e => e.Kind != "walk").Select(e => (e.Level, e.Kind, e.Text)));
        Assert.True(traced.Steps.All(x => x.Status == StepStatus.Done), Dump(traced.Events));

        int first = s.Steps.ToList().FindIndex(x => x is DmaStep { Address: 0x200000 });
        List<ScenarioEvent> walk = WalkOf(traced, first);
        AssertNestedWalk(walk, "l1");
        // The device's first DMA: nothing cached yet, so the host reads its own structures first.
        Assert.Equal(["root", "context", "pasid-directory", "pasid"], walk.Take(4).Select(w => w.WalkStage!));
        // L1's kernel maps with Accessed and Dirty set (as Linux does): nothing to update.
        Assert.All(walk.Where(w => w.WalkStage == "first-stage"), w => Assert.Equal(Accessed, w.WalkValue!.Value & Accessed));
        Assert.DoesNotContain(walk, w => w.WalkAccess != "read");

        List<ScenarioEvent> again = WalkOf(traced, s.Steps.Count - 1);
        AssertNestedWalk(again, "l1");
        // The Accessed bit as the walk goes, then Dirty for the write: updates of L1's leaf, by the host IOMMU, at L1's level.
        var updates = again.Where(w => w.WalkAccess != "read").ToList();
        Assert.InRange(updates.Count, 1, 2);
        Assert.All(updates, u => Assert.Equal(("l1", "first-stage", "a/d", 2), (u.Level, u.WalkStage, u.WalkAccess, u.WalkEntryLevel)));
        Assert.Equal(0UL, updates[0].WalkValue!.Value & (Accessed | Dirty));
        Assert.DoesNotContain(traced.Events, e => e.WalkAccess == "a/d-erratum");
    }

    [Fact]
    public void AnEmulatedDevicesDmaUnderAnXFltsVIommuIsAWalkOfTheGuestsFirstStageInTheVIommu()
    {
        Scenario s = BuiltIn.Parse("s.yaml", """
            name: edu under the vIOMMU
            vmms:
              - name: vm0
                devices: [ { intel-iommu: "x-scalable-mode=on,x-flts=on,caching-mode=on" }, { edu: "" } ]
            steps:
              - start: vm0
              - boot: vm0
              - map: { vmm: vm0, device: edu, iova: 0x1000000, size: 0x1000 }
              - dma: { at: vm0, device: edu, address: 0x1000010, access: write, data: "aabbccdd" }
                expect: [ { dma: completed } ]
              - dma: { at: vm0, device: edu, address: 0x1000010, access: read, size: 4 }
                expect: [ { event: { at: vm0, kind: dma, contains: "read aabbccdd" } } ]
              - table-entry: { vmm: vm0, device: edu, iova: 0x1000000, level: 1, clear: 0x40 }
              - dma: { at: vm0, device: edu, address: 0x1000010, access: write, data: "11223344" }
                expect: [ { fault: SFS.9 } ]
            """);
        ScenarioRun plain = ScenarioRunner.Run(s), traced = ScenarioRunner.Run(s, trace: true);
        Assert.True(traced.Passed, string.Join("\n", traced.Verdicts));
        Assert.Equal(plain.Events.Select(e => (e.Level, e.Kind, e.Text)), traced.Events.Where(e => e.Kind != "walk").Select(e => (e.Level, e.Kind, e.Text)));
        // The host IOMMU has no part in an emulated device's DMA: every reference is the vIOMMU's, in vm0's memory.
        var all = traced.Events.Where(e => e.Kind == "walk").ToList();
        Assert.All(all, w => Assert.Equal(("viommu", "vm0"), (w.WalkUnit, w.Level)));
        Assert.All(all, w => Assert.StartsWith("vm0's vIOMMU: ", w.Text, StringComparison.Ordinal));
        Assert.All(all, w => Assert.Contains(" at GPA 0x", w.Text, StringComparison.Ordinal));

        // The first write: the vIOMMU offers a first stage only, so it walks the guest's four first-stage levels and
        // nothing else; the guest's kernel mapped with Accessed and Dirty set.
        List<ScenarioEvent> write = WalkOf(traced, 3);
        Assert.Equal(["root", "context", "pasid-directory", "pasid", "first-stage", "first-stage", "first-stage", "first-stage"], write.Select(w => w.WalkStage!));
        Assert.Equal([4, 3, 2, 1], write.Skip(4).Select(w => w.WalkEntryLevel!.Value));
        Assert.DoesNotContain(write, w => w.WalkAccess != "read");
        // The read after it is answered by the vIOMMU's IOTLB: no paging entry read.
        Assert.DoesNotContain(WalkOf(traced, 4), w => w.WalkStage is "first-stage" or "second-stage");
        // After the guest cleared Dirty in the leaf (and invalidated), the next write needs it set; the guest's kernel did
        // not ask for snooped walks (no PWSNP: the vIOMMU has no SMPWC), so the vIOMMU faults (SFS.9) without updating.
        List<ScenarioEvent> refused = WalkOf(traced, 6);
        Assert.DoesNotContain(refused, w => w.WalkAccess != "read");
        ScenarioEvent leaf = refused[^1];
        Assert.Equal(("first-stage", 1, 0UL), (leaf.WalkStage, leaf.WalkEntryLevel, leaf.WalkValue!.Value & Dirty));
    }
}
