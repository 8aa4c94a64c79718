using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Faults;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Structures;
using VtdSim.Hardware.Translation;
using VtdSim.Kernel;
using VtdSim.Kernel.Iommufd;
using VtdSim.Kernel.Process;
using VtdSim.Vmm.Nesting;
using VtdSim.Vmm.Vfio;
using static VtdSim.Vmm.Tests.Nesting.NestingSupport;
using static VtdSim.Vmm.Tests.Support.VmmHosts;

namespace VtdSim.Vmm.Tests.Nesting;

/// <summary>
/// Fault delivery into the vIOMMU (issue 10, docs/vmm.md "Fault delivery", decisions N45–N50): a passthrough DMA that
/// faults in the host in the guest's first stage is recorded in the vIOMMU with the guest's RID, IOVA and a reason the
/// guest's own walk would give, and the guest kernel's DMAR handler logs Linux's line; a fault in the host's second stage
/// is the VMM's (logged, not delivered); a shadowed device's fault is the guest's when the vIOMMU's own walk faults too.
/// </summary>
public class FaultDeliveryTests
{
    private const ulong Iova = 0x100_0000;

    /// <summary>The guest's first-stage leaf entry for <paramref name="iova"/> (a guest-physical address), walked as its tables say.</summary>
    private static Hpa GuestLeaf(Vmm vmm, SourceId device, ulong iova)
    {
        var m = vmm.GuestMachine.Memory;
        ulong table = ReadPasidEntry(vmm, PasidEntryAddress(vmm, device)).FirstStagePageTablePointer;
        for (int level = 4; ; level--)
        {
            var at = new Hpa(table + ((iova >> (12 + 9 * (level - 1))) & 0x1FF) * 8);
            if (level == 1) return at;
            table = m.Read64(at) & FirstStageEntry.AddressMask;
        }
    }

    private static string[] Since(IReadOnlyList<string> lines, int start) => [.. lines.Skip(start)];

    [Fact]
    public void AFirstStageNotPresentFaultReachesTheGuestsDmarHandlerWithTheGuestsRidAndIova()
    {
        LinuxKernel host = Host(BuiltInProfiles.SapphireRapids);
        Vmm vmm = Vmm.Start(host, Options());
        GuestUser user = MapForDevice(vmm, Iova, 0x2000);
        NestingBinding binding = vmm.NestingBindings[0];
        Assert.NotNull(binding.FaultQueueId);
        int guestStart = user.Kernel.Log.Lines.Count, hostStart = host.Log.Lines.Count;

        DmaTransferResult r = vmm.GuestMachine.Dma.Read(new DmaRequest(user.Device, new Iova(Iova + 0x3010), DmaAccess.Read), new byte[8]);

        Assert.Equal(FaultReason.SFS2_EntryNotPresent, r.Fault!.Reason);
        string rid = $"{user.Device.Bus:x2}:{user.Device.Device:x2}.{user.Device.Function}";
        Assert.Equal([
            "DMAR: DRHD: handling fault status reg 2",
            $"DMAR: [DMA Read NO_PASID] Request device [{rid}] fault addr 0x1003000 [fault reason 0x71] SM: Present bit in first-level paging entry is clear",
        ], Since(user.Kernel.Log.Lines, guestStart));
        // The host admin sees it too, under the host function (decision N43); the VMM has nothing to say.
        Assert.Contains("DMAR: [DMA Read NO_PASID] Request device [00:04.0] fault addr 0x1003000 [fault reason 0x71] SM: Present bit in first-level paging entry is clear",
            Since(host.Log.Lines, hostStart));
        Assert.Empty(vmm.Log.Lines);
        Assert.Equal((1L, 0L), (binding.DeliveredFaults, binding.HostFaults));
    }

    [Fact]
    public void AWriteToAPageTheGuestMappedReadOnlyIsTheGuestsSgn6()
    {
        LinuxKernel host = Host(BuiltInProfiles.SapphireRapids);
        Vmm vmm = Vmm.Start(host, Options());
        GuestUser user = MapForDevice(vmm, Iova, 0x1000);
        Assert.Equal(Errno.Success, user.App.Mmap(0x1000, MemoryProtection.ReadWrite, out Uva ro));
        ulong at = Iova + 0x10_0000;
        Assert.Equal(Errno.Success, user.Fd.IoasMap(user.Ioas, IoasMapFlags.Readable | IoasMapFlags.FixedIova, ro, 0x1000, ref at));
        int guestStart = user.Kernel.Log.Lines.Count;

        DmaTransferResult w = vmm.GuestMachine.Dma.Write(new DmaRequest(user.Device, new Iova(at), DmaAccess.Write), new byte[8]);

        Assert.Equal(FaultReason.SGN6_WriteDenied, w.Fault!.Reason);
        Assert.EndsWith($"fault addr 0x{at:x} [fault reason 0x85] SM: No write permission for Write/AtomicOp request", user.Kernel.Log.Lines[^1]);
        Assert.Contains("[DMA Write NO_PASID]", user.Kernel.Log.Lines[^1]);
        Assert.True(user.Kernel.Log.Lines.Count > guestStart);
        Assert.Empty(vmm.Log.Lines);
    }

    [Fact]
    public void AGpaTheVmmDoesNotMapIsTheVmmsFaultLoggedByTheHostAndTheVmmAndNotDelivered()
    {
        // QEMU 11's bypass_ro leaves the VGA BIOS (a read-only section at GPA 0xC0000) out of the nest parent; a guest
        // that points its first stage there makes the host's second stage fault.
        LinuxKernel host = Host(BuiltInProfiles.SapphireRapids);
        Vmm vmm = Vmm.Start(host, Options(ErratumPolicy.Qemu11, defaults: true));
        GuestUser user = MapForDevice(vmm, Iova, 0x1000);
        Hpa leaf = GuestLeaf(vmm, user.Device, Iova);
        ulong raw = vmm.GuestMachine.Memory.Read64(leaf);
        vmm.GuestMachine.Memory.Write64(leaf, (raw & ~FirstStageEntry.AddressMask) | 0xC_0000);
        int guestStart = user.Kernel.Log.Lines.Count, hostStart = host.Log.Lines.Count;

        DmaTransferResult r = vmm.GuestMachine.Dma.Read(new DmaRequest(user.Device, new Iova(Iova), DmaAccess.Read), new byte[8]);

        Assert.Equal(FaultReason.SSS2_EntryNotPresent, r.Fault!.Reason);
        Assert.Contains("DMAR: [DMA Read NO_PASID] Request device [00:04.0] fault addr 0x1000000 [fault reason 0x79] SM: Read/Write permission error in second-level paging entry",
            Since(host.Log.Lines, hostStart));
        Assert.Equal([
            "qemu-system-x86_64: warning: vfio 0000:00:04.0: DMA read fault at IOVA 0x1000000 in the host's second stage (the VMM's mapping of guest memory): " +
            "fault reason 0x79 (SSS.2: second-stage paging entry not present (R=W=0)); not delivered to the guest",
        ], vmm.Log.Lines);
        Assert.Empty(Since(user.Kernel.Log.Lines, guestStart)); // QEMU 11 too: nothing reaches the guest
        Assert.Equal((0L, 1L), (vmm.NestingBindings[0].DeliveredFaults, vmm.NestingBindings[0].HostFaults));
    }

    [Theory]
    [InlineData(ShadowingTests.Legacy, "[fault reason 0x06] PTE Read access is not set")]
    [InlineData(ShadowingTests.Scalable, "[fault reason 0x79] SM: Read/Write permission error in second-level paging entry")]
    public void AShadowedDevicesFaultOnAnIovaTheGuestDoesNotMapIsReportedAsTheVIommusOwnWalk(string properties, string reason)
    {
        LinuxKernel host = Host(BuiltInProfiles.SapphireRapids);
        Vmm vmm = Vmm.Start(host, Options(ErratumPolicy.Qemu11, properties: properties));
        GuestUser user = MapForDevice(vmm, Iova, 0x1000);
        ShadowBinding shadow = Assert.Single(vmm.ShadowBindings);
        Assert.NotNull(shadow.FaultQueueId);
        int guestStart = user.Kernel.Log.Lines.Count;

        DmaTransferResult r = vmm.GuestMachine.Dma.Read(new DmaRequest(user.Device, new Iova(Iova + 0x5000), DmaAccess.Read), new byte[8]);

        Assert.NotNull(r.Fault);
        string rid = $"{user.Device.Bus:x2}:{user.Device.Device:x2}.{user.Device.Function}";
        Assert.Equal($"DMAR: [DMA Read NO_PASID] Request device [{rid}] fault addr 0x1005000 {reason}", Since(user.Kernel.Log.Lines, guestStart)[^1]);
        Assert.Empty(vmm.Log.Lines);
        Assert.Equal((1L, 0L), (shadow.DeliveredFaults, shadow.HostFaults));
    }

    [Theory]
    [InlineData(FaultReason.SFS6_TopLevelNotReadable, FaultReason.SFS4_TopLevelAccessError)]
    [InlineData(FaultReason.SFS7_EntryNotReadable, FaultReason.SFS1_EntryAccessError)]
    [InlineData(FaultReason.SFS5_TableGpaBeyondWidth, FaultReason.SFS1_EntryAccessError)]
    [InlineData(FaultReason.SFS8_EntryNotWritable, FaultReason.SFS10_FlagUpdateFailed)]
    [InlineData(FaultReason.SFS2_EntryNotPresent, FaultReason.SFS2_EntryNotPresent)]
    [InlineData(FaultReason.SGN6_WriteDenied, FaultReason.SGN6_WriteDenied)]
    public void ANestedOnlyReasonIsTranslatedToWhatTheGuestsOwnFirstStageWalkWouldGive(FaultReason host, FaultReason guest)
    {
        Assert.Equal(guest, FaultDelivery.GuestReason(host));
        Assert.DoesNotContain("nested", FaultReasonInfo.Of(FaultDelivery.GuestReason(host)).Meaning, StringComparison.Ordinal);
    }
}
