using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Memory;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Registers;
using E = VtdSim.Hardware.Registers.ExtendedCapabilityBit;

namespace VtdSim.Hardware.Tests.Structures;

/// <summary>CAP (vtd-facts 1.2).</summary>
public class CapabilityTests
{
    private static Capability Make(ulong[] w) => new(w[0]);

    [Fact]
    public void FlagsReadTheirSpecBits()
    {
        (int bit, Func<Capability, bool> get, string name)[] flags =
        [
            (3, c => c.AdvancedFaultLogging, "AFL"), (4, c => c.RequiredWriteBufferFlush, "RWBF"),
            (5, c => c.ProtectedLowMemoryRegion, "PLMR"), (6, c => c.ProtectedHighMemoryRegion, "PHMR"),
            (7, c => c.CachingMode, "CM"), (22, c => c.ZeroLengthRead, "ZLR"), (34, c => c.SecondStage2MiBPages, "SSLPS 2M"),
            (35, c => c.SecondStage1GiBPages, "SSLPS 1G"), (39, c => c.PageSelectiveInvalidation, "PSI"),
            (54, c => c.WriteDraining, "DWD"), (55, c => c.ReadDraining, "DRD"), (56, c => c.FirstStage1GiBPages, "FS1GP"),
            (59, c => c.PostedInterrupts, "PI"), (60, c => c.FirstStage5LevelPaging, "FS5LP"), (61, c => c.EnhancedCommand, "ECMDS"),
            (62, c => c.EnhancedSetInterruptRootTablePointer, "ESIRTPS"), (63, c => c.EnhancedSetRootTablePointer, "ESRTPS"),
        ];
        foreach (var (bit, get, name) in flags) BitLayout.Flag(Make, 1, 0, bit, get, name);
    }

    [Fact]
    public void FieldsReadTheirSpecBitsWithTheirEncodings()
    {
        Assert.Equal(5, new Capability(5).NumberOfDomains);                              // ND 2:0
        Assert.Equal(0b10110, new Capability(0b10110UL << 8).SupportedAdjustedGuestAddressWidths); // SAGAW 12:8
        Assert.Equal(48, new Capability(47UL << 16).MaximumGuestAddressWidth);           // MGAW 21:16, width - 1
        Assert.Equal(0x220, new Capability(0x22UL << 24).FaultRecordingOffset);          // FRO 33:24, in 16-byte units
        Assert.Equal(0x3FF0, new Capability(0x3FFUL << 24).FaultRecordingOffset);
        Assert.Equal(256, new Capability(0xFFUL << 40).NumberOfFaultRecords);            // NFR 47:40, count - 1
        Assert.Equal(1, new Capability(0).NumberOfFaultRecords);
        Assert.Equal(0x3F, new Capability(0x3FUL << 48).MaximumAddressMaskValue);        // MAMV 53:48
        var allBut = new Capability(~(BitLayout.Mask(2, 0) | BitLayout.Mask(12, 8) | BitLayout.Mask(21, 16) | BitLayout.Mask(33, 24) | BitLayout.Mask(47, 40) | BitLayout.Mask(53, 48)));
        Assert.Equal((0, 0, 1, 0, 1, 0), (allBut.NumberOfDomains, allBut.SupportedAdjustedGuestAddressWidths, allBut.MaximumGuestAddressWidth,
            allBut.FaultRecordingOffset, allBut.NumberOfFaultRecords, allBut.MaximumAddressMaskValue));
    }

    [Theory]
    [InlineData(0b00100, 2, true)]
    [InlineData(0b00100, 3, false)]
    [InlineData(0b01000, 3, true)]
    [InlineData(0b11111, 5, false)]
    [InlineData(0b11111, -1, false)]
    public void SupportsAddressWidthReadsSagawBitAw(int sagaw, int aw, bool expected) =>
        Assert.Equal(expected, new Capability((ulong)sagaw << 8).SupportsAddressWidth(aw));

    [Fact]
    public void WithMethodsRoundTrip()
    {
        var c = new Capability(0)
            .WithNumberOfDomains(6).WithRequiredWriteBufferFlush(true).WithCachingMode(true).WithSupportedAdjustedGuestAddressWidths(0b01100)
            .WithMaximumGuestAddressWidth(57).WithZeroLengthRead(true).WithFaultRecordingOffset(0x400).WithSecondStageLargePages(true, false)
            .WithPageSelectiveInvalidation(true).WithNumberOfFaultRecords(16).WithMaximumAddressMaskValue(9).WithDraining(true)
            .WithFirstStage1GiBPages(true).WithFirstStage5LevelPaging(true).WithEnhancedSetRootTablePointer(true);
        Assert.Equal(6, c.NumberOfDomains);
        Assert.True(c.RequiredWriteBufferFlush && c.CachingMode && c.ZeroLengthRead && c.PageSelectiveInvalidation);
        Assert.Equal(0b01100, c.SupportedAdjustedGuestAddressWidths);
        Assert.Equal(57, c.MaximumGuestAddressWidth);
        Assert.Equal(0x400, c.FaultRecordingOffset);
        Assert.True(c.SecondStage2MiBPages);
        Assert.False(c.SecondStage1GiBPages);
        Assert.Equal(16, c.NumberOfFaultRecords);
        Assert.Equal(9, c.MaximumAddressMaskValue);
        Assert.True(c.WriteDraining && c.ReadDraining && c.FirstStage1GiBPages && c.FirstStage5LevelPaging && c.EnhancedSetRootTablePointer);
        // The raw encoding, field by field: ND 6, RWBF, CM, SAGAW, MGAW-1 = 56, ZLR, FRO 0x40, SSLPS 2M, PSI, NFR-1 = 15, MAMV 9, DWD/DRD, FS1GP, FS5LP, ESRTPS.
        ulong expected = 6 | 1UL << 4 | 1UL << 7 | 0b01100UL << 8 | 56UL << 16 | 1UL << 22 | 0x40UL << 24 | 1UL << 34 | 1UL << 39
            | 15UL << 40 | 9UL << 48 | 1UL << 54 | 1UL << 55 | 1UL << 56 | 1UL << 60 | 1UL << 63;
        Assert.Equal(expected, c.Raw);
        Assert.Equal(new Capability(0), c.WithNumberOfDomains(0).WithRequiredWriteBufferFlush(false).WithCachingMode(false)
            .WithSupportedAdjustedGuestAddressWidths(0).WithMaximumGuestAddressWidth(1).WithZeroLengthRead(false).WithFaultRecordingOffset(0)
            .WithSecondStageLargePages(false, false).WithPageSelectiveInvalidation(false).WithNumberOfFaultRecords(1).WithMaximumAddressMaskValue(0)
            .WithDraining(false).WithFirstStage1GiBPages(false).WithFirstStage5LevelPaging(false).WithEnhancedSetRootTablePointer(false));
    }

    [Fact]
    public void ValuesThatDoNotFitAreRefused()
    {
        var c = new Capability(0);
        Assert.ThrowsAny<ArgumentException>(() => c.WithNumberOfDomains(8));
        Assert.ThrowsAny<ArgumentException>(() => c.WithSupportedAdjustedGuestAddressWidths(0b100000));
        Assert.ThrowsAny<ArgumentException>(() => c.WithMaximumGuestAddressWidth(65));
        Assert.ThrowsAny<ArgumentException>(() => c.WithMaximumGuestAddressWidth(0));
        Assert.ThrowsAny<ArgumentException>(() => c.WithFaultRecordingOffset(0x4000));
        Assert.ThrowsAny<ArgumentException>(() => c.WithNumberOfFaultRecords(0));
        Assert.ThrowsAny<ArgumentException>(() => c.WithNumberOfFaultRecords(257));
        Assert.ThrowsAny<ArgumentException>(() => c.WithMaximumAddressMaskValue(64));
    }

    /// <summary>FRO holds the offset in 16-byte units, so 0x221 cannot be encoded (it must not be rounded down to 0x220).</summary>
    [Fact]
    public void AFaultRecordingOffsetThatIsNotAMultipleOf16IsRefusedNamingTheField() =>
        Assert.Contains("FRO", Assert.ThrowsAny<ArgumentException>(() => new Capability(0).WithFaultRecordingOffset(0x221)).Message);

    [Theory]
    [InlineData("ND")]
    [InlineData("MGAW")]
    [InlineData("NFR")]
    public void FieldValuesThatDoNotFitNameTheField(string field)
    {
        var c = new Capability(0);
        Action set = field switch
        {
            "ND" => () => c.WithNumberOfDomains(8),
            "MGAW" => () => c.WithMaximumGuestAddressWidth(65),
            _ => () => c.WithNumberOfFaultRecords(0),
        };
        Assert.Contains(field, Assert.ThrowsAny<ArgumentException>(set).Message);
    }

    /// <summary>QEMU 7.2's CAP as QEMU defines it: ND=6 (16-bit DIDs), SAGAW 39-bit, MGAW 39, FRO 0x220, one record, MAMV 18, PSI, 2M+1G, DWD/DRD.</summary>
    [Fact]
    public void TheQemuCapabilityDecodesAsQemuDefinesIt()
    {
        Capability c = BuiltInProfiles.Qemu72Legacy.Cap;
        Assert.Equal(6, c.NumberOfDomains);
        Assert.Equal(0b00010, c.SupportedAdjustedGuestAddressWidths);
        Assert.True(c.SupportsAddressWidth(1));
        Assert.Equal(39, c.MaximumGuestAddressWidth);
        Assert.Equal(0x220, c.FaultRecordingOffset);
        Assert.Equal(1, c.NumberOfFaultRecords);
        Assert.Equal(18, c.MaximumAddressMaskValue);
        Assert.True(c.PageSelectiveInvalidation && c.SecondStage2MiBPages && c.SecondStage1GiBPages && c.WriteDraining && c.ReadDraining);
    }
}

/// <summary>ECAP (vtd-facts 1.3).</summary>
public class ExtendedCapabilityTests
{
    private static ExtendedCapability Make(ulong[] w) => new(w[0]);

    [Fact]
    public void FlagsReadTheirSpecBits()
    {
        (int bit, Func<ExtendedCapability, bool> get, string name)[] flags =
        [
            (0, e => e.PageWalkCoherency, "C"), (1, e => e.QueuedInvalidation, "QI"), (2, e => e.DeviceTlb, "DT"),
            (3, e => e.InterruptRemapping, "IR"), (4, e => e.ExtendedInterruptMode, "EIM"), (6, e => e.PassThrough, "PT"),
            (7, e => e.SnoopControl, "SC"), (25, e => e.MemoryTypeSupport, "MTS"), (26, e => e.NestedTranslation, "NEST"),
            (29, e => e.PageRequests, "PRS"), (30, e => e.ExecuteRequests, "ERS"), (31, e => e.SupervisorRequests, "SRS"),
            (33, e => e.NoWriteFlag, "NWFS"), (34, e => e.ExtendedAccessedFlag, "EAFS"), (40, e => e.Pasid, "PASID"),
            (41, e => e.DeviceTlbInvalidationThrottle, "DIT"), (42, e => e.PageRequestDrain, "PDS"), (43, e => e.ScalableModeTranslation, "SMTS"),
            (44, e => e.VirtualCommand, "VCS"), (45, e => e.SecondStageAccessedDirty, "SSADS"), (46, e => e.SecondStageTranslation, "SSTS"),
            (47, e => e.FirstStageTranslation, "FSTS"), (48, e => e.ScalableModePageWalkCoherency, "SMPWCS"), (49, e => e.RidPasid, "RPS"),
            (51, e => e.PerformanceMonitoring, "PMS"), (52, e => e.AbortDmaMode, "ADMS"), (53, e => e.RidPrivilege, "RPRIVS"),
        ];
        foreach (var (bit, get, name) in flags) BitLayout.Flag(Make, 1, 0, bit, get, name);
    }

    [Fact]
    public void TheBitConstantsAreTheSpecPositions()
    {
        Assert.Equal((0, 1, 2, 3, 4, 6, 7), (E.C, E.QI, E.DT, E.IR, E.EIM, E.PT, E.SC));
        Assert.Equal((25, 26, 29, 30, 31, 33, 34), (E.MTS, E.NEST, E.PRS, E.ERS, E.SRS, E.NWFS, E.EAFS));
        Assert.Equal((40, 41, 42, 43, 44, 45, 46), (E.PASID, E.DIT, E.PDS, E.SMTS, E.VCS, E.SSADS, E.SSTS));
        Assert.Equal((47, 48, 49, 51, 52, 53), (E.FSTS, E.SMPWCS, E.RPS, E.PMS, E.ADMS, E.RPRIVS));
    }

    [Fact]
    public void FieldsReadTheirSpecBitsWithTheirEncodings()
    {
        Assert.Equal(0x3FF0, new ExtendedCapability(0x3FFUL << 8).IotlbRegisterOffset);   // IRO 17:8, in 16-byte units
        Assert.Equal(0xF0, new ExtendedCapability(0xFUL << 8).IotlbRegisterOffset);
        Assert.Equal(15, new ExtendedCapability(0xFUL << 20).MaximumHandleMaskValue);    // MHMV 23:20
        Assert.Equal(20, new ExtendedCapability(19UL << 35).PasidWidth);                 // PSS 39:35, width - 1
        var allBut = new ExtendedCapability(~(BitLayout.Mask(17, 8) | BitLayout.Mask(23, 20) | BitLayout.Mask(39, 35)));
        Assert.Equal((0, 0, 1), (allBut.IotlbRegisterOffset, allBut.MaximumHandleMaskValue, allBut.PasidWidth));
    }

    [Fact]
    public void WithMethodsRoundTrip()
    {
        var e = new ExtendedCapability(0).With(E.NEST, true).With(E.SMTS, true).WithIotlbRegisterOffset(0x200).WithMaximumHandleMaskValue(15).WithPasidWidth(20);
        Assert.Equal(1UL << 26 | 1UL << 43 | 0x20UL << 8 | 15UL << 20 | 19UL << 35, e.Raw);
        Assert.True(e.NestedTranslation && e.ScalableModeTranslation);
        Assert.Equal(new ExtendedCapability(0), e.With(E.NEST, false).With(E.SMTS, false).WithIotlbRegisterOffset(0).WithMaximumHandleMaskValue(0).WithPasidWidth(1));
        Assert.ThrowsAny<ArgumentException>(() => e.WithPasidWidth(33));
        Assert.ThrowsAny<ArgumentException>(() => e.WithMaximumHandleMaskValue(16));
        Assert.ThrowsAny<ArgumentException>(() => e.WithIotlbRegisterOffset(0x4000));
    }

    /// <summary>C# masks shift counts, so an unchecked 1UL &lt;&lt; 64 would set bit 0: bit numbers outside 0..63 must be refused.</summary>
    [Fact]
    public void ABitNumberOutsideTheRegisterIsRefused()
    {
        Assert.ThrowsAny<ArgumentException>(() => new ExtendedCapability(0).With(64, true));
        Assert.ThrowsAny<ArgumentException>(() => new ExtendedCapability(0).With(-1, true));
    }

    [Fact]
    public void AnIotlbRegisterOffsetThatIsNotAMultipleOf16IsRefusedNamingTheField() =>
        Assert.Contains("IRO", Assert.ThrowsAny<ArgumentException>(() => new ExtendedCapability(0).WithIotlbRegisterOffset(0x208)).Message);

    /// <summary>
    /// QEMU 7.2 puts its IOTLB registers at 0xF0 (IVA) / 0xF8 (IOTLB): ECAP.IRO = 0xF. The offset decodes right, and a
    /// unit with that profile should be constructible: the 0xF0-0xFF range is free in the register map (vtd-facts
    /// 1.1: page-request registers end at 0xEC, MTRRs start at 0x100).
    /// </summary>
    [Fact]
    public void TheQemuIotlbRegisterOffsetDecodesTo0xF0() =>
        Assert.Equal(0xF0, BuiltInProfiles.Qemu72Legacy.Ecap.IotlbRegisterOffset);

    [Fact]
    public void TheBuiltInQemuProfilesConstructAUnit()
    {
        foreach (var profile in new[] { BuiltInProfiles.Qemu72Legacy, BuiltInProfiles.Qemu72Scalable })
        {
            var unit = new VtdUnit(new PhysicalMemory(1UL << 32), profile);
            Assert.Equal(profile.Ecap.Raw, unit.ReadRegister64(RegisterOffset.ECAP));
        }
    }
}
