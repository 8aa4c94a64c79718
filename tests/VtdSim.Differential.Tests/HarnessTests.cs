using VtdSim.Differential.Tests.Infrastructure;

namespace VtdSim.Differential.Tests;

/// <summary>The harness itself: both machines answer the same register reads and move bytes the same way without remapping.</summary>
public class HarnessTests
{
    [Fact]
    public void The_tiny_bios_is_cli_hlt_at_the_reset_vector()
    {
        byte[] image = TinyBios.Image();
        Assert.Equal(65536, image.Length);
        Assert.Equal(new byte[] { 0xFA, 0xF4 }, image[0xFFF0..0xFFF2]);
    }

    [QemuTheory]
    [InlineData("legacy")]
    [InlineData("scalable")]
    public void VER_CAP_ECAP_and_reset_state_are_identical(string mode)
    {
        var config = mode == "legacy" ? TargetConfig.Legacy : TargetConfig.Scalable;
        var regs = Both.Run(config, t => string.Join(' ',
            $"VER=0x{t.Read32(Reg.VER):x}", $"CAP=0x{t.Read64(Reg.CAP):x16}", $"ECAP=0x{t.Read64(Reg.ECAP):x16}",
            $"GSTS=0x{t.Read32(Reg.GSTS):x}", $"FSTS=0x{t.Read32(Reg.FSTS):x}", $"FECTL=0x{t.Read32(Reg.FECTL):x}",
            $"FRCD.hi=0x{t.Read64(0x228):x16}", $"IQH=0x{t.Read64(Reg.IQH):x}")).Agree();
        Assert.Contains("VER=0x10", regs);
        Assert.Contains(mode == "legacy" ? "ECAP=0x0000000000f00f4a" : "ECAP=0x0000480080f00f4a", regs);
    }

    [QemuFact]
    public void With_translation_disabled_DMA_addresses_are_physical()
    {
        byte[] data = Pattern.Bytes(1, 200);
        var outcome = Both.Run(TargetConfig.Legacy, t =>
        {
            var driver = new VtdDriver(t);
            t.WriteMem(Layout.Src + 0x10, data);
            t.Dma(EduDirection.FromRam, Layout.Src + 0x10, data.Length, bufferOffset: 0x300);
            t.Dma(EduDirection.ToRam, Layout.Dst + 0xF80, data.Length, bufferOffset: 0x300); // crosses a page boundary
            return driver.Observe(Layout.Dst + 0xF80, data.Length);
        }).Agree();
        Assert.Equal(data, outcome.Bytes);
        Assert.True(outcome.NoFaultPending);
    }
}
