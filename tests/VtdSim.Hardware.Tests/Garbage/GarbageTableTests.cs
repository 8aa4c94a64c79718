using CsCheck;
using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Building;
using VtdSim.Hardware.Faults;
using VtdSim.Hardware.Memory;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Structures;
using VtdSim.Hardware.Tests.Properties;
using VtdSim.Hardware.Tests.Support;
using VtdSim.Hardware.Tracing;
using VtdSim.Hardware.Translation;
using Xunit.Abstractions;
using F = VtdSim.Hardware.Faults.FaultReason;

namespace VtdSim.Hardware.Tests.Garbage;

/// <summary>
/// Garbage tables never hang the walker, never make it throw, and always produce a success or one of the spec's fault
/// reasons, with a bounded number of memory references. Self-referencing tables and all-ones tables also get the
/// specific outcome the rules imply; random garbage gets the general guarantees.
/// </summary>
public class GarbageTableTests(ITestOutputHelper output)
{
    private const ulong Offset = 0x123;
    private const ulong AllOnes = ulong.MaxValue;

    /// <summary>An address whose index is the same at every level, so a self-referencing entry is used again at each level below it.</summary>
    private static ulong RecursiveAddress(int levels, ulong index = 0x0A5)
    {
        ulong a = Offset;
        for (int level = 1; level <= levels; level++) a |= index << (12 + 9 * (level - 1));
        return a; // index 0x0A5 has bit 7 set, so the top level puts a 1 in bit 46 (4-level) or 55 (5-level): still canonical
    }

    /// <summary>An address with a different index at each level (level L uses index L).</summary>
    private static ulong DistinctAddress(int levels)
    {
        ulong a = Offset;
        for (int level = 1; level <= levels; level++) a |= (ulong)level << (12 + 9 * (level - 1));
        return a;
    }

    public static TheoryData<int, int, bool, DmaAccess> FirstStageCases()
    {
        var data = new TheoryData<int, int, bool, DmaAccess>();
        foreach (int levels in new[] { 4, 5 })
            for (int level = 1; level <= levels; level++)
                foreach (bool recursive in new[] { true, false })
                    foreach (var access in new[] { DmaAccess.Read, DmaAccess.Write })
                        data.Add(levels, level, recursive, access);
        return data;
    }

    // ------------------------------------------------------------------ self-referencing tables

    /// <summary>
    /// A first-stage entry at <paramref name="level"/> points at its own table. With the same index at every level the
    /// entry is read again as the entry of each lower level, and at level 1 as a PTE whose frame is that table: the
    /// walk ends, bounded by the level count, mapping the table page itself (the classic recursive mapping). With
    /// distinct indices the next level reads an empty slot of that table: SFS.2 one level down; at level 1 the PTE
    /// simply maps its own table page.
    /// </summary>
    [Theory]
    [MemberData(nameof(FirstStageCases))]
    public void FirstStageEntryPointingAtItsOwnTable(int levels, int level, bool recursive, DmaAccess access)
    {
        var bench = new WalkBench();
        var fs = bench.UseFirstStage(levels);
        ulong va = recursive ? RecursiveAddress(levels) : DistinctAddress(levels);
        fs.Map(new Iova(va & ~0xFFFUL), 0x4000_0000);
        Hpa entry = fs.EntryHpa(new Iova(va), level);
        ulong ownTable = entry.Value & ~0xFFFUL;
        bench.Memory.Write64(entry, FirstStageEntry.Table(ownTable).Raw);

        var result = TranslateAndCheck(bench.Memory, bench.Unit, bench.Request(va, access, firstStage: true),
            ReferenceContext.ForUnit(bench.Profile, ReferenceMode.FirstStageOnly) with
            {
                FirstStageRoot = fs.Root, FirstStageLevels = levels, SupervisorRequestEnable = true,
            }, $"{levels}-level first stage, self reference at L{level}");

        if (recursive || level == 1)
        {
            Assert.True(result.Success, result.Fault?.ToString());
            Assert.Equal(ownTable + Offset, result.Address.Value);
            ulong expectedFlags = FirstStageEntry.AccessedBit | (access == DmaAccess.Write ? FirstStageEntry.DirtyBit : 0);
            Assert.Equal(FirstStageEntry.Table(ownTable).Raw | expectedFlags, bench.Memory.Read64(entry));
        }
        else
        {
            Assert.Equal(F.SFS2_EntryNotPresent, result.Fault?.Reason);
            Assert.Equal(level - 1, result.Fault!.Level);
        }
    }

    public static TheoryData<bool, int, int, bool, DmaAccess> SecondStageCases()
    {
        var data = new TheoryData<bool, int, int, bool, DmaAccess>();
        foreach (bool legacy in new[] { true, false })
            foreach (int levels in new[] { 4, 5 })
                for (int level = 1; level <= levels; level++)
                    foreach (bool recursive in new[] { true, false })
                        foreach (var access in new[] { DmaAccess.Read, DmaAccess.Write })
                            data.Add(legacy, levels, level, recursive, access);
        return data;
    }

    /// <summary>
    /// The same for second-stage (and legacy second-level) tables. An empty slot is not present (R=W=0): SSS.2 in
    /// scalable mode, LGN.3 (read) / LGN.2 (write) in legacy mode, at the level below the self reference.
    /// </summary>
    [Theory]
    [MemberData(nameof(SecondStageCases))]
    public void SecondStageEntryPointingAtItsOwnTable(bool legacy, int levels, int level, bool recursive, DmaAccess access)
    {
        var bench = new WalkBench(scalable: !legacy);
        var ss = legacy ? bench.UseLegacy(levels) : bench.UseSecondStage(levels);
        ulong gpa = recursive ? RecursiveAddress(levels) : DistinctAddress(levels);
        ss.Map(new Gpa(gpa & ~0xFFFUL), new Hpa(0x4000_0000));
        Hpa entry = ss.EntryAddress(new Gpa(gpa), level);
        ulong ownTable = entry.Value & ~0xFFFUL;
        bench.Memory.Write64(entry, SecondStageEntry.Table(ownTable).Raw);

        var result = TranslateAndCheck(bench.Memory, bench.Unit, bench.Request(gpa, access, firstStage: false),
            ReferenceContext.ForUnit(bench.Profile, legacy ? ReferenceMode.LegacySecondLevel : ReferenceMode.SecondStageOnly) with
            {
                SecondStageRoot = ss.Root.Value, SecondStageAddressWidth = ss.AddressWidth,
            }, $"{(legacy ? "legacy" : "scalable")} {levels}-level second stage, self reference at L{level}");

        if (recursive || level == 1)
        {
            Assert.True(result.Success, result.Fault?.ToString());
            Assert.Equal(ownTable + Offset, result.Address.Value);
        }
        else
        {
            F expected = !legacy ? F.SSS2_EntryNotPresent : access == DmaAccess.Write ? F.LGN2_WriteDenied : F.LGN3_ReadDenied;
            Assert.Equal(expected, result.Fault?.Reason);
            Assert.Equal(level - 1, result.Fault!.Level);
        }
    }

    public static TheoryData<int, bool> NestedFirstStageCases()
    {
        var data = new TheoryData<int, bool>();
        for (int level = 1; level <= 4; level++)
        {
            data.Add(level, true);
            data.Add(level, false);
        }
        return data;
    }

    /// <summary>
    /// Nested: a first-stage entry points at its own table GPA. Each table GPA is mapped read/write by the second stage,
    /// so the recursive case maps the GVA onto the table page itself (through the second stage), and the other case
    /// finds an empty slot one level down (SFS.2).
    /// </summary>
    [Theory]
    [MemberData(nameof(NestedFirstStageCases))]
    public void NestedFirstStageEntryPointingAtItsOwnTable(int level, bool recursive)
    {
        var bench = new NestedBench();
        var fs = bench.NewGuestFirstStage();
        ulong va = recursive ? RecursiveAddress(4) : DistinctAddress(4);
        bench.SecondStage.Map(new Gpa(0x800_0000), NestedBench.GuestToHost(0x800_0000));
        fs.Map(new Iova(va & ~0xFFFUL), 0x800_0000);
        bench.Tables.SetPasidEntry(NestedBench.Device, 0, PasidEntry.NestedEntry(fs.Root, bench.SecondStage.Root, bench.SecondStage.AddressWidth, 1));
        ulong ownTableGpa = fs.EntryAddress(new Iova(va), level) & ~0xFFFUL;
        Hpa entry = fs.EntryHpa(new Iova(va), level);
        bench.Memory.Write64(entry, FirstStageEntry.Table(ownTableGpa).Raw);

        var result = TranslateAndCheck(bench.Memory, bench.Unit, bench.Read(va), NestedContext(bench, fs.Root), $"nested, first-stage self reference at L{level}");

        if (recursive || level == 1)
        {
            Assert.True(result.Success, result.Fault?.ToString());
            Assert.Equal(NestedBench.GuestToHost(ownTableGpa).Value + Offset, result.Address.Value);
        }
        else
        {
            Assert.Equal(F.SFS2_EntryNotPresent, result.Fault?.Reason);
            Assert.Equal(level - 1, result.Fault!.Level);
        }
    }

    /// <summary>
    /// Nested: a second-stage entry on the path of the first-stage root table's GPA (0x10_0000: SS indices 0, 0, 0,
    /// 0x100) points at its own table. From L4, L3 or L2 the walk keeps re-reading index 0 of that table and at L1
    /// reads its index 0x100, which is empty: the top-level first-stage table is not readable, SFS.6. At L1 the leaf
    /// maps the root table's GPA onto the second-stage page table itself, so the first stage reads that page's index
    /// idx4(0x7000_1000) = 0, the (empty) mapping of GPA 0: SFS.2 at the first-stage top level.
    /// </summary>
    [Theory]
    [InlineData(4, F.SFS6_TopLevelNotReadable)]
    [InlineData(3, F.SFS6_TopLevelNotReadable)]
    [InlineData(2, F.SFS6_TopLevelNotReadable)]
    [InlineData(1, F.SFS2_EntryNotPresent)]
    public void NestedSecondStageEntryPointingAtItsOwnTable(int level, F expected)
    {
        var bench = new NestedBench();
        var fs = bench.NewGuestFirstStage();
        Assert.Equal(0x10_0000UL, fs.Root);
        bench.SecondStage.Map(new Gpa(0x800_0000), NestedBench.GuestToHost(0x800_0000));
        fs.Map(new Iova(0x7000_1000), 0x800_0000);
        bench.Tables.SetPasidEntry(NestedBench.Device, 0, PasidEntry.NestedEntry(fs.Root, bench.SecondStage.Root, bench.SecondStage.AddressWidth, 1));
        Hpa entry = bench.SecondStage.EntryAddress(new Gpa(fs.Root), level);
        bench.Memory.Write64(entry, SecondStageEntry.Table(entry.Value & ~0xFFFUL).Raw);

        var result = TranslateAndCheck(bench.Memory, bench.Unit, bench.Read(0x7000_1000), NestedContext(bench, fs.Root), $"nested, second-stage self reference at L{level}");

        Assert.Equal(expected, result.Fault?.Reason);
    }

    private static ReferenceContext NestedContext(NestedBench bench, ulong fsRoot) =>
        ReferenceContext.ForUnit(bench.Unit.Profile, ReferenceMode.Nested) with
        {
            SecondStageRoot = bench.SecondStage.Root.Value,
            SecondStageAddressWidth = bench.SecondStage.AddressWidth,
            FirstStageRoot = fsRoot,
            FirstStageLevels = 4,
            PageWalkSnoop = true,
        };

    /// <summary>Runs the reference first (it does not write), then the engine, with the general checks and the reference comparison.</summary>
    private static TranslationResult TranslateAndCheck(MachineMemory memory, VtdUnit unit, DmaRequest request, ReferenceContext context, string what)
    {
        var expected = ReferenceWalker.Translate(memory, context, new ReferenceRequest(request.Address.Value, request.Access, request.Privileged));
        var trace = new WalkTrace();
        TranslationResult result = default;
        GarbageAssert.CompletesWithin(TimeSpan.FromSeconds(10), () => result = unit.Translate(request, trace));
        GarbageAssert.WellFormed(result, trace, what);
        GarbageAssert.MatchesReference(result, expected, what);
        return result;
    }

    // ------------------------------------------------------------------ all-ones tables

    /// <summary>
    /// A legacy root table of all ones: P=1 with reserved bits 11:1 (and the whole reserved high half) set: LRT.3,
    /// before the context table is even looked at.
    /// </summary>
    [Fact]
    public void LegacyRootTableOfAllOnesFaultsLrt3()
    {
        var bench = new WalkBench(scalable: false);
        bench.UseLegacy(4).Map(new Gpa(0), new Hpa(0x4000_0000));
        WalkBench.Fill(bench.Memory, bench.Tables.Root, AllOnes);

        AssertFault(bench.Unit, bench.Request(0, DmaAccess.Read, false), F.LRT3_RootReserved, expectedLevel: 0);
    }

    /// <summary>A legacy context table of all ones: P=1 with reserved bits (11:4, 71, 127:88, above HAW) set: LCT.3.</summary>
    [Fact]
    public void LegacyContextTableOfAllOnesFaultsLct3()
    {
        var bench = new WalkBench(scalable: false);
        bench.UseLegacy(4).Map(new Gpa(0), new Hpa(0x4000_0000));
        WalkBench.Fill(bench.Memory, ContextTable(bench.Memory, bench.Tables.Root, WalkBench.Device, scalable: false), AllOnes);

        AssertFault(bench.Unit, bench.Request(0, DmaAccess.Write, false), F.LCT3_ContextReserved, expectedLevel: 0);
    }

    public static TheoryData<string, int, int> SecondLevelAllOnesCases()
    {
        var data = new TheoryData<string, int, int>();
        foreach (int levels in new[] { 4, 5 })
            for (int level = 1; level <= levels; level++)
                data.Add("architectural", levels, level);
        for (int level = 1; level <= 3; level++) data.Add("qemu", 3, level);
        return data;
    }

    /// <summary>
    /// A legacy second-level table of all ones at any level: R=W=1 (present) with address bits HAW..51 set, which are
    /// reserved: LSL.2 at that level. Also on the QEMU-like unit (HAW 39, 3-level).
    /// </summary>
    [Theory]
    [MemberData(nameof(SecondLevelAllOnesCases))]
    public void LegacySecondLevelTableOfAllOnesFaultsLsl2(string profile, int levels, int level)
    {
        var bench = new WalkBench(profile == "qemu" ? BuiltInProfiles.Qemu72Legacy : BuiltInProfiles.Architectural, scalable: false);
        var ss = bench.UseLegacy(levels);
        ulong gpa = DistinctAddress(levels);
        ss.Map(new Gpa(gpa & ~0xFFFUL), new Hpa(0x4000_0000));
        WalkBench.Fill(bench.Memory, ss.EntryAddress(new Gpa(gpa), level), AllOnes);

        foreach (var access in new[] { DmaAccess.Read, DmaAccess.Write })
            AssertFault(bench.Unit, bench.Request(gpa, access, false), F.LSL2_PagingEntryReserved, level);
    }

    /// <summary>A scalable root table of all ones: LP=1 and UP=1, each with reserved bits 11:1 set: SRT.3 for either half.</summary>
    [Theory]
    [InlineData(0x10)]
    [InlineData(0x90)]
    public void ScalableRootTableOfAllOnesFaultsSrt3(int devfn)
    {
        var bench = new WalkBench();
        bench.UseSecondStage(4).Map(new Gpa(0), new Hpa(0x4000_0000));
        WalkBench.Fill(bench.Memory, bench.Tables.Root, AllOnes);
        var request = new DmaRequest(new SourceId((ushort)devfn), new Iova(0), DmaAccess.Read);

        AssertFault(bench.Unit, request, F.SRT3_RootReserved, expectedLevel: 0);
    }

    /// <summary>A scalable context table of all ones: P=1 with reserved Q0 8:5, Q1 63:21, Q2, Q3 set: SCT.3.</summary>
    [Fact]
    public void ScalableContextTableOfAllOnesFaultsSct3()
    {
        var bench = new WalkBench();
        bench.UseSecondStage(4).Map(new Gpa(0), new Hpa(0x4000_0000));
        WalkBench.Fill(bench.Memory, ContextTable(bench.Memory, bench.Tables.Root, WalkBench.Device, scalable: true), AllOnes);

        AssertFault(bench.Unit, bench.Request(0, DmaAccess.Read, false), F.SCT3_ContextReserved, expectedLevel: 0);
    }

    /// <summary>A PASID directory of all ones: P=1 with reserved bits 11:2 set: SPD.3.</summary>
    [Fact]
    public void PasidDirectoryOfAllOnesFaultsSpd3()
    {
        var bench = new WalkBench();
        bench.UseFirstStage(4).Map(new Iova(0), 0x4000_0000);
        WalkBench.Fill(bench.Memory, bench.Tables.PasidDirectoryEntryAddress(WalkBench.Device, WalkBench.FirstStagePasid), AllOnes);

        AssertFault(bench.Unit, bench.Request(0, DmaAccess.Read, true), F.SPD3_DirectoryReserved, expectedLevel: 0);
    }

    /// <summary>A PASID table of all ones: P=1 with reserved bits (Q0 11:10, Q1 22:16, Q2 11:8, Q3..Q7) set: SPT.3.</summary>
    [Fact]
    public void PasidTableOfAllOnesFaultsSpt3()
    {
        var bench = new WalkBench();
        bench.UseFirstStage(4).Map(new Iova(0), 0x4000_0000);
        ulong dir = bench.Memory.Read64(bench.Tables.PasidDirectoryEntryAddress(WalkBench.Device, WalkBench.FirstStagePasid));
        WalkBench.Fill(bench.Memory, new Hpa(dir & 0x000F_FFFF_FFFF_F000), AllOnes);

        AssertFault(bench.Unit, bench.Request(0, DmaAccess.Read, true), F.SPT3_PasidEntryReserved, expectedLevel: 0);
    }

    public static TheoryData<int, int> LevelCases()
    {
        var data = new TheoryData<int, int>();
        foreach (int levels in new[] { 4, 5 })
            for (int level = 1; level <= levels; level++)
                data.Add(levels, level);
        return data;
    }

    /// <summary>A second-stage table of all ones: R=W=1 (present), bits 51:46 (above HAW), 11 and 62 set: SSS.3 at that level.</summary>
    [Theory]
    [MemberData(nameof(LevelCases))]
    public void SecondStageTableOfAllOnesFaultsSss3(int levels, int level)
    {
        var bench = new WalkBench();
        var ss = bench.UseSecondStage(levels);
        ulong gpa = DistinctAddress(levels);
        ss.Map(new Gpa(gpa & ~0xFFFUL), new Hpa(0x4000_0000));
        WalkBench.Fill(bench.Memory, ss.EntryAddress(new Gpa(gpa), level), AllOnes);

        foreach (var access in new[] { DmaAccess.Read, DmaAccess.Write, DmaAccess.AtomicOp })
            AssertFault(bench.Unit, bench.Request(gpa, access, false), F.SSS3_EntryReserved, level);
    }

    /// <summary>
    /// A first-stage table of all ones: P=1 with address bits 51:46 (above HAW) set, and PS=1 where it is reserved:
    /// SFS.3 at that level.
    /// </summary>
    [Theory]
    [MemberData(nameof(LevelCases))]
    public void FirstStageTableOfAllOnesFaultsSfs3(int levels, int level)
    {
        var bench = new WalkBench();
        var fs = bench.UseFirstStage(levels);
        ulong va = DistinctAddress(levels);
        fs.Map(new Iova(va & ~0xFFFUL), 0x4000_0000);
        Hpa page = fs.EntryHpa(new Iova(va), level).PageBase;
        WalkBench.Fill(bench.Memory, page, AllOnes);

        foreach (var access in new[] { DmaAccess.Read, DmaAccess.Write })
            AssertFault(bench.Unit, bench.Request(va, access, true), F.SFS3_EntryReserved, level);
    }

    /// <summary>
    /// Nested, the second-stage tables that map the first-stage root table's GPA are all ones at one level: reserved
    /// bits in a second-stage entry met while translating a first-stage table GPA are SSS.3 (decision (c)).
    /// </summary>
    [Theory]
    [InlineData(4)]
    [InlineData(3)]
    [InlineData(2)]
    [InlineData(1)]
    public void NestedSecondStageTableOfAllOnesFaultsSss3(int level)
    {
        var (bench, fs) = NestedWithOneMapping();
        WalkBench.Fill(bench.Memory, bench.SecondStage.EntryAddress(new Gpa(fs.Root), level), AllOnes);

        AssertFault(bench.Unit, bench.Read(0x7000_1000), F.SSS3_EntryReserved, level);
    }

    /// <summary>Nested, a first-stage table of all ones at one level: SFS.3 at that level.</summary>
    [Theory]
    [InlineData(4)]
    [InlineData(3)]
    [InlineData(2)]
    [InlineData(1)]
    public void NestedFirstStageTableOfAllOnesFaultsSfs3(int level)
    {
        var (bench, fs) = NestedWithOneMapping();
        WalkBench.Fill(bench.Memory, fs.EntryHpa(new Iova(0x7000_1000), level), AllOnes);

        AssertFault(bench.Unit, bench.Write(0x7000_1000), F.SFS3_EntryReserved, level);
    }

    /// <summary>Nested, the second-stage leaf table of the final data GPA is all ones: SSS.3 on the final walk, at L1.</summary>
    [Fact]
    public void NestedFinalSecondStageLeafOfAllOnesFaultsSss3()
    {
        var (bench, _) = NestedWithOneMapping();
        WalkBench.Fill(bench.Memory, bench.SecondStage.EntryAddress(new Gpa(0x800_0000), 1), AllOnes);

        AssertFault(bench.Unit, bench.Read(0x7000_1000), F.SSS3_EntryReserved, 1);
    }

    private static (NestedBench, FirstStageTableBuilder) NestedWithOneMapping()
    {
        var bench = new NestedBench();
        var fs = bench.NewGuestFirstStage();
        bench.SecondStage.Map(new Gpa(0x800_0000), NestedBench.GuestToHost(0x800_0000));
        fs.Map(new Iova(0x7000_1000), 0x800_0000);
        bench.Tables.SetPasidEntry(NestedBench.Device, 0, PasidEntry.NestedEntry(fs.Root, bench.SecondStage.Root, bench.SecondStage.AddressWidth, 1));
        Assert.True(bench.Unit.Translate(bench.Read(0x7000_1000)).Success); // the world is sound before the garbage goes in
        return (bench, fs);
    }

    private static void AssertFault(VtdUnit unit, DmaRequest request, F expected, int expectedLevel)
    {
        var trace = new WalkTrace();
        TranslationResult result = default;
        GarbageAssert.CompletesWithin(TimeSpan.FromSeconds(10), () => result = unit.Translate(request, trace));
        GarbageAssert.WellFormed(result, trace, $"{request}");
        Assert.True(result.Fault?.Reason == expected, $"{request.Access} at {request.Address}: expected {expected}, got {(result.Success ? "success" : result.Fault!.ToString())}");
        Assert.Equal(expectedLevel, result.Fault!.Level);
    }

    private static Hpa ContextTable(MachineMemory memory, Hpa root, SourceId source, bool scalable)
    {
        Hpa rootEntry = root + source.Bus * 16UL + (scalable && source.DevFn >= 0x80 ? 8UL : 0);
        return new Hpa(memory.Read64(rootEntry) & 0x000F_FFFF_FFFF_F000);
    }

    // ------------------------------------------------------------------ random garbage everywhere

    /// <summary>
    /// Random 64-bit garbage in every structure: root and context tables, PASID directories and tables, and paging
    /// entries, on every built-in profile and two variants, in every TTM, with
    /// random requests (with and without PASID, PR, ER, every AT). Pointers in the garbage mostly aim into the same
    /// pool of garbage pages, so walks get deep. Every translation, DmaRead and DmaWrite returns, never throws, and
    /// stays within the reference bound.
    /// </summary>
    [Fact]
    public void RandomGarbageInEveryStructureNeverThrowsNeverLoops()
    {
        var reached = new Dictionary<F, int>();
        int deep = 0, nested = 0, total = 0;
        GarbageAssert.CompletesWithin(TimeSpan.FromSeconds(60), () =>
            PropertyRunner.Run(Gen.ULong, seed =>
            {
                var world = GarbageWorld.Build(seed);
                foreach (var request in world.Requests)
                {
                    var trace = new WalkTrace();
                    TranslationResult result = world.Unit.Translate(request, trace);
                    GarbageAssert.WellFormed(result, trace, $"{world.Profile.Name} {request}");
                    F reason = result.Fault?.Reason ?? F.None;
                    lock (reached)
                    {
                        reached[reason] = reached.GetValueOrDefault(reason) + 1;
                        total++;
                        if (trace.PagingReads >= 3) deep++;
                        if (result.Kind == TranslationKind.Nested) nested++;
                    }
                    if (request.AddressType != AddressType.TranslationRequest)
                    {
                        var buffer = new byte[0x1800];
                        DmaTransferResult transfer = request.Access switch
                        {
                            DmaAccess.Read => world.Unit.DmaRead(request, buffer),
                            DmaAccess.Write => world.Unit.DmaWrite(request, buffer),
                            _ => new DmaTransferResult(0, null, null),
                        };
                        Assert.InRange(transfer.BytesTransferred, 0, buffer.Length);
                    }
                }
            }, seed: 0x6A4B_A6E, iterations: 1500));

        string distribution = string.Join(", ", reached.OrderByDescending(kv => kv.Value).Select(kv => $"{(kv.Key == F.None ? "success" : FaultReasonInfo.Of(kv.Key).Condition)}={kv.Value}"));
        output.WriteLine($"{total} translations, {deep} reached 3+ paging reads, {nested} nested: {distribution}");
        Assert.True(deep >= total / 25, $"the garbage rarely gets past the context structures ({deep} of {total}): {distribution}");
        Assert.True(reached.Count >= 25, $"the garbage reached only {reached.Count} distinct outcomes: {distribution}");
    }
}

/// <summary>A machine whose every structure is random garbage, with pointers mostly into a pool of garbage pages.</summary>
internal sealed class GarbageWorld
{
    private static readonly VtdProfile[] Profiles =
    [
        BuiltInProfiles.Architectural, BuiltInProfiles.SapphireRapids, BuiltInProfiles.Qemu72Legacy, BuiltInProfiles.Qemu72Scalable,
        ScenarioBuilder.NoLargePages, ScenarioBuilder.NarrowAllLevelErratum,
    ];

    public required VtdProfile Profile { get; init; }
    public required VtdUnit Unit { get; init; }
    public required List<DmaRequest> Requests { get; init; }

    /// <summary>A quarter of the worlds are garbage from the root down; the others are random tables with garbage injected into the context structures.</summary>
    public static GarbageWorld Build(ulong seed)
    {
        var rng = new SplitMix(seed);
        return rng.Below(4) == 0 ? BuildPure(rng) : BuildCorrupted(rng);
    }

    /// <summary>Every word of every structure page is garbage: random bits, zeros, all ones, or pointers into the pool.</summary>
    private static GarbageWorld BuildPure(SplitMix rng)
    {
        VtdProfile profile = Profiles[rng.Below(Profiles.Length)];
        var memory = new PhysicalMemory(ScenarioBuilder.MemorySize);

        // A pool of pages: most packed together, a few scattered, one at the very top of memory.
        var pool = new List<ulong>();
        for (int i = 0; i < 20; i++) pool.Add(0x100_0000 + 0x1000UL * (ulong)i);
        for (int i = 0; i < 6; i++) pool.Add(rng.Next() % (ScenarioBuilder.MemorySize >> 12) << 12);
        pool.Add(ScenarioBuilder.MemorySize - 0x1000);

        ulong Pointer()
        {
            ulong lowMask = new ulong[] { 0x1, 0x3, 0x7, 0x1F, 0xFF, 0xFFF }[rng.Below(6)];
            ulong p = pool[rng.Below(pool.Count)] | (rng.Next() & lowMask);
            if (rng.Below(10) == 0) p |= rng.Next() & 0xFFFF_C000_0000_0000; // sometimes reserved high bits
            return p;
        }

        foreach (ulong page in pool)
        {
            int style = rng.Below(3);
            for (int i = 0; i < 512; i++)
            {
                int r = rng.Below(100);
                ulong word = style switch
                {
                    0 => r < 35 ? Pointer() : r < 60 ? 0 : r < 70 ? ulong.MaxValue : rng.Next(),
                    1 => r < 85 ? 0 : Pointer(),
                    _ => (i % 8) switch // shaped like root/context/PASID entries: a pointer, then small fields, then zeros
                    {
                        0 => Pointer(),
                        1 => r < 50 ? 0 : rng.Next() & 0xFF_FFFF,
                        2 => r < 50 ? 0 : Pointer(),
                        _ => r < 90 ? 0 : rng.Next(),
                    },
                };
                memory.Write64(new Hpa(page + 8UL * (ulong)i), word);
            }
        }

        var unit = new VtdUnit(memory, Support.Uncached.Of(profile));
        var mode = (TranslationTableMode)rng.Below(4);
        if (rng.Below(3) != 0) mode = profile.Ecap.ScalableModeTranslation && rng.Below(2) == 0 ? TranslationTableMode.Scalable : TranslationTableMode.Legacy;
        RegisterProgramming.EnableTranslation(unit, new Hpa(pool[rng.Below(pool.Count)]), mode);

        var requests = new List<DmaRequest>();
        for (int i = 0; i < 8; i++)
        {
            var source = new SourceId((ushort)((rng.Below(3) << 8) | rng.Below(256)));
            int a = rng.Below(4);
            ulong address = a switch
            {
                0 => pool[rng.Below(pool.Count)] | (rng.Next() & 0xFFF),
                1 => rng.Next() & 0xFFFF_FFFF,
                2 => rng.Next() & 0x0000_FFFF_FFFF_FFFF,
                _ => rng.Next(),
            };
            requests.Add(RandomRequest(rng, source, address));
        }
        return new GarbageWorld { Profile = profile, Unit = unit, Requests = requests };
    }

    /// <summary>
    /// Random paging structures from <see cref="ScenarioBuilder"/> (which already puts garbage entries on the walk
    /// path), with garbage written over the device's root, context, PASID-directory and PASID-table entries.
    /// </summary>
    private static GarbageWorld BuildCorrupted(SplitMix rng)
    {
        var mode = (ReferenceMode)rng.Below(4);
        var choices = new ulong[320];
        for (int i = 0; i < choices.Length; i++) choices[i] = rng.Next();
        Scenario s = ScenarioBuilder.Build(mode, choices, caching: "uncached"); // garbage is written after the build, without invalidation
        DmaRequest first = s.Requests[0].Request;
        MachineMemory memory = s.Memory;
        const ulong AddressMask = 0x000F_FFFF_FFFF_F000;

        void Corrupt(Hpa entry, int words)
        {
            int r = rng.Below(100);
            if (r < 80) return;
            r = 55 + rng.Below(45);
            for (int w = 0; w < words; w++)
            {
                Hpa word = entry + 8UL * (ulong)w;
                ulong old = memory.Read64(word);
                ulong value = r switch
                {
                    < 70 => rng.Next(),                                              // random 64-bit garbage
                    < 80 => w == 0 ? old ^ (1UL << rng.Below(64)) : old,             // one flipped bit
                    < 88 => ulong.MaxValue,                                          // all ones
                    < 94 => w == 0 ? (old & 0xFFF) | (rng.Next() & AddressMask) : old, // a pointer anywhere
                    _ => rng.Below(2) == 0 ? 0 : old | (1UL << rng.Below(64)),       // cleared, or one more bit set
                };
                memory.Write64(word, value);
            }
        }

        SourceId device = ScenarioBuilder.Device;
        Hpa rootEntry = s.Unit.RootTable + device.Bus * 16UL;
        if (mode == ReferenceMode.LegacySecondLevel)
        {
            Hpa context = new Hpa(memory.Read64(rootEntry) & AddressMask) + device.DevFn * 16UL;
            Corrupt(context, 2);
            Corrupt(rootEntry, 2);
        }
        else
        {
            Hpa context = new Hpa(memory.Read64(rootEntry) & AddressMask) + (device.DevFn & 0x7FUL) * 32;
            uint pasid = first.Pasid ?? 0;
            Hpa directoryEntry = new Hpa(memory.Read64(context) & AddressMask) + (pasid >> 6) * 8UL;
            Hpa pasidEntry = new Hpa(memory.Read64(directoryEntry) & AddressMask) + (pasid & 0x3F) * 64UL;
            Corrupt(pasidEntry, 8);
            Corrupt(directoryEntry, 1);
            Corrupt(context, 4);
            Corrupt(rootEntry, 2);
        }

        var requests = new List<DmaRequest> { first };
        for (int i = 0; i < 5; i++)
        {
            ulong address = rng.Below(2) == 0 ? first.Address.Value ^ (rng.Next() & 0xFFFF_F000) : rng.Next();
            if (rng.Below(5) < 3)
            {
                requests.Add(first with { Address = new Iova(address), Access = (DmaAccess)rng.Below(3) });
                continue;
            }
            var source = rng.Below(4) == 0 ? new SourceId((ushort)rng.Below(0x10000)) : device;
            requests.Add(RandomRequest(rng, source, address));
        }
        return new GarbageWorld { Profile = s.Profile, Unit = s.Unit, Requests = requests };
    }

    private static DmaRequest RandomRequest(SplitMix rng, SourceId source, ulong address)
    {
        uint? pasid = rng.Below(2) == 0 ? null : (uint)(rng.Below(2) == 0 ? rng.Below(4) : rng.Below(1 << 20));
        var access = (DmaAccess)rng.Below(3);
        bool privileged = pasid is not null && rng.Below(2) == 0;
        bool execute = pasid is not null && rng.Below(4) == 0;
        var at = rng.Below(8) switch { 0 => AddressType.TranslationRequest, 1 => AddressType.Translated, _ => AddressType.Untranslated };
        return new DmaRequest(source, new Iova(address), access, pasid, privileged, execute, at);
    }

    /// <summary>SplitMix64: a tiny deterministic generator, so a world is a pure function of its seed.</summary>
    private sealed class SplitMix(ulong seed)
    {
        private ulong _state = seed;

        public ulong Next()
        {
            ulong z = _state += 0x9E37_79B9_7F4A_7C15;
            z = (z ^ (z >> 30)) * 0xBF58_476D_1CE4_E5B9;
            z = (z ^ (z >> 27)) * 0x94D0_49BB_1331_11EB;
            return z ^ (z >> 31);
        }

        public int Below(int n) => (int)(Next() % (ulong)n);
    }
}
