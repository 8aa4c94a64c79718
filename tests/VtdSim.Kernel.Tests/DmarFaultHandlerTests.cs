using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Building;
using VtdSim.Hardware.Events;
using VtdSim.Hardware.Faults;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Registers;
using VtdSim.Hardware.Translation;
using VtdSim.Kernel.Intel;
using VtdSim.Kernel.Iommufd;
using VtdSim.Kernel.Tests.Iommufd;
using VtdSim.Machine;

namespace VtdSim.Kernel.Tests;

/// <summary>
/// The fault event interrupt and the driver's DMAR fault handler: Linux's lines word for word (drivers/iommu/intel/
/// dmar.c: dmar_fault, dmar_fault_do_one and the reason tables), the records cleared afterwards, the rate limit
/// (decisions B8–B13). The expected strings are written out here as Linux prints them.
/// </summary>
public class DmarFaultHandlerTests
{
    private static readonly SourceId Dev = IommufdBench.Dev1; // 00:04.0

    private static (IommufdBench Bench, ulong Iova) Attached(IntelIommuOptions? options = null, IoasMapFlags flags = IoasMapFlags.ReadWrite)
    {
        var b = new IommufdBench(options: options);
        uint ioas = b.Ioas();
        b.BindAttach(Dev, ioas);
        ulong iova = b.Map(ioas, b.Buffer(1), 4096, flags, iova: 0x1000);
        return (b, iova);
    }

    private static string[] LinesSince(IommufdBench b, int start) => [.. b.Kernel.Log.Lines.Skip(start)];

    private static uint Reg32(PhysicalMachine m, int offset) => (uint)m.Read(m.IommuBase + (ulong)offset, 4);

    private static uint FrcdHigh(PhysicalMachine m, int index)
    {
        var cap = new Capability(m.Read(m.IommuBase + RegisterOffset.CAP, 8));
        return Reg32(m, cap.FaultRecordingOffset + 16 * index + 12);
    }

    [Fact]
    public void AWriteToAReadOnlyPageInLegacyModeGivesLinuxsLineAndTheRecordIsClearedAfterwards()
    {
        var (b, iova) = Attached(new IntelIommuOptions { ScalableMode = false }, IoasMapFlags.Readable);
        int start = b.Kernel.Log.Lines.Count;

        Assert.False(b.DmaWrite64(Dev, iova, 1));

        Assert.Equal([
            "DMAR: DRHD: handling fault status reg 2",
            "DMAR: [DMA Write NO_PASID] Request device [00:04.0] fault addr 0x1000 [fault reason 0x05] PTE Write access is not set",
        ], LinesSince(b, start));
        Assert.Equal(0u, FrcdHigh(b.Machine, 0) >> 31);
        Assert.Equal(0u, Reg32(b.Machine, RegisterOffset.FSTS));
        Assert.Equal(1, b.Kernel.Iommu.FaultRecordsHandled);
    }

    [Fact]
    public void AnUnmappedIovaInScalableModeGivesTheScalableModeReasonsText()
    {
        var (b, _) = Attached();
        int start = b.Kernel.Log.Lines.Count;

        Assert.Null(b.DmaRead64(Dev, 0x7654_3000));

        Assert.Equal(FaultReason.SFS2_EntryNotPresent, b.Machine.HardwareIommu!.Events.OfType<FaultEvent>().Last().Fault.Reason);
        Assert.Equal([
            "DMAR: DRHD: handling fault status reg 2",
            "DMAR: [DMA Read NO_PASID] Request device [00:04.0] fault addr 0x76543000 [fault reason 0x71] SM: Present bit in first-level paging entry is clear",
        ], LinesSince(b, start));
    }

    [Fact]
    public void AFaultWithAPasidNamesThePasid()
    {
        var (b, iova) = Attached();
        int start = b.Kernel.Log.Lines.Count;

        Assert.Null(b.DmaRead64(Dev, 1, iova)); // PASID 1 is not attached

        Assert.Equal([
            "DMAR: DRHD: handling fault status reg 2",
            "DMAR: [DMA Read PASID 0x1] Request device [00:04.0] fault addr 0x1000 [fault reason 0x59] SM: Present bit in PASID Table Entry is clear",
        ], LinesSince(b, start));
    }

    [Fact]
    public void AReasonLinuxsTablesDoNotNamePrintsUnknown()
    {
        // Legacy pass-through to the interrupt range: LGN.4 (0x0E), which Linux's legacy table (0x00-0x0D) lacks.
        var bench = new KernelBench(options: new IntelIommuOptions { ScalableMode = false });
        Assert.Equal(Errno.Success, bench.Driver.Attach(KernelBench.Device, bench.Driver.Identity));
        int start = bench.Log.Lines.Count;

        Assert.False(bench.DmaRead(0xFEE0_0000, new byte[4]).Completed);

        Assert.Equal([
            "DMAR: DRHD: handling fault status reg 2",
            "DMAR: [DMA Read NO_PASID] Request device [00:02.0] fault addr 0xfee00000 [fault reason 0x0e] Unknown",
        ], bench.Log.Lines.Skip(start));
    }

    [Theory]
    [InlineData(0x00, "Software", DmarFaultType.DmaRemapping)]
    [InlineData(0x0D, "PCE for translation request specifies blocking", DmarFaultType.DmaRemapping)]
    [InlineData(0x0E, "Unknown", DmarFaultType.Unknown)]
    [InlineData(0x20, "Detected reserved fields in the decoded interrupt-remapped request", DmarFaultType.InterruptRemapping)]
    [InlineData(0x26, "Blocked an interrupt request due to source-id verification failure", DmarFaultType.InterruptRemapping)]
    [InlineData(0x27, "Unknown", DmarFaultType.Unknown)]
    [InlineData(0x30, "SM: Invalid Root Table Address", DmarFaultType.DmaRemapping)]
    [InlineData(0x33, "Unknown", DmarFaultType.DmaRemapping)] // a gap inside the scalable-mode table
    [InlineData(0x42, "SM: Non-zero reserved field set in the Context Entry", DmarFaultType.DmaRemapping)]
    [InlineData(0x77, "SM: Write permission error in first-level paging entry in Nested translation", DmarFaultType.DmaRemapping)]
    [InlineData(0x7C, "SM: A/D bit update needed in second-level entry when set up in no snoop", DmarFaultType.DmaRemapping)]
    [InlineData(0x87, "SM: Invalid address-interrupt address", DmarFaultType.DmaRemapping)]
    [InlineData(0x90, "SM: A/D bit update needed in first-level entry when set up in no snoop", DmarFaultType.DmaRemapping)]
    [InlineData(0x91, "Unknown", DmarFaultType.Unknown)]
    [InlineData(0xFF, "Unknown", DmarFaultType.Unknown)]
    public void ReasonTextsAreLinuxs(int reason, string text, DmarFaultType type)
    {
        Assert.Equal(text, DmarFaultReasons.Describe((byte)reason, out DmarFaultType t));
        Assert.Equal(type, t);
    }

    [Fact]
    public void FaultsThatAccumulateAreHandledInOneRunFromFriAndOverflowIsClearedToo()
    {
        var (b, _) = Attached();
        var irq = b.Machine.Interrupts;
        int start = b.Kernel.Log.Lines.Count;
        irq.DeliveryEnabled = false; // the CPU has interrupts off while the device faults nine times
        for (ulong i = 1; i <= 9; i++) Assert.Null(b.DmaRead64(Dev, i << 20));
        Assert.Equal(3u, Reg32(b.Machine, RegisterOffset.FSTS)); // PFO | PPF, FRI 0: the ninth was dropped
        Assert.Empty(LinesSince(b, start));

        irq.DeliveryEnabled = true;

        var lines = LinesSince(b, start);
        Assert.Equal(9, lines.Length); // the status line and eight records: 10 passes of the rate limit with the final look
        Assert.Equal("DMAR: DRHD: handling fault status reg 3", lines[0]);
        for (int i = 1; i <= 8; i++)
            Assert.Equal($"DMAR: [DMA Read NO_PASID] Request device [00:04.0] fault addr 0x{i}00000 [fault reason 0x71] SM: Present bit in first-level paging entry is clear", lines[i]);
        Assert.Equal(0u, Reg32(b.Machine, RegisterOffset.FSTS));
        for (int i = 0; i < 8; i++) Assert.Equal(0u, FrcdHigh(b.Machine, i) >> 31);
    }

    [Fact]
    public void PrintingIsRateLimitedAsLinuxDoesAndTheSuppressedCountIsReportedLater()
    {
        var (b, _) = Attached();
        var clock = b.Machine.Clock;
        int start = b.Kernel.Log.Lines.Count;
        // Each handler run with one record takes three passes: the status line, the record, the look that finds no F.
        for (ulong i = 1; i <= 3; i++) Assert.Null(b.DmaRead64(Dev, i << 20));
        Assert.Equal(6, LinesSince(b, start).Length); // 9 passes used
        Assert.Null(b.DmaRead64(Dev, 4UL << 20));     // the 10th pass prints the status line; the record is not printed
        Assert.Equal("DMAR: DRHD: handling fault status reg 302", LinesSince(b, start)[^1]);
        Assert.Null(b.DmaRead64(Dev, 5UL << 20));     // nothing printed, yet the record is taken
        Assert.Equal(7, LinesSince(b, start).Length);
        Assert.Equal(0u, Reg32(b.Machine, RegisterOffset.FSTS) & 0xFF); // PFO and PPF clear (FRI keeps its last value)
        Assert.Equal(5, b.Kernel.Iommu.FaultRecordsHandled);

        clock.Advance(5_000_000_000UL);               // exactly the interval: still the same one (Linux needs it passed)
        Assert.Null(b.DmaRead64(Dev, 6UL << 20));
        Assert.Equal(7, LinesSince(b, start).Length);
        clock.Advance(1_000_000);
        Assert.Null(b.DmaRead64(Dev, 7UL << 20));

        Assert.Equal([
            "dmar_fault: 8 callbacks suppressed",
            "DMAR: DRHD: handling fault status reg 602",
            "DMAR: [DMA Read NO_PASID] Request device [00:04.0] fault addr 0x700000 [fault reason 0x71] SM: Present bit in first-level paging entry is clear",
        ], LinesSince(b, start)[7..]);
    }

    [Fact]
    public void TheDriverProgramsTheMsiAndUnmasksTheFaultEventAtProbe()
    {
        var b = new IommufdBench();
        int vector = b.Kernel.Iommu.FaultVector!.Value;

        Assert.Equal((uint)vector, Reg32(b.Machine, RegisterOffset.FEDATA));
        Assert.Equal(0xFEE0_0000u, Reg32(b.Machine, RegisterOffset.FEADDR));
        Assert.Equal(0u, Reg32(b.Machine, RegisterOffset.FEUADDR));
        Assert.Equal(0u, Reg32(b.Machine, RegisterOffset.FECTL));
        Assert.True(b.Machine.Interrupts.HasHandler(vector));
    }

    [Fact]
    public void AFaultHeldByTheMaskBeforeBootIsDeliveredWhenTheDriverUnmasks()
    {
        var m = PhysicalMachine.Host(BuiltInProfiles.SapphireRapids, 1UL << 36);
        m.AddFunction(new PciFunction(Dev, "nic"));
        // A previous kernel left translation on with an empty root table, and the fault event masked (its reset state).
        RegisterProgramming.EnableTranslation(m.HardwareIommu!, new Hpa(0x10_0000), TranslationTableMode.Scalable);
        Assert.False(m.Dma.Read(new DmaRequest(Dev, new Iova(0x2000), DmaAccess.Read), new byte[4]).Completed);
        Assert.Equal(3u << 30, Reg32(m, RegisterOffset.FECTL)); // IM and IP: held pending

        var kernel = LinuxKernel.Boot(m);

        int fault = kernel.Log.Lines.ToList().IndexOf(
            "DMAR: [DMA Read NO_PASID] Request device [00:04.0] fault addr 0x2000 [fault reason 0x39] SM: Present bit in Root Entry is clear");
        Assert.True(fault >= 0, string.Join("\n", kernel.Log.Lines));
        Assert.Equal("DMAR: DRHD: handling fault status reg 2", kernel.Log.Lines[fault - 1]);
        Assert.Equal(1, m.Interrupts.Delivered);
        Assert.Equal(0u, Reg32(m, RegisterOffset.FECTL));
        Assert.Equal(0u, Reg32(m, RegisterOffset.FSTS));
    }
}
