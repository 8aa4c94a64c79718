using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Building;
using VtdSim.Hardware.Memory;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Structures;
using VtdSim.Hardware.Translation;

namespace VtdSim.Hardware.Tests.Support;

/// <summary>
/// A legacy-mode machine (RTADDR.TTM=00) with one device, 00:02.0, whose context entry the test installs. Defaults to
/// the qemu-7.2 capabilities (<see cref="FaultProfiles.Qemu72Legacy"/>): HAW 39, SAGAW = 39-bit/3-level only, no device
/// TLB, no snoop control, pass-through supported, one fault record. Table frames come
/// from [1 MiB, 256 MiB); tests put data pages at <see cref="DataBase"/> and above.
/// </summary>
public sealed class LegacyBench
{
    public static readonly SourceId Device = new(0, 2, 0);
    public const ulong DataBase = 0x4000_0000;
    public const ushort DomainId = 1;

    public PhysicalMemory Memory { get; }
    public VtdUnit Unit { get; }
    public FrameAllocator Frames { get; }
    public RemappingTables Tables { get; }
    public SecondStageTableBuilder SecondLevel { get; }

    /// <param name="cached">Keep the profile's translation caches (the walk and fault tests run without them).</param>
    public LegacyBench(VtdProfile? profile = null, int levels = 3, bool cached = false)
    {
        profile ??= FaultProfiles.Qemu72Legacy;
        Memory = new PhysicalMemory(1UL << 36);
        Unit = new VtdUnit(Memory, cached ? profile : Uncached.Of(profile));
        Frames = new FrameAllocator(Memory, new Hpa(0x10_0000), new Hpa(0x1000_0000));
        Tables = new RemappingTables(Frames, scalable: false);
        SecondLevel = new SecondStageTableBuilder(Frames, levels);
        RegisterProgramming.EnableTranslation(Unit, Tables.Root, TranslationTableMode.Legacy);
    }

    /// <summary>A present context entry for <see cref="Device"/> (TT=00, AW of the bench's tables), optionally adjusted.</summary>
    public LegacyContextEntry DefaultContext() =>
        LegacyContextEntry.Create(SecondLevel.Root, SecondLevel.AddressWidth, DomainId);

    /// <summary>Installs the device's context entry; returns its host address.</summary>
    public Hpa SetContext(LegacyContextEntry entry) => Tables.SetLegacyContext(Device, entry);

    /// <summary>Installs the default context and maps one 4 KiB page <paramref name="iova"/> → <paramref name="hpa"/>.</summary>
    public LegacyBench WithMapping(ulong iova, ulong hpa, bool read = true, bool write = true)
    {
        SetContext(DefaultContext());
        SecondLevel.Map(new Gpa(iova), new Hpa(hpa), 4096, read, write);
        return this;
    }

    public static DmaRequest Read(ulong iova) => new(Device, new Iova(iova), DmaAccess.Read);
    public static DmaRequest Write(ulong iova) => new(Device, new Iova(iova), DmaAccess.Write);
}
