using VtdSim.Hardware;
using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Building;
using VtdSim.Hardware.Memory;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Structures;
using VtdSim.Hardware.Translation;

namespace VtdSim.Hardware.Tests.Support;

/// <summary>
/// A scalable-mode machine with one device (00:01.0) whose RID_PASID entry is set by the test. Guest memory for nested
/// setups is identity-offset: GPA g lives at HPA GuestBase + g, mapped by a second stage built here.
/// </summary>
public sealed class NestedBench
{
    public static readonly SourceId Device = new(0, 1, 0);
    public const ulong GuestBase = 0x1_0000_0000; // HPA of GPA 0
    public const ulong GuestSize = 0x4000_0000;   // 1 GiB of guest memory

    public MachineMemory Memory { get; }
    public VtdUnit Unit { get; }
    public FrameAllocator HostFrames { get; }
    public RemappingTables Tables { get; }
    public SecondStageTableBuilder SecondStage { get; }
    private ulong _nextGuestTable = 0x10_0000; // guest page-table frames start at GPA 1 MiB

    /// <param name="cached">Keep the profile's translation caches (the walk and fault tests run without them).</param>
    /// <param name="memory">The memory of the unit's machine (at least 1 TiB); by default a fresh <see cref="PhysicalMemory"/>.</param>
    public NestedBench(VtdProfile? profile = null, int ssLevels = 4, bool cached = false, MachineMemory? memory = null)
    {
        profile ??= BuiltInProfiles.Architectural;
        Memory = memory ?? new PhysicalMemory(1UL << 40);
        Unit = new VtdUnit(Memory, cached ? profile : Uncached.Of(profile));
        HostFrames = new FrameAllocator(Memory, new Hpa(0x10_0000), new Hpa(0x1000_0000));
        Tables = new RemappingTables(HostFrames, scalable: true);
        SecondStage = new SecondStageTableBuilder(HostFrames, ssLevels);
        RegisterProgramming.EnableTranslation(Unit, Tables.Root, TranslationTableMode.Scalable);
    }

    public static Hpa GuestToHost(ulong gpa) => new(GuestBase + gpa);

    /// <summary>Allocates a guest page-table frame and maps it in the second stage (read/write unless told).</summary>
    public ulong AllocateGuestTable(bool writable = true)
    {
        ulong gpa = _nextGuestTable;
        _nextGuestTable += 4096;
        SecondStage.Map(new Gpa(gpa), GuestToHost(gpa), 4096, read: true, write: writable);
        Memory.Write(GuestToHost(gpa), new byte[4096]);
        return gpa;
    }

    public FirstStageTableBuilder NewGuestFirstStage(int levels = 4) =>
        new(Memory, () => AllocateGuestTable(), GuestToHost, levels);

    public DmaRequest Read(ulong iova) => new(Device, new Iova(iova), DmaAccess.Read);
    public DmaRequest Write(ulong iova) => new(Device, new Iova(iova), DmaAccess.Write);
}
