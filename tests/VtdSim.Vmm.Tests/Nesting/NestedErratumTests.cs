using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Invalidation;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Structures;
using VtdSim.Hardware.Translation;
using VtdSim.Kernel;
using VtdSim.Kernel.Intel;
using VtdSim.Vmm.Machines;
using VtdSim.Vmm.Nesting;
using VtdSim.Vmm.Vfio;
using static VtdSim.Vmm.Tests.Guest.GuestSupport;
using static VtdSim.Vmm.Tests.Nesting.NestingSupport;

namespace VtdSim.Vmm.Tests.Nesting;

/// <summary>
/// The seed's case, run (decision N10): a host kernel without the erratum rule (before 6.7), a VMM that asks for a
/// nest parent and still maps ROM read-only, and a guest that puts its top-level first-stage table on the VGA BIOS
/// page (0xc0000, read-only guest memory). The host hardware with erratum 772415 sets the Accessed bit there; the
/// architectural unit refuses the walk and leaves the page alone.
/// </summary>
public class NestedErratumTests
{
    private const ulong Iova = 0x100_0000, VgaBios = 0xc0000;

    [Theory]
    [InlineData("sapphire-rapids", true)]
    [InlineData("architectural", false)]
    public void AGuestFirstStageTableOnTheVgaBiosIsWrittenByAnErratumHostAndOnlyThere(string profile, bool erratum)
    {
        LinuxKernel host = Host(BuiltInProfiles.Find(profile), new IntelIommuOptions { EnforceErratum772415 = false });
        Vmm vmm = Vmm.Start(host, Options(ErratumPolicy.WantsNestingMapsRo, defaults: true));
        Assert.Equal(VmmState.Running, vmm.State);
        Assert.True(vmm.Resolve(new Gpa(VgaBios)).ReadOnly);
        GuestUser user = MapForDevice(vmm, Iova, 0x1000);
        NestingBinding binding = vmm.NestingBindings[0];

        MoveFirstStageTable(vmm, user.Device, VgaBios);
        Assert.Equal(VgaBios, binding.CachedEntry!.Value.FirstStagePageTablePointer);
        Assert.Equal(NestingAttachment.FirstStage, binding.Attachment);

        Hpa frame = HostAddressOf(vmm, new Gpa(VgaBios));
        ulong before = host.Machine.Memory.Read64(frame);
        DmaTransferResult r = vmm.GuestMachine.Dma.Write(new DmaRequest(user.Device, new Iova(Iova), DmaAccess.Write), BitConverter.GetBytes(0x5AUL));
        ulong after = host.Machine.Memory.Read64(frame);

        if (erratum)
        {
            Assert.True(r.Completed);
            Assert.Equal(before | 1UL << 5, after); // Accessed, in read-only guest memory
            GuestTableWrite w = Assert.Single(vmm.GuestTableWrites);
            Assert.Equal(new GuestTableWrite("guest0", "0000:00:04.0", new Gpa(VgaBios), frame, 4, before, after), w);
            Assert.Equal(
                "guest0: the host IOMMU wrote the guest's first-stage L4 entry at GPA 0xc0000 (host frame 0x" + frame.Value.ToString("x") +
                "), which is read-only guest memory, for 0000:00:04.0: 0x" + before.ToString("x16") + " -> 0x" + after.ToString("x16") + " (erratum 772415)",
                w.ToString());
        }
        else
        {
            Assert.NotNull(r.Fault);
            Assert.Equal(before, after);
            Assert.Empty(vmm.GuestTableWrites);
        }
    }
}
