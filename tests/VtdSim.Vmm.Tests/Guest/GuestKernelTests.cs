using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Faults;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Translation;
using VtdSim.Kernel;
using VtdSim.Kernel.Iommufd;
using VtdSim.Kernel.Process;
using VtdSim.Machine;
using VtdSim.Vmm.Vfio;
using static VtdSim.Vmm.Tests.Guest.GuestSupport;
using static VtdSim.Vmm.Tests.Support.VmmHosts;

namespace VtdSim.Vmm.Tests.Guest;

/// <summary>The unchanged kernel on the guest machine, and DMA in the guest: emulated through the vIOMMU, passthrough to the host (G8–G12).</summary>
public class GuestKernelTests
{
    private static readonly SourceId Edu = new(0, 4, 0);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void TheSameKernelBootsOnTheGuestAndEnablesTheVIommuWithItsTablesInGuestRam(bool scalable)
    {
        LinuxKernel host = Boot(BuiltInProfiles.SapphireRapids);
        Vmm vmm = Vmm.Start(host, Q35(scalable: scalable));
        int hostLines = host.Log.Lines.Count;

        LinuxKernel guest = BootGuest(vmm);

        Assert.True(guest.Iommu.Active, string.Join("\n", guest.Log.Lines));
        Assert.True(vmm.VIommu!.TranslationEnabled);
        Assert.Equal(scalable, guest.Iommu.ScalableMode);
        // The root table is a page of the guest kernel's own, i.e. guest RAM, i.e. a frame of the VMM process.
        Gpa root = new(vmm.VIommu.RootTable.Value);
        Assert.InRange(root.Value, guest.Layout.KernelPages.Value, guest.Layout.KernelPages.Value + guest.Layout.KernelPagesLength - 1);
        Assert.True(vmm.Resolve(root).IsRam);
        Assert.NotNull(vmm.Process.Translate(vmm.Resolve(root).UserVa!.Value));
        Assert.Equal(hostLines, host.Log.Lines.Count); // the host kernel saw nothing of it
    }

    [Fact]
    public void WithoutIntelIommuTheGuestKernelBootsWithoutAnIommuAndRefusesToBind()
    {
        LinuxKernel host = Boot(BuiltInProfiles.SapphireRapids);
        Vmm vmm = Vmm.Start(host, Q35(iommu: false));
        vmm.GuestMachine.AddFunction(new PciFunction(Edu, "edu"));
        LinuxKernel guest = BootGuest(vmm);
        Assert.False(guest.Iommu.Active);
        IommufdContext fd = guest.OpenIommufd(guest.CreateProcess("app"));
        Assert.Equal(Errno.EINVAL, fd.DeviceBind(Edu, out _));
        // The device's DMA address is a GPA: it lands in guest RAM, i.e. the host frame.
        Assert.True(vmm.GuestMachine.Dma.Write(new DmaRequest(Edu, new Iova(0x20_0000), DmaAccess.Write), "direct"u8).Completed);
        var seen = new byte[6];
        Assert.True(host.Machine.Memory.TryRead(HostAddressOf(vmm, new Gpa(0x20_0000)), seen));
        Assert.Equal("direct"u8.ToArray(), seen);
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public void AGuestProcessMapsItsBufferForAnEmulatedDeviceWhoseDmaReachesTheHostFrameAndAnUnmappedIovaFaultsInTheGuest(bool scalable, bool flts)
    {
        LinuxKernel host = Boot(BuiltInProfiles.SapphireRapids);
        Vmm vmm = Vmm.Start(host, Q35(scalable: scalable, flts: flts));
        vmm.GuestMachine.AddFunction(new PciFunction(Edu, "edu"));
        LinuxKernel guest = BootGuest(vmm);
        int hostLines = host.Log.Lines.Count;

        ProcessAddressSpace app = guest.CreateProcess("app");
        IommufdContext fd = guest.OpenIommufd(app);
        Assert.Equal(Errno.Success, fd.DeviceBind(Edu, out uint dev));
        Assert.Equal(Errno.Success, fd.IoasAlloc(0, out uint ioas));
        uint pt = ioas;
        Assert.Equal(Errno.Success, fd.DeviceAttach(dev, ref pt));
        Assert.Equal(Errno.Success, app.Mmap(0x2000, MemoryProtection.ReadWrite, out Uva buffer));
        Assert.Equal(Errno.Success, app.Write(buffer, "guest buffer"u8));
        ulong iova = 0x10_0000;
        Assert.Equal(Errno.Success, fd.IoasMap(ioas, IoasMapFlags.ReadWrite | IoasMapFlags.FixedIova, buffer, 0x2000, ref iova));

        // The device reads what the guest process wrote, and its write lands in the host frame behind the guest page.
        var read = new byte[12];
        DmaTransferResult first = vmm.GuestMachine.Dma.Read(new DmaRequest(Edu, new Iova(iova), DmaAccess.Read), read);
        Assert.True(first.Completed, $"{first} {string.Join("\n", guest.Log.Lines)}");
        Assert.Equal("guest buffer"u8.ToArray(), read);
        Assert.True(vmm.GuestMachine.Dma.Write(new DmaRequest(Edu, new Iova(iova + 0x1010), DmaAccess.Write), "from edu"u8).Completed);
        var seen = new byte[8];
        Assert.True(host.Machine.Memory.TryRead(HostAddressOf(vmm, app, buffer + 0x1010), seen));
        Assert.Equal("from edu"u8.ToArray(), seen);
        Assert.Equal(Errno.Success, app.Read(buffer + 0x1010, seen));
        Assert.Equal("from edu"u8.ToArray(), seen);

        // An IOVA the guest did not map faults in the vIOMMU; the guest kernel logs it with the guest's requester id.
        int guestLines = guest.Log.Lines.Count;
        DmaTransferResult r = vmm.GuestMachine.Dma.Write(new DmaRequest(Edu, new Iova(0x7654_3000), DmaAccess.Write), "x"u8);
        Assert.NotNull(r.Fault);
        Assert.Contains(guest.Log.Lines.Skip(guestLines), l => l.StartsWith("DMAR: [DMA Write NO_PASID] Request device [00:04.0] fault addr 0x76543000", StringComparison.Ordinal));
        Assert.Equal(hostLines, host.Log.Lines.Count);
        Assert.Equal(1, guest.Iommu.FaultRecordsHandled);
    }

    [Fact]
    public void APassthroughDeviceWithoutVIommuDmasToAGpaThroughTheHostIommu()
    {
        LinuxKernel host = Boot(BuiltInProfiles.SapphireRapids);
        Vmm vmm = Vmm.Start(host, Q35(iommu: false) with { ErratumPolicy = ErratumPolicy.Qemu72, Passthrough = [Nic] });
        Assert.Equal(VmmState.Running, vmm.State);
        SourceId inGuest = vmm.Devices[0].Guest!.Value;
        Assert.Contains(vmm.GuestMachine.Functions, f => f.Id == inGuest);
        Assert.NotEqual(Nic, inGuest);

        var gpa = new Gpa(0x0123_4000);
        Assert.True(vmm.GuestMachine.Dma.Write(new DmaRequest(inGuest, new Iova(gpa.Value), DmaAccess.Write), "passthrough"u8).Completed);
        var seen = new byte[11];
        Assert.True(host.Machine.Memory.TryRead(HostAddressOf(vmm, gpa), seen));
        Assert.Equal("passthrough"u8.ToArray(), seen);
        Assert.True(vmm.TryReadGuest(gpa, seen));
        Assert.Equal("passthrough"u8.ToArray(), seen);
    }

    [Fact]
    public void UnderQemu11OnAnErratumHostAPassthroughDmaToTheSkippedBiosFaultsOnTheHost()
    {
        LinuxKernel host = Boot(BuiltInProfiles.SapphireRapids);
        Vmm vmm = Vmm.Start(host, Q35(scalable: true, flts: true, cachingMode: true) with { ErratumPolicy = ErratumPolicy.Qemu11, Passthrough = [Nic] });
        Assert.Equal(VmmState.Running, vmm.State);
        Assert.True(vmm.Container!.BypassRo);
        SourceId inGuest = vmm.Devices[0].Guest!.Value;
        int hostLines = host.Log.Lines.Count;

        // The guest has not enabled its vIOMMU: the device's addresses are GPAs, translated by the host's nest parent.
        var bios = new byte[8];
        DmaTransferResult r = vmm.GuestMachine.Dma.Read(new DmaRequest(inGuest, new Iova(0xfffc0000), DmaAccess.Read), bios);
        Assert.Equal(FaultReason.SSS2_EntryNotPresent, r.Fault?.Reason);
        Assert.Contains(host.Log.Lines.Skip(hostLines), l => l.StartsWith("DMAR: [DMA Read NO_PASID] Request device [00:04.0] fault addr 0xfffc0000", StringComparison.Ordinal));
        // RAM is mapped: the same device reads guest RAM.
        Assert.True(vmm.GuestMachine.Dma.Read(new DmaRequest(inGuest, new Iova(0x10_0000), DmaAccess.Read), bios).Completed);
    }
}
