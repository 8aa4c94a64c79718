using VtdSim.Hardware.Profiles;
using VtdSim.Kernel;
using VtdSim.Vmm.Vfio;
using static VtdSim.Vmm.Tests.Nesting.NestingSupport;
using static VtdSim.Vmm.Tests.Support.VmmHosts;

namespace VtdSim.Vmm.Tests.Nesting;

/// <summary>
/// QEMU 11's vIOMMU ↔ host checks for an assigned device (qemu-facts §5.4, decision N11): in QEMU's order, with its
/// texts under vfio's "Failed to set vIOMMU: ", and a failure stops the VM start leaving nothing in the kernel.
/// </summary>
public class HostCompatibilityTests
{
    private const string Prefix = "qemu-system-x86_64: -device vfio-pci,host=0000:00:04.0,iommufd=iommufd0: vfio 0000:00:04.0: Failed to set vIOMMU: ";

    private static readonly VtdProfile ThirtyNineBitHost = BuiltInProfiles.SapphireRapids with
    {
        Name = "sapphire-rapids-39",
        Cap = BuiltInProfiles.SapphireRapids.Cap.WithSupportedAdjustedGuestAddressWidths(0b0010).WithMaximumGuestAddressWidth(39),
    };

    private static readonly VtdProfile NoFs1gHost = BuiltInProfiles.SapphireRapids with
    {
        Name = "sapphire-rapids-no-fs1gp",
        Cap = BuiltInProfiles.SapphireRapids.Cap.WithFirstStage1GiBPages(false),
    };

    private static string StartFails(VtdProfile profile, string properties, ErratumPolicy policy = ErratumPolicy.Qemu11)
    {
        LinuxKernel host = Host(profile);
        Counts before = Take(host);
        Vmm vmm = Vmm.Start(host, Options(policy, properties));
        Assert.Equal(VmmState.Failed, vmm.State);
        Assert.True(Unbound(host, Nic));
        Assert.Equal(before.UserFolios, Take(host).UserFolios);
        Assert.Equal(before.Pins, Take(host).Pins);
        return Assert.Single(vmm.Log.Lines);
    }

    [Theory]
    [InlineData("x-scalable-mode=on,x-flts=on")]
    [InlineData("x-scalable-mode=on")]
    [InlineData("")]
    public void DeviceAssignmentNeedsCachingModeFirstOfAll(string properties)
    {
        // On a host that would fail every later check too: caching-mode is QEMU's first.
        Assert.Equal(Prefix + "Device assignment is not allowed without enabling caching-mode=on for Intel IOMMU.",
            StartFails(NoFs1gHost with { Cap = NoFs1gHost.Cap.WithSupportedAdjustedGuestAddressWidths(0b0010).WithMaximumGuestAddressWidth(39) }, properties));
    }

    [Fact]
    public void AVIommuWiderThanTheHostIsRefusedBeforeTheFirstStageChecks()
    {
        Assert.Equal(Prefix + "aw-bits 48 > host aw-bits 39",
            StartFails(ThirtyNineBitHost with { Cap = ThirtyNineBitHost.Cap.WithFirstStage1GiBPages(false) }, Properties));
    }

    [Fact]
    public void FirstStage1GiBPagesTheHostLacksAreRefusedAndWithFs1gpOffTheVmRuns()
    {
        Assert.Equal(Prefix + "First stage 1GB large page is unsupported by host IOMMU", StartFails(NoFs1gHost, Properties));
        Vmm vmm = Vmm.Start(Host(NoFs1gHost), Options(properties: Properties + ",fs1gp=off"));
        Assert.Equal(VmmState.Running, vmm.State);
    }

    [Fact]
    public void WithoutXFltsTheFirstStageChecksAreNotMade()
    {
        Vmm vmm = Vmm.Start(Host(NoFs1gHost), Options(properties: "x-scalable-mode=on,caching-mode=on"));
        Assert.Equal(VmmState.Running, vmm.State);
        Assert.Empty(vmm.NestingBindings);
    }

    [Fact]
    public void QemuBefore11MakesNoneOfTheseChecks()
    {
        Vmm vmm = Vmm.Start(Host(NoFs1gHost), Options(ErratumPolicy.Qemu72, "x-scalable-mode=on"));
        Assert.Equal(VmmState.Running, vmm.State);
    }
}
