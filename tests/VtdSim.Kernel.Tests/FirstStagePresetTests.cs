using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Registers;
using VtdSim.Kernel.Iommufd;
using VtdSim.Kernel.Tests.Iommufd;

namespace VtdSim.Kernel.Tests;

/// <summary>
/// First-stage page tables are made with A set in every entry and D in every writable leaf, as Linux's
/// DMA_FL_PTE_ACCESS / DMA_FL_PTE_DIRTY: on a unit without SMPWCS the driver clears PWSNP, and a non-snooped walk that
/// had to set a flag would fault (SFS.9) — QEMU's x-flts vIOMMU is such a unit.
/// </summary>
public class FirstStagePresetTests
{
    [Fact]
    public void AFirstStageDomainOnAUnitWithoutSnoopedWalksTranslatesWithoutAFlagUpdate()
    {
        VtdProfile noSnoop = BuiltInProfiles.Architectural with
        {
            Name = "no-smpwc",
            Ecap = BuiltInProfiles.Architectural.Ecap.With(ExtendedCapabilityBit.SMPWCS, false),
        };
        var b = new IommufdBench(noSnoop);
        uint ioas = b.Ioas();
        b.BindAttach(IommufdBench.Dev1, ioas);
        ulong iova = b.Map(ioas, b.Buffer(2), 2 * 4096, IoasMapFlags.ReadWrite, iova: 0x40_0000);

        Assert.Equal(IommufdBench.Stamp(0xA0, 1), b.DmaRead64(IommufdBench.Dev1, iova + 4096));
        Assert.True(b.DmaWrite64(IommufdBench.Dev1, iova + 8, 7));
        Assert.Equal(0, b.Kernel.Iommu.FaultRecordsHandled);
    }
}
