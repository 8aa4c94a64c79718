using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Events;
using VtdSim.Hardware.Faults;
using VtdSim.Hardware.Memory;
using VtdSim.Hardware.Structures;
using VtdSim.Hardware.Tests.Properties;
using VtdSim.Hardware.Tests.Support;
using VtdSim.Hardware.Tracing;
using VtdSim.Hardware.Translation;

namespace VtdSim.Hardware.Tests.Memory;

/// <summary>
/// A remapping unit whose memory is a guest memory (as a vIOMMU's will be) walks the tables in the view: the same
/// results, faults and A/D writes as a unit on a host memory holding the same tables, with every write landing in the
/// host's frames; a table page that is not RAM gives the access-error fault of its level; and a page remapped under a
/// unit that holds frame hints is read from its new frame on the next walk (decisions M3, M4).
/// </summary>
public class GuestMemoryTranslationTests
{
    private const ulong Page = MachineMemory.PageSize;
    private const ulong HostSize = 1UL << 41;
    private const ulong ViewOffsetPages = ((1UL << 40) + 0x1234_5000) / Page; // view page g = host page g + this
    private const ulong Iova = 0x7000_1000, DataGpa = 0x800_0000, OtherDataGpa = 0x900_0000;

    // ------------------------------------------------------------------ the same random tables, on the host and in a view

    [Theory]
    [InlineData(ReferenceMode.LegacySecondLevel, 0x6E_0001)]
    [InlineData(ReferenceMode.SecondStageOnly, 0x6E_0002)]
    [InlineData(ReferenceMode.FirstStageOnly, 0x6E_0003)]
    [InlineData(ReferenceMode.Nested, 0x6E_0004)]
    public void AUnitOverAViewTranslatesAsAUnitOverTheHostWithTheSameTables(ReferenceMode mode, int seed)
    {
        var random = new Random(seed);
        int flagWrites = 0, successes = 0;
        for (int n = 0; n < 300; n++)
        {
            var choices = new ulong[640];
            for (int i = 0; i < choices.Length; i++) choices[i] = random.Next(3) == 0 ? (ulong)random.NextInt64() ^ ((ulong)random.Next() << 63) : 0; // 0: the ordinary choice
            Scenario onHost = ScenarioBuilder.Build(mode, choices);
            PhysicalMemory? bottom = null;
            Scenario inView = ScenarioBuilder.Build(mode, choices, memoryOfSize: size =>
            {
                bottom = new PhysicalMemory(HostSize);
                return PageMap.Window(bottom, size, ViewOffsetPages, out _);
            });
            Assert.IsType<GuestMemory>(inView.Memory);
            for (int i = 0; i < onHost.Requests.Count; i++)
            {
                var hostWrites = new List<MemoryWrite>();
                var viewWrites = new List<MemoryWrite>();
                var bottomWrites = new List<MemoryWrite>();
                TranslationResult expected, actual;
                DmaRequest request = onHost.Requests[i].Request;
                using (onHost.Memory.ObserveWrites(new Hpa(0), onHost.Memory.Size, hostWrites.Add))
                    expected = onHost.Unit.Translate(request, onHost.Traced[i] ? new WalkTrace() : null);
                using (inView.Memory.ObserveWrites(new Hpa(0), inView.Memory.Size, viewWrites.Add))
                using (bottom!.ObserveWrites(new Hpa(0), bottom.Size, bottomWrites.Add))
                    actual = inView.Unit.Translate(request, inView.Traced[i] ? new WalkTrace() : null);

                string what = $"case {n} request {i} ({onHost})";
                Assert.True(expected.Fault?.Reason == actual.Fault?.Reason, $"{what}: fault {expected.Fault?.Reason} on the host, {actual.Fault?.Reason} in the view");
                Assert.True(expected with { Fault = null } == actual with { Fault = null }, $"{what}: {expected} on the host, {actual} in the view");
                Assert.Equal(hostWrites, viewWrites);
                Assert.Equal(hostWrites.Select(w => w with { Address = new Hpa(w.Address.Value + ViewOffsetPages * Page) }), bottomWrites);
                foreach (var w in hostWrites)
                    Assert.Equal(onHost.Memory.Read64(w.Address), bottom.Read64(new Hpa(w.Address.Value + ViewOffsetPages * Page)));
                Assert.Equal(onHost.Unit.Events.OfType<ErratumWriteEvent>().Count(), inView.Unit.Events.OfType<ErratumWriteEvent>().Count());
                flagWrites += hostWrites.Count;
                successes += expected.Success ? 1 : 0;
            }
        }
        Assert.True(successes >= 100, $"only {successes} translations succeeded");
        if (mode != ReferenceMode.LegacySecondLevel) Assert.True(flagWrites >= 100, $"only {flagWrites} A/D writes");
    }

    // ------------------------------------------------------------------ a table page that is not RAM

    /// <summary>Every page a nested 4x4 walk reads (root, context, PASID directory and table, both stages' tables).</summary>
    public static TheoryData<int> WalkPages() => new(Enumerable.Range(0, PagesOfTheWalk().Count));

    [Theory]
    [MemberData(nameof(WalkPages))]
    public void ATablePageThatIsNotRamFaultsAsAnAccessErrorOfItsLevel(int which)
    {
        ulong page = PagesOfTheWalk()[which].Page;
        var (view, map, _) = NewView();
        var inView = BuildNested(view);
        map[page] = GuestPage.Unassigned;
        view.Invalidate(page, 1);
        var onHost = BuildNested(new PhysicalMemory(1UL << 40)); // what beyond-memory gives today: an access error
        onHost.Memory.InjectError(new Hpa(page * Page), Page);

        DmaFault expected = onHost.Unit.Translate(onHost.Read(Iova)).Fault!;
        DmaFault actual = inView.Unit.Translate(inView.Read(Iova)).Fault!;
        Assert.NotNull(actual);
        Assert.Contains(expected.Reason, AccessErrors);
        Assert.Equal((expected.Reason, expected.Level, expected.EntryAddress), (actual.Reason, actual.Level, actual.EntryAddress));
    }

    private static readonly FaultReason[] AccessErrors =
    [
        FaultReason.SRT1_RootAccessError, FaultReason.SCT1_ContextAccessError, FaultReason.SPD1_DirectoryAccessError,
        FaultReason.SPT1_PasidEntryAccessError, FaultReason.SSS1_EntryAccessError, FaultReason.SSS4_RootAccessError,
        FaultReason.SFS1_EntryAccessError, FaultReason.SFS4_TopLevelAccessError,
    ];

    // ------------------------------------------------------------------ a page remapped under a unit's frame hints

    [Theory]
    [MemberData(nameof(WalkPages))]
    public void ATablePageRemappedWhileTheUnitHoldsItsFrameIsReadFromItsNewFrame(int which)
    {
        var (stage, page) = PagesOfTheWalk()[which];
        var (view, map, host) = NewView();
        var bench = BuildNested(view);
        var read = bench.Read(Iova);
        Hpa first = bench.Unit.Translate(read).Address;
        Assert.Equal(bench.Unit.Translate(read).Address, first); // the unit now holds frame hints for every table page

        // The VMM moves the page: a copy in a fresh host frame; the old frame is reused for something else (cleared).
        ulong oldHostPage = page + ViewOffsetPages, newHostPage = (HostSize / Page) - 1 - page % 1024;
        host.Write(new Hpa(newHostPage * Page), host.ReadPage(oldHostPage));
        map[page] = GuestPage.Ram(host, newHostPage);
        view.Invalidate(page, 1);
        host.TryZero(new Hpa(oldHostPage * Page), Page);

        TranslationResult after = bench.Unit.Translate(read);
        Assert.True(after.Success, $"{stage} page 0x{page * Page:x}: {after.Fault?.Reason} {after.Fault?.Explanation}");
        Assert.Equal(first, after.Address);

        // And unmapped altogether: the next walk cannot read it.
        map[page] = GuestPage.Unassigned;
        view.Invalidate(page, 1);
        Assert.Contains(bench.Unit.Translate(read).Fault!.Reason, AccessErrors);
    }

    [Fact]
    public void ALeafTableRemappedToOneThatMapsElsewhereIsFollowedOnTheNextWalk()
    {
        var (view, map, host) = NewView();
        var bench = BuildNested(view);
        bench.SecondStage.Map(new Gpa(OtherDataGpa), NestedBench.GuestToHost(OtherDataGpa));
        var trace = new WalkTrace();
        Assert.Equal(NestedBench.GuestToHost(DataGpa), bench.Unit.Translate(bench.Read(Iova), trace).Address);
        MemoryReference leaf = trace.References.Single(r => r.Stage == TraceStage.FirstStage && r.Level == 1 && r.Kind == ReferenceKind.Read);
        ulong page = leaf.Address.Value / Page, newHostPage = 7;
        host.Write(new Hpa(newHostPage * Page), host.ReadPage(page + ViewOffsetPages));
        host.Write64(new Hpa(newHostPage * Page + leaf.Address.Value % Page), leaf.Value ^ DataGpa ^ OtherDataGpa);
        map[page] = GuestPage.Ram(host, newHostPage);
        view.Invalidate(page, 1);

        Assert.Equal(NestedBench.GuestToHost(OtherDataGpa), bench.Unit.Translate(bench.Read(Iova)).Address);
    }

    // ------------------------------------------------------------------ helpers

    private static (GuestMemory View, PageMap Map, PhysicalMemory Host) NewView()
    {
        var host = new PhysicalMemory(HostSize);
        var view = PageMap.Window(host, 1UL << 40, ViewOffsetPages, out var map);
        return (view, map, host);
    }

    /// <summary>A nested 4x4 translation of <see cref="Iova"/> to <see cref="DataGpa"/>, built in <paramref name="memory"/>.</summary>
    private static NestedBench BuildNested(MachineMemory memory)
    {
        var bench = new NestedBench(memory: memory);
        var fs = bench.NewGuestFirstStage();
        bench.SecondStage.Map(new Gpa(DataGpa), NestedBench.GuestToHost(DataGpa));
        fs.Map(new Iova(Iova), DataGpa);
        bench.Tables.SetPasidEntry(NestedBench.Device, 0, PasidEntry.NestedEntry(fs.Root, bench.SecondStage.Root, bench.SecondStage.AddressWidth, domainId: 1));
        return bench;
    }

    private static List<(string Stage, ulong Page)> PagesOfTheWalk()
    {
        var bench = BuildNested(new PhysicalMemory(1UL << 40));
        var trace = new WalkTrace();
        Assert.True(bench.Unit.Translate(bench.Read(Iova), trace).Success);
        return trace.References.Select(r => (Stage: $"{r.Stage} L{r.Level}", Page: r.Address.Value / Page))
            .DistinctBy(p => p.Page).ToList();
    }
}
