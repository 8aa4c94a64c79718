using VtdSim.Hardware;
using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Building;
using VtdSim.Hardware.Caches;
using VtdSim.Hardware.Events;
using VtdSim.Hardware.Memory;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Structures;
using VtdSim.Hardware.Tracing;
using VtdSim.Hardware.Translation;

namespace VtdSim.Cli.Demo;

/// <summary>What the demo sets up; every field has a default that reproduces the seed thread's situation.</summary>
public sealed record ErratumDemoOptions
{
    /// <summary>The erratum-affected profile; the architectural run uses the same profile with the erratum switched off.</summary>
    public VtdProfile Profile { get; init; } = BuiltInProfiles.SapphireRapids;
    public ErratumReach? Reach { get; init; }
    /// <summary>Which first-stage level's table page lies in the read-only region (4 = the PML4, the top level).</summary>
    public int ReadOnlyTableLevel { get; init; } = 4;
    public DmaAccess Access { get; init; } = DmaAccess.Read;
    public int Length { get; init; } = 64;
}

/// <summary>One run of the demo DMA on one unit.</summary>
public sealed record ErratumDemoRun(
    VtdProfile Profile,
    DmaTransferResult Transfer,
    WalkTrace Trace,
    byte[] ReadOnlyPageBefore,
    byte[] ReadOnlyPageAfter,
    IReadOnlyList<VtdEvent> Events)
{
    public IEnumerable<(int Offset, byte Before, byte After)> ChangedBytes()
    {
        for (int i = 0; i < ReadOnlyPageBefore.Length; i++)
            if (ReadOnlyPageBefore[i] != ReadOnlyPageAfter[i]) yield return (i, ReadOnlyPageBefore[i], ReadOnlyPageAfter[i]);
    }
}

/// <summary>The demo's two runs and the layout they share.</summary>
public sealed record ErratumDemoResult(ErratumDemoOptions Options, ErratumDemoLayout Layout, ErratumDemoRun Architectural, ErratumDemoRun Erratum);

/// <summary>Where everything sits in the demo machine.</summary>
public sealed record ErratumDemoLayout(
    SourceId Device,
    Iova DmaAddress,
    Gpa DataGpa,
    IReadOnlyDictionary<int, Gpa> FirstStageTables,
    Gpa ReadOnlyPage,
    Hpa ReadOnlyPageHost,
    ulong GuestRamHostBase);

/// <summary>
/// The main job: a nested translation on a Sapphire Rapids-like unit where one first-stage table page lies in a
/// region the VMM maps read-only in the second stage (as QEMU maps the VGA BIOS). The same DMA runs twice: on the
/// architectural unit (fault SFS.8, memory untouched) and with erratum 772415 (the read-only page is written).
/// </summary>
public static class ErratumDemo
{
    public static readonly SourceId Device = new(0, 3, 0);
    public const ulong GuestRamHostBase = 0x1_0000_0000; // GPA g is at HPA GuestRamHostBase + g
    public const ulong GuestRamSize = 0x4000_0000;       // 1 GiB guest
    public static readonly Gpa VgaBios = new(0xC_0000);  // 128 KiB option-ROM window the VMM maps read-only
    public const ulong VgaBiosSize = 0x2_0000;
    public static readonly Iova DmaAddress = new(0x7F12_3456_7000);
    public static readonly Gpa DataGpa = new(0x80_0000);
    private const ushort DomainId = 1;

    public static ErratumDemoResult Run(ErratumDemoOptions options)
    {
        if (options.ReadOnlyTableLevel is < 1 or > 4)
            throw new ArgumentOutOfRangeException(nameof(options), options.ReadOnlyTableLevel, "the read-only table level must be 1..4 (4-level first stage)");
        if (!options.Profile.Ecap.NestedTranslation)
            throw new ArgumentException($"profile '{options.Profile.Name}' has no nested translation (ECAP.NEST=0); the demo needs it");
        if (options.Length is < 1 or > 1 << 20)
            throw new ArgumentOutOfRangeException(nameof(options), options.Length, "the DMA length must be 1 byte .. 1 MiB");

        VtdProfile erratum = options.Profile with
        {
            Erratum772415 = true,
            ErratumReach = options.Reach ?? options.Profile.ErratumReach,
        };
        VtdProfile architectural = options.Profile with { Name = options.Profile.Name + " (erratum off)", Erratum772415 = false };
        var archRun = RunOnce(architectural, options, out ErratumDemoLayout layout);
        var errRun = RunOnce(erratum, options, out _);
        return new ErratumDemoResult(options, layout, archRun, errRun);
    }

    private static ErratumDemoRun RunOnce(VtdProfile profile, ErratumDemoOptions options, out ErratumDemoLayout layout)
    {
        // Caches off: the walk's own paging-structure caches would otherwise answer the later second-stage walks, and
        // the demo is there to show every one of the (n+1)(m+1)-1 references.
        profile = profile with { Caches = CacheSizes.Uncached };
        var memory = new PhysicalMemory(1UL << profile.HostAddressWidth);
        var unit = new VtdUnit(memory, profile);
        var frames = new FrameAllocator(memory, new Hpa(0x10_0000), new Hpa(0x1000_0000));
        var tables = new RemappingTables(frames, scalable: true);
        var ss = new SecondStageTableBuilder(frames, levels: 4);

        // The VMM maps guest RAM read-write, except the option-ROM window, which it maps read-only.
        for (ulong gpa = 0; gpa < 0x100_0000; gpa += 4096) // the first 16 MiB is all the demo touches
        {
            bool rom = gpa >= VgaBios.Value && gpa < VgaBios.Value + VgaBiosSize;
            ss.Map(new Gpa(gpa), new Hpa(GuestRamHostBase + gpa), 4096, read: true, write: !rom);
        }

        // The guest's first-stage tables: one page per level; the chosen level's page lies in the ROM window.
        var tableGpas = new Dictionary<int, Gpa>();
        ulong nextTable = 0x20_0000;
        for (int level = 4; level >= 1; level--)
        {
            tableGpas[level] = level == options.ReadOnlyTableLevel ? VgaBios : new Gpa(nextTable);
            if (level != options.ReadOnlyTableLevel) nextTable += 4096;
        }
        for (int level = 4; level >= 1; level--)
        {
            ulong entryGpa = tableGpas[level].Value + 8UL * (ulong)((DmaAddress.Value >> (12 + 9 * (level - 1))) & 0x1FF);
            ulong entry = level == 1
                ? FirstStageEntry.Page(DataGpa.Value, 1).Raw
                : FirstStageEntry.Table(tableGpas[level - 1].Value).Raw;
            memory.Write64(new Hpa(GuestRamHostBase + entryGpa), entry); // loaded by the VMM, as a ROM image would be
        }

        tables.SetPasidEntry(Device, 0, PasidEntry.NestedEntry(tableGpas[4].Value, ss.Root, ss.AddressWidth, DomainId));
        RegisterProgramming.EnableTranslation(unit, tables.Root, TranslationTableMode.Scalable);
        memory.Write(new Hpa(GuestRamHostBase + DataGpa.Value), DemoData(options.Length));

        Hpa romHost = new(GuestRamHostBase + VgaBios.Value);
        byte[] before = new byte[4096];
        memory.Read(romHost, before);
        var trace = new WalkTrace();
        var request = new DmaRequest(Device, DmaAddress, options.Access);
        DmaTransferResult transfer = options.Access == DmaAccess.Read
            ? unit.DmaRead(request, new byte[options.Length], trace)
            : unit.DmaWrite(request, DemoData(options.Length), trace);
        byte[] after = new byte[4096];
        memory.Read(romHost, after);

        layout = new ErratumDemoLayout(Device, DmaAddress, DataGpa, tableGpas, VgaBios, romHost, GuestRamHostBase);
        return new ErratumDemoRun(profile, transfer, trace, before, after, unit.Events.Events.ToList());
    }

    private static byte[] DemoData(int length)
    {
        var data = new byte[length];
        for (int i = 0; i < length; i++) data[i] = (byte)(0xA0 + i % 16);
        return data;
    }
}
