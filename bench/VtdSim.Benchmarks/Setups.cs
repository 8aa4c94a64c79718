using VtdSim.Hardware;
using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Building;
using VtdSim.Hardware.Caches;
using VtdSim.Hardware.Memory;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Structures;
using VtdSim.Hardware.Translation;
using VtdSim.Hardware.Tracing;

namespace VtdSim.Benchmarks;

/// <summary>Which walk a benchmark setup exercises.</summary>
public enum WalkShape
{
    /// <summary>Legacy mode, 4-level second-level table (4 paging references).</summary>
    Legacy4,
    /// <summary>Scalable mode, PGTT=first-stage-only, 4-level first stage (4 paging references).</summary>
    FirstStage4,
    /// <summary>Scalable mode, PGTT=nested, 4-level first stage over a 4-level second stage ((4+1)(4+1)-1 = 24 references).</summary>
    Nested4x4,
}

/// <summary>
/// One machine with one device (00:01.0) and one mapped 4 KiB page, laid out like the tests' NestedBench: host tables
/// from HPA 1 MiB, guest memory (nested) at HPA 4 GiB + GPA, guest page tables from GPA 1 MiB, data at GPA 128 MiB.
/// After construction the tables are warm: one translation of each access kind has run, so every A (and, for the
/// written page, D) flag is set and later translations make no flag updates. The constructor checks that.
/// </summary>
internal sealed class TranslationSetup
{
    public static readonly SourceId Device = new(0, 1, 0);
    public const ulong Iova = 0x7000_1000;       // page-aligned, so a 4 KiB DMA is one page
    public const ulong GuestBase = 0x1_0000_0000; // HPA of GPA 0 (nested)
    public const ulong DataGpa = 0x800_0000;
    public const ulong DataHpaHostMapped = 0x2000_0000; // legacy / first-stage-only data page

    private ulong _nextGuestTable = 0x10_0000;

    /// <param name="cached">
    /// False (the walk benchmarks): a unit without translation caches, so every Translate walks the tables. True: the
    /// unit's default caches, for the hot-IOTLB benchmarks.
    /// </param>
    /// <param name="iotlb">With <paramref name="cached"/>: false leaves the IOTLB out, so every translation walks with
    /// warm context, PASID and paging-structure caches.</param>
    /// <param name="pages">How many consecutive 4 KiB pages to map from <see cref="Iova"/> (to consecutive data pages);
    /// <see cref="ReadRequests"/> holds one read per page, each warmed like the first.</param>
    /// <param name="guestView">Build the tables in, and run the unit over, a <see cref="GuestMemory"/> whose page g is
    /// page g + <see cref="ViewOffsetPages"/> of a host memory (a vIOMMU's view of guest RAM), instead of the host memory itself.</param>
    public TranslationSetup(WalkShape shape, bool cached = false, bool iotlb = true, int pages = 1, bool guestView = false)
    {
        Shape = shape;
        Cached = cached;
        IotlbOn = cached && iotlb;
        VtdProfile profile = !cached ? BuiltInProfiles.Architectural with { Caches = CacheSizes.Uncached }
            : iotlb ? BuiltInProfiles.Architectural
            : BuiltInProfiles.Architectural with { Caches = VtdProfile.DefaultCaches with { Iotlb = CacheGeometry.None } };
        if (guestView)
        {
            Host = new PhysicalMemory(1UL << 41);
            Memory = new GuestMemory(1UL << 40, new OffsetResolver(Host, ViewOffsetPages));
        }
        else
        {
            Memory = Host = new PhysicalMemory(1UL << 40);
        }
        Unit = new VtdUnit(Memory, profile);
        Engine = new TranslationEngine(Memory, profile, new RemappingCaches(profile.Caches));
        var frames = new FrameAllocator(Memory, new Hpa(0x10_0000), new Hpa(0x1000_0000));
        bool scalable = shape != WalkShape.Legacy4;
        var tables = new RemappingTables(frames, scalable);

        switch (shape)
        {
            case WalkShape.Legacy4:
            {
                var ss = new SecondStageTableBuilder(frames, levels: 4);
                for (int i = 0; i < pages; i++) ss.Map(new Gpa(Iova + Page(i)), new Hpa(DataHpaHostMapped + Page(i)));
                tables.SetLegacyContext(Device, LegacyContextEntry.Create(ss.Root, ss.AddressWidth, domainId: 1));
                DataHpa = DataHpaHostMapped;
                break;
            }
            case WalkShape.FirstStage4:
            {
                var fs = FirstStageTableBuilder.InHostMemory(frames, levels: 4);
                for (int i = 0; i < pages; i++) fs.Map(new Iova(Iova + Page(i)), DataHpaHostMapped + Page(i));
                tables.SetPasidEntry(Device, 0, PasidEntry.FirstStage(fs.Root, domainId: 1));
                DataHpa = DataHpaHostMapped;
                break;
            }
            case WalkShape.Nested4x4:
            {
                var ss = new SecondStageTableBuilder(frames, levels: 4);
                var fs = new FirstStageTableBuilder(Memory, () => AllocateGuestTable(ss), gpa => new Hpa(GuestBase + gpa), levels: 4);
                for (int i = 0; i < pages; i++)
                {
                    ss.Map(new Gpa(DataGpa + Page(i)), new Hpa(GuestBase + DataGpa + Page(i)));
                    fs.Map(new Iova(Iova + Page(i)), DataGpa + Page(i));
                }
                tables.SetPasidEntry(Device, 0, PasidEntry.NestedEntry(fs.Root, ss.Root, ss.AddressWidth, domainId: 1));
                DataHpa = GuestBase + DataGpa;
                break;
            }
        }
        for (int i = 0; i < pages; i++) Memory.Write(new Hpa(DataHpa + Page(i)), new byte[PhysicalMemory.PageSize]); // materialise the data pages
        RootTable = new RootTableState(true, tables.Root, scalable ? TranslationTableMode.Scalable : TranslationTableMode.Legacy);
        RegisterProgramming.EnableTranslation(Unit, tables.Root, RootTable.Mode);

        ReadRequest = new DmaRequest(Device, new Iova(Iova), DmaAccess.Read);
        WriteRequest = new DmaRequest(Device, new Iova(Iova), DmaAccess.Write);
        ReadRequests = Enumerable.Range(0, pages).Select(i => ReadRequest with { Address = new Iova(Iova + Page(i)) }).ToArray();
        WarmAndCheck();
        foreach (var request in ReadRequests.Skip(1))
        {
            var result = Unit.Translate(in request);
            if (!result.Success || result.Address.Value != DataHpa + (request.Address.Value - Iova))
                throw new InvalidOperationException($"{Shape}: page {request.Address} translated to {result}");
        }
    }

    private static ulong Page(int i) => (ulong)i * PhysicalMemory.PageSize;

    public WalkShape Shape { get; }
    /// <summary>The memory the unit reads: the host's, or a view onto it.</summary>
    public MachineMemory Memory { get; }
    /// <summary>The host memory at the bottom (the same object as <see cref="Memory"/> unless the setup uses a view).</summary>
    public PhysicalMemory Host { get; }
    /// <summary>With a guest view: view page g is host page g + this (1 TiB + 0x12345 pages, so no cache slot lines up).</summary>
    public const ulong ViewOffsetPages = (1UL << 28) + 0x12345;
    public VtdUnit Unit { get; }
    /// <summary>A second engine over the same memory and profile, so benchmarks can call its internal Walk directly.</summary>
    public TranslationEngine Engine { get; }
    internal RootTableState RootTable { get; }
    public ulong DataHpa { get; }
    public DmaRequest ReadRequest { get; }
    public DmaRequest WriteRequest { get; }
    /// <summary>A read of each mapped page, in order (one element unless the setup mapped several pages).</summary>
    public DmaRequest[] ReadRequests { get; }

    /// <summary>The pre-resolved context for the walk-only benchmarks.</summary>
    internal ResolvedContext ResolveContext()
    {
        var request = ReadRequest;
        var root = RootTable;
        var reason = Engine.ResolveContext(in request, in root, null, out ResolvedContext context);
        if (reason != Hardware.Faults.FaultReason.None) throw new InvalidOperationException($"{Shape}: context resolution failed: {reason}");
        return context;
    }

    public bool Cached { get; }
    public bool IotlbOn { get; }

    public int ExpectedPagingReads => Shape == WalkShape.Nested4x4 ? 24 : 4;

    private ulong AllocateGuestTable(SecondStageTableBuilder ss)
    {
        ulong gpa = _nextGuestTable;
        _nextGuestTable += PhysicalMemory.PageSize;
        ss.Map(new Gpa(gpa), new Hpa(GuestBase + gpa));
        Memory.Write(new Hpa(GuestBase + gpa), new byte[PhysicalMemory.PageSize]);
        return gpa;
    }

    /// <summary>Sets every flag a read and a write need, then proves a further translation is a pure walk.</summary>
    private void WarmAndCheck()
    {
        foreach (var request in new[] { ReadRequest, WriteRequest })
        {
            var first = Unit.Translate(in request);
            if (!first.Success) throw new InvalidOperationException($"{Shape}: {first.Fault}");
            if (first.Address.Value != DataHpa) throw new InvalidOperationException($"{Shape}: translated to {first.Address}, expected HPA 0x{DataHpa:x}");
        }
        foreach (var request in new[] { ReadRequest, WriteRequest })
        {
            var trace = new WalkTrace();
            var again = Unit.Translate(in request, trace);
            if (!again.Success) throw new InvalidOperationException($"{Shape}: {again.Fault}");
            if (trace.References.Any(r => r.Kind != ReferenceKind.Read))
                throw new InvalidOperationException($"{Shape}: tables are not warm, a second translation still updated flags");
            // IOTLB on: it answers, no memory is read. Paging-structure caches only: the walk reads the leaves (the
            // first stage's PTE and, nested, the final GPA's SS PTE). No caches: the whole walk.
            int expected = IotlbOn ? 0 : Cached ? (Shape == WalkShape.Nested4x4 ? 2 : 1) : ExpectedPagingReads;
            if (trace.PagingReads != expected)
                throw new InvalidOperationException($"{Shape}: {trace.PagingReads} paging reads, expected {expected}");
            if (IotlbOn && !trace.CacheHits.Contains("IOTLB"))
                throw new InvalidOperationException($"{Shape}: the second translation did not hit the IOTLB");
        }
    }
}

/// <summary>The VMM's mapping in its simplest form: guest page g is host page g + a fixed offset, read-write.</summary>
internal sealed class OffsetResolver(MachineMemory host, ulong offsetPages) : IGuestPageResolver
{
    public GuestPage Resolve(ulong page, bool write) => GuestPage.Ram(host, page + offsetPages);
}
