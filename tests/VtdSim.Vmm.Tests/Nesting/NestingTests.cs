using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Faults;
using VtdSim.Hardware.Invalidation;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Registers;
using VtdSim.Hardware.Structures;
using VtdSim.Hardware.Translation;
using VtdSim.Kernel;
using VtdSim.Kernel.Intel;
using VtdSim.Kernel.Iommufd;
using VtdSim.Vmm.Machines;
using VtdSim.Vmm.Nesting;
using VtdSim.Vmm.Vfio;
using static VtdSim.Vmm.Tests.Guest.GuestSupport;
using static VtdSim.Vmm.Tests.Nesting.NestingSupport;
using static VtdSim.Vmm.Tests.Support.VmmHosts;

namespace VtdSim.Vmm.Tests.Nesting;

/// <summary>
/// Accelerated nesting (x-flts=on, QEMU 11, issue 10): the guest's PASID entry bound on the host as a nested HWPT, its
/// IOTLB invalidations forwarded, a passthrough DMA walked by the host in two dimensions (decisions N4–N12).
/// </summary>
public class NestingTests
{
    private const ulong Iova = 0x100_0000;

    [Fact]
    public void AGuestMappingForThePassthroughDeviceIsOneNestedWalkOnTheHostIntoTheRightFrame()
    {
        LinuxKernel host = Host(BuiltInProfiles.SapphireRapids);
        Vmm vmm = Vmm.Start(host, Options());
        Assert.Equal(VmmState.Running, vmm.State);
        GuestUser user = MapForDevice(vmm, Iova, 0x4000);

        NestingBinding binding = Assert.Single(vmm.NestingBindings);
        Assert.Equal(NestingAttachment.FirstStage, binding.Attachment);
        // The nested HWPT holds the guest's FSPTPTR — a GPA — over the nest parent, 4-level (48 bits).
        PasidEntry guestEntry = ReadPasidEntry(vmm, PasidEntryAddress(vmm, user.Device));
        Assert.Equal(PasidGranularTranslationType.FirstStageOnly, guestEntry.Pgtt);
        var nested = vmm.Container!.Iommufd.Get<HwptNested>(binding.FirstStageHwptId!.Value)!;
        Assert.Equal(new VtdS1Config(VtdS1Flags.None, guestEntry.FirstStagePageTablePointer, 48), nested.NestedDomain.S1);
        Assert.Equal(vmm.Container.HwptId, vmm.Container.Iommufd.Find(nested.Parent.Id)?.Id);

        // The device's DMA in the guest lands in the host frame behind the guest process's page.
        DmaTransferResult w = vmm.GuestMachine.Dma.Write(new DmaRequest(user.Device, new Iova(Iova + 0x1010), DmaAccess.Write), BitConverter.GetBytes(0x1122334455667788UL));
        Assert.True(w.Completed, w.ToString());
        Hpa frame = HostAddressOf(vmm, user.App, user.Buffer + 0x1010);
        Assert.Equal(0x1122334455667788UL, host.Machine.Memory.Read64(frame));
        // One 2-D walk in the host hardware, for the host function.
        TranslationResult t = host.Machine.HardwareIommu!.Translate(new DmaRequest(Nic, new Iova(Iova + 0x1010), DmaAccess.Read));
        Assert.Equal(TranslationKind.Nested, t.Kind);
        Assert.Equal(frame, t.Address);
        Assert.Empty(vmm.Log.Lines);
    }

    [Fact]
    public void AnUnmapWithTheGuestsInvalidationIsForwardedAndTheNextDmaFaultsInTheHostsFirstStage()
    {
        LinuxKernel host = Host(BuiltInProfiles.SapphireRapids);
        Vmm vmm = Vmm.Start(host, Options());
        GuestUser user = MapForDevice(vmm, Iova, 0x2000);
        var request = new DmaRequest(user.Device, new Iova(Iova), DmaAccess.Read);
        var bytes = new byte[8];
        Assert.True(vmm.GuestMachine.Dma.Read(request, bytes).Completed); // the host IOTLB now holds the translation
        NestingBinding binding = vmm.NestingBindings[0];
        long forwarded = binding.ForwardedInvalidations;

        ulong length = 0x2000;
        Assert.Equal(Errno.Success, user.Fd.IoasUnmap(user.Ioas, Iova, ref length));

        Assert.True(binding.ForwardedInvalidations > forwarded); // the guest's P_IOTLB reached the host
        Assert.Equal(0, binding.PendingInvalidations);
        DmaTransferResult r = vmm.GuestMachine.Dma.Read(request, bytes);
        Assert.NotNull(r.Fault);
        Assert.Equal(FaultReason.SFS2_EntryNotPresent, r.Fault!.Reason); // the guest's first stage, walked by the host
        Assert.Equal(Nic, r.Fault.Request.Source);
    }

    [Fact]
    public void AGuestInvalidationIsForwardedAsOneHostCallPerQueueRunWithAddressPagesAndLeaf()
    {
        LinuxKernel host = Host(BuiltInProfiles.SapphireRapids);
        Vmm vmm = Vmm.Start(host, Options());
        GuestUser user = MapForDevice(vmm, Iova, 0x1000);
        NestingBinding binding = vmm.NestingBindings[0];
        ushort did = binding.CachedEntry!.Value.DomainId;
        long calls = binding.ForwardedInvalidationCalls, entries = binding.ForwardedInvalidations;

        Submit(vmm,
            InvalidationDescriptor.PasidIotlbPage(did, 0, 0x40_0000, addressMask: 3, hint: true),
            InvalidationDescriptor.PasidIotlbPage(did, 0, 0x80_0000),
            InvalidationDescriptor.PasidIotlbAll(did, 0),
            InvalidationDescriptor.PasidIotlbAll((ushort)(did + 1), 0), // another domain: not this device's
            InvalidationDescriptor.PasidIotlbAll(did, 5));              // another PASID: not bound
        Assert.Equal(calls + 1, binding.ForwardedInvalidationCalls);
        Assert.Equal(entries + 3, binding.ForwardedInvalidations);

        // A wait in the middle: what came before it is forwarded before it completes.
        Submit(vmm, InvalidationDescriptor.PasidIotlbAll(did, 0), InvalidationDescriptor.Wait(0x8000, 1), InvalidationDescriptor.PasidIotlbAll(did, 0));
        Assert.Equal(calls + 3, binding.ForwardedInvalidationCalls);
        Assert.Empty(vmm.Log.Lines);
        Assert.NotNull(user);
    }

    [Fact]
    public void AForwardedInvalidationTheHostRefusesIsReportedWithQemusText()
    {
        LinuxKernel host = Host(BuiltInProfiles.SapphireRapids);
        Vmm vmm = Vmm.Start(host, Options());
        MapForDevice(vmm, Iova, 0x1000);
        NestingBinding binding = vmm.NestingBindings[0];
        ushort did = binding.CachedEntry!.Value.DomainId;

        // The guest cannot make the host refuse a well-formed descriptor; a nested HWPT gone behind the VMM's back can
        // (ENOENT): the device back on the nest parent, the nested HWPT destroyed.
        uint fs = binding.FirstStageHwptId!.Value;
        uint parent = vmm.Container!.HwptId!.Value;
        Assert.Equal(Errno.Success, vmm.Container.Iommufd.DeviceReplace(vmm.Devices[0].DevId, ref parent));
        Assert.Equal(Errno.EBUSY, vmm.Container.Iommufd.Destroy(fs)); // its fault queue holds it (N44)
        Assert.Equal(Errno.Success, vmm.Container.Iommufd.Destroy(binding.FaultQueueId!.Value));
        Assert.Equal(Errno.Success, vmm.Container.Iommufd.Destroy(fs));

        Submit(vmm, InvalidationDescriptor.PasidIotlbPage(did, 0, Iova), InvalidationDescriptor.PasidIotlbAll(did, 0));

        Assert.Equal(["qemu-system-x86_64: IOMMU_HWPT_INVALIDATE failed: total 2 entries, processed 0 entries: No such file or directory"], vmm.Log.Lines);
    }
}
