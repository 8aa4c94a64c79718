using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Structures;

namespace VtdSim.Hardware.Tests.Structures;

/// <summary>Legacy context entry (vtd-facts 2.2): P 0, FPD 1, TT 3:2, SLPTPTR 63:12; AW 66:64, DID 87:72.</summary>
public class LegacyContextEntryTests
{
    private static LegacyContextEntry Make(ulong[] w) => new(w[0], w[1]);

    [Fact]
    public void FlagsReadTheirSpecBits()
    {
        BitLayout.Flag(Make, 2, 0, 0, e => e.Present, "P");
        BitLayout.Flag(Make, 2, 0, 1, e => e.FaultProcessingDisable, "FPD");
    }

    [Fact]
    public void FieldsReadTheirSpecBits()
    {
        Assert.Equal(TranslationType.PassThrough, new LegacyContextEntry(0b10 << 2, 0).TranslationType);
        Assert.Equal(TranslationType.Reserved, new LegacyContextEntry(0b11 << 2, 0).TranslationType);
        Assert.Equal(TranslationType.UntranslatedOnly, new LegacyContextEntry(~(0b11UL << 2), ulong.MaxValue).TranslationType);
        Assert.Equal(new Hpa(0x000A_BCDE_F012_3000), new LegacyContextEntry(0x000A_BCDE_F012_3FFF, 0).SecondLevelPageTablePointer);
        Assert.Equal(5, new LegacyContextEntry(0, 0b101).AddressWidth);           // bits 66:64 = high 2:0
        Assert.Equal(0, new LegacyContextEntry(ulong.MaxValue, ~0b111UL).AddressWidth);
        Assert.Equal((ushort)0xBEEF, new LegacyContextEntry(0, 0xBEEFUL << 8).DomainId); // bits 87:72 = high 23:8
        Assert.Equal((ushort)0, new LegacyContextEntry(ulong.MaxValue, ~(0xFFFFUL << 8)).DomainId);
    }

    [Fact]
    public void CreateProducesTheSpecLayout()
    {
        var e = LegacyContextEntry.Create(new Hpa(0x1234_5000), addressWidth: 2, domainId: 0x42, TranslationType.AllRequests);
        Assert.Equal(0x1234_5000UL | (0b01 << 2) | 1, e.Low);
        Assert.Equal(2UL | (0x42UL << 8), e.High);
    }

    [Fact]
    public void WithMethodsRoundTrip()
    {
        var e = LegacyContextEntry.Create(new Hpa(0x1000), 1, 7);
        Assert.False(e.WithPresent(false).Present);
        Assert.Equal(e, e.WithPresent(false).WithPresent(true));
        Assert.True(e.WithFaultProcessingDisable(true).FaultProcessingDisable);
        Assert.Equal(e, e.WithFaultProcessingDisable(true).WithFaultProcessingDisable(false));
        foreach (TranslationType tt in Enum.GetValues<TranslationType>())
        {
            var changed = e.WithTranslationType(tt);
            Assert.Equal(tt, changed.TranslationType);
            Assert.Equal(e.Low & ~0xCUL, changed.Low & ~0xCUL);
            Assert.Equal(e.High, changed.High);
        }
    }

    [Fact]
    public void MisalignedSecondLevelTableIsRefusedNamingTheField()
    {
        var ex = Assert.Throws<ArgumentException>(() => LegacyContextEntry.Create(new Hpa(0x1800), 2, 1));
        Assert.Contains("second-level table", ex.Message);
    }

    [Fact]
    public void OutOfRangeFieldValuesAreRefusedNamingTheField()
    {
        var aw = Assert.ThrowsAny<ArgumentException>(() => LegacyContextEntry.Create(new Hpa(0x1000), 8, 1));
        Assert.Contains("AW", aw.Message);
        Assert.Contains("2:0", aw.Message); // AW is bits 66:64, i.e. 2:0 of the high word
        Assert.ThrowsAny<ArgumentException>(() => LegacyContextEntry.Create(new Hpa(0x1000), -1, 1));
        var tt = Assert.ThrowsAny<ArgumentException>(() => LegacyContextEntry.Create(new Hpa(0x1000), 2, 1).WithTranslationType((TranslationType)4));
        Assert.Contains("TT", tt.Message);
        Assert.Contains("3:2", tt.Message);
    }

    [Fact]
    public void ReservedBitsAreLow11To4High71And127To88AndAddressBitsAtOrAboveHaw()
    {
        const int haw = 46;
        var good = LegacyContextEntry.Create(new Hpa((1UL << haw) - 0x1000), 3, 0xFFFF, TranslationType.PassThrough).WithFaultProcessingDisable(true);
        Assert.False(good.ReservedBitsSet(haw));
        Assert.False((good with { High = good.High | 0b1111UL << 3 }).ReservedBitsSet(haw)); // 70:67 are ignored
        for (int bit = 4; bit <= 11; bit++) Assert.True((good with { Low = good.Low | 1UL << bit }).ReservedBitsSet(haw), $"low bit {bit}");
        for (int bit = haw; bit <= 63; bit++) Assert.True((good with { Low = good.Low | 1UL << bit }).ReservedBitsSet(haw), $"low bit {bit}");
        Assert.True((good with { High = good.High | 1UL << 7 }).ReservedBitsSet(haw));
        for (int bit = 24; bit <= 63; bit++) Assert.True((good with { High = good.High | 1UL << bit }).ReservedBitsSet(haw), $"high bit {bit}");
    }
}

/// <summary>Scalable-mode context entry (vtd-facts 2.3): P, FPD, DTE, PASIDE, PRE at 0..4, PDTS 11:9, PASIDDIRPTR 63:12; RID_PASID 83:64, RID_PRIV 84.</summary>
public class ScalableContextEntryTests
{
    private static ScalableContextEntry Make(ulong[] w) => new(w[0], w[1], w[2], w[3]);

    [Fact]
    public void FlagsReadTheirSpecBits()
    {
        BitLayout.Flag(Make, 4, 0, 0, e => e.Present, "P");
        BitLayout.Flag(Make, 4, 0, 1, e => e.FaultProcessingDisable, "FPD");
        BitLayout.Flag(Make, 4, 0, 2, e => e.DeviceTlbEnable, "DTE");
        BitLayout.Flag(Make, 4, 0, 3, e => e.PasidEnable, "PASIDE");
        BitLayout.Flag(Make, 4, 0, 4, e => e.PageRequestEnable, "PRE");
        BitLayout.Flag(Make, 4, 1, 20, e => e.RidPrivilege, "RID_PRIV");
    }

    [Fact]
    public void FieldsReadTheirSpecBits()
    {
        Assert.Equal(5, new ScalableContextEntry(5UL << 9, 0, 0, 0).PasidDirectorySize);
        Assert.Equal(0, new ScalableContextEntry(~(7UL << 9), 0, 0, 0).PasidDirectorySize);
        Assert.Equal(new Hpa(0x000F_FFFF_FFFF_F000), new ScalableContextEntry(0x000F_FFFF_FFFF_FFFF, 0, 0, 0).PasidDirectoryPointer);
        Assert.Equal(0xABCDEu, new ScalableContextEntry(0, 0xABCDE, 0, 0).RidPasid);
        Assert.Equal(0u, new ScalableContextEntry(ulong.MaxValue, ~0xF_FFFFUL, 0, 0).RidPasid);
    }

    [Theory]
    [InlineData(0, 0x1FFFu)]     // 2^(0+7) directory entries x 64 PASIDs = 2^13
    [InlineData(7, 0xF_FFFFu)]   // 2^20: the full PASID space
    public void MaxPasidIsTwoToThePdtsPlus13MinusOne(int pdts, uint expected) =>
        Assert.Equal(expected, ScalableContextEntry.Create(new Hpa(0x1000), pdts).MaxPasid);

    [Fact]
    public void CreateProducesTheSpecLayout()
    {
        var e = ScalableContextEntry.Create(new Hpa(0x7_0000), pdts: 3, ridPasid: 0x1_2345);
        Assert.Equal(0x7_0000UL | (3UL << 9) | 1, e.Q0);
        Assert.Equal(0x1_2345UL, e.Q1);
        Assert.Equal(0UL, e.Q2);
        Assert.Equal(0UL, e.Q3);
    }

    [Fact]
    public void WithMethodsRoundTrip()
    {
        var e = ScalableContextEntry.Create(new Hpa(0x7_0000));
        (Func<ScalableContextEntry, bool, ScalableContextEntry> with, Func<ScalableContextEntry, bool> get)[] flags =
        [
            ((x, on) => x.WithPresent(on), x => x.Present),
            ((x, on) => x.WithFaultProcessingDisable(on), x => x.FaultProcessingDisable),
            ((x, on) => x.WithDeviceTlbEnable(on), x => x.DeviceTlbEnable),
            ((x, on) => x.WithPasidEnable(on), x => x.PasidEnable),
            ((x, on) => x.WithPageRequestEnable(on), x => x.PageRequestEnable),
            ((x, on) => x.WithRidPrivilege(on), x => x.RidPrivilege),
        ];
        foreach (var (with, get) in flags)
        {
            bool before = get(e);
            var flipped = with(e, !before);
            Assert.Equal(!before, get(flipped));
            Assert.Equal(e, with(flipped, before));
        }
    }

    [Fact]
    public void MisalignedPasidDirectoryIsRefusedNamingTheField() =>
        Assert.Contains("PASID directory", Assert.Throws<ArgumentException>(() => ScalableContextEntry.Create(new Hpa(0x7_0100))).Message);

    [Fact]
    public void PdtsAndRidPasidThatDoNotFitAreRefusedNamingTheField()
    {
        var pdts = Assert.ThrowsAny<ArgumentException>(() => ScalableContextEntry.Create(new Hpa(0x1000), pdts: 8));
        Assert.Contains("PDTS", pdts.Message);
        Assert.Contains("11:9", pdts.Message);
        var rid = Assert.ThrowsAny<ArgumentException>(() => ScalableContextEntry.Create(new Hpa(0x1000), ridPasid: 1u << 20));
        Assert.Contains("RID_PASID", rid.Message);
        Assert.Contains("19:0", rid.Message);
    }

    [Fact]
    public void ReservedBitsAreQ0Bits8To5Q1Bits63To21Q2Q3AndPointerBitsAtOrAboveHaw()
    {
        const int haw = 46;
        var good = ScalableContextEntry.Create(new Hpa((1UL << haw) - 0x1000), 7, 0xF_FFFF)
            .WithFaultProcessingDisable(true).WithDeviceTlbEnable(true).WithPasidEnable(true).WithPageRequestEnable(true).WithRidPrivilege(true);
        Assert.False(good.ReservedBitsSet(haw));
        for (int bit = 5; bit <= 8; bit++) Assert.True((good with { Q0 = good.Q0 | 1UL << bit }).ReservedBitsSet(haw), $"Q0 bit {bit}");
        for (int bit = haw; bit <= 63; bit++) Assert.True((good with { Q0 = good.Q0 | 1UL << bit }).ReservedBitsSet(haw), $"Q0 bit {bit}");
        for (int bit = 21; bit <= 63; bit++) Assert.True((good with { Q1 = good.Q1 | 1UL << bit }).ReservedBitsSet(haw), $"Q1 bit {bit}");
        Assert.True((good with { Q2 = 1 }).ReservedBitsSet(haw));
        Assert.True((good with { Q3 = 1UL << 63 }).ReservedBitsSet(haw));
    }
}
