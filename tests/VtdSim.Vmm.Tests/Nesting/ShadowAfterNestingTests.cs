using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Registers;
using VtdSim.Hardware.Translation;
using VtdSim.Kernel;
using VtdSim.Kernel.Iommufd;
using VtdSim.Kernel.Process;
using VtdSim.Vmm.Nesting;
using static VtdSim.Vmm.Tests.Nesting.NestingSupport;
using static VtdSim.Vmm.Tests.Support.VmmHosts;

namespace VtdSim.Vmm.Tests.Nesting;

/// <summary>
/// QEMU 11's stated limitation (v10 cover letter; qemu-facts §6.5, decision N35): on an erratum host the default HWPT
/// of an x-flts VM is a nest parent, so when the guest comes back in legacy mode (kexec with intel_iommu=sm_off) and
/// the VMM falls back to shadowing, its read-only shadow maps are refused with EINVAL.
/// </summary>
public class ShadowAfterNestingTests
{
    private const ulong Iova = 0x100_0000;

    [Fact]
    public void AGuestThatKexecsFromScalableWithXFltsToLegacyModeGetsItsReadOnlyShadowMapsRefusedWithEinval()
    {
        LinuxKernel host = Host(BuiltInProfiles.SapphireRapids);
        Vmm vmm = Vmm.Start(host, Options()); // x-scalable-mode=on,x-flts=on,caching-mode=on, QEMU 11
        Assert.True(vmm.Container!.BypassRo);
        GuestUser first = MapForDevice(vmm, Iova, 0x1000); // sm_on: nested
        Assert.Equal(NestingAttachment.FirstStage, vmm.NestingBindings[0].Attachment);
        Assert.NotNull(first);

        // kexec: the old kernel turns DMA remapping off, the new one boots with sm_off and maps for the device again.
        vmm.VIommu!.WriteRegister32(RegisterOffset.GCMD, 0);
        LinuxKernel guest = LinuxKernel.Boot(vmm.GuestMachine, "intel_iommu=on,sm_off", vmm.GuestKernelLayout());
        Assert.Equal(TranslationTableMode.Legacy, vmm.VIommu.TableMode);
        SourceId device = vmm.Devices[0].Guest!.Value;
        ProcessAddressSpace app = guest.CreateProcess("app");
        IommufdContext fd = guest.OpenIommufd(app);
        Assert.Equal(Errno.Success, fd.DeviceBind(device, out uint dev));
        Assert.Equal(Errno.Success, fd.IoasAlloc(0, out uint ioas));
        uint pt = ioas;
        Assert.Equal(Errno.Success, fd.DeviceAttach(dev, ref pt));
        Assert.Equal(Errno.Success, app.Mmap(0x2000, MemoryProtection.ReadWrite, out Uva buffer));
        ulong rw = Iova, ro = Iova + 0x1000;
        Assert.Equal(Errno.Success, fd.IoasMap(ioas, IoasMapFlags.ReadWrite | IoasMapFlags.FixedIova, buffer, 0x1000, ref rw));
        int hostLines = host.Log.Lines.Count;
        Assert.Equal(Errno.Success, fd.IoasMap(ioas, IoasMapFlags.Readable | IoasMapFlags.FixedIova, buffer + 0x1000, 0x1000, ref ro));

        // The VMM shadows now, into an IOAS whose HWPT is made as the container's was: a nest parent.
        ShadowBinding shadow = Assert.Single(vmm.ShadowBindings);
        Assert.True(shadow.Active);
        Assert.True(vmm.Container.Iommufd.Get<HwptPaging>(shadow.HwptId!.Value)!.NestParent);
        Assert.Contains(shadow.Mappings, m => m.Iova == rw && !m.ReadOnly);
        Assert.DoesNotContain(shadow.Mappings, m => m.Iova == ro);
        // What the user sees: QEMU's notifier error on its stderr, the kernel's reason in the host's log.
        Assert.True(vmm.TryResolveRange(new Gpa(app.Translate(buffer + 0x1000)!.Value.Value).Value, 0x1000, out Uva vaddr, out _));
        Assert.Equal([$"qemu-system-x86_64: vfio_container_dma_map(0x{shadow.Address:x}, 0x{ro:x}, 0x1000, 0x{vaddr.Value:x}) = -22 (Invalid argument)"], vmm.Log.Lines);
        Assert.Contains(host.Log.Lines.Skip(hostLines), l => l.Contains("Read-only mapping is disallowed on the domain which serves as the parent in a nested configuration, due to HW errata (ERRATA_772415_SPR17)", StringComparison.Ordinal));
        Assert.Equal(VmmState.Running, vmm.State); // not fatal: QEMU reports a notifier's map error and goes on

        // The guest's read-write mapping works; its read-only one faults on the host.
        var bytes = new byte[8];
        Assert.True(vmm.GuestMachine.Dma.Read(new DmaRequest(device, new Iova(rw), DmaAccess.Read), bytes).Completed);
        Assert.NotNull(vmm.GuestMachine.Dma.Read(new DmaRequest(device, new Iova(ro), DmaAccess.Read), bytes).Fault);
    }
}
