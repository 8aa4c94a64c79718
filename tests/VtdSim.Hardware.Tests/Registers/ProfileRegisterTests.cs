using VtdSim.Hardware.Memory;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Registers;
using VtdSim.Hardware.Tests.Support;

namespace VtdSim.Hardware.Tests.Registers;

/// <summary>VER/CAP/ECAP as software reads them from a unit built from each profile (docs/profiles.md).</summary>
public class ProfileRegisterTests
{
    private static VtdUnit NewUnit(VtdProfile profile) => new(new PhysicalMemory(1UL << 32), profile);

    [Theory]
    [InlineData("sapphire-rapids")]
    [InlineData("architectural")]
    [InlineData("qemu-7.2")]
    [InlineData("qemu-7.2-scalable")]
    public void EveryBuiltInProfileMakesAUnit(string name)
    {
        VtdProfile profile = BuiltInProfiles.Find(name);

        VtdUnit unit = NewUnit(profile);

        Assert.Equal(profile.Cap.Raw, unit.ReadRegister64(RegisterOffset.CAP));
    }

    [Theory]
    [InlineData("qemu-7.2", 0x0000000000f00f4aUL)]
    [InlineData("qemu-7.2-scalable", 0x0000480080f00f4aUL)]
    public void QemuProfilesReadBackTheMeasuredRegisters(string name, ulong ecap)
    {
        VtdUnit unit = NewUnit(BuiltInProfiles.Find(name));

        Assert.Equal(0x10u, unit.ReadRegister32(RegisterOffset.VER)); // 1.0
        Assert.Equal(0x00d2008c22260206UL, unit.ReadRegister64(RegisterOffset.CAP));
        Assert.Equal(ecap, unit.ReadRegister64(RegisterOffset.ECAP));
    }

    [Theory]
    [InlineData("sapphire-rapids")]
    [InlineData("architectural")]
    public void SapphireRapidsRegistersCarryTheDocumentedFields(string name)
    {
        VtdUnit unit = NewUnit(BuiltInProfiles.Find(name));
        var cap = new Capability(unit.ReadRegister64(RegisterOffset.CAP));
        var ecap = new ExtendedCapability(unit.ReadRegister64(RegisterOffset.ECAP));

        Assert.Equal(0x60u, unit.ReadRegister32(RegisterOffset.VER)); // 6.0
        Assert.Equal(6, cap.NumberOfDomains);
        Assert.Equal(0b01100, cap.SupportedAdjustedGuestAddressWidths); // 48-bit and 57-bit
        Assert.Equal(57, cap.MaximumGuestAddressWidth);
        Assert.Equal(0x220, cap.FaultRecordingOffset);
        Assert.Equal(8, cap.NumberOfFaultRecords);
        Assert.True(cap.FirstStage1GiBPages && cap.FirstStage5LevelPaging && cap.EnhancedSetRootTablePointer);
        Assert.Equal(0x200, ecap.IotlbRegisterOffset);
        Assert.Equal(20, ecap.PasidWidth);
        Assert.True(ecap.ScalableModeTranslation && ecap.FirstStageTranslation && ecap.SecondStageTranslation && ecap.NestedTranslation);
        Assert.True(ecap.SecondStageAccessedDirty && ecap.ScalableModePageWalkCoherency && ecap.RidPasid);
        Assert.False(ecap.PageRequests || ecap.AbortDmaMode || ecap.RidPrivilege || ecap.MemoryTypeSupport);
    }
}
