using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Invalidation;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Registers;
using VtdSim.Hardware.Structures;
using VtdSim.Hardware.Translation;
using VtdSim.Kernel;
using VtdSim.Kernel.Iommufd;
using VtdSim.Vmm.Nesting;
using static VtdSim.Vmm.Tests.Guest.GuestSupport;
using static VtdSim.Vmm.Tests.Nesting.NestingSupport;

namespace VtdSim.Vmm.Tests.Nesting;

/// <summary>
/// What the guest does to its PASID entry and the vIOMMU, and where the host puts the device (decisions N5–N7):
/// pass-through → the nest parent; invalid → blocked while DMAR is on, the default HWPT once it is off; a PGTT the
/// vIOMMU does not offer → QEMU's message; the old nested HWPT freed each time.
/// </summary>
public class PasidEntryChangeTests
{
    private const ulong Iova = 0x100_0000;

    private static (LinuxKernel Host, Vmm Vmm, GuestUser User, Hpa Entry) Bound()
    {
        LinuxKernel host = Host(BuiltInProfiles.SapphireRapids);
        Vmm vmm = Vmm.Start(host, Options());
        GuestUser user = MapForDevice(vmm, Iova, 0x1000);
        Assert.Equal(NestingAttachment.FirstStage, vmm.NestingBindings[0].Attachment);
        return (host, vmm, user, PasidEntryAddress(vmm, user.Device));
    }

    /// <summary>The guest rewrites its PASID entry (P last) and invalidates the PASID cache for it, as a driver does.</summary>
    private static void Rewrite(Vmm vmm, Hpa at, PasidEntry entry, ushort did)
    {
        var m = vmm.GuestMachine.Memory;
        m.Write64(at, 0);
        ulong[] q = [entry.Q0, entry.Q1, entry.Q2, entry.Q3, entry.Q4, entry.Q5, entry.Q6, entry.Q7];
        for (int i = 7; i >= 0; i--) m.Write64(at + (ulong)(8 * i), q[i]);
        Submit(vmm, InvalidationDescriptor.PasidCachePasid(did, 0), InvalidationDescriptor.PasidIotlbAll(did, 0));
    }

    private static int NestedHwpts(Vmm vmm) => vmm.Container!.Iommufd.Objects.Count(o => o is HwptNested);

    [Fact]
    public void APassThroughEntryPutsTheDeviceOnTheNestParentAndFreesTheNestedHwpt()
    {
        var (host, vmm, user, at) = Bound();
        PasidEntry old = ReadPasidEntry(vmm, at);
        Rewrite(vmm, at, PasidEntry.PassThroughEntry(old.DomainId), old.DomainId);

        NestingBinding b = vmm.NestingBindings[0];
        Assert.Equal(NestingAttachment.PassThrough, b.Attachment);
        Assert.Null(b.FirstStageHwptId);
        Assert.Equal(0, NestedHwpts(vmm));
        // The device's address is a GPA again: guest RAM at 0x20_0000 through the nest parent.
        DmaTransferResult w = vmm.GuestMachine.Dma.Write(new DmaRequest(user.Device, new Iova(0x20_0000), DmaAccess.Write), BitConverter.GetBytes(0xAB12UL));
        Assert.True(w.Completed);
        Assert.Equal(0xAB12UL, host.Machine.Memory.Read64(HostAddressOf(vmm, new Gpa(0x20_0000))));
        Assert.Empty(vmm.Log.Lines);
    }

    [Fact]
    public void AnInvalidEntryBlocksTheDeviceWhileDmarIsOnAndTheDefaultHwptServesItOnceDmarIsOff()
    {
        var (host, vmm, user, at) = Bound();
        PasidEntry old = ReadPasidEntry(vmm, at);
        Rewrite(vmm, at, old.WithPresent(false), old.DomainId);

        NestingBinding b = vmm.NestingBindings[0];
        Assert.Equal(NestingAttachment.Blocked, b.Attachment);
        Assert.Null(b.CachedEntry);
        Assert.Equal(0, NestedHwpts(vmm));
        var buffer = new byte[8];
        DmaTransferResult blocked = vmm.GuestMachine.Dma.Read(new DmaRequest(user.Device, new Iova(Iova), DmaAccess.Read), buffer);
        Assert.NotNull(blocked.Fault);
        Assert.Equal(0, blocked.BytesTransferred);

        // The guest turns its DMA remapping off (GCMD.TE = 0): QEMU replays the sync, the entry is no longer in force,
        // and the device is back on the default HWPT — its addresses are GPAs.
        uint status = vmm.VIommu!.ReadRegister32(RegisterOffset.GSTS) & (uint)(GlobalCommand.QueuedInvalidationEnable | GlobalCommand.InterruptRemappingEnable);
        vmm.VIommu.WriteRegister32(RegisterOffset.GCMD, status);
        Assert.False(vmm.VIommu.TranslationEnabled);
        Assert.Equal(NestingAttachment.DefaultHwpt, b.Attachment);
        Assert.True(vmm.GuestMachine.Dma.Write(new DmaRequest(user.Device, new Iova(0x20_0000), DmaAccess.Write), BitConverter.GetBytes(7UL)).Completed);
        Assert.Equal(7UL, host.Machine.Memory.Read64(HostAddressOf(vmm, new Gpa(0x20_0000))));
        Assert.Empty(vmm.Log.Lines);
    }

    [Fact]
    public void TurningDmarOffWithAFirstStageBoundGoesBackToTheDefaultHwptAndOnAgainRebindsIt()
    {
        var (_, vmm, _, _) = Bound();
        NestingBinding b = vmm.NestingBindings[0];
        PasidEntry bound = b.CachedEntry!.Value;
        uint status = vmm.VIommu!.ReadRegister32(RegisterOffset.GSTS);
        vmm.VIommu.WriteRegister32(RegisterOffset.GCMD, status & ~(uint)GlobalCommand.TranslationEnable);
        Assert.Equal(NestingAttachment.DefaultHwpt, b.Attachment);
        Assert.Equal(0, NestedHwpts(vmm));

        vmm.VIommu.WriteRegister32(RegisterOffset.GCMD, status);
        Assert.Equal(NestingAttachment.FirstStage, b.Attachment);
        Assert.Equal(bound, b.CachedEntry);
        Assert.Equal(1, NestedHwpts(vmm));
    }

    [Fact]
    public void ASecondStageEntryIsRefusedWithQemusPrefixAndTheBindingStays()
    {
        var (_, vmm, _, at) = Bound();
        NestingBinding b = vmm.NestingBindings[0];
        uint? nested = b.FirstStageHwptId;
        PasidEntry old = ReadPasidEntry(vmm, at);
        Rewrite(vmm, at, old.WithPgtt(PasidGranularTranslationType.SecondStageOnly), old.DomainId);

        Assert.Equal(["qemu-system-x86_64: Replacing HWPT attachment failed: Invalid PGTT type 2"], vmm.Log.Lines);
        Assert.Equal(NestingAttachment.FirstStage, b.Attachment);
        Assert.Equal(nested, b.FirstStageHwptId);
        Assert.Equal(1, NestedHwpts(vmm));
    }

    [Fact]
    public void AFirstStageTheHostCannotWalkIsRefusedWithQemusPrefixesAndNothingIsLeftAllocated()
    {
        VtdProfile fourLevelHost = BuiltInProfiles.SapphireRapids with
        {
            Name = "sapphire-rapids-4-level",
            Cap = BuiltInProfiles.SapphireRapids.Cap.WithFirstStage5LevelPaging(false),
        };
        LinuxKernel host = Host(fourLevelHost);
        Vmm vmm = Vmm.Start(host, Options());
        GuestUser user = MapForDevice(vmm, Iova, 0x1000);
        Hpa at = PasidEntryAddress(vmm, user.Device);
        NestingBinding b = vmm.NestingBindings[0];
        uint? nested = b.FirstStageHwptId;
        PasidEntry entry = ReadPasidEntry(vmm, at);
        const string Attach = @"\[iommufd=3\] error attach 0000:00:04\.0 \(4\) to id=\d+: Invalid argument$";

        // A changed entry asking for 5-level paging (addr_width 57): the host's attach refuses it; the old binding stays.
        Rewrite(vmm, at, entry.WithFirstStagePagingMode(1), entry.DomainId);
        Assert.Matches("^qemu-system-x86_64: Replacing HWPT attachment failed: " + Attach, Assert.Single(vmm.Log.Lines));
        Assert.Equal(nested, b.FirstStageHwptId);
        Assert.Equal(1, NestedHwpts(vmm));

        // Gone, then back as a new 5-level entry: the first attach is refused, the device stays blocked, the nested
        // HWPT made for it is freed.
        Rewrite(vmm, at, entry.WithPresent(false), entry.DomainId);
        Assert.Equal(NestingAttachment.Blocked, b.Attachment);
        Rewrite(vmm, at, entry.WithFirstStagePagingMode(1), entry.DomainId);
        Assert.Matches("^qemu-system-x86_64: Attaching to HWPT failed: " + Attach, vmm.Log.Lines[^1]);
        Assert.Equal(NestingAttachment.Blocked, b.Attachment);
        Assert.Equal(0, NestedHwpts(vmm));
        Assert.Equal(2, vmm.Log.Lines.Count);
    }

    [Fact]
    public void AnUnchangedEntryDoesNothingAndAnotherDomainsInvalidationDoesNotTouchTheDevice()
    {
        var (_, vmm, _, _) = Bound();
        NestingBinding b = vmm.NestingBindings[0];
        uint? nested = b.FirstStageHwptId;
        ushort did = b.CachedEntry!.Value.DomainId;
        Submit(vmm, InvalidationDescriptor.PasidCachePasid(did, 0), InvalidationDescriptor.PasidCacheGlobal(),
            InvalidationDescriptor.PasidCacheDomain((ushort)(did + 1)), InvalidationDescriptor.ContextGlobal());
        Assert.Equal(nested, b.FirstStageHwptId);
        Assert.Equal(1, NestedHwpts(vmm));
        Assert.Empty(vmm.Log.Lines);
    }

    [Theory]
    [InlineData("srtp")]
    [InlineData("context-device")]
    [InlineData("context-global")]
    public void AnEntryChangedWithoutAPasidCacheInvalidationIsPickedUpWhenQemuReplaysTheSync(string trigger)
    {
        var (_, vmm, user, at) = Bound();
        PasidEntry old = ReadPasidEntry(vmm, at);
        vmm.GuestMachine.Memory.Write64(at, PasidEntry.PassThroughEntry(old.DomainId).Q0);
        vmm.GuestMachine.Memory.Write64(at + 16, 0);
        NestingBinding b = vmm.NestingBindings[0];
        Assert.Equal(NestingAttachment.FirstStage, b.Attachment); // nothing told yet

        switch (trigger)
        {
            case "srtp":
                uint status = vmm.VIommu!.ReadRegister32(RegisterOffset.GSTS) & (uint)(GlobalCommand.TranslationEnable | GlobalCommand.QueuedInvalidationEnable);
                vmm.VIommu.WriteRegister32(RegisterOffset.GCMD, status | (uint)GlobalCommand.SetRootTablePointer);
                break;
            case "context-device":
                Submit(vmm, InvalidationDescriptor.ContextDevice(old.DomainId, user.Device.Value));
                break;
            default:
                Submit(vmm, InvalidationDescriptor.ContextGlobal());
                break;
        }
        Assert.Equal(NestingAttachment.PassThrough, b.Attachment);
        Assert.Empty(vmm.Log.Lines);
    }

    [Fact]
    public void QuittingLeavesNothingOfTheNestingInTheHostKernel()
    {
        var (host, vmm, _, _) = Bound();
        vmm.Quit();
        Assert.Empty(vmm.NestingBindings);
        Assert.True(Support.VmmHosts.Unbound(host, Support.VmmHosts.Nic));
    }
}
