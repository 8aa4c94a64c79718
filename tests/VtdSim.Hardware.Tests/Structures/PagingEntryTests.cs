using VtdSim.Hardware.Structures;

namespace VtdSim.Hardware.Tests.Structures;

/// <summary>First-stage entry (vtd-facts 3.1): P 0, R/W 1, U/S 2, PWT 3, PCD 4, A 5, D 6, PS 7, G 8, EA 10, ADDR 51:12, XD 63.</summary>
public class FirstStageEntryTests
{
    private static FirstStageEntry Make(ulong[] w) => new(w[0]);

    [Fact]
    public void FlagsReadTheirSpecBits()
    {
        BitLayout.Flag(Make, 1, 0, 0, e => e.Present, "P");
        BitLayout.Flag(Make, 1, 0, 1, e => e.Writable, "R/W");
        BitLayout.Flag(Make, 1, 0, 2, e => e.User, "U/S");
        BitLayout.Flag(Make, 1, 0, 3, e => e.WriteThrough, "PWT");
        BitLayout.Flag(Make, 1, 0, 4, e => e.CacheDisable, "PCD");
        BitLayout.Flag(Make, 1, 0, 5, e => e.Accessed, "A");
        BitLayout.Flag(Make, 1, 0, 6, e => e.Dirty, "D");
        BitLayout.Flag(Make, 1, 0, 7, e => e.PageSize, "PS");
        BitLayout.Flag(Make, 1, 0, 8, e => e.Global, "G");
        BitLayout.Flag(Make, 1, 0, 10, e => e.ExtendedAccessed, "EA");
        BitLayout.Flag(Make, 1, 0, 63, e => e.ExecuteDisable, "XD");
    }

    [Fact]
    public void AddressIsBits51To12()
    {
        Assert.Equal(0x000F_FFFF_FFFF_F000UL, new FirstStageEntry(ulong.MaxValue).Address);
        Assert.Equal(0x0001_2345_6000UL, new FirstStageEntry(0x0001_2345_6FFF).Address);
    }

    [Fact]
    public void FactoriesProduceTheSpecLayout()
    {
        Assert.Equal(0x5000UL | 0b111, FirstStageEntry.Table(0x5000).Raw);
        Assert.Equal(0x5000UL | 0b001, FirstStageEntry.Table(0x5000, writable: false, user: false).Raw);
        Assert.Equal(0x6000UL | 0b111, FirstStageEntry.Page(0x6000).Raw);                       // a PTE: no PS
        Assert.Equal(0x20_0000UL | 0b1000_0011, FirstStageEntry.Page(0x20_0000, 2, user: false).Raw); // 2 MiB: PS
        Assert.Equal(0x4000_0000UL | 0b1000_0101, FirstStageEntry.Page(0x4000_0000, 3, writable: false).Raw);
    }

    [Fact]
    public void InvalidFactoryInputsAreRefusedNamingTheProblem()
    {
        Assert.Contains("next table", Assert.Throws<ArgumentException>(() => FirstStageEntry.Table(0x5008)).Message);
        Assert.Contains("page frame", Assert.Throws<ArgumentException>(() => FirstStageEntry.Page(1UL << 52)).Message);
        var misaligned = Assert.Throws<ArgumentException>(() => FirstStageEntry.Page(0x1000, level: 2));
        Assert.Equal("frame", misaligned.ParamName);
        Assert.Contains("not aligned", misaligned.Message);
        Assert.Equal("level", Assert.Throws<ArgumentOutOfRangeException>(() => FirstStageEntry.Page(0, level: 4)).ParamName);
        Assert.Equal("level", Assert.Throws<ArgumentOutOfRangeException>(() => FirstStageEntry.Page(0, level: 0)).ParamName);
    }

    [Fact]
    public void WithMethodsRoundTripAndTouchOnlyTheirBit()
    {
        var e = FirstStageEntry.Page(0x6000);
        (Func<FirstStageEntry, bool, FirstStageEntry> with, int bit)[] cases =
        [
            ((x, on) => x.WithPresent(on), 0), ((x, on) => x.WithWritable(on), 1), ((x, on) => x.WithUser(on), 2),
            ((x, on) => x.WithAccessed(on), 5), ((x, on) => x.WithDirty(on), 6), ((x, on) => x.WithExtendedAccessed(on), 10),
            ((x, on) => x.WithExecuteDisable(on), 63),
        ];
        foreach (var (with, bit) in cases)
        {
            Assert.Equal(e.Raw | 1UL << bit, with(e, true).Raw);
            Assert.Equal(e.Raw & ~(1UL << bit), with(e, false).Raw);
            Assert.Equal(e, with(with(e, !((e.Raw >> bit & 1) != 0)), (e.Raw >> bit & 1) != 0));
        }
    }

    [Theory]
    [InlineData(5, false, 46, 0x000F_C000_0000_0080UL)] // PML5E: HAW..51 and PS
    [InlineData(4, false, 46, 0x000F_C000_0000_0080UL)] // PML4E: the same
    [InlineData(3, false, 46, 0x000F_C000_0000_0000UL)] // non-leaf PDPE: HAW..51 only
    [InlineData(2, false, 46, 0x000F_C000_0000_0000UL)]
    [InlineData(1, true, 46, 0x000F_C000_0000_0000UL)]  // PTE: bit 7 is PAT, not reserved
    [InlineData(2, true, 46, 0x000F_C000_001F_E000UL)]  // 2 MiB: and 20:13 (bit 12 is PAT)
    [InlineData(3, true, 46, 0x000F_C000_3FFF_E000UL)]  // 1 GiB: and 29:13
    [InlineData(1, true, 39, 0x000F_FF80_0000_0000UL)]
    [InlineData(1, true, 52, 0UL)]                      // HAW 52: no address bit is reserved
    public void ReservedMaskFollowsTheLevelAndHaw(int level, bool leaf, int haw, ulong expected) =>
        Assert.Equal(expected, FirstStageEntry.ReservedMask(level, leaf, haw));

    [Fact]
    public void Bits62To52AreNeverReserved()
    {
        for (int level = 1; level <= 5; level++)
            foreach (bool leaf in new[] { true, false })
                Assert.Equal(0UL, FirstStageEntry.ReservedMask(level, leaf, 46) & BitLayout.Mask(63, 52));
    }
}

/// <summary>Second-stage entry (vtd-facts 3.2): R 0, W 1, X 2, EMT 5:3, IPAT 6, PS 7, A 8, D 9, SNP 11, ADDR 51:12, TM 62.</summary>
public class SecondStageEntryTests
{
    private static SecondStageEntry Make(ulong[] w) => new(w[0]);

    [Fact]
    public void FieldsReadTheirSpecBits()
    {
        BitLayout.Flag(Make, 1, 0, 0, e => e.Read, "R");
        BitLayout.Flag(Make, 1, 0, 1, e => e.Write, "W");
        BitLayout.Flag(Make, 1, 0, 2, e => e.Execute, "X");
        BitLayout.Flag(Make, 1, 0, 6, e => e.IgnorePat, "IPAT");
        BitLayout.Flag(Make, 1, 0, 7, e => e.PageSize, "PS");
        BitLayout.Flag(Make, 1, 0, 8, e => e.Accessed, "A");
        BitLayout.Flag(Make, 1, 0, 9, e => e.Dirty, "D");
        BitLayout.Flag(Make, 1, 0, 11, e => e.Snoop, "SNP");
        BitLayout.Flag(Make, 1, 0, 62, e => e.TransientMapping, "TM");
        Assert.Equal(6, new SecondStageEntry(6UL << 3).ExtendedMemoryType);
        Assert.Equal(0, new SecondStageEntry(~(7UL << 3)).ExtendedMemoryType);
        Assert.Equal(0x000F_FFFF_FFFF_F000UL, new SecondStageEntry(ulong.MaxValue).Address);
    }

    [Fact]
    public void FactoriesProduceTheSpecLayout()
    {
        Assert.Equal(0x5000UL | 0b011, SecondStageEntry.Table(0x5000).Raw);
        Assert.Equal(0x5000UL | 0b101, SecondStageEntry.Table(0x5000, read: true, write: false, execute: true).Raw);
        Assert.Equal(0x6000UL | 0b011, SecondStageEntry.Page(0x6000).Raw);
        Assert.Equal(0x20_0000UL | 0b1000_0001, SecondStageEntry.Page(0x20_0000, 2, write: false).Raw);
        Assert.Equal(0x4000_0000UL | 0b1000_0010, SecondStageEntry.Page(0x4000_0000, 3, read: false).Raw);
    }

    [Fact]
    public void InvalidFactoryInputsAreRefusedNamingTheProblem()
    {
        Assert.Contains("next table", Assert.Throws<ArgumentException>(() => SecondStageEntry.Table(0x5001)).Message);
        Assert.Contains("page frame", Assert.Throws<ArgumentException>(() => SecondStageEntry.Page(1UL << 52)).Message);
        Assert.Equal("frame", Assert.Throws<ArgumentException>(() => SecondStageEntry.Page(0x20_1000, level: 2)).ParamName);
        Assert.Equal("frame", Assert.Throws<ArgumentException>(() => SecondStageEntry.Page(0x20_0000, level: 3)).ParamName);
        Assert.Equal("level", Assert.Throws<ArgumentOutOfRangeException>(() => SecondStageEntry.Page(0, level: 4)).ParamName);
    }

    [Fact]
    public void WithMethodsRoundTripAndTouchOnlyTheirBit()
    {
        var e = SecondStageEntry.Page(0x6000);
        (Func<SecondStageEntry, bool, SecondStageEntry> with, int bit)[] cases =
        [
            ((x, on) => x.WithRead(on), 0), ((x, on) => x.WithWrite(on), 1), ((x, on) => x.WithExecute(on), 2),
            ((x, on) => x.WithAccessed(on), 8), ((x, on) => x.WithDirty(on), 9), ((x, on) => x.WithSnoop(on), 11),
        ];
        foreach (var (with, bit) in cases)
        {
            Assert.Equal(e.Raw | 1UL << bit, with(e, true).Raw);
            Assert.Equal(e.Raw & ~(1UL << bit), with(e, false).Raw);
        }
    }

    [Theory]
    // non-leaf: HAW..51, bit 11, bit 62, and PS at levels 4/5
    [InlineData(5, false, true, true, 0x400F_C000_0000_0880UL)]
    [InlineData(4, false, true, true, 0x400F_C000_0000_0880UL)]
    [InlineData(3, false, true, true, 0x400F_C000_0000_0800UL)]
    [InlineData(2, false, false, false, 0x400F_C000_0000_0800UL)]
    // leaves: SNP without ECAP.SC, TM without ECAP.DT, and the large-page frame bits (from bit 12: SS has no PAT)
    [InlineData(1, true, true, true, 0x000F_C000_0000_0000UL)]
    [InlineData(1, true, false, false, 0x400F_C000_0000_0800UL)]
    [InlineData(2, true, true, true, 0x000F_C000_001F_F000UL)]
    [InlineData(3, true, true, false, 0x400F_C000_3FFF_F000UL)]
    public void ReservedMaskFollowsTheLevelHawAndCapabilities(int level, bool leaf, bool snoopControl, bool deviceTlb, ulong expected) =>
        Assert.Equal(expected, SecondStageEntry.ReservedMask(level, leaf, 46, snoopControl, deviceTlb));
}
