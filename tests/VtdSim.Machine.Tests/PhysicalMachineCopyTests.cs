using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Memory;
using VtdSim.Hardware.Profiles;

namespace VtdSim.Machine.Tests;

/// <summary>Stores that fail, PCI enumeration, and the kernel's byte copies and zeroing around MMIO regions.</summary>
public partial class PhysicalMachineTests
{
    [Fact]
    public void AFailedStoreIsAnErrorNamingTheAddressAndWritesNothing()
    {
        var m = PhysicalMachine.Host(BuiltInProfiles.SapphireRapids, 1UL << 36);
        Assert.False(m.TryWrite(new Hpa(1UL << 36), 4, 1));
        var e = Assert.Throws<MemoryAccessException>(() => m.Write(new Hpa((1UL << 36) - 4), 8, ulong.MaxValue));
        Assert.Contains("0xffffffffc", e.Message, StringComparison.OrdinalIgnoreCase);
        Assert.Equal(0UL, m.Read(new Hpa((1UL << 36) - 4), 4)); // the half inside memory was not written
    }

    [Fact]
    public void APciFunctionIsAddedOnceAndNamedByItsRequesterId()
    {
        var m = PhysicalMachine.Host(BuiltInProfiles.SapphireRapids, 1UL << 36);
        var nic = m.AddFunction(new PciFunction(new SourceId(0, 3, 0), "nic"));
        var e = Assert.Throws<ArgumentException>(() => m.AddFunction(new PciFunction(new SourceId(0, 3, 0), "other")));
        Assert.Contains("00:03.0", e.Message);
        Assert.Equal([nic], m.Functions);
        Assert.Equal("00:03.0 nic", nic.ToString());
    }

    [Fact]
    public void ByteCopiesReachRamButNeverAnMmioRegion()
    {
        var m = PhysicalMachine.Host(BuiltInProfiles.SapphireRapids, 1UL << 36);
        var region = new RecordingRegion(new Hpa(0x8000_0000), 0x1000);
        m.Map(region);
        byte[] data = [1, 2, 3, 4];

        Assert.True(m.TryWriteBytes(new Hpa(0x7FFF_FFF0), data));   // RAM just below the region
        var back = new byte[4];
        Assert.True(m.TryReadBytes(new Hpa(0x7FFF_FFF0), back));
        Assert.Equal(data, back);
        Assert.False(m.TryWriteBytes(new Hpa(0x7FFF_FFFE), data));  // straddles into the region
        Assert.Equal(0UL, m.Read(new Hpa(0x7FFF_FFFE), 2));         // the refused straddling copy wrote nothing
        Assert.False(m.TryReadBytes(new Hpa(0x8000_0800), back));   // inside it
        Assert.True(m.TryWriteBytes(new Hpa(0x8000_1000), data));   // RAM just above it
        Assert.False(m.TryReadBytes(new Hpa(1UL << 36), back));     // beyond memory
        Assert.Equal(0, region.Accesses);
    }

    [Fact]
    public void ZeroingClearsRamAroundAnMmioRegionAndRefusesARangeThatTouchesIt()
    {
        var m = PhysicalMachine.Host(BuiltInProfiles.SapphireRapids, 1UL << 36);
        var region = new RecordingRegion(new Hpa(0x8000_0000), 0x1000);
        m.Map(region);
        foreach (ulong a in (ulong[])[0x7FFF_F000, 0x7FFF_FFF8, 0x8000_1000])
            m.Write(new Hpa(a), 8, ulong.MaxValue);

        Assert.False(m.TryZeroBytes(new Hpa(0x7FFF_F000), 0x1001));     // ends one byte inside the region
        Assert.Equal(ulong.MaxValue, m.Read(new Hpa(0x7FFF_F000), 8));  // refused as a whole: nothing cleared
        Assert.False(m.TryZeroBytes(new Hpa(0x8000_0800), 8));          // starts inside it
        Assert.False(m.TryZeroBytes(new Hpa(0x7000_0000), 0x2000_0000)); // covers it
        Assert.True(m.TryZeroBytes(new Hpa(0x7FFF_F000), 0x1000));      // ends exactly at its base
        Assert.Equal(0UL, m.Read(new Hpa(0x7FFF_FFF8), 8));
        Assert.True(m.TryZeroBytes(new Hpa(0x8000_1000), 8));           // starts exactly at its end
        Assert.Equal(0UL, m.Read(new Hpa(0x8000_1000), 8));
        Assert.True(m.TryZeroBytes(new Hpa(0x8000_0000), 0));           // an empty range touches nothing
        Assert.False(m.TryZeroBytes(new Hpa(1UL << 36), 8));            // beyond memory
        Assert.Equal(0, region.Accesses);
    }
}
