using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Building;
using VtdSim.Hardware.Faults;
using VtdSim.Hardware.Memory;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Structures;
using VtdSim.Hardware.Tests.Properties;
using VtdSim.Hardware.Tracing;
using VtdSim.Hardware.Translation;

namespace VtdSim.Hardware.Tests.Garbage;

/// <summary>
/// A machine with one device (00:02.0) for legacy, second-stage-only and first-stage-only walks, built with the
/// table builders. Second-stage-only uses PASID 0 (requests without PASID); first-stage-only uses PASID 1.
/// </summary>
internal sealed class WalkBench
{
    public static readonly SourceId Device = new(0, 2, 0);
    public const uint FirstStagePasid = 1;

    public PhysicalMemory Memory { get; }
    public VtdUnit Unit { get; }
    public VtdProfile Profile { get; }
    public FrameAllocator Frames { get; }
    public RemappingTables Tables { get; }

    public WalkBench(VtdProfile? profile = null, bool scalable = true)
    {
        Profile = profile ?? BuiltInProfiles.Architectural;
        Memory = new PhysicalMemory(1UL << 40);
        Unit = new VtdUnit(Memory, Support.Uncached.Of(Profile));
        Frames = new FrameAllocator(Memory, new Hpa(0x10_0000), new Hpa(0x1000_0000));
        Tables = new RemappingTables(Frames, scalable);
        RegisterProgramming.EnableTranslation(Unit, Tables.Root, scalable ? TranslationTableMode.Scalable : TranslationTableMode.Legacy);
    }

    public SecondStageTableBuilder UseLegacy(int levels)
    {
        var ss = new SecondStageTableBuilder(Frames, levels);
        Tables.SetLegacyContext(Device, LegacyContextEntry.Create(ss.Root, ss.AddressWidth, 1));
        return ss;
    }

    public SecondStageTableBuilder UseSecondStage(int levels)
    {
        var ss = new SecondStageTableBuilder(Frames, levels);
        Tables.SetPasidEntry(Device, 0, PasidEntry.SecondStage(ss.Root, ss.AddressWidth, 1));
        return ss;
    }

    public FirstStageTableBuilder UseFirstStage(int levels)
    {
        var fs = FirstStageTableBuilder.InHostMemory(Frames, levels);
        Tables.SetPasidEntry(Device, FirstStagePasid, PasidEntry.FirstStage(fs.Root, 1, levels == 5).WithSupervisorRequestEnable(true));
        return fs;
    }

    public DmaRequest Request(ulong address, DmaAccess access, bool firstStage) =>
        firstStage ? new DmaRequest(Device, new Iova(address), access, FirstStagePasid) : new DmaRequest(Device, new Iova(address), access);

    /// <summary>Fills a whole 4 KiB page with one 64-bit value.</summary>
    public static void Fill(MachineMemory memory, Hpa page, ulong value)
    {
        for (ulong off = 0; off < PhysicalMemory.PageSize; off += 8) memory.Write64(page.PageBase + off, value);
    }
}

/// <summary>What every translation of garbage must satisfy, whatever it returns.</summary>
internal static class GarbageAssert
{
    /// <summary>
    /// The most references one translation can make, derived from the walk (vtd-facts 2.6, 4.3, 4.5): root, context,
    /// PASID-directory and PASID-table entries (4); at most (5+1)*(5+1)-1 = 35 paging-entry reads (5-level first stage
    /// nested in a 5-level second stage); at most one A update per paging entry read (35, with SSADE); the first-stage
    /// leaf D (1); a second-stage D on the table page for each of the at most 6 first-stage flag updates (6); and the
    /// second-stage D of the final leaf (1).
    /// </summary>
    public const int MaxReferences = 4 + 35 + 35 + 1 + 6 + 1;
    public const int MaxPagingReads = 35;

    private static readonly HashSet<FaultReason> Defined = FaultReasonInfo.All.Select(i => i.Reason).ToHashSet();

    public static void WellFormed(TranslationResult result, WalkTrace trace, string what)
    {
        if (!result.Success)
        {
            FaultReason reason = result.Fault!.Reason;
            Assert.True(Defined.Contains(reason), $"{what}: fault reason 0x{(byte)reason:x2} is not one FaultReasonInfo lists");
            Assert.False(string.IsNullOrWhiteSpace(result.Fault.Explanation), $"{what}: fault {reason} has no explanation");
        }
        Assert.True(trace.References.Count <= MaxReferences, $"{what}: {trace.References.Count} memory references, more than the bound {MaxReferences}");
        Assert.True(trace.PagingReads <= MaxPagingReads, $"{what}: {trace.PagingReads} paging reads, more than the bound {MaxPagingReads}");
        int structureReads = trace.References.Count(r => r.Stage is TraceStage.RootTable or TraceStage.ContextTable or TraceStage.PasidDirectory or TraceStage.PasidTable);
        Assert.True(structureReads <= 4, $"{what}: {structureReads} root/context/PASID references, more than 4");
    }

    /// <summary>Runs <paramref name="body"/> on a worker and fails if it does not finish in time: a walk that loops would hang the test run otherwise.</summary>
    public static void CompletesWithin(TimeSpan limit, Action body)
    {
        var task = Task.Run(body);
        Assert.True(task.Wait(limit), $"did not complete within {limit.TotalSeconds} s: a walk does not terminate");
    }

    /// <summary>The reference walker's verdict on the same memory must match (the reference knows nothing of caches or context structures).</summary>
    public static void MatchesReference(TranslationResult actual, ReferenceOutcome expected, string what)
    {
        FaultReason actualReason = actual.Fault?.Reason ?? FaultReason.None;
        Assert.True(expected.Fault == actualReason, $"{what}: reference says {expected}, engine {(actual.Success ? $"success at {actual.Address}" : actual.Fault!.ToString())}");
        if (expected.Success)
        {
            Assert.Equal(expected.Hpa, actual.Address.Value);
            Assert.Equal(expected.Writable, (actual.Rights & AccessRights.Write) != 0);
        }
    }
}
