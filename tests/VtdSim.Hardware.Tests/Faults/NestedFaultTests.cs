using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Building;
using VtdSim.Hardware.Faults;
using VtdSim.Hardware.Memory;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Registers;
using VtdSim.Hardware.Structures;
using VtdSim.Hardware.Tests.Support;
using VtdSim.Hardware.Translation;

namespace VtdSim.Hardware.Tests.Faults;

/// <summary>
/// Nested (PGTT=011) faults: the second stage's verdict on first-stage table GPAs (SFS.5-8, decisions D1) and on the
/// final GPA (SSS.x, SGN.x), vtd-facts 4.3-4.5. FI is always the request's GVA page (decisions D2).
/// </summary>
public class NestedFaultTests
{
    private const ulong Gva = 0x7000_1000;
    private const ulong DataGpa = 0x800_0000;

    private sealed record Setup(NestedBench Bench, FirstStageTableBuilder Fs)
    {
        public VtdUnit Unit => Bench.Unit;
        /// <summary>The GPA of the first-stage table at <paramref name="level"/> on <see cref="Gva"/>'s path.</summary>
        public ulong TableGpa(int level) => Fs.EntryAddress(new Iova(Gva), level) & ~0xFFFUL;
        /// <summary>Remaps a guest page in the second stage with other rights (R=W=0 makes it not present).</summary>
        public void Remap(ulong gpa, bool read, bool write)
        {
            Hpa leaf = Bench.SecondStage.EntryAddress(new Gpa(gpa), 1);
            Bench.Memory.Write64(leaf, read || write ? SecondStageEntry.Page(NestedBench.GuestToHost(gpa).Value, 1, read, write).Raw : 0);
        }
    }

    /// <summary>A 4-level guest first stage mapping <see cref="Gva"/> → <paramref name="dataGpa"/>, nested over a host second stage.</summary>
    private static Setup Nested(VtdProfile? profile = null, int ssLevels = 4, ulong dataGpa = DataGpa, bool mapData = true)
    {
        var bench = new NestedBench(profile, ssLevels);
        var fs = bench.NewGuestFirstStage();
        if (mapData) bench.SecondStage.Map(new Gpa(dataGpa), NestedBench.GuestToHost(dataGpa));
        fs.Map(new Iova(Gva), dataGpa);
        bench.Tables.SetPasidEntry(NestedBench.Device, 0, PasidEntry.NestedEntry(fs.Root, bench.SecondStage.Root, bench.SecondStage.AddressWidth, 1));
        return new Setup(bench, fs);
    }

    [Fact]
    [FaultCoverage(FaultReason.SFS5_TableGpaBeyondWidth)]
    public void FirstStageRootGpaBeyondTheSecondStageWidthFaultsSfs5()
    {
        // FSPTPTR is a GPA in nested mode, so it is not checked against HAW, but 2^48 is beyond a 4-level second stage.
        var s = Nested();
        s.Bench.Tables.SetPasidEntry(NestedBench.Device, 0, PasidEntry.NestedEntry(1UL << 48, s.Bench.SecondStage.Root, 2, 1));
        var request = s.Bench.Read(Gva);

        DmaFault fault = FaultAssert.Recorded(s.Unit, s.Unit.Translate(request), FaultReason.SFS5_TableGpaBeyondWidth, request);
        Assert.Equal(4, fault.Level);
    }

    /// <summary>
    /// In a nested PASID entry FSPTPTR (bits 63:12 of Q2) is a GPA: no bit of it is reserved (decisions D33). A GPA at or
    /// above 2^52 that a 5-level (57-bit) second stage maps is a first-stage root like any other; one beyond the second
    /// stage's width faults SFS.5 when the walk translates it, as any first-stage table GPA does (D1), not SPT.3.
    /// </summary>
    [Theory]
    [InlineData(1UL << 53, null)]
    [InlineData((1UL << 57) - 0x1000, null)]                          // the last page a 57-bit second stage maps
    [InlineData(1UL << 57, FaultReason.SFS5_TableGpaBeyondWidth)]
    [InlineData(0xFFFF_FFFF_FFFF_F000, FaultReason.SFS5_TableGpaBeyondWidth)]
    public void ANestedFirstStageRootGpaAbove52BitsIsAGpaNotAReservedField(ulong rootGpa, FaultReason? expected)
    {
        var bench = new NestedBench(ssLevels: 5);
        ulong rootHost = bench.HostFrames.Allocate().Value;
        if (rootGpa < 1UL << 57) bench.SecondStage.Map(new Gpa(rootGpa), new Hpa(rootHost));
        var fs = new FirstStageTableBuilder(bench.Memory, () => bench.AllocateGuestTable(),
            gpa => (gpa & ~0xFFFUL) == rootGpa ? new Hpa(rootHost + (gpa & 0xFFF)) : NestedBench.GuestToHost(gpa), levels: 5);
        // The builder allocates its root through the allocator; point the walk at the root GPA instead and copy the entry.
        bench.SecondStage.Map(new Gpa(DataGpa), NestedBench.GuestToHost(DataGpa));
        fs.Map(new Iova(Gva), DataGpa);
        Hpa topEntry = NestedBench.GuestToHost(fs.EntryAddress(new Iova(Gva), 5));
        bench.Memory.Write64(new Hpa(rootHost + 8 * ((Gva >> 48) & 0x1FF)), bench.Memory.Read64(topEntry));
        var entry = PasidEntry.NestedEntry(fs.Root, bench.SecondStage.Root, bench.SecondStage.AddressWidth, 1, fiveLevelFirstStage: true);
        bench.Tables.SetPasidEntry(NestedBench.Device, 0, entry with { Q2 = (entry.Q2 & 0xFFF) | rootGpa });
        var request = bench.Read(Gva);

        var result = bench.Unit.Translate(request);

        if (expected is FaultReason reason) FaultAssert.Recorded(bench.Unit, result, reason, request);
        else Assert.Equal(NestedBench.GuestToHost(DataGpa), result.Address);
    }

    [Fact]
    [FaultCoverage(FaultReason.SFS5_TableGpaBeyondWidth)]
    public void LowerFirstStageTableGpaBeyondTheSecondStageWidthFaultsSfs5()
    {
        // A 3-level (39-bit) second stage; the PML4E points at GPA 2^40, which is below HAW (46) so not a reserved bit.
        var s = Nested(FaultProfiles.With39BitSecondStage, ssLevels: 3);
        Hpa pml4e = s.Fs.EntryHpa(new Iova(Gva), 4);
        s.Bench.Memory.Write64(pml4e, FirstStageEntry.Table(1UL << 40).Raw);
        var request = s.Bench.Read(Gva);

        DmaFault fault = FaultAssert.Recorded(s.Unit, s.Unit.Translate(request), FaultReason.SFS5_TableGpaBeyondWidth, request);
        Assert.Equal(3, fault.Level);
        Assert.Equal(Gva, FaultRecord.Read(s.Unit).FaultInfo); // FI is the GVA, not the table GPA (decisions D2)
        FaultAssert.Explains(fault, $"the first-stage L3 table at GPA 0x{(1UL << 40) + 8 * ((Gva >> 30) & 0x1FF):x} is beyond the second stage's input limit 0x7fffffffff");
    }

    [Theory]
    [InlineData(false)] // the second stage maps the top-level table write-only
    [InlineData(true)]  // the second stage does not map it at all
    [FaultCoverage(FaultReason.SFS6_TopLevelNotReadable)]
    public void SecondStageDenyingReadOfTheTopLevelTableFaultsSfs6(bool unmapped)
    {
        var s = Nested();
        s.Remap(s.TableGpa(4), read: false, write: !unmapped);
        var request = s.Bench.Read(Gva);

        DmaFault fault = FaultAssert.Recorded(s.Unit, s.Unit.Translate(request), FaultReason.SFS6_TopLevelNotReadable, request);
        Hpa ssLeaf = s.Bench.SecondStage.EntryAddress(new Gpa(s.TableGpa(4)), 1);
        FaultAssert.Explains(fault, $"the first-stage L4 table at GPA 0x{s.Fs.EntryAddress(new Iova(Gva), 4):x} cannot be read: its second-stage L1 entry at 0x{ssLeaf.Value:x} "
            + (unmapped ? "is not present (R=W=0)" : "denies read"));
    }

    [Theory]
    [InlineData(3, false)]
    [InlineData(3, true)]
    [InlineData(1, false)]
    [FaultCoverage(FaultReason.SFS7_EntryNotReadable)]
    public void SecondStageDenyingReadOfALowerTableFaultsSfs7(int level, bool unmapped)
    {
        var s = Nested();
        s.Remap(s.TableGpa(level), read: false, write: !unmapped);
        var request = s.Bench.Read(Gva);

        DmaFault fault = FaultAssert.Recorded(s.Unit, s.Unit.Translate(request), FaultReason.SFS7_EntryNotReadable, request);
        Assert.Equal(level, fault.Level);
    }

    [Theory]
    [InlineData("architectural")]
    [InlineData("sapphire-rapids")] // the erratum reaches only the top level (PML4E), so level 3 still faults
    [FaultCoverage(FaultReason.SFS8_EntryNotWritable)]
    public void AccessedUpdateInAReadOnlyLowerTableFaultsSfs8AndWritesNothing(string profile)
    {
        var s = Nested(BuiltInProfiles.Find(profile));
        s.Remap(s.TableGpa(3), read: true, write: false);
        Hpa pdpte = s.Fs.EntryHpa(new Iova(Gva), 3);
        ulong before = s.Bench.Memory.Read64(pdpte);
        var request = s.Bench.Read(Gva);

        DmaFault fault = FaultAssert.Recorded(s.Unit, s.Unit.Translate(request), FaultReason.SFS8_EntryNotWritable, request);
        Assert.Equal(3, fault.Level);
        Assert.Equal(before, s.Bench.Memory.Read64(pdpte));
        ulong entryGpa = s.Fs.EntryAddress(new Iova(Gva), 3);
        Assert.Equal(new Gpa(entryGpa), fault.Gpa);
        FaultAssert.Explains(fault, $"the first-stage L3 entry at GPA 0x{entryGpa:x} needs A set, but the second stage maps that table page read-only");
    }

    [Fact]
    [FaultCoverage(FaultReason.SFS8_EntryNotWritable)]
    public void DirtyUpdateInAReadOnlyLeafTableFaultsSfs8AndTheWriteDoesNotHappen()
    {
        // With A already set everywhere a read needs no flag update and succeeds; a write must set D in the leaf,
        // which is a write to a page the second stage maps read-only.
        var s = Nested();
        for (int level = 4; level >= 1; level--)
        {
            Hpa entry = s.Fs.EntryHpa(new Iova(Gva), level);
            s.Bench.Memory.Write64(entry, s.Bench.Memory.Read64(entry) | FirstStageEntry.AccessedBit);
        }
        s.Remap(s.TableGpa(1), read: true, write: false);
        Assert.True(s.Unit.Translate(s.Bench.Read(Gva)).Success);
        Hpa pte = s.Fs.EntryHpa(new Iova(Gva), 1);
        ulong before = s.Bench.Memory.Read64(pte);
        var request = s.Bench.Write(Gva);

        var result = s.Unit.DmaWrite(request, new byte[] { 0x5A });

        FaultAssert.Recorded(s.Unit, result, FaultReason.SFS8_EntryNotWritable, request);
        Assert.Equal(before, s.Bench.Memory.Read64(pte));
        Assert.Equal(0UL, s.Bench.Memory.Read64(NestedBench.GuestToHost(DataGpa)));
    }

    /// <summary>
    /// Issue 8, item 3, as filed (over qtest on sapphire-rapids), written to memory word by word: a nested write to GVA 0
    /// whose first-stage leaf table (GPA 0x103000) the second stage maps read-only, with SSADE=1 and every A flag already
    /// set. The D update of the first-stage leaf is refused, so the write never happens and the data page's second-stage
    /// leaf (0x23820, GPA 0x104000 → HPA 0x300000) must not become dirty (decisions D3). With PWSNP=0 the same update
    /// is refused as not snooped, SFS.9, before the second stage's D would be considered (D9a).
    /// </summary>
    [Theory]
    [InlineData(true, FaultReason.SFS8_EntryNotWritable)]
    [InlineData(false, FaultReason.SFS9_FlagUpdateNotSnooped)]
    public void ARefusedNestedWriteLeavesTheDataPageCleanInTheSecondStage(bool pageWalkSnoop, FaultReason expected)
    {
        var memory = new PhysicalMemory(1UL << 32);
        var unit = new VtdUnit(memory, BuiltInProfiles.SapphireRapids);
        (ulong Address, ulong Value)[] words =
        [
            (0x10000, 0x11001),                          // root entry, bus 0: LCTP 0x11000
            (0x11100, 0x12009),                          // context 00:01.0: P, PASIDE, PASID directory 0x12000
            (0x12000, 0x13001),                          // PASID directory entry 0: table 0x13000
            (0x13040, 0x202c9),                          // PASID 1, Q0: P, AW=4-level, PGTT=nested, SSADE, SSPTPTR 0x20000
            (0x13048, pageWalkSnoop ? 0x800001UL : 0x1), // Q1: DID 1, PWSNP
            (0x13050, 0x100003),                         // Q2: SRE, ERE, FSPTPTR = GPA 0x100000
            (0x20000, 0x21103), (0x21000, 0x22103), (0x22000, 0x23103), // second stage, R W A
            (0x23800, 0x100103), (0x23808, 0x101103), (0x23810, 0x102103),
            (0x23818, 0x103101),                         // GPA 0x103000 (the first-stage leaf table): read-only
            (0x23820, 0x300103),                         // GPA 0x104000, the data page: R W A, D clear
            (0x100000, 0x101027), (0x101000, 0x102027), (0x102000, 0x103027), (0x103000, 0x104027), // first stage: P RW U A
        ];
        foreach (var (address, value) in words) memory.Write64(new Hpa(address), value);
        unit.WriteRegister64(RegisterOffset.RTADDR, 0x10400);
        unit.WriteRegister32(RegisterOffset.GCMD, 0x4000_0000);
        unit.WriteRegister32(RegisterOffset.GCMD, 0x8000_0000);
        var request = new DmaRequest(NestedBench.Device, new Iova(0), DmaAccess.Write, Pasid: 1);

        FaultAssert.Recorded(unit, unit.Translate(request), expected, request);
        foreach (var (address, value) in words)
            Assert.True(memory.Read64(new Hpa(address)) == value, $"0x{address:x} changed to 0x{memory.Read64(new Hpa(address)):x} (was 0x{value:x})");
    }

    [Fact]
    [FaultCoverage(FaultReason.SSS1_EntryAccessError)]
    public void SecondStageTableErrorWhileTranslatingAFirstStageTableFaultsSss1()
    {
        // A broken second-stage table is the second stage's fault, not the first stage's (decisions D1).
        var s = Nested();
        s.Bench.Memory.InjectError(s.Bench.SecondStage.EntryAddress(new Gpa(s.TableGpa(4)), 1).PageBase, 4096);
        var request = s.Bench.Read(Gva);

        DmaFault fault = FaultAssert.Recorded(s.Unit, s.Unit.Translate(request), FaultReason.SSS1_EntryAccessError, request);
        Assert.Equal(new Gpa(s.TableGpa(4) + (ulong)8 * ((Gva >> 39) & 0x1FF)), fault.Gpa);
        FaultAssert.Explains(fault, $"while translating the first-stage L4 table GPA 0x{fault.Gpa?.Value:x}, the second-stage L1 entry at 0x{fault.EntryAddress?.Value:x} cannot be read");
    }

    [Fact]
    [FaultCoverage(FaultReason.SSS2_EntryNotPresent)]
    public void FinalGpaNotMappedInTheSecondStageFaultsSss2()
    {
        var s = Nested(mapData: false);
        var request = s.Bench.Read(Gva + 0x10);

        DmaFault fault = FaultAssert.Recorded(s.Unit, s.Unit.Translate(request), FaultReason.SSS2_EntryNotPresent, request);
        Assert.Equal(new Gpa(DataGpa + 0x10), fault.Gpa);
        FaultAssert.Explains(fault, $"GPA 0x{DataGpa + 0x10:x} is not mapped: the second-stage L{fault.Level} entry at 0x{fault.EntryAddress?.Value:x} is not present (R=W=0)");
    }

    [Fact]
    [FaultCoverage(FaultReason.SGN5_AddressBeyondGuestWidth)]
    public void FinalGpaBeyondTheSecondStageWidthFaultsSgn5()
    {
        var s = Nested(FaultProfiles.With39BitSecondStage, ssLevels: 3, dataGpa: 1UL << 40, mapData: false);
        var request = s.Bench.Read(Gva);

        DmaFault fault = FaultAssert.Recorded(s.Unit, s.Unit.Translate(request), FaultReason.SGN5_AddressBeyondGuestWidth, request);
        Assert.Equal("GPA 0x10000000000 is beyond the second stage's input limit 0x7fffffffff", fault.Explanation);
    }

    [Fact]
    [FaultCoverage(FaultReason.SGN6_WriteDenied)]
    public void WriteToAPageTheSecondStageMapsReadOnlyFaultsSgn6WithoutSettingDirty()
    {
        var s = Nested();
        s.Remap(DataGpa, read: true, write: false);
        var request = s.Bench.Write(Gva);

        var result = s.Unit.DmaWrite(request, new byte[] { 1 });

        DmaFault fault = FaultAssert.Recorded(s.Unit, result, FaultReason.SGN6_WriteDenied, request);
        FaultAssert.Explains(fault, $"write to 0x{DataGpa:x}, which the second stage maps read-only");
        Assert.Equal(0UL, s.Bench.Memory.Read64(NestedBench.GuestToHost(DataGpa)));
        Assert.False(new FirstStageEntry(s.Bench.Memory.Read64(s.Fs.EntryHpa(new Iova(Gva), 1))).Dirty); // decisions D3
    }

    [Fact]
    [FaultCoverage(FaultReason.SGN7_ReadDenied)]
    public void ReadOfAPageTheSecondStageMapsWriteOnlyFaultsSgn7()
    {
        var s = Nested();
        s.Remap(DataGpa, read: false, write: true);
        var request = s.Bench.Read(Gva);

        FaultAssert.Recorded(s.Unit, s.Unit.Translate(request), FaultReason.SGN7_ReadDenied, request);
    }

    [Fact]
    [FaultCoverage(FaultReason.SGN8_InterruptAddress)]
    public void FinalGpaTranslatingIntoTheInterruptRangeFaultsSgn8()
    {
        var s = Nested(mapData: false);
        s.Bench.SecondStage.Map(new Gpa(DataGpa), new Hpa(0xFEE0_0000));
        var request = s.Bench.Write(Gva);

        DmaFault fault = FaultAssert.Recorded(s.Unit, s.Unit.Translate(request), FaultReason.SGN8_InterruptAddress, request);
        FaultAssert.Explains(fault, $"GPA 0x{DataGpa:x} translates to 0xfee00000, inside the interrupt range 0xFEE00000-0xFEEFFFFF");
    }
}
