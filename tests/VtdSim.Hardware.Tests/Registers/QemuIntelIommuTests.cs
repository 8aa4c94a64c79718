using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Registers;

namespace VtdSim.Hardware.Tests.Registers;

/// <summary>
/// QEMU's vtd_cap_init as <see cref="QemuIntelIommu"/> reproduces it. The expected registers were read from Debian's
/// QEMU 7.2.22 over qtest (`-M q35 -accel tcg -qtest stdio`, `readq 0xfed90008` / `0xfed90010`) with the properties
/// named; the x-flts facts are QEMU 10.0's own qtest expectation (qemu-facts §1.2).
/// </summary>
public class QemuIntelIommuTests
{
    public static TheoryData<string, QemuIntelIommu, ulong, ulong> Measured72() => new()
    {
        { "(defaults)", new QemuIntelIommu(), 0x00d2008c22260206, 0x0000000000f00f4a },
        { "x-scalable-mode=on", new QemuIntelIommu { ScalableMode = true }, 0x00d2008c22260206, 0x0000480080f00f4a },
        { "aw-bits=48", new QemuIntelIommu { AwBits = 48 }, 0x00d2008c222f0606, 0x0000000000f00f4a },
        { "caching-mode=on", new QemuIntelIommu { CachingMode = true }, 0x00d2008c22260286, 0x0000000000f00f4a },
        { "intremap=off", new QemuIntelIommu { InterruptRemapping = false }, 0x00d2008c22260206, 0x0000000000000f42 },
        { "x-buggy-eim=on (eim auto becomes on)", new QemuIntelIommu { Eim = true }, 0x00d2008c22260206, 0x0000000000f00f5a },
        { "dma-translation=off", new QemuIntelIommu { DmaTranslation = false }, 0x00d2008c22260006, 0x0000000000f00f4a },
        { "dma-drain=off", new QemuIntelIommu { DmaDrain = false }, 0x0012008c22260206, 0x0000000000f00f4a },
        { "pt=off,device-iotlb=on,snoop-control=on,caching-mode=on",
          new QemuIntelIommu { PassThrough = false, DeviceIotlb = true, SnoopControl = true, CachingMode = true }, 0x00d2008c22260286, 0x0000000000f00f8e },
        { "x-scalable-mode=on,x-pasid-mode=on,aw-bits=48",
          new QemuIntelIommu { ScalableMode = true, Pasid = true, AwBits = 48 }, 0x00d2008c222f0606, 0x0000490080f00f4a },
    };

    [Theory]
    [MemberData(nameof(Measured72))]
    public void CapAndEcapAreQemu72sMeasuredValues(string properties, QemuIntelIommu iommu, ulong cap, ulong ecap)
    {
        Assert.True(cap == iommu.Cap.Raw, $"{properties}: CAP 0x{iommu.Cap.Raw:x16}, QEMU 0x{cap:x16}");
        Assert.True(ecap == iommu.Ecap.Raw, $"{properties}: ECAP 0x{iommu.Ecap.Raw:x16}, QEMU 0x{ecap:x16}");
    }

    [Fact]
    public void XFltsOffersTheFirstStageOnlyAsQemu10sQtestExpects()
    {
        var iommu = new QemuIntelIommu { Version = QemuVersion.Qemu11, AwBits = 48, ScalableMode = true, Flts = true };
        Capability cap = iommu.Cap;
        ExtendedCapability ecap = iommu.Ecap;

        // CAP_STAGE_1_FIXED1: FRO | NFR | ND | MAMV | PSI | SLLPS, SAGAW 39|48, MGAW 47 (the field holds aw-1).
        Assert.Equal(0x220, cap.FaultRecordingOffset);
        Assert.Equal(1, cap.NumberOfFaultRecords);
        Assert.Equal(6, cap.NumberOfDomains);
        Assert.Equal(18, cap.MaximumAddressMaskValue);
        Assert.True(cap.PageSelectiveInvalidation && cap.SecondStage2MiBPages && cap.SecondStage1GiBPages);
        Assert.Equal(0b0110, cap.SupportedAdjustedGuestAddressWidths);
        Assert.Equal(48, cap.MaximumGuestAddressWidth);
        Assert.True(cap.FirstStage1GiBPages); // fs1gp defaults to on
        // ECAP_STAGE_1_FIXED1: QI | IR | IRO | MHMV | SMTS | FLTS; no SRS, no SLTS, never NEST.
        Assert.True(ecap.QueuedInvalidation && ecap.InterruptRemapping && ecap.ScalableModeTranslation && ecap.FirstStageTranslation);
        Assert.Equal(0xF0, ecap.IotlbRegisterOffset);
        Assert.False(ecap.SecondStageTranslation || ecap.NestedTranslation || ecap.SupervisorRequests);
        Assert.False((iommu with { Fs1gp = false }).Cap.FirstStage1GiBPages);
    }

    [Fact]
    public void FiveLevelPagingAndNestingAreNeverOfferedWhateverTheProperties()
    {
        foreach (bool sm in new[] { false, true })
        foreach (bool flts in new[] { false, true })
        foreach (int aw in new[] { 39, 48 })
        {
            var iommu = new QemuIntelIommu { Version = QemuVersion.Qemu11, AwBits = aw, ScalableMode = sm, Flts = flts };
            Assert.Equal(0, iommu.Cap.SupportedAdjustedGuestAddressWidths & 0b1000);
            Assert.False(iommu.Cap.FirstStage5LevelPaging);
            Assert.False(iommu.Ecap.NestedTranslation);
        }
    }

    [Fact]
    public void TheProfileHasQemusHostAddressWidthCachesAndFaultCompression()
    {
        VtdProfile profile = new QemuIntelIommu { AwBits = 48 }.ToProfile("p", "d");

        Assert.Equal(48, profile.HostAddressWidth);
        Assert.Equal(0x10u, profile.Version);
        Assert.True(profile.CompressFaultsBySourceId);
        Assert.Same(BuiltInProfiles.QemuCaches, profile.Caches);
    }
}
