using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Building;
using VtdSim.Hardware.Faults;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Registers;
using VtdSim.Hardware.Structures;
using VtdSim.Hardware.Tests.Support;
using VtdSim.Hardware.Translation;

namespace VtdSim.Hardware.Tests.Faults;

/// <summary>
/// Legacy-mode fault reasons 0x01-0x0E (vtd-facts 5.1), raised with the qemu-7.2 capabilities (LegacyBench) unless a case needs
/// other ones. Each test checks the reason and the fault-recording register software would read.
/// </summary>
public class LegacyFaultTests
{
    private const ulong Iova = 0x7_3000;
    private const ulong Page = LegacyBench.DataBase;

    // ---- root entry ----

    [Fact]
    [FaultCoverage(FaultReason.LRT1_RootAccessError)]
    public void RootTableThatCannotBeReadFaultsLrt1()
    {
        var bench = new LegacyBench().WithMapping(Iova, Page);
        bench.Memory.InjectError(bench.Tables.Root, 4096);
        var request = LegacyBench.Read(Iova);

        FaultAssert.Recorded(bench.Unit, bench.Unit.Translate(request), FaultReason.LRT1_RootAccessError, request);
    }

    [Fact]
    [FaultCoverage(FaultReason.LRT1_RootAccessError)]
    public void RootTableBeyondTheEndOfMemoryFaultsLrt1()
    {
        // RTADDR is below 2^HAW (39 bits), so not reserved, but no memory decodes there.
        var bench = new LegacyBench();
        Assert.True(bench.Memory.Size < 1UL << 38);
        RegisterProgramming.EnableTranslation(bench.Unit, new Hpa(1UL << 38), TranslationTableMode.Legacy);
        var request = LegacyBench.Read(Iova);

        FaultAssert.Recorded(bench.Unit, bench.Unit.Translate(request), FaultReason.LRT1_RootAccessError, request);
    }

    [Fact]
    [FaultCoverage(FaultReason.LRT2_RootNotPresent)]
    public void RequestFromABusWithoutRootEntryFaultsLrt2()
    {
        var bench = new LegacyBench().WithMapping(Iova, Page); // bus 0 only
        var request = new DmaRequest(new SourceId(3, 0, 0), new Iova(Iova), DmaAccess.Read);

        FaultAssert.Recorded(bench.Unit, bench.Unit.Translate(request), FaultReason.LRT2_RootNotPresent, request);
    }

    [Theory]
    [InlineData(1)]   // low bits 11:1 are reserved
    [InlineData(11)]
    [InlineData(39)]  // address bit at HAW (39)
    [InlineData(64)]  // the whole high qword is reserved in legacy mode
    [FaultCoverage(FaultReason.LRT3_RootReserved)]
    public void RootEntryWithAReservedBitFaultsLrt3(int bit)
    {
        var bench = new LegacyBench().WithMapping(Iova, Page);
        FaultTables.SetBit(bench.Memory, bench.Tables.Root, bit); // bus 0's root entry
        var request = LegacyBench.Read(Iova);

        FaultAssert.Recorded(bench.Unit, bench.Unit.Translate(request), FaultReason.LRT3_RootReserved, request);
    }

    // ---- context entry ----

    [Fact]
    [FaultCoverage(FaultReason.LCT1_ContextAccessError)]
    public void ContextTableThatCannotBeReadFaultsLct1()
    {
        var bench = new LegacyBench();
        Hpa context = bench.SetContext(bench.DefaultContext());
        bench.Memory.InjectError(context.PageBase, 4096);
        var request = LegacyBench.Read(Iova);

        FaultAssert.Recorded(bench.Unit, bench.Unit.Translate(request), FaultReason.LCT1_ContextAccessError, request);
    }

    [Fact]
    [FaultCoverage(FaultReason.LCT2_ContextNotPresent)]
    public void DeviceWithoutContextEntryFaultsLct2()
    {
        var bench = new LegacyBench().WithMapping(Iova, Page); // 00:02.0 has a domain; 00:03.0 on the same bus does not
        var request = new DmaRequest(new SourceId(0, 3, 0), new Iova(Iova), DmaAccess.Read);

        FaultAssert.Recorded(bench.Unit, bench.Unit.Translate(request), FaultReason.LCT2_ContextNotPresent, request);
    }

    [Fact]
    [FaultCoverage(FaultReason.LCT2_ContextNotPresent)]
    public void ContextEntryWithPClearFaultsLct2()
    {
        var bench = new LegacyBench();
        bench.SetContext(bench.DefaultContext().WithPresent(false));
        var request = LegacyBench.Write(Iova);

        FaultAssert.Recorded(bench.Unit, bench.Unit.Translate(request), FaultReason.LCT2_ContextNotPresent, request);
    }

    [Theory]
    [InlineData(4)]        // low 11:4
    [InlineData(39)]       // SLPTPTR bit at HAW
    [InlineData(64 + 7)]   // bit 71
    [InlineData(64 + 24)]  // bits 127:88
    [FaultCoverage(FaultReason.LCT3_ContextReserved)]
    public void ContextEntryWithAReservedBitFaultsLct3(int bit)
    {
        var bench = new LegacyBench();
        Hpa context = bench.SetContext(bench.DefaultContext());
        FaultTables.SetBit(bench.Memory, context, bit);
        var request = LegacyBench.Read(Iova);

        FaultAssert.Recorded(bench.Unit, bench.Unit.Translate(request), FaultReason.LCT3_ContextReserved, request);
    }

    public enum InvalidContext { ReservedTt, AwNotInSagaw, DeviceTlbWithoutDt, PassThroughWithoutPt }

    [Theory]
    [InlineData(InvalidContext.ReservedTt)]
    [InlineData(InvalidContext.AwNotInSagaw)]       // AW=2 (48-bit) but qemu-7.2 offers only 39-bit
    [InlineData(InvalidContext.DeviceTlbWithoutDt)] // TT=01 but ECAP.DT=0
    [InlineData(InvalidContext.PassThroughWithoutPt)]
    [FaultCoverage(FaultReason.LCT4_ContextInvalid)]
    public void InvalidlyProgrammedContextFaultsLct4(InvalidContext kind)
    {
        VtdProfile profile = kind == InvalidContext.PassThroughWithoutPt
            ? FaultProfiles.Qemu72Legacy with { Name = "qemu-7.2-no-pt", Ecap = FaultProfiles.Qemu72Legacy.Ecap.With(ExtendedCapabilityBit.PT, false) }
            : FaultProfiles.Qemu72Legacy;
        var bench = new LegacyBench(profile);
        LegacyContextEntry ctx = bench.DefaultContext();
        bench.SetContext(kind switch
        {
            InvalidContext.ReservedTt => ctx.WithTranslationType(TranslationType.Reserved),
            InvalidContext.AwNotInSagaw => LegacyContextEntry.Create(bench.SecondLevel.Root, 2, LegacyBench.DomainId),
            InvalidContext.DeviceTlbWithoutDt => ctx.WithTranslationType(TranslationType.AllRequests),
            _ => ctx.WithTranslationType(TranslationType.PassThrough),
        });
        var request = LegacyBench.Read(Iova);

        FaultAssert.Recorded(bench.Unit, bench.Unit.Translate(request), FaultReason.LCT4_ContextInvalid, request);
    }

    [Fact]
    [FaultCoverage(FaultReason.LCT5_TranslationTypeBlocked)]
    public void TranslatedRequestWithTt00FaultsLct5()
    {
        // TT=00 admits only untranslated requests; an ATS-translated one is blocked (and recorded: it is not a
        // translation request, whose faults go back to the device).
        var bench = new LegacyBench().WithMapping(Iova, Page);
        var request = LegacyBench.Read(Iova) with { AddressType = AddressType.Translated };

        FaultAssert.Recorded(bench.Unit, bench.Unit.Translate(request), FaultReason.LCT5_TranslationTypeBlocked, request);
        Assert.Equal(2, FaultRecord.Read(bench.Unit).AddressType); // AT=10: translated
    }

    // ---- the second-level walk ----

    [Theory]
    [InlineData(1UL << 39)]           // first address beyond a 3-level (39-bit) table
    [InlineData(0xFFFF_FFFF_FFFF_F000)]
    [FaultCoverage(FaultReason.LGN1_AddressBeyondWidth)]
    public void AddressBeyondTheDomainWidthFaultsLgn1(ulong address)
    {
        var bench = new LegacyBench().WithMapping(Iova, Page);
        var request = LegacyBench.Read(address);

        DmaFault fault = FaultAssert.Recorded(bench.Unit, bench.Unit.Translate(request), FaultReason.LGN1_AddressBeyondWidth, request);
        FaultAssert.Explains(fault, $"address 0x{address:x} is beyond the domain's limit 0x7fffffffff");
    }

    [Fact]
    [FaultCoverage(FaultReason.LGN1_AddressBeyondWidth)]
    public void PassThroughAddressBeyondHostWidthFaultsLgn1()
    {
        var bench = new LegacyBench();
        bench.SetContext(bench.DefaultContext().WithTranslationType(TranslationType.PassThrough));
        var ok = bench.Unit.Translate(LegacyBench.Read(0x1234_5000));
        Assert.True(ok.Success);
        Assert.Equal(new Hpa(0x1234_5000), ok.Address);

        var request = LegacyBench.Read(1UL << 39); // HAW of qemu-7.2 is 39
        FaultAssert.Recorded(bench.Unit, bench.Unit.Translate(request), FaultReason.LGN1_AddressBeyondWidth, request);
    }

    [Fact]
    [FaultCoverage(FaultReason.LGN2_WriteDenied)]
    public void WriteToAReadOnlyPageFaultsLgn2AndLeavesMemoryAlone()
    {
        var bench = new LegacyBench().WithMapping(Iova, Page, read: true, write: false);
        var request = LegacyBench.Write(Iova + 0x10);

        var result = bench.Unit.DmaWrite(request, new byte[] { 1, 2, 3, 4 });

        FaultAssert.Recorded(bench.Unit, result, FaultReason.LGN2_WriteDenied, request);
        Assert.Equal(0UL, bench.Memory.Read64(new Hpa(Page + 0x10)));
        Assert.False(FaultRecord.Read(bench.Unit).T1); // legacy T: 0 = write
    }

    [Fact]
    [FaultCoverage(FaultReason.LGN2_WriteDenied)]
    public void WriteToAnUnmappedAddressFaultsLgn2()
    {
        // Legacy mode has no "not present" code: R=W=0 is reported as the missing right (vtd-facts 3.3).
        var bench = new LegacyBench().WithMapping(Iova, Page);
        var request = LegacyBench.Write(Iova + 0x1000);

        DmaFault fault = FaultAssert.Recorded(bench.Unit, bench.Unit.Translate(request), FaultReason.LGN2_WriteDenied, request);
        FaultAssert.Explains(fault, $"address 0x{Iova + 0x1000:x} is not mapped: the second-level L1 entry at 0x{fault.EntryAddress?.Value:x} grants neither read nor write");
    }

    [Fact]
    [FaultCoverage(FaultReason.LGN3_ReadDenied)]
    public void ReadOfAWriteOnlyPageFaultsLgn3()
    {
        var bench = new LegacyBench().WithMapping(Iova, Page, read: false, write: true);
        bench.Memory.Write64(new Hpa(Page), 0x1122_3344_5566_7788);
        var request = LegacyBench.Read(Iova);
        var buffer = new byte[8];

        var result = bench.Unit.DmaRead(request, buffer);

        FaultAssert.Recorded(bench.Unit, result, FaultReason.LGN3_ReadDenied, request);
        Assert.All(buffer, b => Assert.Equal(0, b)); // nothing delivered
        Assert.True(FaultRecord.Read(bench.Unit).T1); // legacy T: 1 = read
    }

    [Fact]
    [FaultCoverage(FaultReason.LGN3_ReadDenied)]
    public void ReadOfAnUnmappedAddressFaultsLgn3()
    {
        var bench = new LegacyBench().WithMapping(Iova, Page);
        var request = LegacyBench.Read(0x40_0000);

        FaultAssert.Recorded(bench.Unit, bench.Unit.Translate(request), FaultReason.LGN3_ReadDenied, request);
    }

    [Fact]
    [FaultCoverage(FaultReason.LSL1_PagingEntryAccessError)]
    public void SecondLevelTableThatCannotBeReadFaultsLsl1()
    {
        var bench = new LegacyBench().WithMapping(Iova, Page);
        bench.Memory.InjectError(bench.SecondLevel.EntryAddress(new Gpa(Iova), 1).PageBase, 4096);
        var request = LegacyBench.Read(Iova);

        FaultAssert.Recorded(bench.Unit, bench.Unit.Translate(request), FaultReason.LSL1_PagingEntryAccessError, request);
    }

    /// <summary>
    /// The table SLPTPTR points to is not read through a second-level entry's ADDR field, so its read error is not LSL.1:
    /// the specification lists it as LCT.4.3, invalid context programming (0x3), as SSS.4 is separate from SSS.1 in
    /// scalable mode (decisions D46). QEMU 7.2 reports 0x3 too (differential suite).
    /// </summary>
    [Theory]
    [InlineData(3)]
    [InlineData(4)]
    [FaultCoverage(FaultReason.LCT4_ContextInvalid)]
    public void SecondLevelTopTableThatCannotBeReadThroughSlptptrFaultsLct4(int levels)
    {
        var bench = new LegacyBench(levels == 4 ? BuiltInProfiles.Architectural : null, levels).WithMapping(Iova, Page);
        bench.Memory.InjectError(bench.SecondLevel.Root, 4096);
        var request = LegacyBench.Read(Iova);

        FaultAssert.Recorded(bench.Unit, bench.Unit.Translate(request), FaultReason.LCT4_ContextInvalid, request);
    }

    [Theory]
    [InlineData(1, 11)]  // SNP in a leaf, but qemu-7.2 has no ECAP.SC
    [InlineData(1, 62)]  // TM in a leaf, but no ECAP.DT
    [InlineData(1, 39)]  // address bit at HAW
    [InlineData(2, 62)]  // bit 62 is reserved in non-leaf entries
    [InlineData(3, 11)]  // bit 11 is reserved in non-leaf entries
    [FaultCoverage(FaultReason.LSL2_PagingEntryReserved)]
    public void SecondLevelEntryWithAReservedBitFaultsLsl2(int level, int bit)
    {
        var bench = new LegacyBench().WithMapping(Iova, Page);
        FaultTables.SetBit(bench.Memory, bench.SecondLevel.EntryAddress(new Gpa(Iova), level), bit);
        var request = LegacyBench.Read(Iova);

        FaultAssert.Recorded(bench.Unit, bench.Unit.Translate(request), FaultReason.LSL2_PagingEntryReserved, request);
    }

    [Fact]
    [FaultCoverage(FaultReason.LSL2_PagingEntryReserved)]
    public void TwoMegabytePageWithLowFrameBitsSetFaultsLsl2()
    {
        var bench = new LegacyBench();
        bench.SetContext(bench.DefaultContext());
        bench.SecondLevel.Map(new Gpa(0x20_0000), new Hpa(Page), 2UL << 20);
        FaultTables.SetBit(bench.Memory, bench.SecondLevel.EntryAddress(new Gpa(0x20_0000), 2), 12); // frame bits 20:12 must be 0
        var request = LegacyBench.Read(0x20_0000);

        FaultAssert.Recorded(bench.Unit, bench.Unit.Translate(request), FaultReason.LSL2_PagingEntryReserved, request);
    }

    [Fact]
    [FaultCoverage(FaultReason.LGN4_InterruptAddress)]
    public void MappingIntoTheInterruptRangeFaultsLgn4()
    {
        var bench = new LegacyBench().WithMapping(Iova, 0xFEE0_0000);
        var request = LegacyBench.Write(Iova);

        FaultAssert.Recorded(bench.Unit, bench.Unit.Translate(request), FaultReason.LGN4_InterruptAddress, request);
    }

    [Fact]
    [FaultCoverage(FaultReason.LGN4_InterruptAddress)]
    public void PassThroughIntoTheInterruptRangeFaultsLgn4()
    {
        var bench = new LegacyBench();
        bench.SetContext(bench.DefaultContext().WithTranslationType(TranslationType.PassThrough));
        var request = LegacyBench.Write(0xFEEF_F000);

        FaultAssert.Recorded(bench.Unit, bench.Unit.Translate(request), FaultReason.LGN4_InterruptAddress, request);
    }
}
