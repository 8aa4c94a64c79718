using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Registers;

namespace VtdSim.Machine.Tests;

public class PhysicalMachineTests
{
    private static readonly PhysicalMachine Host = PhysicalMachine.Host(BuiltInProfiles.SapphireRapids, 1UL << 36);

    [Fact]
    public void CpuAccessesToTheRegisterPageReachTheIommu()
    {
        var m = PhysicalMachine.Host(BuiltInProfiles.SapphireRapids, 1UL << 36);
        Assert.Equal(BuiltInProfiles.SapphireRapids.Cap.Raw, m.Read(m.IommuBase + RegisterOffset.CAP, 8));
        Assert.Equal(BuiltInProfiles.SapphireRapids.Version, (uint)m.Read(m.IommuBase + RegisterOffset.VER, 4));
    }

    [Fact]
    public void OtherAddressesAreMemoryAtEveryAccessSize()
    {
        var m = PhysicalMachine.Host(BuiltInProfiles.SapphireRapids, 1UL << 36);
        m.Write(new Hpa(0x1003), 2, 0xBEEF);
        m.Write(new Hpa(0x1008), 8, 0x0123_4567_89AB_CDEF);
        Assert.Equal(0xBEEFUL, m.Read(new Hpa(0x1003), 2));
        Assert.Equal(0xEFUL, m.Read(new Hpa(0x1008), 1));
        Assert.Equal(0x0123_4567_89AB_CDEFUL, m.Read(new Hpa(0x1008), 8));
    }

    [Fact]
    public void AnAccessBeyondMemoryIsRefusedNotWrapped()
    {
        Assert.False(Host.TryRead(new Hpa(1UL << 36), 4, out _));
        var e = Assert.Throws<VtdSim.Hardware.Memory.MemoryAccessException>(() => Host.Read(new Hpa((1UL << 36) - 4), 8));
        Assert.Contains("0xffffffffc", e.Message, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void AnAccessSizeOtherThanOneTwoFourOrEightIsAnError()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Host.TryRead(new Hpa(0), 3, out _));
    }

    [Fact]
    public void OverlappingMmioRegionsAreRefused()
    {
        var m = PhysicalMachine.Host(BuiltInProfiles.SapphireRapids, 1UL << 36);
        var e = Assert.Throws<ArgumentException>(() => m.Map(new VtdUnitMmio(m.HardwareIommu!)));
        Assert.Contains("overlaps", e.Message);
    }
}
