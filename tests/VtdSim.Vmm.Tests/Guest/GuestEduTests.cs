using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Profiles;
using VtdSim.Kernel;
using VtdSim.Kernel.Iommufd;
using VtdSim.Kernel.Process;
using VtdSim.Machine;
using VtdSim.Vmm.Devices;
using VtdSim.Vmm.Machines;
using static VtdSim.Vmm.Tests.Guest.GuestSupport;
using static VtdSim.Vmm.Tests.Support.VmmHosts;

namespace VtdSim.Vmm.Tests.Guest;

/// <summary>`-device edu` on the guest machine, driven by the guest CPU through MMIO and MMCONFIG (decision G14).</summary>
public class GuestEduTests
{
    private static readonly SourceId EduId = new(0, 4, 0);

    private static VmmOptions WithEdu(bool iommu) => Q35(iommu: iommu) with
    {
        Machine = Q35(iommu: iommu).Machine with { Devices = [Parse("edu,addr=04.0")] },
    };

    private static DeviceOptions Parse(string text)
    {
        Assert.True(DeviceOptions.TryParse(text, out DeviceOptions? d, out string error), error);
        return d!;
    }

    /// <summary>The guest CPU turns on memory decoding and bus mastering through MMCONFIG, where SeaBIOS put it on q35.</summary>
    private static ulong EnableAndFindBar(Vmm vmm)
    {
        var edu = (Edu)vmm.Machine.Devices.Single();
        ulong mmconfig = 0xb000_0000 + ((ulong)(edu.Function.DevFn) << 12);
        vmm.GuestMachine.Write(new Hpa(mmconfig + 4), 2, 0x6); // COMMAND: memory space, bus master
        return edu.Function.Bars.Single(b => b.Index == 0).Address ?? throw new InvalidOperationException("BAR0 unassigned");
    }

    /// <summary>One edu DMA as a driver starts it, then the 100 ms the device waits on the guest's clock.</summary>
    private static void Dma(Vmm vmm, ulong bar, ulong source, ulong destination, ulong count, bool toRam)
    {
        PhysicalMachine g = vmm.GuestMachine;
        g.Write(new Hpa(bar + Edu.RegDmaSource), 8, source);
        g.Write(new Hpa(bar + Edu.RegDmaDestination), 8, destination);
        g.Write(new Hpa(bar + Edu.RegDmaCount), 8, count);
        g.Write(new Hpa(bar + Edu.RegDmaCommand), 8, Edu.CommandRun | (toRam ? Edu.CommandToRam : 0));
        Assert.Equal(Edu.CommandRun, g.Read(new Hpa(bar + Edu.RegDmaCommand), 8) & Edu.CommandRun); // not before 100 ms
        g.Clock.Advance(Edu.DmaDelayNanoseconds);
        Assert.Equal(0UL, g.Read(new Hpa(bar + Edu.RegDmaCommand), 8) & Edu.CommandRun);
    }

    [Fact]
    public void ThroughTheVIommuEdusDmaMovesAGuestProcesssBufferInTheHostFramesBehindIt()
    {
        LinuxKernel host = Boot(BuiltInProfiles.SapphireRapids);
        Vmm vmm = Vmm.Start(host, WithEdu(iommu: true));
        Assert.Equal(VmmState.Running, vmm.State);
        Assert.Contains(vmm.GuestMachine.Functions, f => f.Id == EduId && f.Name == "edu");
        LinuxKernel guest = BootGuest(vmm);
        ulong bar = EnableAndFindBar(vmm);
        Assert.Equal((ulong)Edu.IdValue, vmm.GuestMachine.Read(new Hpa(bar + Edu.RegId), 4));

        ProcessAddressSpace app = guest.CreateProcess("edu-user");
        IommufdContext fd = guest.OpenIommufd(app);
        Assert.Equal(Errno.Success, fd.DeviceBind(EduId, out uint dev));
        Assert.Equal(Errno.Success, fd.IoasAlloc(0, out uint ioas));
        uint pt = ioas;
        Assert.Equal(Errno.Success, fd.DeviceAttach(dev, ref pt));
        Assert.Equal(Errno.Success, app.Mmap(0x2000, MemoryProtection.ReadWrite, out Uva buffer));
        Assert.Equal(Errno.Success, app.Write(buffer, "for the edu"u8));
        ulong iova = 0x20_0000;
        Assert.Equal(Errno.Success, fd.IoasMap(ioas, IoasMapFlags.ReadWrite | IoasMapFlags.FixedIova, buffer, 0x2000, ref iova));

        Dma(vmm, bar, iova, Edu.BufferBase, 11, toRam: false);          // the process's bytes into edu's buffer
        Dma(vmm, bar, Edu.BufferBase, iova + 0x1800, 11, toRam: true);  // and back out to the second page

        var seen = new byte[11];
        Assert.True(host.Machine.Memory.TryRead(HostAddressOf(vmm, app, buffer + 0x1800), seen));
        Assert.Equal("for the edu"u8.ToArray(), seen);

        // An IOVA the process did not map: the vIOMMU faults, the guest kernel logs it, edu goes on (QEMU ignores DMA errors).
        int before = guest.Log.Lines.Count;
        Dma(vmm, bar, Edu.BufferBase, 0x0f00_0000, 8, toRam: true);
        Assert.Contains(guest.Log.Lines.Skip(before), l => l.StartsWith("DMAR: [DMA Write NO_PASID] Request device [00:04.0] fault addr 0xf000000", StringComparison.Ordinal));
        Assert.Equal(VmmState.Running, vmm.State);
    }

    [Fact]
    public void WithoutAVIommuEdusAddressesAreGuestPhysicalAndLandInTheHostFrame()
    {
        LinuxKernel host = Boot(BuiltInProfiles.SapphireRapids);
        Vmm vmm = Vmm.Start(host, WithEdu(iommu: false));
        ulong bar = EnableAndFindBar(vmm);
        var gpa = new Gpa(0x0300_0000);
        Assert.True(vmm.TryWriteGuest(gpa, "guest-physical"u8));

        Dma(vmm, bar, gpa.Value, Edu.BufferBase, 14, toRam: false);
        Dma(vmm, bar, Edu.BufferBase, gpa.Value + 0x2000, 14, toRam: true);

        var seen = new byte[14];
        Assert.True(host.Machine.Memory.TryRead(HostAddressOf(vmm, gpa + 0x2000), seen));
        Assert.Equal("guest-physical"u8.ToArray(), seen);
    }

    [Fact]
    public void EdusHardwareErrorAbortsTheVmmItRunsIn()
    {
        LinuxKernel host = Boot(BuiltInProfiles.SapphireRapids);
        Vmm vmm = Vmm.Start(host, WithEdu(iommu: false));
        ulong bar = EnableAndFindBar(vmm);
        PhysicalMachine g = vmm.GuestMachine;
        g.Write(new Hpa(bar + Edu.RegDmaSource), 8, 0x40ff8);
        g.Write(new Hpa(bar + Edu.RegDmaDestination), 8, 0x1000);
        g.Write(new Hpa(bar + Edu.RegDmaCount), 8, 8);
        g.Write(new Hpa(bar + Edu.RegDmaCommand), 8, Edu.CommandRun | Edu.CommandToRam);
        g.Clock.Advance(Edu.DmaDelayNanoseconds);
        Assert.Equal(VmmState.Aborted, vmm.State);
        Assert.Equal("qemu: hardware error: EDU: DMA range 0x0000000000040ff8-0x0000000000040fff out of bounds (0x0000000000040000-0x0000000000040fff)!", vmm.Log.Lines[^1]);
    }

    [Fact]
    public void ClampingPrintsOnTheVmmsStandardOutput()
    {
        LinuxKernel host = Boot(BuiltInProfiles.SapphireRapids);
        Vmm vmm = Vmm.Start(host, WithEdu(iommu: false));
        ulong bar = EnableAndFindBar(vmm);
        Dma(vmm, bar, Edu.BufferBase, 0x1_0000_1000, 4, toRam: true); // above the 28-bit dma_mask
        Dma(vmm, bar, Edu.BufferBase, 0x1000_0000, 4, toRam: true); // clamped to 0, which C's %#x prints without 0x
        Assert.Equal(["EDU: clamping DMA 0x0000000100001000 to 0x0000000000001000!", "EDU: clamping DMA 0x0000000010000000 to 0000000000000000!"],
            vmm.StandardOutput);
    }
}
