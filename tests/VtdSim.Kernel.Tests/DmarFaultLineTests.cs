using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Events;
using VtdSim.Kernel.Intel;
using VtdSim.Kernel.Iommufd;
using VtdSim.Kernel.Tests.Iommufd;

namespace VtdSim.Kernel.Tests;

/// <summary>
/// Reading DMAR fault lines: Linux's forms over the versions (the lines below are as they appear in public bug
/// reports), every line the model's own fault handler prints, and bad or mixed-up lines refused with a message that
/// says what was expected and quotes what was found.
/// </summary>
public class DmarFaultLineTests
{
    private static DmarFaultLine Parse(string line)
    {
        Assert.True(DmarFaultLine.TryParse(line, out DmarFaultLine? fault, out string error), error);
        return fault;
    }

    [Fact]
    public void TheFormWithoutPasidReadsItsDecimalReason()
    {
        var f = Parse("[10672.868940] DMAR: [DMA Write] Request device [00:12.0] fault addr 0 [fault reason 05] PTE Write access is not set");
        Assert.Equal(DmarRequestKind.DmaWrite, f.Kind);
        Assert.Equal((0, 0x12, 0), (f.Bus, f.Device, f.Function));
        Assert.Equal(0UL, f.Address);
        Assert.Equal(0x05, f.Reason);
        Assert.Null(f.Pasid);
        Assert.Equal(DmarLineForm.WithoutPasid, f.Form);
        Assert.Equal("[10672.868940]", f.Prefix);
        Assert.Empty(f.Warnings);

        // %02d: reason 12 is 0x0c.
        var reserved = Parse("DMAR: [DMA Read] Request device [06:00.0] fault addr ffe12000 [fault reason 12] non-zero reserved fields in PTE");
        Assert.Equal(0x0c, reserved.Reason);
        Assert.Equal(0xffe12000UL, reserved.Address);
        Assert.Empty(reserved.Warnings);
    }

    [Fact]
    public void ThePasidFieldFormReadsFfffffffAsNoPasid()
    {
        var f = Parse("[  144.480641] DMAR: [DMA Read] Request device [00:02.0] PASID ffffffff fault addr 9c000000 [fault reason 06] PTE Read access is not set");
        Assert.Equal(DmarLineForm.PasidField, f.Form);
        Assert.Null(f.Pasid);
        Assert.Equal(0x9c000000UL, f.Address);
        Assert.Equal(0x06, f.Reason);
        Assert.Equal(0x0010, f.SourceId);

        var withPasid = Parse("DMAR: [DMA Write] Request device [6a:01.0] PASID 2 fault addr 7fe0c9943000 [fault reason 113] SM: Present bit in first-level paging entry is clear");
        Assert.Equal(2u, withPasid.Pasid);
        Assert.Equal(0x71, withPasid.Reason);
    }

    [Fact]
    public void TheHexFormReadsNoPasidAndPasidAndBothDeviceForms()
    {
        var f = Parse("[    0.938401] kernel: DMAR: [DMA Read NO_PASID] Request device [0x00:0x02.0] fault addr 0x70ad5000 [fault reason 0x07] Next page table ptr is invalid");
        Assert.Equal(DmarLineForm.Hex, f.Form);
        Assert.Null(f.Pasid);
        Assert.Equal((0, 2, 0), (f.Bus, f.Device, f.Function));
        Assert.Equal(0x07, f.Reason);
        Assert.Equal("[    0.938401] kernel:", f.Prefix);

        var p = Parse("DMAR: [DMA Read PASID 0x2] Request device [6a:01.0] fault addr 0x7fe0c9943000 [fault reason 0x3a] SM: Non-zero reserved field set in Root Entry");
        Assert.Equal(2u, p.Pasid);
        Assert.Equal(0x6a, p.Bus);
        Assert.Equal(0x7fe0c9943000UL, p.Address);
        Assert.Equal(0x3a, p.Reason);
        Assert.Empty(p.Warnings);
    }

    [Fact]
    public void InterruptRemappingLinesInBothForms()
    {
        var old = Parse("DMAR: [INTR-REMAP] Request device [f0:1f.0] fault index 21 [fault reason 34] Present field in the IRTE entry is clear");
        Assert.Equal(DmarRequestKind.InterruptRemapping, old.Kind);
        Assert.Equal(0x21UL, old.Address);
        Assert.Equal(0x22, old.Reason);
        Assert.Equal(DmarLineForm.WithoutPasid, old.Form);

        var hex = Parse("DMAR: [INTR-REMAP] Request device [0xf0:0x1f.0] fault index 0x21 [fault reason 0x22] Present field in the IRTE entry is clear");
        Assert.Equal(DmarLineForm.Hex, hex.Form);
        Assert.Equal(0x22, hex.Reason);
        Assert.Empty(hex.Warnings);
    }

    [Fact]
    public void ALineWithoutTheReasonTextOrWithAnotherTextIsReadWithAWarning()
    {
        Assert.Empty(Parse("DMAR: [DMA Write NO_PASID] Request device [00:04.0] fault addr 0x1000 [fault reason 0x05]").Warnings);
        var wrong = Parse("DMAR: [DMA Write NO_PASID] Request device [00:04.0] fault addr 0x1000 [fault reason 0x05] PTE Read access is not set");
        Assert.Equal(0x05, wrong.Reason);
        Assert.Contains("not Linux's for reason 0x05", Assert.Single(wrong.Warnings));
        // A decimal code retyped from a hex one: the text decides.
        var retyped = Parse("DMAR: [DMA Read] Request device [00:02.0] fault addr 1000 [fault reason 77] SM: Write permission error in first-level paging entry in Nested translation");
        Assert.Equal(0x77, retyped.Reason);
        Assert.Contains("read as 0x77", Assert.Single(retyped.Warnings));
        var cut = Parse("DMAR: [DMA Read NO_PASID] Request device [00:02.0] fault addr 0x1000 [fault reason 0x06] PTE Read acc");
        Assert.Contains("cut short", Assert.Single(cut.Warnings));
    }

    public static TheoryData<string, string> BadLines => new()
    {
        { "hello", "no 'DMAR:'" },
        { "DMAR: DRHD: handling fault status reg 3", "a DMAR fault status line, not a fault line" },
        { "DMAR:[fault reason 12] non-zero reserved fields in PTE", "Linux 3.x" },
        { "DMAR:[DMA Read] Request device [00:02.0] fault addr 1a45aa9000 ", "no '[fault reason NN]'" },
        { "DMAR: [DMA Copy] Request device [00:02.0] fault addr 0 [fault reason 05]", "expected 'DMA Read', 'DMA Write' or 'INTR-REMAP' after 'DMAR: ['; found 'DMA Copy]" },
        { "DMAR: [DMA Read NO_PASID] Request device [00:20.0] fault addr 0x0 [fault reason 0x05]", "device 00-1f" },
        { "DMAR: [DMA Read NO_PASID] Request device [00:02.8] fault addr 0x0 [fault reason 0x05]", "function 0-7" },
        { "DMAR: [DMA Read NO_PASID] Request device [0x00:02.0] fault addr 0x0 [fault reason 0x05]", "both with 0x or both without" },
        { "DMAR: [DMA Read NO_PASID] Request device [00:02.0] PASID ffffffff fault addr 0x0 [fault reason 0x05]", "one PASID only" },
        { "DMAR: [DMA Read] Request device [00:02.0] fault addr 0x1000 [fault reason 0x05]", "mixed forms" },
        { "DMAR: [DMA Read NO_PASID] Request device [00:02.0] fault addr 1000 [fault reason 0x05]", "mixed forms" },
        { "DMAR: [DMA Read NO_PASID] Request device [00:02.0] fault addr 0x1000 [fault reason 05]", "mixed forms" },
        { "DMAR: [DMA Read] Request device [00:02.0] fault index 21 [fault reason 05]", "a DMA fault has an address, not an index" },
        { "DMAR: [INTR-REMAP] Request device [00:02.0] fault addr 21 [fault reason 34]", "an INTR-REMAP fault has an index, not an address" },
        { "DMAR: [DMA Read NO_PASID] Request device [00:02.0] fault addr 0x1000 [fault reason 0x100]", "more than one byte" },
        { "DMAR: [DMA Read NO_PASID] Request device [00:02.0] fault addr 0x11111111111111111 [fault reason 0x05]", "up to 64 bits" },
        { "DMAR: [DMA Read NO_PASID] Request device [00:02.0] fault addr 0x1000 [fault reason 0x05", "']' after the reason code" },
        { "DMAR: [DMA Read NO_PASID] Request device [00:02", "the line ends where a device" },
        { "DMAR: [DMA Read PASID 2] Request device [00:02.0] fault addr 0x1000 [fault reason 0x05]", "a PASID as 0x" },
    };

    [Theory]
    [MemberData(nameof(BadLines))]
    public void BadLinesAreRefusedSayingWhatWasExpected(string line, string message)
    {
        Assert.False(DmarFaultLine.TryParse(line, out DmarFaultLine? fault, out string error));
        Assert.Null(fault);
        Assert.Contains(message, error);
    }

    /// <summary>The model's own handler: every fault line it logs reads back as the fault the unit recorded.</summary>
    [Fact]
    public void EveryFaultLineTheModelsKernelPrintsReadsBackAsTheFault()
    {
        var lines = new List<(string Line, FaultEvent Event)>();
        void Run(IommufdBench b, Action dma)
        {
            int start = b.Kernel.Log.Lines.Count;
            int events = b.Machine.HardwareIommu!.Events.OfType<FaultEvent>().Count();
            dma();
            var fault = b.Machine.HardwareIommu!.Events.OfType<FaultEvent>().Skip(events).Single();
            lines.Add((b.Kernel.Log.Lines.Skip(start).Single(l => l.StartsWith("DMAR: [", StringComparison.Ordinal)), fault));
        }
        SourceId dev = IommufdBench.Dev1;
        var legacy = new IommufdBench(options: new IntelIommuOptions { ScalableMode = false });
        uint ioas = legacy.Ioas();
        legacy.BindAttach(dev, ioas);
        ulong iova = legacy.Map(ioas, legacy.Buffer(1), 4096, IoasMapFlags.Readable, iova: 0x1000);
        Run(legacy, () => legacy.DmaWrite64(dev, iova, 1));
        Run(legacy, () => legacy.DmaRead64(dev, 0x7654_3000));

        var scalable = new IommufdBench();
        ioas = scalable.Ioas();
        scalable.BindAttach(dev, ioas);
        iova = scalable.Map(ioas, scalable.Buffer(1), 4096, IoasMapFlags.Readable, iova: 0x1000);
        Run(scalable, () => scalable.DmaRead64(dev, 0x7654_3000));
        Run(scalable, () => scalable.DmaWrite64(dev, iova, 1));
        Run(scalable, () => scalable.DmaRead64(dev, 1, iova));
        var another = new IommufdBench(); // a fresh kernel: Linux's rate limit (10 lines in 5 s) would drop a fifth fault's lines
        ioas = another.Ioas();
        another.BindAttach(dev, ioas);
        Run(another, () => another.DmaRead64(dev, 0xfffff, 0x2000));

        Assert.Equal(6, lines.Count);
        foreach (var (line, e) in lines)
        {
            var f = Parse(line);
            Assert.Equal(e.Fault.Request.Source.Value, f.SourceId);
            Assert.Equal(e.Fault.FaultAddress.Value, f.Address);
            Assert.Equal(e.Fault.Code, f.Reason);
            Assert.Equal(e.Fault.Request.Pasid, f.Pasid);
            Assert.Equal(e.Fault.Request.Access == Hardware.Translation.DmaAccess.Write ? DmarRequestKind.DmaWrite : DmarRequestKind.DmaRead, f.Kind);
            Assert.Equal(DmarLineForm.Hex, f.Form);
            Assert.Empty(f.Warnings);
        }
    }

    [Theory]
    [InlineData("0x77", 0x77)]
    [InlineData("119", 0x77)]
    [InlineData(" 0X0c ", 0x0c)]
    [InlineData("0", 0)]
    public void AReasonAloneIsHexOrDecimal(string text, int code)
    {
        Assert.True(DmarFaultLine.TryParseReason(text, out byte reason, out _));
        Assert.Equal(code, reason);
    }

    [Theory]
    [InlineData("0x100", "one byte")]
    [InlineData("256", "one byte")]
    [InlineData("seven", "not a reason code")]
    [InlineData("0x", "not a reason code")]
    [InlineData("-1", "not a reason code")]
    public void ABadReasonIsRefused(string text, string message)
    {
        Assert.False(DmarFaultLine.TryParseReason(text, out _, out string error));
        Assert.Contains(message, error);
    }

    [Fact]
    public void EveryReasonCodeHasAdviceAndTheSpecsConditionWhereThereIsOne()
    {
        for (int code = 0; code < 256; code++)
        {
            var a = DmarFaultAdvice.For((byte)code);
            Assert.NotEmpty(a.Causes);
            Assert.NotEmpty(a.Checks);
            Assert.False(string.IsNullOrWhiteSpace(a.Meaning));
        }
        var sfs8 = DmarFaultAdvice.For(0x77);
        Assert.Equal("SFS.8", sfs8.Condition);
        Assert.Contains("772415", string.Join(" ", sfs8.Causes));
        Assert.Equal("SM: Write permission error in first-level paging entry in Nested translation", sfs8.LinuxText);
        Assert.Equal("LGN.2", DmarFaultAdvice.For(0x05).Condition);
        Assert.Equal("interrupt remapping", DmarFaultAdvice.For(0x22).Condition);
        Assert.Equal("none", DmarFaultAdvice.For(0xee).Condition);
    }
}
