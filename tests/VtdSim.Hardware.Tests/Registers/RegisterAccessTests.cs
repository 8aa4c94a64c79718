using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Events;
using VtdSim.Hardware.Memory;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Registers;

namespace VtdSim.Hardware.Tests.Registers;

/// <summary>
/// The register page as software sees it (vtd-facts 1.1, 1.5; decisions D18/D19): read-only and unknown registers,
/// RTADDR's reserved bits, and MMIO accesses of every size.
/// </summary>
public class RegisterAccessTests
{
    private static VtdUnit NewUnit(Hpa? registerBase = null) =>
        new(new PhysicalMemory(1UL << 32), BuiltInProfiles.SapphireRapids, registerBase);

    [Theory]
    [InlineData(0x004)] // between VER and CAP
    [InlineData(0x048)] // between FEUADDR and AFLOG
    [InlineData(0x800)]
    [InlineData(0xFFC)]
    public void UnknownOffsetsReadZeroAndIgnoreWrites(int offset)
    {
        var unit = NewUnit();
        unit.WriteRegister32(offset, 0xDEAD_BEEF);

        Assert.Equal(0u, unit.ReadRegister32(offset));
    }

    [Theory]
    [InlineData(RegisterOffset.VER)]
    [InlineData(RegisterOffset.CAP)]
    [InlineData(RegisterOffset.CAP + 4)]
    [InlineData(RegisterOffset.ECAP)]
    [InlineData(RegisterOffset.ECAP + 4)]
    [InlineData(RegisterOffset.GSTS)]
    public void WritesToReadOnlyRegistersAreIgnored(int offset)
    {
        var unit = NewUnit();
        uint before = unit.ReadRegister32(offset);

        unit.WriteRegister32(offset, ~before);

        Assert.Equal(before, unit.ReadRegister32(offset));
        Assert.False(unit.TranslationEnabled); // a GSTS write is not a command
    }

    [Fact]
    public void RtaddrReservedBitsReadZeroAndTtmIsKept()
    {
        var unit = NewUnit();

        unit.WriteRegister64(RegisterOffset.RTADDR, 0x0000_0012_3456_7FFF);

        Assert.Equal(0x0000_0012_3456_7C00UL, unit.ReadRegister64(RegisterOffset.RTADDR)); // 9:0 reserved; TTM 11:10 kept
    }

    [Fact]
    public void EightByteMmioMatchesTheTwoFourByteHalves()
    {
        var unit = NewUnit();
        Hpa cap = unit.RegisterBase + RegisterOffset.CAP;

        Assert.True(unit.TryMmioRead(cap, 8, out ulong whole));
        Assert.True(unit.TryMmioRead(cap, 4, out ulong low));
        Assert.True(unit.TryMmioRead(cap + 4, 4, out ulong high));

        Assert.Equal(unit.Profile.Cap.Raw, whole);
        Assert.Equal(whole, low | high << 32);
    }

    [Fact]
    public void MmioWritesReachTheRegisters()
    {
        var unit = NewUnit();
        Hpa rtaddr = unit.RegisterBase + RegisterOffset.RTADDR;

        Assert.True(unit.TryMmioWrite(rtaddr, 8, 0x0000_0001_2345_6000));
        Assert.True(unit.TryMmioWrite(rtaddr + 4, 4, 0x7));
        Assert.True(unit.TryMmioRead(rtaddr, 8, out ulong value));

        Assert.Equal(0x0000_0007_2345_6000UL, value);
        Assert.Equal(value, unit.ReadRegister64(RegisterOffset.RTADDR));
    }

    [Fact]
    public void MmioHonoursANonDefaultRegisterBase()
    {
        var unit = NewUnit(new Hpa(0xFED9_1000));

        Assert.True(unit.TryMmioRead(new Hpa(0xFED9_1000), 4, out ulong version));
        Assert.Equal(unit.Profile.Version, version);
        Assert.True(unit.ClaimsMmio(new Hpa(0xFED9_1FFC)));
        Assert.False(unit.ClaimsMmio(new Hpa(0xFED9_2000)));
        Assert.False(unit.ClaimsMmio(new Hpa(0xFED9_0FFC)));
    }

    [Theory]
    [InlineData(RegisterOffset.FEDATA, 2)]    // 2-byte access
    [InlineData(RegisterOffset.FEDATA, 1)]
    [InlineData(RegisterOffset.FEDATA + 2, 4)] // misaligned dword
    [InlineData(RegisterOffset.FECTL + 4, 8)]  // 4-aligned but not 8-aligned qword
    [InlineData(0x1000, 4)]                    // just past the page
    public void BadMmioReadReturnsFalseAndWarnsWithoutThrowing(int offset, int size)
    {
        var unit = NewUnit();

        bool ok = unit.TryMmioRead(unit.RegisterBase + (ulong)offset, size, out ulong value);

        Assert.False(ok);
        Assert.Equal(size >= 8 ? ulong.MaxValue : (1UL << (8 * size)) - 1, value); // all ones, like an unclaimed read
        Assert.Single(unit.Events.OfType<RegisterWarningEvent>());
    }

    [Theory]
    [InlineData(RegisterOffset.FEDATA, 2)]
    [InlineData(RegisterOffset.FEDATA + 1, 4)]
    [InlineData(RegisterOffset.FEDATA, 8)] // 0x3C is not 8-byte aligned
    public void BadMmioWriteIsDroppedAndWarned(int offset, int size)
    {
        var unit = NewUnit();
        unit.WriteRegister32(RegisterOffset.FEDATA, 0x1111);

        bool ok = unit.TryMmioWrite(unit.RegisterBase + (ulong)offset, size, 0xFFFF_FFFF_FFFF_FFFF);

        Assert.False(ok);
        Assert.Equal(0x1111u, unit.ReadRegister32(RegisterOffset.FEDATA));
        Assert.Single(unit.Events.OfType<RegisterWarningEvent>());
    }
}
