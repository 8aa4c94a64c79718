using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Registers;
using VtdSim.Kernel;
using VtdSim.Machine;
using VtdSim.Vmm.Memory;
using static VtdSim.Vmm.Tests.Guest.GuestSupport;
using static VtdSim.Vmm.Tests.Support.VmmHosts;

namespace VtdSim.Vmm.Tests.Guest;

/// <summary>The guest machine's MMIO (through the flat view) and its vIOMMU (decisions G5–G7).</summary>
public class GuestDeviceTests
{
    private sealed class Registers : IRegionOps
    {
        public readonly List<(ulong Offset, int Size, ulong Value)> Writes = [];

        public bool TryRead(ulong offset, int size, out ulong value)
        {
            value = 0xd00d_0000 + offset;
            return true;
        }

        public bool TryWrite(ulong offset, int size, ulong value)
        {
            Writes.Add((offset, size, value));
            return true;
        }
    }

    [Fact]
    public void AGuestCpuAccessToAnIoSectionReachesTheRegionsOperationsAndAHoleIsUnassigned()
    {
        LinuxKernel host = Boot(BuiltInProfiles.SapphireRapids);
        Vmm vmm = Vmm.Start(host, Q35(iommu: false));
        var hpet = new Registers();
        vmm.Machine.System.Subregions.Single(r => r.Name == "hpet").Ops = hpet;

        Assert.Equal(0xd00d_0010UL, vmm.GuestMachine.Read(new Hpa(0xfed0_0010), 4));
        vmm.GuestMachine.Write(new Hpa(0xfed0_0020), 8, 0x77);
        Assert.Equal([(0x20UL, 8, 0x77UL)], hpet.Writes);

        // Nothing in the PCI hole: a read is 0 and a write is dropped, as QEMU's unassigned memory.
        Assert.True(vmm.GuestMachine.TryRead(new Hpa(0xc000_0000), 4, out ulong v));
        Assert.Equal(0UL, v);
        Assert.True(vmm.GuestMachine.TryWrite(new Hpa(0xc000_0000), 4, 1));
        // No IOMMU: firmware describes none, and nothing answers at the intel_iommu address.
        Assert.False(vmm.GuestMachine.HasIommu);
        Assert.Null(vmm.VIommu);
        Assert.Equal(0UL, vmm.GuestMachine.Read(Vmm.VIommuBase + RegisterOffset.CAP, 8));
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public void WithIntelIommuTheGuestHasTheVIommuAsItsDrhdReachedThroughMmio(bool scalable, bool flts)
    {
        LinuxKernel host = Boot(BuiltInProfiles.SapphireRapids);
        Vmm vmm = Vmm.Start(host, Q35(scalable: scalable, flts: flts));
        Assert.Equal(VmmState.Running, vmm.State);
        PhysicalMachine guest = vmm.GuestMachine;

        Assert.Equal([new RemappingUnitDescription(new Hpa(0xfed90000))], guest.RemappingUnits);
        Assert.Same(guest.Memory, vmm.VIommu!.Memory); // it walks guest memory
        VtdProfile profile = vmm.VIommuProfile()!;
        Assert.Equal(profile.Cap.Raw, guest.Read(guest.IommuBase + RegisterOffset.CAP, 8));
        Assert.Equal(profile.Ecap.Raw, guest.Read(guest.IommuBase + RegisterOffset.ECAP, 8));
        Assert.Equal(scalable, profile.Ecap.ScalableModeTranslation);
        if (flts)
        {
            Assert.True(profile.Ecap.FirstStageTranslation);
            Assert.False(profile.Ecap.SecondStageTranslation);
        }

        // A register write through the guest's MMIO reaches the unit: FEDATA reads back.
        guest.Write(guest.IommuBase + RegisterOffset.FEDATA, 4, 0x4041);
        Assert.Equal(0x4041UL, guest.Read(guest.IommuBase + RegisterOffset.FEDATA, 4));
    }
}
