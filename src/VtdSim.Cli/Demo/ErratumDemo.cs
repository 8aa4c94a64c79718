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
using VtdSim.Scenarios.Running;

namespace VtdSim.Cli.Demo;

/// <summary>What the demo sets up; every field has a default that reproduces the seed thread's situation.</summary>
public sealed record ErratumDemoOptions
{
    /// <summary>The unit (it must offer nesting). The demo runs it twice: with erratum 772415 off and on, whatever the profile says.</summary>
    public VtdProfile Profile { get; init; } = BuiltInProfiles.SapphireRapids;
    /// <summary>The erratum's reach in the run with the erratum on; null keeps the profile's.</summary>
    public ErratumReach? Reach { get; init; }
    /// <summary>Which first-stage level's table page lies in the read-only region (4 = the PML4, the top level).</summary>
    public int ReadOnlyTableLevel { get; init; } = 4;
    public DmaAccess Access { get; init; } = DmaAccess.Read;
    /// <summary>DMA length in bytes, 1 to <see cref="ErratumDemo.MaxLength"/>; every page it touches is mapped.</summary>
    public int Length { get; init; } = 64;
}

/// <summary>One run of the demo DMA on one unit; <paramref name="Label"/> says what that unit is, relative to the chosen profile.</summary>
public sealed record ErratumDemoRun(
    string Label,
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

    /// <summary>The walk with the root, context and PASID entries it read, for `--report`.</summary>
    public DmaWalk? Walk { get; init; }
}

/// <summary>The demo's two runs and the layout they share.</summary>
public sealed record ErratumDemoResult(ErratumDemoOptions Options, ErratumDemoLayout Layout, ErratumDemoRun Architectural, ErratumDemoRun Erratum);

/// <summary>Where everything sits in the demo machine. The DMA's <paramref name="DataPages"/> pages are mapped one after another from <paramref name="DataGpa"/>.</summary>
public sealed record ErratumDemoLayout(
    SourceId Device,
    Iova DmaAddress,
    Gpa DataGpa,
    int DataPages,
    IReadOnlyDictionary<int, Gpa> FirstStageTables,
    Gpa ReadOnlyPage,
    Hpa ReadOnlyPageHost,
    ulong GuestRamHostBase);

/// <summary>
/// The main job: a nested translation on a Sapphire Rapids-like unit where one first-stage table page lies in a
/// region the VMM maps read-only in the second stage (as QEMU maps the VGA BIOS). The same DMA runs twice on the
/// chosen unit: with erratum 772415 off (fault SFS.8, memory untouched) and on (the read-only page is written). Each
/// run is labelled by what it is: the profile as it is, or the profile with the erratum switched.
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
    /// <summary>The longest DMA: 16 pages, each mapped by its own first-stage leaf in the one last-level table.</summary>
    public const int MaxLength = 16 * 4096;

    /// <summary>Runs both DMAs. Options outside their range are refused with an <see cref="ArgumentException"/> that says why.</summary>
    public static ErratumDemoResult Run(ErratumDemoOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.ReadOnlyTableLevel is < 1 or > 4)
            throw new ArgumentException($"the read-only table level is {options.ReadOnlyTableLevel}; give 1 to 4 (a 4-level first stage)");
        if (!options.Profile.Ecap.NestedTranslation)
            throw new ArgumentException($"profile '{options.Profile.Name}' has no nested translation (ECAP.NEST=0); the demo needs it");
        if (options.Length is < 1 or > MaxLength)
            throw new ArgumentException($"the DMA length is {options.Length}; give 1 to {MaxLength} bytes");
        if (options.Reach is { } r && !Enum.IsDefined(r))
            throw new ArgumentException($"erratum reach {(int)r} is not one of {string.Join(", ", Enum.GetNames<ErratumReach>())}");

        VtdProfile chosen = options.Profile;
        VtdProfile erratum = chosen with { Erratum772415 = true, ErratumReach = options.Reach ?? chosen.ErratumReach };
        VtdProfile architectural = chosen with { Erratum772415 = false };
        string offLabel = chosen.Erratum772415 ? $"{chosen.Name} with erratum 772415 switched off" : $"{chosen.Name} (as the profile is, erratum off)";
        string onLabel = !chosen.Erratum772415 ? $"{chosen.Name} with erratum 772415 switched on ({erratum.ErratumReach})"
            : erratum.ErratumReach == chosen.ErratumReach ? $"{chosen.Name} (as the profile is, erratum on, {chosen.ErratumReach})"
            : $"{chosen.Name} with the erratum's reach changed to {erratum.ErratumReach}";
        var archRun = RunOnce(offLabel, architectural, options, out ErratumDemoLayout layout);
        var errRun = RunOnce(onLabel, erratum, options, out _);
        return new ErratumDemoResult(options, layout, archRun, errRun);
    }

    private static ErratumDemoRun RunOnce(string label, VtdProfile profile, ErratumDemoOptions options, out ErratumDemoLayout layout)
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
        int dataPages = (options.Length + 4095) / 4096;
        for (int level = 4; level >= 1; level--)
        {
            ulong entryGpa = tableGpas[level].Value + 8UL * (ulong)((DmaAddress.Value >> (12 + 9 * (level - 1))) & 0x1FF);
            // One entry per level leads to the last-level table; there, one leaf per data page, in consecutive entries
            // (the DMA address's index leaves room for MaxLength's 16 pages before the end of the table).
            for (int page = 0; page < (level == 1 ? dataPages : 1); page++)
            {
                ulong entry = level == 1
                    ? FirstStageEntry.Page(DataGpa.Value + 4096UL * (ulong)page, 1).Raw
                    : FirstStageEntry.Table(tableGpas[level - 1].Value).Raw;
                memory.Write64(new Hpa(GuestRamHostBase + entryGpa + 8UL * (ulong)page), entry); // loaded by the VMM, as a ROM image would be
            }
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

        layout = new ErratumDemoLayout(Device, DmaAddress, DataGpa, dataPages, tableGpas, VgaBios, romHost, GuestRamHostBase);
        return new ErratumDemoRun(label, profile, transfer, trace, before, after, unit.Events.Events.ToList())
        {
            Walk = DmaWalk.Capture(label, Device, DmaAddress.Value, options.Access == DmaAccess.Write, options.Length, memory, trace, transfer.Fault, transfer.Completed),
        };
    }

    private static byte[] DemoData(int length)
    {
        var data = new byte[length];
        for (int i = 0; i < length; i++) data[i] = (byte)(0xA0 + i % 16);
        return data;
    }
}
