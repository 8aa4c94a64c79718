using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Building;
using VtdSim.Hardware.Events;
using VtdSim.Hardware.Memory;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Registers;
using VtdSim.Hardware.Structures;
using VtdSim.Hardware.Translation;
using VtdSim.Hardware.Tests.Support;

namespace VtdSim.Hardware.Tests.Invalidation;

/// <summary>Register-based invalidation: CCMD and the IVA/IOTLB registers at ECAP.IRO (spec 6.5.1, vtd-facts §1.6).</summary>
public class RegisterInvalidationTests
{
    private const ulong Icc = 1UL << 63, Ivt = 1UL << 63;

    private static VtdUnit NewUnit(VtdProfile? profile = null) => new(new PhysicalMemory(1UL << 32), profile ?? BuiltInProfiles.Qemu72Legacy);

    private static int Iotlb(VtdUnit unit) => unit.Profile.Ecap.IotlbRegisterOffset + 8;
    private static int Iva(VtdUnit unit) => unit.Profile.Ecap.IotlbRegisterOffset;

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void AContextCommandCompletesReportingItsGranularity(int cirg)
    {
        var unit = NewUnit();
        unit.WriteRegister64(RegisterOffset.CCMD, Icc | (ulong)cirg << 61 | 0x0008UL << 16 | 5);

        ulong ccmd = unit.ReadRegister64(RegisterOffset.CCMD);
        Assert.Equal(0UL, ccmd & Icc);
        Assert.Equal((ulong)cirg, (ccmd >> 59) & 3); // CAIG
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(2, 2)]
    [InlineData(3, 3)]
    public void AnIotlbCommandCompletesReportingItsGranularity(int iirg, int expected)
    {
        var unit = NewUnit();
        unit.WriteRegister64(Iva(unit), 0x4000);
        unit.WriteRegister64(Iotlb(unit), Ivt | (ulong)iirg << 60 | 1UL << 32);

        ulong reg = unit.ReadRegister64(Iotlb(unit));
        Assert.Equal(0UL, reg & Ivt);
        Assert.Equal((ulong)expected, (reg >> 57) & 3); // IAIG
    }

    [Fact]
    public void APageSelectiveRequestBeyondMamvIsCarriedOutAsDomainSelective()
    {
        var unit = NewUnit();
        int mamv = unit.Profile.Cap.MaximumAddressMaskValue;
        unit.WriteRegister64(Iva(unit), (ulong)(mamv + 1));
        unit.WriteRegister64(Iotlb(unit), Ivt | 3UL << 60 | 1UL << 32);

        Assert.Equal(2UL, (unit.ReadRegister64(Iotlb(unit)) >> 57) & 3);
    }

    /// <summary>
    /// A page-selective request through IVA/IOTLB removes a cached translation at the very top of the domain's input
    /// space (a 57-bit legacy domain: the range's last address is 2^57 - 1), at every page size (decisions D34).
    /// </summary>
    [Theory]
    [InlineData(4096UL, 0)]
    [InlineData(2UL << 20, 9)]
    [InlineData(1UL << 30, 18)]
    public void APageSelectiveRequestAtTheTopOfTheInputSpaceRemovesTheEntry(ulong pageSize, int am)
    {
        var bench = new LegacyBench(BuiltInProfiles.Architectural, levels: 5, cached: true);
        ulong iova = (1UL << 57) - pageSize;
        bench.SetContext(bench.DefaultContext());
        bench.SecondLevel.Map(new Gpa(iova), new Hpa(1UL << 32), pageSize);
        Assert.True(bench.Unit.Translate(LegacyBench.Read(iova + pageSize - 8)).Success); // fills the IOTLB
        bench.Memory.Write64(bench.SecondLevel.EntryAddress(new Gpa(iova), pageSize switch { 4096 => 1, 2UL << 20 => 2, _ => 3 }), 0);

        bench.Unit.WriteRegister64(Iva(bench.Unit), ((1UL << 57) - (4096UL << am)) | (uint)am);
        bench.Unit.WriteRegister64(Iotlb(bench.Unit), Ivt | 3UL << 60 | (ulong)LegacyBench.DomainId << 32);

        Assert.Equal(3UL, (bench.Unit.ReadRegister64(Iotlb(bench.Unit)) >> 57) & 3); // carried out page-selectively
        Assert.False(bench.Unit.Translate(LegacyBench.Read(iova + pageSize - 8)).Success); // walked afresh: not mapped
    }

    [Fact]
    public void RegisterInvalidationWhileQueuedInvalidationIsOnIsIgnoredAndReported()
    {
        var unit = NewUnit();
        unit.WriteRegister64(RegisterOffset.IQA, 0x20_0000);
        unit.WriteRegister32(RegisterOffset.GCMD, (uint)GlobalCommand.QueuedInvalidationEnable);

        unit.WriteRegister64(RegisterOffset.CCMD, Icc | 1UL << 61);

        Assert.Equal(0UL, (unit.ReadRegister64(RegisterOffset.CCMD) >> 59) & 3); // CAIG 0: not done
        Assert.Contains(unit.Events.OfType<RegisterWarningEvent>(), w => w.Message.Contains("queued invalidation"));
    }

    /// <summary>
    /// Decisions D48: in scalable mode a CCMD command is not carried out — ICC clears with CAIG=00 ("not performed"),
    /// a warning is reported, and the context cache keeps the entry it had, so a context entry cleared in memory still
    /// translates until a queued context-cache invalidation. (QEMU 7.2 carries it out: a differential departure.)
    /// </summary>
    [Fact]
    public void AContextCommandInScalableModeIsIgnoredAndReportedAndTheCachedEntryStays()
    {
        var memory = new PhysicalMemory(1UL << 32);
        var unit = new VtdUnit(memory, BuiltInProfiles.Qemu72Scalable); // caches context entries per device (D31)
        var frames = new FrameAllocator(memory, new Hpa(0x10_0000), new Hpa(0x1000_0000));
        var tables = new RemappingTables(frames, scalable: true);
        var ss = new SecondStageTableBuilder(frames, 3);
        var device = new SourceId(0, 1, 0);
        Hpa context = tables.SetScalableContext(device, dir => ScalableContextEntry.Create(dir));
        tables.SetPasidEntry(device, 0, PasidEntry.SecondStage(ss.Root, ss.AddressWidth, 1));
        ss.Map(new Gpa(0x4000), new Hpa(0x2000_0000));
        ss.Map(new Gpa(0x5000), new Hpa(0x2000_1000));
        RegisterProgramming.EnableTranslation(unit, tables.Root, TranslationTableMode.Scalable);
        Assert.True(unit.Translate(new DmaRequest(device, new Iova(0x4000), DmaAccess.Read)).Success);
        memory.Write(context, new byte[32]); // not present, no queued invalidation

        unit.WriteRegister64(RegisterOffset.CCMD, Icc | 1UL << 61);

        ulong ccmd = unit.ReadRegister64(RegisterOffset.CCMD);
        Assert.Equal(0UL, ccmd & Icc);
        Assert.Equal(0UL, (ccmd >> 59) & 3); // CAIG 00: not performed
        Assert.Contains(unit.Events.OfType<RegisterWarningEvent>(), w => w.Offset == RegisterOffset.CCMD && w.Message.Contains("scalable mode"));
        Assert.True(unit.Translate(new DmaRequest(device, new Iova(0x5000), DmaAccess.Read)).Success); // still the cached entry
    }

    [Fact]
    public void RegisterInvalidationInScalableModeIsIgnoredAndReported()
    {
        var unit = NewUnit(BuiltInProfiles.Architectural);
        unit.WriteRegister64(RegisterOffset.RTADDR, 0x10_0000 | 1UL << 10);
        unit.WriteRegister32(RegisterOffset.GCMD, (uint)GlobalCommand.SetRootTablePointer);

        unit.WriteRegister64(Iotlb(unit), Ivt | 1UL << 60);

        Assert.Equal(0UL, (unit.ReadRegister64(Iotlb(unit)) >> 57) & 3);
        Assert.Contains(unit.Events.OfType<RegisterWarningEvent>(), w => w.Message.Contains("scalable mode"));
    }
}
