using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Structures;
using P = VtdSim.Hardware.Structures.PasidGranularTranslationType;

namespace VtdSim.Hardware.Tests.Structures;

/// <summary>
/// Scalable-mode PASID table entry (vtd-facts 2.5). Q0: P 0, FPD 1, AW 4:2, SSEE 5, PGTT 8:6, SSADE 9, SSPTPTR 63:12.
/// Q1: DID 15:0 (bits 79:64), PWSNP 23 (87), PGSNP 24 (88). Q2: SRE 0 (128), ERE 1, FSPM 3:2, WPE 4, EAFE 7,
/// FSPTPTR 63:12 (191:140).
/// </summary>
public class PasidEntryTests
{
    private static PasidEntry Make(ulong[] w) => new(w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]);

    [Fact]
    public void FlagsReadTheirSpecBits()
    {
        BitLayout.Flag(Make, 8, 0, 0, e => e.Present, "P");
        BitLayout.Flag(Make, 8, 0, 1, e => e.FaultProcessingDisable, "FPD");
        BitLayout.Flag(Make, 8, 0, 5, e => e.SecondStageExecuteEnable, "SSEE");
        BitLayout.Flag(Make, 8, 0, 9, e => e.SecondStageAccessedDirtyEnable, "SSADE");
        BitLayout.Flag(Make, 8, 1, 23, e => e.PageWalkSnoop, "PWSNP");
        BitLayout.Flag(Make, 8, 1, 24, e => e.PageSnoop, "PGSNP");
        BitLayout.Flag(Make, 8, 2, 0, e => e.SupervisorRequestEnable, "SRE");
        BitLayout.Flag(Make, 8, 2, 1, e => e.ExecuteRequestEnable, "ERE");
        BitLayout.Flag(Make, 8, 2, 4, e => e.WriteProtectEnable, "WPE");
        BitLayout.Flag(Make, 8, 2, 7, e => e.ExtendedAccessedFlagEnable, "EAFE");
    }

    [Fact]
    public void FieldsReadTheirSpecBits()
    {
        Assert.Equal(5, new PasidEntry(0b101UL << 2, 0, 0).AddressWidth);
        Assert.Equal(0, new PasidEntry(~(0b111UL << 2), ulong.MaxValue, ulong.MaxValue).AddressWidth);
        Assert.Equal(P.Nested, new PasidEntry(0b011UL << 6, 0, 0).Pgtt);
        Assert.Equal(P.PassThrough, new PasidEntry(0b100UL << 6, 0, 0).Pgtt);
        Assert.Equal(P.Reserved0, new PasidEntry(~(0b111UL << 6), ulong.MaxValue, ulong.MaxValue).Pgtt);
        Assert.Equal(new Hpa(0x000F_0000_1234_5000), new PasidEntry(0x000F_0000_1234_5FFF, 0, 0).SecondStagePageTablePointer);
        Assert.Equal((ushort)0xCAFE, new PasidEntry(0, 0xCAFE, 0).DomainId);
        Assert.Equal((ushort)0, new PasidEntry(ulong.MaxValue, ~0xFFFFUL, ulong.MaxValue).DomainId);
        Assert.Equal(2, new PasidEntry(0, 0, 0b10UL << 2).FirstStagePagingMode);
        Assert.Equal(0, new PasidEntry(ulong.MaxValue, ulong.MaxValue, ~(0b11UL << 2)).FirstStagePagingMode);
        Assert.Equal(0x000A_BCDE_F000_1000UL, new PasidEntry(0, 0, 0x000A_BCDE_F000_1FFF).FirstStagePageTablePointer);
    }

    [Fact]
    public void FirstStageFactoryPutsPgttAt8To6DidInQ1AndFsptptrInQ2()
    {
        var e = PasidEntry.FirstStage(0x1234_5000, domainId: 0x77, fiveLevel: true);
        Assert.Equal(0b001UL << 6 | 1, e.Q0);                    // PGTT=001 and P, nothing else (no SS fields)
        Assert.Equal(0x77UL | 1UL << 23, e.Q1);                  // DID 79:64, PWSNP bit 87
        Assert.Equal(0x1234_5000UL | 0b01UL << 2, e.Q2);         // FSPTPTR 191:140, FSPM=01 (5-level)
        Assert.Equal(0UL, e.Q3 | e.Q4 | e.Q5 | e.Q6 | e.Q7);
    }

    [Fact]
    public void SecondStageFactoryPutsSsptptrAndAwInQ0()
    {
        var e = PasidEntry.SecondStage(new Hpa(0x9_8000), addressWidth: 2, domainId: 0x1FF);
        Assert.Equal(0x9_8000UL | 0b010UL << 6 | 2UL << 2 | 1, e.Q0);
        Assert.Equal(0x1FFUL | 1UL << 23, e.Q1);
        Assert.Equal(0UL, e.Q2);
    }

    [Fact]
    public void NestedFactoryHasBothPointersAndPgtt011()
    {
        var e = PasidEntry.NestedEntry(0x10_0000, new Hpa(0x9_8000), addressWidth: 3, domainId: 5);
        Assert.Equal(0x9_8000UL | 0b011UL << 6 | 3UL << 2 | 1, e.Q0);
        Assert.Equal(5UL | 1UL << 23, e.Q1);
        Assert.Equal(0x10_0000UL, e.Q2); // FSPM=00 (4-level)
    }

    [Fact]
    public void PassThroughFactoryHasOnlyPgttDidAndPresent()
    {
        var e = PasidEntry.PassThroughEntry(0xABCD);
        Assert.Equal(0b100UL << 6 | 1, e.Q0);
        Assert.Equal(0xABCDUL, e.Q1);
        Assert.Equal(0UL, e.Q2);
    }

    [Fact]
    public void WithMethodsRoundTripAndTouchOnlyTheirField()
    {
        var e = PasidEntry.NestedEntry(0x10_0000, new Hpa(0x9_8000), 2, 5);
        (Func<PasidEntry, bool, PasidEntry> with, Func<PasidEntry, bool> get)[] flags =
        [
            ((x, on) => x.WithPresent(on), x => x.Present),
            ((x, on) => x.WithFaultProcessingDisable(on), x => x.FaultProcessingDisable),
            ((x, on) => x.WithSecondStageExecuteEnable(on), x => x.SecondStageExecuteEnable),
            ((x, on) => x.WithSecondStageAccessedDirtyEnable(on), x => x.SecondStageAccessedDirtyEnable),
            ((x, on) => x.WithPageWalkSnoop(on), x => x.PageWalkSnoop),
            ((x, on) => x.WithPageSnoop(on), x => x.PageSnoop),
            ((x, on) => x.WithSupervisorRequestEnable(on), x => x.SupervisorRequestEnable),
            ((x, on) => x.WithExecuteRequestEnable(on), x => x.ExecuteRequestEnable),
            ((x, on) => x.WithWriteProtectEnable(on), x => x.WriteProtectEnable),
            ((x, on) => x.WithExtendedAccessedFlagEnable(on), x => x.ExtendedAccessedFlagEnable),
        ];
        foreach (var (with, get) in flags)
        {
            bool before = get(e);
            var flipped = with(e, !before);
            Assert.Equal(!before, get(flipped));
            Assert.Equal(1, BitDifference(e, flipped));
            Assert.Equal(e, with(flipped, before));
        }

        Assert.Equal(3, e.WithAddressWidth(3).AddressWidth);
        Assert.Equal(e, e.WithAddressWidth(3).WithAddressWidth(2));
        foreach (P pgtt in Enum.GetValues<P>()) Assert.Equal(pgtt, e.WithPgtt(pgtt).Pgtt);
        Assert.Equal(e, e.WithPgtt(P.PassThrough).WithPgtt(P.Nested));
        Assert.Equal((ushort)0xFFFF, e.WithDomainId(0xFFFF).DomainId);
        Assert.Equal(e, e.WithDomainId(0xFFFF).WithDomainId(5));
        Assert.Equal(1, e.WithFirstStagePagingMode(1).FirstStagePagingMode);
        Assert.Equal(e, e.WithFirstStagePagingMode(1).WithFirstStagePagingMode(0));
        Assert.Equal(new Hpa(0x7_7000), e.WithSecondStagePointer(new Hpa(0x7_7000)).SecondStagePageTablePointer);
        Assert.Equal(e.Q0 & 0xFFF, e.WithSecondStagePointer(new Hpa(0x7_7000)).Q0 & 0xFFF); // keeps the low control bits
        Assert.Equal(0x7_7000UL, e.WithFirstStagePointer(0x7_7000).FirstStagePageTablePointer);
        Assert.Equal(e.Q2 & 0xFFF, e.WithFirstStagePointer(0x7_7000).Q2 & 0xFFF);
    }

    private static int BitDifference(PasidEntry a, PasidEntry b) =>
        System.Numerics.BitOperations.PopCount(a.Q0 ^ b.Q0) + System.Numerics.BitOperations.PopCount(a.Q1 ^ b.Q1) +
        System.Numerics.BitOperations.PopCount(a.Q2 ^ b.Q2);

    [Fact]
    public void MisalignedOrTooWidePointersAreRefusedNamingTheField()
    {
        var e = PasidEntry.PassThroughEntry(1);
        Assert.Contains("SSPTPTR", Assert.Throws<ArgumentException>(() => e.WithSecondStagePointer(new Hpa(0x1234))).Message);
        Assert.Contains("FSPTPTR", Assert.Throws<ArgumentException>(() => e.WithFirstStagePointer(0x1008)).Message);
        Assert.Contains("FSPTPTR", Assert.Throws<ArgumentException>(() => PasidEntry.FirstStage(0x10, 1)).Message);
        // FSPTPTR is the whole of Q2 63:12 (a nested entry's GPA may be that wide, decisions D33).
        Assert.Equal(0xFFFF_FFFF_FFFF_F000UL, e.WithFirstStagePointer(0xFFFF_FFFF_FFFF_F000).FirstStagePageTablePointer);
        Assert.Equal(1UL << 52, e.WithFirstStagePointer(1UL << 52).FirstStagePageTablePointer);
    }

    [Theory]
    [InlineData("AW", "4:2")]
    [InlineData("PGTT", "8:6")]
    [InlineData("FSPM", "3:2")]
    public void FieldValuesThatDoNotFitAreRefusedNamingTheField(string field, string bits)
    {
        var e = PasidEntry.PassThroughEntry(1);
        Action set = field switch
        {
            "AW" => () => e.WithAddressWidth(8),
            "PGTT" => () => e.WithPgtt((P)8),
            _ => () => e.WithFirstStagePagingMode(4),
        };
        var ex = Assert.ThrowsAny<ArgumentException>(set);
        Assert.Contains(field, ex.Message);
        Assert.Contains(bits, ex.Message);
        Assert.ThrowsAny<ArgumentException>(() => e.WithAddressWidth(-1));
    }

    [Fact]
    public void ReservedBitsFollowTheLayout()
    {
        const int haw = 46;
        var good = PasidEntry.NestedEntry(0xFFFF_FFFF_FFFF_F000, new Hpa((1UL << haw) - 0x1000), 3, 0xFFFF, fiveLevelFirstStage: true)
            .WithFaultProcessingDisable(true).WithSecondStageExecuteEnable(true).WithSecondStageAccessedDirtyEnable(true)
            .WithPageSnoop(true).WithSupervisorRequestEnable(true).WithExecuteRequestEnable(true).WithWriteProtectEnable(true)
            .WithExtendedAccessedFlagEnable(true);
        // Nested: FSPTPTR is a GPA in all of 63:12, so none of its bits is reserved (decisions D33).
        Assert.False(good.ReservedBitsSet(haw, memoryTypeSupport: false));
        Assert.True(good.WithPgtt(P.FirstStageOnly).ReservedBitsSet(haw, memoryTypeSupport: false)); // an HPA above HAW
        var firstStageOnly = good.WithPgtt(P.FirstStageOnly).WithFirstStagePointer((1UL << haw) - 0x1000);
        Assert.False(firstStageOnly.ReservedBitsSet(haw, memoryTypeSupport: false));
        for (int bit = haw; bit <= 63; bit++)
            Assert.True((firstStageOnly with { Q2 = firstStageOnly.Q2 | 1UL << bit }).ReservedBitsSet(haw, false), $"FS-only FSPTPTR bit {bit} should be reserved");

        void Reserved(int word, int bit, bool mts = false)
        {
            var q = new[] { good.Q0, good.Q1, good.Q2, good.Q3, good.Q4, good.Q5, good.Q6, good.Q7 };
            q[word] |= 1UL << bit;
            Assert.True(Make(q).ReservedBitsSet(haw, mts), $"Q{word} bit {bit} should be reserved");
        }
        Reserved(0, 10); Reserved(0, 11);
        for (int bit = haw; bit <= 63; bit++) Reserved(0, bit);
        for (int bit = 16; bit <= 22; bit++) Reserved(1, bit);
        for (int bit = 25; bit <= 63; bit++) Reserved(1, bit);           // memory-type fields without ECAP.MTS
        Reserved(2, 5); Reserved(2, 6);                                    // rev 3.0 NXE/SMEP
        for (int bit = 8; bit <= 11; bit++) Reserved(2, bit);
        for (int word = 3; word <= 7; word++) { Reserved(word, 0); Reserved(word, 63); }

        var withMts = good with { Q1 = good.Q1 | BitLayout.Mask(63, 25) };
        Assert.False(withMts.ReservedBitsSet(haw, memoryTypeSupport: true));
    }
}

/// <summary>PASID directory entry (vtd-facts 2.4): P 0, FPD 1, reserved 11:2, SMPTBLPTR 63:12.</summary>
public class PasidDirectoryEntryTests
{
    private static PasidDirectoryEntry Make(ulong[] w) => new(w[0]);

    [Fact]
    public void FieldsReadTheirSpecBits()
    {
        BitLayout.Flag(Make, 1, 0, 0, e => e.Present, "P");
        BitLayout.Flag(Make, 1, 0, 1, e => e.FaultProcessingDisable, "FPD");
        Assert.Equal(new Hpa(0x0000_1234_5678_9000), new PasidDirectoryEntry(0x0000_1234_5678_9FFF).PasidTablePointer);
    }

    [Fact]
    public void CreateAndWithMethodsProduceTheSpecLayout()
    {
        var e = PasidDirectoryEntry.Create(new Hpa(0x3_4000));
        Assert.Equal(0x3_4001UL, e.Raw);
        Assert.Equal(0x3_4003UL, e.WithFaultProcessingDisable(true).Raw);
        Assert.Equal(0x3_4000UL, e.WithPresent(false).Raw);
        Assert.Equal(e, e.WithPresent(false).WithPresent(true));
    }

    [Fact]
    public void MisalignedPasidTableIsRefusedNamingTheField() =>
        Assert.Contains("PASID table", Assert.Throws<ArgumentException>(() => PasidDirectoryEntry.Create(new Hpa(0x3_4040))).Message);

    [Fact]
    public void ReservedBitsAre11To2AndPointerBitsAtOrAboveHaw()
    {
        const int haw = 39;
        var good = PasidDirectoryEntry.Create(new Hpa((1UL << haw) - 0x1000)).WithFaultProcessingDisable(true);
        Assert.False(good.ReservedBitsSet(haw));
        for (int bit = 2; bit <= 11; bit++) Assert.True(new PasidDirectoryEntry(good.Raw | 1UL << bit).ReservedBitsSet(haw), $"bit {bit}");
        for (int bit = haw; bit <= 63; bit++) Assert.True(new PasidDirectoryEntry(good.Raw | 1UL << bit).ReservedBitsSet(haw), $"bit {bit}");
    }
}
