using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Translation;
using VtdSim.Kernel;
using VtdSim.Machine;
using VtdSim.Vmm.Machines;
using VtdSim.Vmm.Vfio;
using static VtdSim.Vmm.Tests.Support.VmmHosts;

namespace VtdSim.Vmm.Tests.Vfio;

/// <summary>
/// Issue 9: "a 4 TiB guest costs only what is touched". What a guest costs the model is counted where it lives: the
/// host's materialised 4 KiB frames (the model's own memory), the host kernel's page-table pages, the VMM process's
/// resident pages and the kernel's user folios, and the VMM's flat view. After start each is a small bound whatever
/// the RAM size; touching N pages adds N frames.
/// </summary>
public class LargeGuestTests
{
    private const ulong GiB = 1UL << 30, TiB = 1UL << 40;
    private const int Touched = 64;

    /// <summary>What the guest costs the host, in the counters the kernel and the machine keep.</summary>
    private readonly record struct Cost(int HostFrames, int KernelPages, int UserFolios, ulong UserBytes, int Resident);

    private static Cost Measure(LinuxKernel host, Vmm? vmm) =>
        new(host.Machine.Memory.MaterializedFrames, host.Pages.PagesInUse, host.UserMemory.PagesInUse, host.UserMemory.BytesInUse,
            vmm?.Process.ResidentPages ?? 0);

    /// <summary>
    /// <see cref="Touched"/> distinct guest pages spread over the whole of a 4 TiB q35 guest's RAM: every 64th GiB above
    /// 4 GiB (up to its end, 4 TiB + 2 GiB), at a different offset in each, and none the firmware writes.
    /// </summary>
    private static IEnumerable<ulong> SpreadPages(ulong salt) =>
        Enumerable.Range(0, Touched).Select(i => 4 * GiB + (ulong)i * 64 * GiB + ((ulong)i * 0x1234_5000 + salt * 0x10_0000) % (64 * GiB));

    [Fact]
    public void A4TiBAnonymousGuestCostsTheHostWhatItsCpuTouchesAndNothingForItsSize()
    {
        LinuxKernel host = Boot(BuiltInProfiles.SapphireRapids);
        Cost idle = Measure(host, null);
        Vmm vmm = Vmm.Start(host, new VmmOptions { Machine = new MachineOptions { RamSize = 4 * TiB, Booted = true } });
        Assert.Equal(VmmState.Running, vmm.State);
        Cost started = Measure(host, vmm);

        // After start: the ROMs, the shadowed BIOSes and the VGA's few pages, well under 1 MiB of frames; no IOMMU
        // page table (no passthrough device); the same flat view as a 4 GiB guest (only the RAM sections' sizes differ).
        Assert.InRange(started.HostFrames - idle.HostFrames, 0, 256);
        Assert.Equal(idle.KernelPages, started.KernelPages);
        Assert.InRange(started.UserBytes - idle.UserBytes, 0UL, 1UL << 20);
        Vmm small = Vmm.Start(Boot(BuiltInProfiles.SapphireRapids), new VmmOptions { Machine = new MachineOptions { RamSize = 4 * GiB, Booted = true } });
        Assert.Equal(small.Machine.SystemMemory.Sections.Count, vmm.Machine.SystemMemory.Sections.Count);

        // The guest's CPU stores to N pages: N process pages faulted in, N frames materialised, N folios.
        foreach (ulong gpa in SpreadPages(1)) Assert.True(vmm.GuestMachine.Memory.TryWrite(new Hpa(gpa), BitConverter.GetBytes(gpa)));
        Cost written = Measure(host, vmm);
        Assert.Equal(started with { HostFrames = started.HostFrames + Touched, UserFolios = started.UserFolios + Touched,
                                    UserBytes = started.UserBytes + Touched * 4096UL, Resident = started.Resident + Touched }, written);

        // Loads of N other pages fault them in (the model's anonymous load fault allocates the page) but write no frame.
        var word = new byte[8];
        foreach (ulong gpa in SpreadPages(2)) Assert.True(vmm.GuestMachine.Memory.TryRead(new Hpa(gpa), word));
        Cost read = Measure(host, vmm);
        Assert.Equal(written.HostFrames, read.HostFrames);
        Assert.Equal(written.Resident + Touched, read.Resident);

        // The same pages again cost nothing more, and the bytes are where the guest put them.
        foreach (ulong gpa in SpreadPages(1))
        {
            Assert.True(vmm.GuestMachine.Memory.TryRead(new Hpa(gpa), word));
            Assert.Equal(gpa, BitConverter.ToUInt64(word));
        }
        Assert.Equal(read, Measure(host, vmm));

        vmm.Quit();
        Cost after = Measure(host, null);
        Assert.Equal((idle.KernelPages, idle.UserFolios, idle.UserBytes), (after.KernelPages, after.UserFolios, after.UserBytes));
    }

    [Fact]
    public void A4TiBGuestOnGibibytePagesWithAPassthroughDeviceCostsTheModelOnlyWhatIsTouched()
    {
        // A host with room for 4 TiB of 1 GiB huge pages (user memory from 4 GiB, 1 GiB aligned) in 8 TiB of sparse memory.
        var layout = new KernelMemoryLayout(new Hpa(1UL << 20), 63UL << 20, new Hpa(4 * GiB), 4 * TiB + 2 * GiB);
        var machine = PhysicalMachine.Host(BuiltInProfiles.SapphireRapids, 8 * TiB);
        machine.AddFunction(new PciFunction(Nic, "nic"));
        LinuxKernel host = LinuxKernel.Boot(machine, layout);
        var options = new VmmOptions
        {
            Machine = new MachineOptions { RamSize = 4 * GiB, Booted = true, Defaults = false },
            RamBackend = GuestRamBackend.Hugetlb1G,
            ErratumPolicy = ErratumPolicy.Qemu72,
            Passthrough = [Nic],
        };
        // A 4 GiB VM with the device first: the kernel keeps what it made for the device on its first attach (its
        // context and PASID table pages) after the VM is gone, whatever the RAM size.
        Vmm.Start(host, options).Quit();
        Cost idle = Measure(host, null);
        Vmm vmm = Vmm.Start(host, options with { Machine = options.Machine with { RamSize = 4 * TiB } });
        Assert.Equal(VmmState.Running, vmm.State);
        Cost started = Measure(host, vmm);

        // The listener pinned all of RAM, as Linux pins it for a device: 4096 one-GiB folios (and the ROMs' pages). None
        // of that is the model's memory: the frames are the ROMs, the shadowed BIOS and the kernel's tables; the IOMMU
        // page table maps RAM with 1 GiB leaves where it can, a few dozen table pages for 4 TiB.
        Assert.Equal(4096, CountGibibyteFolios(vmm));
        Assert.InRange(started.HostFrames - idle.HostFrames, 0, 256);
        Assert.InRange(started.KernelPages - idle.KernelPages, 1, 64);

        // The guest's CPU writes N pages and the passthrough device DMAs into N others: 2N frames, nothing else moves.
        foreach (ulong gpa in SpreadPages(1)) Assert.True(vmm.GuestMachine.Memory.TryWrite(new Hpa(gpa), BitConverter.GetBytes(gpa)));
        SourceId device = vmm.Devices.Single().Guest!.Value;
        foreach (ulong gpa in SpreadPages(2))
            Assert.True(vmm.GuestMachine.Dma.Write(new DmaRequest(device, new Iova(gpa), DmaAccess.Write), BitConverter.GetBytes(~gpa)).Completed);
        Assert.Equal(started with { HostFrames = started.HostFrames + 2 * Touched }, Measure(host, vmm));

        // The device reads what the CPU wrote, through the same host frames.
        var word = new byte[8];
        foreach (ulong gpa in SpreadPages(1))
        {
            Assert.True(vmm.GuestMachine.Dma.Read(new DmaRequest(device, new Iova(gpa), DmaAccess.Read), word).Completed);
            Assert.Equal(gpa, BitConverter.ToUInt64(word));
        }

        vmm.Quit();
        Cost after = Measure(host, null);
        Assert.Equal((idle.KernelPages, idle.UserFolios, idle.UserBytes), (after.KernelPages, after.UserFolios, after.UserBytes));
        Assert.Equal(0, host.UserMemory.TotalPins);
    }

    /// <summary>How many 1 GiB folios the IOAS's areas pin.</summary>
    private static int CountGibibyteFolios(Vmm vmm) =>
        vmm.Container!.Mappings.SelectMany(a => a.Runs).Select(r => r.Folio).Where(f => f.Order == 18).Distinct().Count();
}
