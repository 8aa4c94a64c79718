using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Registers;

namespace VtdSim.Machine.Tests;

public partial class PhysicalMachineTests
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

    [Fact]
    public void AccessesGoToTheRegionThatClaimsThemAndToMemoryAroundAndBetweenRegions()
    {
        var m = PhysicalMachine.Host(BuiltInProfiles.SapphireRapids, 1UL << 37);
        var low = new RecordingRegion(new Hpa(0x8000_0000), 0x1000);
        var high = new RecordingRegion(new Hpa(0x10_0000_0000), 0x1000);
        m.Map(low);
        m.Map(high);

        Assert.Equal(0x8000_0010UL, m.Read(new Hpa(0x8000_0010), 8));       // inside the low region
        Assert.Equal(0x10_0000_0ff8UL, m.Read(new Hpa(0x10_0000_0ff8), 8)); // the last word of the high one
        Assert.Equal(0x7FFF_FFFCUL, m.Read(new Hpa(0x7FFF_FFFC), 8));       // straddles the low region's start: the region's
        m.Write(new Hpa(0x9000_0000), 8, 42);                                // between the regions: memory
        Assert.Equal(42UL, m.Read(new Hpa(0x9000_0000), 8));
        m.Write(new Hpa(0x10_0000_1000), 8, 7);                              // just above the high region: memory
        Assert.Equal(7UL, m.Read(new Hpa(0x10_0000_1000), 8));
        Assert.Equal(3, low.Accesses + high.Accesses);
    }

    /// <summary>A device region that answers every read with the address read and counts what reaches it.</summary>
    private sealed class RecordingRegion(Hpa @base, ulong size) : IMmioRegion
    {
        public Hpa Base { get; } = @base;
        public ulong Size { get; } = size;
        public int Accesses { get; private set; }

        public bool TryRead(ulong offset, int size, out ulong value)
        {
            Accesses++;
            value = Base.Value + offset;
            return true;
        }

        public bool TryWrite(ulong offset, int size, ulong value)
        {
            Accesses++;
            return true;
        }
    }
}
