using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Building;
using VtdSim.Hardware.Faults;
using VtdSim.Hardware.Invalidation;
using VtdSim.Hardware.Structures;
using VtdSim.Hardware.Tests.Support;
using VtdSim.Hardware.Tracing;
using VtdSim.Hardware.Translation;

namespace VtdSim.Hardware.Tests.Caches;

/// <summary>
/// An IOTLB hit must answer every request exactly as the walk would (issue 8, items 4 and 5): the entry holds what
/// the walk found about the page (its U/S, R/W, XD and second-stage rights), not what one request was allowed, and each
/// request's privilege, access and address checks are made again on a hit — through the IOTLB lookup and through the
/// memo in front of it. Each request below is sent twice without a trace (the second answered by the IOTLB or the memo)
/// and once with a trace (which bypasses the memo and looks the IOTLB up); all three must agree.
/// </summary>
public class IotlbHitCheckTests
{
    private const ulong Gva = 0x40_0000, DataGpa = 0x80_0000, Page = 0x2_0000_0000;
    private const uint Pasid = 1;

    private sealed record Setup(NestedBench Bench, FirstStageTableBuilder Fs)
    {
        public VtdUnit Unit => Bench.Unit;
        public Hpa Leaf => Fs.EntryHpa(new Iova(Gva), 1);
    }

    /// <summary>A PASID-1 first-stage page with R/W=0 and U/S=1, nested or first-stage only, SRE=1, caches on.</summary>
    private static Setup ReadOnlyUserPage(bool nested, bool writeProtect = false)
    {
        var bench = new NestedBench(cached: true);
        FirstStageTableBuilder fs;
        PasidEntry entry;
        if (nested)
        {
            fs = bench.NewGuestFirstStage();
            fs.Map(new Iova(Gva), DataGpa, writable: false);
            bench.SecondStage.Map(new Gpa(DataGpa), NestedBench.GuestToHost(DataGpa));
            entry = PasidEntry.NestedEntry(fs.Root, bench.SecondStage.Root, bench.SecondStage.AddressWidth, 4);
        }
        else
        {
            fs = FirstStageTableBuilder.InHostMemory(bench.HostFrames);
            fs.Map(new Iova(Gva), Page, writable: false);
            entry = PasidEntry.FirstStage(fs.Root, 4);
        }
        bench.Tables.SetPasidEntry(NestedBench.Device, Pasid, entry.WithSupervisorRequestEnable(true).WithWriteProtectEnable(writeProtect));
        return new Setup(bench, fs);
    }

    private static DmaRequest Request(DmaAccess access, bool privileged, ulong address = Gva) =>
        new(NestedBench.Device, new Iova(address), access, Pasid, Privileged: privileged);

    /// <summary>Sends the request twice and once with a trace; all three agree. Returns the second answer.</summary>
    private static TranslationResult Send(VtdUnit unit, DmaRequest request)
    {
        TranslationResult first = unit.Translate(request);
        TranslationResult again = unit.Translate(request);
        TranslationResult traced = unit.Translate(request, new WalkTrace());
        Assert.Equal(first.Fault?.Reason, again.Fault?.Reason);
        Assert.Equal(first.Fault?.Reason, traced.Fault?.Reason);
        Assert.Equal(first.Rights, again.Rights);
        Assert.Equal(first.Rights, traced.Rights);
        Assert.Equal(first.Address, traced.Address);
        return again;
    }

    // ---- item 4: privilege ----

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void AUserWriteIsRefusedAfterAPrivilegedWriteCachedTheReadOnlyPage(bool nested)
    {
        var s = ReadOnlyUserPage(nested);
        TranslationResult privileged = Send(s.Unit, Request(DmaAccess.Write, privileged: true));
        Assert.True(privileged.Success, privileged.Fault?.Explanation); // WPE=0: a supervisor write ignores R/W=0
        Assert.True((privileged.Rights & AccessRights.Write) != 0);

        TranslationResult user = Send(s.Unit, Request(DmaAccess.Write, privileged: false));

        Assert.Equal(FaultReason.SGN6_WriteDenied, user.Fault?.Reason);
        TranslationResult read = Send(s.Unit, Request(DmaAccess.Read, privileged: false));
        Assert.True(read.Success); // the page stays readable by users, without the supervisor's write right
        Assert.Equal(AccessRights.Read | AccessRights.Execute | AccessRights.User, read.Rights);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void APrivilegedWriteIsAllowedAfterAUserReadCachedThePage(bool nested)
    {
        var s = ReadOnlyUserPage(nested);
        Assert.True(Send(s.Unit, Request(DmaAccess.Read, privileged: false)).Success);

        TranslationResult privileged = Send(s.Unit, Request(DmaAccess.Write, privileged: true));

        Assert.True(privileged.Success, privileged.Fault?.Explanation);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void WithWpeAPrivilegedWriteToAReadOnlyPageFaultsAfterAPrivilegedReadCachedIt(bool nested)
    {
        var s = ReadOnlyUserPage(nested, writeProtect: true);
        Assert.True(Send(s.Unit, Request(DmaAccess.Read, privileged: true)).Success);

        Assert.Equal(FaultReason.SGN6_WriteDenied, Send(s.Unit, Request(DmaAccess.Write, privileged: true)).Fault?.Reason);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void AUserRequestToASupervisorPageFaultsAfterAPrivilegedRequestCachedIt(bool nested)
    {
        var s = ReadOnlyUserPage(nested);
        s.Bench.Memory.Write64(s.Leaf, s.Bench.Memory.Read64(s.Leaf) & ~FirstStageEntry.UserBit); // before any walk: no flush needed
        Assert.True(Send(s.Unit, Request(DmaAccess.Read, privileged: true)).Success);

        Assert.Equal(FaultReason.SGN2_UserAccessToSupervisorPage, Send(s.Unit, Request(DmaAccess.Read, privileged: false)).Fault?.Reason);
    }

    // ---- item 5: the checks on the address ----

    private const ulong InterruptBase = 0xFEE0_0000;

    /// <summary>
    /// A large page whose output covers the interrupt range, cached by a request outside the range: a later request whose
    /// output lies inside it faults (D8) on a hit as on a walk, at both ends of the range.
    /// </summary>
    [Theory]
    [InlineData("first-stage", 2UL << 20)]
    [InlineData("first-stage", 1UL << 30)]
    [InlineData("second-stage", 2UL << 20)]
    [InlineData("nested", 2UL << 20)]
    [InlineData("legacy", 2UL << 20)]
    public void AHitWhoseOutputFallsInTheInterruptRangeFaults(string mode, ulong pageSize)
    {
        ulong frame = InterruptBase & ~(pageSize - 1), input = 0x4000_0000; // both aligned to the page size
        ulong outside = InterruptBase + 0x10_0000 - frame; // the first address after the range
        VtdUnit unit;
        Func<ulong, DmaRequest> request;
        FaultReason expected = FaultReason.SGN8_InterruptAddress;
        switch (mode)
        {
            case "legacy":
            {
                var bench = new LegacyBench(cached: true);
                bench.SetContext(bench.DefaultContext());
                bench.SecondLevel.Map(new Gpa(input), new Hpa(frame), pageSize);
                unit = bench.Unit;
                request = a => LegacyBench.Read(a);
                expected = FaultReason.LGN4_InterruptAddress;
                break;
            }
            case "second-stage":
            {
                var bench = new CacheBench();
                bench.SecondStageDomain(5).Map(new Gpa(input), new Hpa(frame), pageSize);
                unit = bench.Unit;
                request = a => new DmaRequest(CacheBench.Device, new Iova(a), DmaAccess.Read);
                break;
            }
            case "nested":
            {
                var bench = new NestedBench(cached: true);
                var fs = bench.NewGuestFirstStage();
                fs.Map(new Iova(input), DataGpa & ~(pageSize - 1), pageSize);
                bench.SecondStage.Map(new Gpa(DataGpa & ~(pageSize - 1)), new Hpa(frame), pageSize);
                bench.Tables.SetPasidEntry(NestedBench.Device, Pasid, PasidEntry.NestedEntry(fs.Root, bench.SecondStage.Root, bench.SecondStage.AddressWidth, 4));
                unit = bench.Unit;
                request = a => new DmaRequest(NestedBench.Device, new Iova(a), DmaAccess.Read, Pasid);
                break;
            }
            default:
            {
                var bench = new CacheBench();
                bench.FirstStageDomain(7, Pasid).Map(new Iova(input), frame, pageSize);
                unit = bench.Unit;
                request = a => new DmaRequest(CacheBench.Device, new Iova(a), DmaAccess.Read, Pasid);
                break;
            }
        }
        Assert.True(Send(unit, request(input + outside)).Success); // fills the IOTLB with the whole page

        Assert.Equal(expected, Send(unit, request(input + InterruptBase - frame)).Fault?.Reason);
        Assert.Equal(expected, Send(unit, request(input + InterruptBase - frame + 0xF_FFFF)).Fault?.Reason);
        Assert.True(Send(unit, request(input + outside + 0x123)).Success);
    }

    /// <summary>
    /// A first-stage input must be canonical for the paging mode the PASID entry has now: an entry cached under 5-level
    /// paging does not answer, under 4-level paging, an address that is not canonical there (SGN.1), even when software
    /// flushed only the PASID cache.
    /// </summary>
    [Fact]
    public void AHitIsNotGivenToAnInputThatIsNotCanonicalForTheCurrentPagingMode()
    {
        const ulong high = 0x0000_8000_0000_0000; // canonical for 57 bits, not for 48
        var bench = new CacheBench();
        var fs = FirstStageTableBuilder.InHostMemory(bench.Frames, levels: 5);
        fs.Map(new Iova(high), Page);
        bench.Tables.SetPasidEntry(CacheBench.Device, Pasid, PasidEntry.FirstStage(fs.Root, 7, fiveLevel: true));
        var request = new DmaRequest(CacheBench.Device, new Iova(high), DmaAccess.Read, Pasid);
        Assert.True(Send(bench.Unit, request).Success);

        bench.Tables.SetPasidEntry(CacheBench.Device, Pasid, PasidEntry.FirstStage(fs.Root, 7, fiveLevel: false));
        bench.Submit(InvalidationDescriptor.PasidCachePasid(7, Pasid));

        Assert.Equal(FaultReason.SGN1_NonCanonical, Send(bench.Unit, request).Fault?.Reason);
    }

    /// <summary>A second-stage input must be within the width the PASID entry gives now (SGN.5), on a hit too.</summary>
    [Fact]
    public void AHitIsNotGivenToAnInputBeyondTheCurrentSecondStageWidth()
    {
        const ulong high = 1UL << 50; // within a 5-level (57-bit) second stage, beyond a 4-level (48-bit) one
        var bench = new CacheBench();
        var ss = bench.SecondStageDomain(5, levels: 5);
        ss.Map(new Gpa(high), new Hpa(Page));
        var request = new DmaRequest(CacheBench.Device, new Iova(high), DmaAccess.Read);
        Assert.True(Send(bench.Unit, request).Success);

        bench.Tables.SetPasidEntry(CacheBench.Device, 0, PasidEntry.SecondStage(ss.Root, 2, 5)); // AW: 4-level
        bench.Submit(InvalidationDescriptor.PasidCachePasid(5, 0));

        Assert.Equal(FaultReason.SGN5_AddressBeyondGuestWidth, Send(bench.Unit, request).Fault?.Reason);
    }
}
