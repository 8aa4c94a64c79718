using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Structures;

namespace VtdSim.Hardware.Tests.Structures;

/// <summary>Root entry (vtd-facts 2.1): legacy P 0, CTP 63:12, high half reserved; scalable LP 0/LCTP 63:12 low, UP 64/UCTP 127:76 high.</summary>
public class RootEntryTests
{
    private static RootEntry Make(ulong[] w) => new(w[0], w[1]);

    [Fact]
    public void PresentBitsAreBitZeroOfEachHalf()
    {
        BitLayout.Flag(Make, 2, 0, 0, e => e.Present, "P");
        BitLayout.Flag(Make, 2, 0, 0, e => e.LowerPresent, "LP");
        BitLayout.Flag(Make, 2, 1, 0, e => e.UpperPresent, "UP");
    }

    [Fact]
    public void ContextTablePointersAreBits63To12OfEachHalf()
    {
        var e = new RootEntry(0xFFFF_FFFF_FFFF_FFFF, 0xABCD_0000_1234_5FFF);
        Assert.Equal(new Hpa(0xFFFF_FFFF_FFFF_F000), e.ContextTablePointer);
        Assert.Equal(e.ContextTablePointer, e.LowerContextTablePointer);
        Assert.Equal(new Hpa(0xABCD_0000_1234_5000), e.UpperContextTablePointer);
    }

    [Fact]
    public void LegacyFactoryPutsThePointerAndPresentInTheLowHalfOnly()
    {
        var e = RootEntry.Legacy(new Hpa(0x12_3456_7000));
        Assert.Equal(0x12_3456_7001UL, e.Low);
        Assert.Equal(0UL, e.High);
        Assert.True(e.Present);
    }

    [Fact]
    public void WithLowerAndWithUpperSetOneHalfEachAndKeepTheOther()
    {
        var e = new RootEntry(0, 0).WithLower(new Hpa(0x1000)).WithUpper(new Hpa(0x2000));
        Assert.Equal(0x1001UL, e.Low);
        Assert.Equal(0x2001UL, e.High);
        e = e.WithLower(new Hpa(0x5000));
        Assert.Equal(0x5001UL, e.Low);
        Assert.Equal(0x2001UL, e.High);
    }

    [Theory]
    [InlineData(0x1234UL)]
    [InlineData(0x1008UL)]
    public void MisalignedContextTablesAreRefusedNamingTheField(ulong address)
    {
        var legacy = Assert.Throws<ArgumentException>(() => RootEntry.Legacy(new Hpa(address)));
        Assert.Contains("context table", legacy.Message);
        Assert.Contains("4 KiB aligned", legacy.Message);
        Assert.Contains("lower context table", Assert.Throws<ArgumentException>(() => new RootEntry(0, 0).WithLower(new Hpa(address))).Message);
        Assert.Contains("upper context table", Assert.Throws<ArgumentException>(() => new RootEntry(0, 0).WithUpper(new Hpa(address))).Message);
    }

    [Fact]
    public void PointersBeyond52BitsAreRefused()
    {
        var e = Assert.Throws<ArgumentException>(() => RootEntry.Legacy(new Hpa(1UL << 52)));
        Assert.Contains("context table", e.Message);
        Assert.Contains("52 bits", e.Message);
    }

    [Fact]
    public void LegacyReservedBitsAre11To1AddressBitsAtOrAboveHawAnd63To52AndTheWholeHighHalf()
    {
        const int haw = 46;
        Assert.False(RootEntry.Legacy(new Hpa((1UL << haw) - 0x1000)).LegacyReservedBitsSet(haw));
        for (int bit = 1; bit <= 11; bit++) Assert.True(new RootEntry(1 | 1UL << bit, 0).LegacyReservedBitsSet(haw), $"bit {bit}");
        for (int bit = haw; bit <= 63; bit++) Assert.True(new RootEntry(1 | 1UL << bit, 0).LegacyReservedBitsSet(haw), $"bit {bit}");
        for (int bit = 12; bit < haw; bit++) Assert.False(new RootEntry(1 | 1UL << bit, 0).LegacyReservedBitsSet(haw), $"bit {bit}");
        Assert.True(new RootEntry(1, 1).LegacyReservedBitsSet(haw));
        Assert.True(new RootEntry(1, 1UL << 63).LegacyReservedBitsSet(haw));
    }

    [Fact]
    public void ScalableReservedBitsAreCheckedInTheSelectedHalfOnly()
    {
        const int haw = 46;
        var lowBad = new RootEntry(1 | 1UL << 5, 0x1001);
        Assert.True(lowBad.ScalableReservedBitsSet(upper: false, haw));
        Assert.False(lowBad.ScalableReservedBitsSet(upper: true, haw));
        var highBad = new RootEntry(0x1001, 1 | 1UL << 50);
        Assert.False(highBad.ScalableReservedBitsSet(upper: false, haw));
        Assert.True(highBad.ScalableReservedBitsSet(upper: true, haw));
        Assert.False(new RootEntry(0x1001, 1UL << 45 | 1).ScalableReservedBitsSet(upper: true, haw));
    }
}
