using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Translation;
using VtdSim.Kernel;
using VtdSim.Kernel.Iommufd;
using VtdSim.Kernel.Process;
using VtdSim.Vmm.Nesting;
using VtdSim.Vmm.Vfio;
using static VtdSim.Vmm.Tests.Guest.GuestSupport;
using static VtdSim.Vmm.Tests.Nesting.NestingSupport;
using static VtdSim.Vmm.Tests.Support.VmmHosts;

namespace VtdSim.Vmm.Tests.Nesting;

/// <summary>
/// Caching-mode shadowing (issue 10): a passthrough device under a vIOMMU that translates with a second stage — legacy
/// mode, or scalable mode without x-flts — is attached to an IOAS of its own that the VMM keeps equal to the guest's
/// tables; its DMA goes to the host as it is (decisions N30–N36).
/// </summary>
public class ShadowingTests
{
    private const ulong Iova = 0x100_0000;
    public const string Scalable = "x-scalable-mode=on,caching-mode=on";
    public const string Legacy = "caching-mode=on";

    [Theory]
    [InlineData(Scalable, ErratumPolicy.Qemu11)]
    [InlineData(Legacy, ErratumPolicy.Qemu11)]
    [InlineData(Legacy, ErratumPolicy.Qemu72)]
    public void AGuestMappingForThePassthroughDeviceIsShadowedAndItsDmaLandsInTheRightHostFrame(string properties, ErratumPolicy policy)
    {
        LinuxKernel host = Host(BuiltInProfiles.SapphireRapids);
        Vmm vmm = Vmm.Start(host, Options(policy, properties: properties));
        Assert.Equal(VmmState.Running, vmm.State);
        GuestUser user = MapForDevice(vmm, Iova, 0x4000);

        ShadowBinding shadow = Assert.Single(vmm.ShadowBindings);
        Assert.True(shadow.Active);
        Assert.NotEqual(vmm.Container!.IoasId, shadow.IoasId); // an IOAS of its own, not the system one
        Assert.Empty(vmm.NestingBindings);
        // Its own HWPT, or — for a VMM that attaches devices to the IOAS itself (QEMU 7.2) — the IOAS's domain.
        var hwpt = shadow.HwptId is uint h
            ? vmm.Container.Iommufd.Get<HwptPaging>(h)!
            : vmm.Container.Iommufd.Objects.OfType<HwptPaging>().Single(p => p.Ioas.Id == shadow.IoasId);
        Assert.Same(hwpt.Domain, host.Iommu.DomainOf(Nic));
        // Each guest page is one shadow map, IOVA → the GPA the guest's tables give, read-write.
        for (ulong page = 0; page < 4; page++)
        {
            Hpa gpa = user.App.Translate(user.Buffer + page * 0x1000)!.Value;
            Assert.Contains(new ShadowMapping(Iova + page * 0x1000, 0x1000, new Gpa(gpa.Value), false), shadow.Mappings);
        }

        DmaTransferResult w = vmm.GuestMachine.Dma.Write(new DmaRequest(user.Device, new Iova(Iova + 0x2010), DmaAccess.Write), BitConverter.GetBytes(0x1122334455667788UL));
        Assert.True(w.Completed, w.ToString());
        Hpa frame = HostAddressOf(vmm, user.App, user.Buffer + 0x2010);
        Assert.Equal(0x1122334455667788UL, host.Machine.Memory.Read64(frame));
        // The host hardware walked its own second stage for the host function: the shadow, IOVA → HPA.
        TranslationResult t = host.Machine.HardwareIommu!.Translate(new DmaRequest(Nic, new Iova(Iova + 0x2010), DmaAccess.Read));
        Assert.Equal(frame, t.Address);
        Assert.Empty(vmm.Log.Lines);
    }

    [Theory]
    [InlineData(Scalable)]
    [InlineData(Legacy)]
    public void AnUnmapWithTheGuestsIotlbInvalidationUnmapsTheShadowAndTheNextDmaFaultsOnTheHost(string properties)
    {
        LinuxKernel host = Host(BuiltInProfiles.SapphireRapids);
        Vmm vmm = Vmm.Start(host, Options(properties: properties));
        GuestUser user = MapForDevice(vmm, Iova, 0x1000);
        Assert.Equal(Errno.Success, user.App.Mmap(0x1000, MemoryProtection.ReadWrite, out Uva second));
        ulong next = Iova + 0x1000;
        Assert.Equal(Errno.Success, user.Fd.IoasMap(user.Ioas, IoasMapFlags.ReadWrite | IoasMapFlags.FixedIova, second, 0x1000, ref next));
        var request = new DmaRequest(user.Device, new Iova(Iova + 0x1000), DmaAccess.Read);
        var bytes = new byte[8];
        Assert.True(vmm.GuestMachine.Dma.Read(request, bytes).Completed); // the host IOTLB now holds the translation
        ShadowBinding shadow = vmm.ShadowBindings[0];
        int hostLines = host.Log.Lines.Count;

        ulong length = 0x1000;
        Assert.Equal(Errno.Success, user.Fd.IoasUnmap(user.Ioas, Iova + 0x1000, ref length));

        Assert.DoesNotContain(shadow.Mappings, m => m.Iova == Iova + 0x1000);
        Assert.Contains(shadow.Mappings, m => m.Iova == Iova); // the page-selective sync left the other page alone
        DmaTransferResult r = vmm.GuestMachine.Dma.Read(request, bytes);
        Assert.NotNull(r.Fault);
        Assert.Equal(Nic, r.Fault!.Request.Source); // the host's fault, for the host function
        Assert.Contains(host.Log.Lines.Skip(hostLines), l => l.StartsWith($"DMAR: [DMA Read NO_PASID] Request device [00:04.0] fault addr 0x{Iova + 0x1000:x}", StringComparison.Ordinal));
        Assert.True(vmm.GuestMachine.Dma.Read(request with { Address = new Iova(Iova) }, bytes).Completed);
    }

    [Theory]
    [InlineData(Scalable)]
    [InlineData(Legacy)]
    public void AReadOnlyGuestMappingIsAReadOnlyShadowMapReadableNotWritableOnAnErratumHost(string properties)
    {
        LinuxKernel host = Host(BuiltInProfiles.SapphireRapids);
        Vmm vmm = Vmm.Start(host, Options(properties: properties));
        GuestUser user = MapForDevice(vmm, Iova, 0x1000);
        Assert.Equal(Errno.Success, user.App.Mmap(0x1000, MemoryProtection.ReadWrite, out Uva ro));
        Assert.Equal(Errno.Success, user.App.Write64(ro, 0xfeedUL));
        ulong at = Iova + 0x10_0000;
        Assert.Equal(Errno.Success, user.Fd.IoasMap(user.Ioas, IoasMapFlags.Readable | IoasMapFlags.FixedIova, ro, 0x1000, ref at));

        ShadowBinding shadow = vmm.ShadowBindings[0];
        Assert.Contains(shadow.Mappings, m => m.Iova == at && m.ReadOnly);
        var bytes = new byte[8];
        Assert.True(vmm.GuestMachine.Dma.Read(new DmaRequest(user.Device, new Iova(at), DmaAccess.Read), bytes).Completed);
        Assert.Equal(0xfeedUL, BitConverter.ToUInt64(bytes));
        DmaTransferResult w = vmm.GuestMachine.Dma.Write(new DmaRequest(user.Device, new Iova(at), DmaAccess.Write), new byte[8]);
        Assert.NotNull(w.Fault);
        Assert.Equal(0xfeedUL, host.Machine.Memory.Read64(HostAddressOf(vmm, user.App, ro)));
        Assert.Empty(vmm.Log.Lines);

        // Allowed because the shadow's HWPT is no nest parent (no x-flts): the host's rule refuses the same map on one.
        Assert.Equal(0, (int)(vmm.Container!.HwptFlags & HwptAllocFlags.NestParent));
        IommufdContext fd = vmm.Container.Iommufd;
        Assert.Equal(Errno.Success, fd.IoasAlloc(0, out uint ioas));
        Assert.Equal(Errno.Success, fd.HwptAlloc(vmm.Devices[0].DevId, ioas, HwptAllocFlags.NestParent, out uint parent));
        Assert.True(vmm.TryResolveRange(shadow.Mappings.First(m => m.Iova == at).Gpa.Value, 0x1000, out Uva va, out _));
        ulong same = at;
        Assert.Equal(Errno.EINVAL, fd.IoasMap(ioas, IoasMapFlags.Readable | IoasMapFlags.FixedIova, va, 0x1000, ref same));
        Assert.NotEqual(0u, parent);
    }

    [Fact]
    public void WhenTheGuestTurnsItsVIommuOffTheDeviceIsBackOnTheSystemHwptAndItsAddressesAreGpas()
    {
        LinuxKernel host = Host(BuiltInProfiles.SapphireRapids);
        Vmm vmm = Vmm.Start(host, Options(properties: Legacy));
        // Before the guest enables DMA remapping: not shadowed, the system HWPT, addresses are GPAs.
        ShadowBinding shadow = Assert.Single(vmm.ShadowBindings);
        Assert.False(shadow.Active);
        var bytes = new byte[8];
        SourceId inGuest = vmm.Devices[0].Guest!.Value;
        Assert.True(vmm.GuestMachine.Dma.Read(new DmaRequest(inGuest, new Iova(0x10_0000), DmaAccess.Read), bytes).Completed);

        GuestUser user = MapForDevice(vmm, Iova, 0x1000);
        Assert.True(shadow.Active);
        // The guest writes GCMD without TE (what a kernel does on shutdown): the shadow is emptied, the system HWPT back.
        vmm.VIommu!.WriteRegister32(Hardware.Registers.RegisterOffset.GCMD, 0);
        Assert.False(vmm.VIommu.TranslationEnabled);
        Assert.False(shadow.Active);
        Assert.Empty(shadow.Mappings);
        var hwpt = vmm.Container!.Iommufd.Get<HwptPaging>(vmm.Container.HwptId!.Value)!;
        Assert.Same(hwpt.Domain, host.Iommu.DomainOf(Nic));
        Assert.True(vmm.GuestMachine.Dma.Read(new DmaRequest(user.Device, new Iova(0x10_0000), DmaAccess.Read), bytes).Completed);
        Assert.Empty(vmm.Log.Lines);
    }

    [Fact]
    public void WithoutCachingModeAPassthroughDeviceBehindATranslatingVIommuIsRefusedWithoutMovingData()
    {
        LinuxKernel host = Host(BuiltInProfiles.SapphireRapids);
        Vmm vmm = Vmm.Start(host, Options(ErratumPolicy.Qemu72, properties: "x-scalable-mode=on"));
        LinuxKernel guest = BootGuest(vmm);
        Assert.True(vmm.VIommu!.TranslationEnabled);
        Assert.Empty(vmm.ShadowBindings);
        SourceId inGuest = vmm.Devices[0].Guest!.Value;
        DmaTransferResult r = vmm.GuestMachine.Dma.Write(new DmaRequest(inGuest, new Iova(0x10_0000), DmaAccess.Write), "x"u8);
        Assert.Equal(0, r.BytesTransferred);
        Assert.Contains("caching-mode=on", r.MemoryError);
        Assert.NotNull(guest);
    }

    [Fact]
    public void QuittingLeavesNothingOfTheShadowInTheHostKernel()
    {
        LinuxKernel host = Host(BuiltInProfiles.SapphireRapids);
        Counts before = Take(host);
        Vmm vmm = Vmm.Start(host, Options(properties: Legacy));
        MapForDevice(vmm, Iova, 0x4000);
        Assert.NotEmpty(vmm.ShadowBindings[0].Mappings);
        vmm.Quit();
        Assert.Empty(vmm.ShadowBindings);
        Assert.True(Unbound(host, Nic));
        Counts after = Take(host);
        Assert.Equal(before.Pins, after.Pins);
    }
}
