using VtdSim.Hardware.Registers;

namespace VtdSim.Hardware.Tests.Registers;

/// <summary>
/// Decoding the CAP/ECAP values QEMU 7.2 reports (qemu-facts 1.2) field by field, with the layouts of vtd-facts 1.2/1.3.
/// Each expectation is what QEMU's vtd_cap_init puts there for the default properties.
/// </summary>
public class CapabilityDecodeTests
{
    private static readonly Capability QemuCap = new(0x00d2008c22260206);
    private static readonly ExtendedCapability QemuEcap = new(0x0000000000f00f4a);
    private static readonly ExtendedCapability QemuScalableEcap = new(0x0000480080f00f4a);

    [Fact]
    public void QemuCapDecodes()
    {
        Assert.Equal(6, QemuCap.NumberOfDomains);                        // ND=6: 16-bit domain ids
        Assert.Equal(0b00010, QemuCap.SupportedAdjustedGuestAddressWidths); // SAGAW: 39-bit/3-level only (aw-bits=39)
        Assert.True(QemuCap.SupportsAddressWidth(1));
        Assert.False(QemuCap.SupportsAddressWidth(0));
        Assert.False(QemuCap.SupportsAddressWidth(2));
        Assert.False(QemuCap.SupportsAddressWidth(3));
        Assert.Equal(39, QemuCap.MaximumGuestAddressWidth);              // MGAW = aw-bits
        Assert.Equal(0x220, QemuCap.FaultRecordingOffset);               // FRO = 0x220 >> 4
        Assert.Equal(1, QemuCap.NumberOfFaultRecords);                   // NFR = 0: one record
        Assert.True(QemuCap.SecondStage2MiBPages);                       // SLLPS: 2 MiB ...
        Assert.True(QemuCap.SecondStage1GiBPages);                       // ... and 1 GiB
        Assert.True(QemuCap.PageSelectiveInvalidation);                  // PSI
        Assert.Equal(18, QemuCap.MaximumAddressMaskValue);               // MAMV
        Assert.True(QemuCap.WriteDraining);                              // dma-drain=true
        Assert.True(QemuCap.ReadDraining);
        Assert.False(QemuCap.CachingMode);                               // caching-mode=false
        Assert.False(QemuCap.ZeroLengthRead);
        Assert.False(QemuCap.AdvancedFaultLogging);
        Assert.False(QemuCap.RequiredWriteBufferFlush);
        Assert.False(QemuCap.FirstStage1GiBPages);                       // no x-flts in 7.2
        Assert.False(QemuCap.FirstStage5LevelPaging);
    }

    [Fact]
    public void QemuLegacyEcapDecodes()
    {
        Assert.True(QemuEcap.QueuedInvalidation);       // QI: always
        Assert.True(QemuEcap.InterruptRemapping);       // IR: intremap=auto under TCG
        Assert.True(QemuEcap.PassThrough);              // PT: pt=true
        Assert.Equal(0xF0, QemuEcap.IotlbRegisterOffset); // IRO = 0xF0 >> 4
        Assert.Equal(15, QemuEcap.MaximumHandleMaskValue);
        Assert.False(QemuEcap.PageWalkCoherency);
        Assert.False(QemuEcap.DeviceTlb);               // device-iotlb=false
        Assert.False(QemuEcap.ExtendedInterruptMode);
        Assert.False(QemuEcap.SnoopControl);            // snoop-control=false
        Assert.False(QemuEcap.ScalableModeTranslation);
        Assert.False(QemuEcap.Pasid);
    }

    [Fact]
    public void QemuScalableEcapAddsSmtsSrsAndSecondStageOnly()
    {
        // Scalable mode without x-flts: SMTS + SRS + SLTS/SSTS on top of the legacy bits (qemu-facts 1.2).
        Assert.Equal(QemuEcap.Raw, QemuScalableEcap.Raw & ~((1UL << 43) | (1UL << 31) | (1UL << 46)));
        Assert.True(QemuScalableEcap.ScalableModeTranslation);
        Assert.True(QemuScalableEcap.SupervisorRequests);
        Assert.True(QemuScalableEcap.SecondStageTranslation);
        Assert.False(QemuScalableEcap.FirstStageTranslation);
        Assert.False(QemuScalableEcap.NestedTranslation); // never advertised by QEMU
        Assert.False(QemuScalableEcap.Pasid);             // x-pasid-mode=false
        Assert.False(QemuScalableEcap.SecondStageAccessedDirty);
        Assert.False(QemuScalableEcap.RidPasid);
        Assert.Equal(0xF0, QemuScalableEcap.IotlbRegisterOffset);
    }

    [Fact]
    public void WithersRoundTripThroughTheDecoders()
    {
        var cap = new Capability(0).WithFaultRecordingOffset(0x400).WithNumberOfFaultRecords(256).WithMaximumGuestAddressWidth(48);
        var ecap = new ExtendedCapability(0).WithIotlbRegisterOffset(0x500).WithPasidWidth(20).With(ExtendedCapabilityBit.NEST, true);

        Assert.Equal(0x400, cap.FaultRecordingOffset);
        Assert.Equal(256, cap.NumberOfFaultRecords); // NFR is 8 bits holding count-1
        Assert.Equal(48, cap.MaximumGuestAddressWidth);
        Assert.Equal(0x500, ecap.IotlbRegisterOffset);
        Assert.Equal(20, ecap.PasidWidth);
        Assert.True(ecap.NestedTranslation);
        Assert.Equal(1UL << 26, ecap.Raw & (1UL << 26));
    }
}
