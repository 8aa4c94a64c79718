using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Profiles;
using VtdSim.Kernel;
using VtdSim.Kernel.Process;
using VtdSim.Vmm.Devices;
using VtdSim.Vmm.Machines;
using VtdSim.Vmm.Memory;
using VtdSim.Vmm.Vfio;
using static VtdSim.Vmm.Tests.Support.VmmHosts;

namespace VtdSim.Vmm.Tests.Vfio;

/// <summary>The VMM as a process: guest memory is its memory, in every backend; bad options and changes are refused whole.</summary>
public class VmmProcessTests
{
    [Fact]
    public void A4TiBGuestCostsOnlyWhatIsTouched()
    {
        var kernel = Boot(BuiltInProfiles.SapphireRapids);
        var options = new VmmOptions { Machine = new MachineOptions { RamSize = 4UL << 40, Booted = true } };
        Vmm vmm = Vmm.Start(kernel, options);
        Assert.Equal(VmmState.Running, vmm.State);
        int resident = vmm.Process.ResidentPages;
        ulong bytes = kernel.UserMemory.BytesInUse;
        // ROMs loaded, the VGA BIOS and the BIOS shadowed, VGA RAM untouched: well under 1 MiB of 4 TiB.
        Assert.True(bytes < (1UL << 20), $"{bytes} bytes in use");

        ulong gpa = 3UL << 40;
        Assert.True(vmm.TryWriteGuest(new Gpa(gpa), "touched"u8));
        Assert.Equal(resident + 1, vmm.Process.ResidentPages);
        Assert.Equal(bytes + 4096, kernel.UserMemory.BytesInUse);
        Hpa frame = vmm.Process.Translate(vmm.Resolve(new Gpa(gpa)).UserVa!.Value)!.Value;
        var seen = new byte[7];
        Assert.True(kernel.Machine.Memory.TryRead(frame, seen));
        Assert.Equal("touched"u8.ToArray(), seen);
        vmm.Quit();
        Assert.Equal(0, kernel.UserMemory.PagesInUse);
    }

    [Fact]
    public void RegionsAreBackedByProcessMemoryAndRomsCarryTheirImages()
    {
        var kernel = Boot(BuiltInProfiles.SapphireRapids);
        Vmm vmm = Vmm.Start(kernel, Options(ErratumPolicy.Qemu72, xflts: false));
        // pc.rom is hidden by PAM after SeaBIOS, but backed all the same.
        var regions = vmm.Machine.SystemMemory.Sections.Select(x => x.Region).Where(r => r.Name is "pc.ram" or "pc.bios" or "vga.vram")
            .Append(vmm.Machine.Pci.Subregions.Single(r => r.Name == "pc.rom")).Distinct().ToList();
        Assert.Equal(4, regions.Count);
        foreach (MemoryRegion region in regions)
        {
            var backing = Assert.IsType<ProcessBacking>(region.Backing);
            Assert.Same(vmm.Process, backing.Process);
            Assert.Equal((ulong)region.Size, backing.Length);
            Assert.NotNull(vmm.Process.FindMapping(backing.UserVa));
        }
        var bytes = new byte[7];
        Assert.True(vmm.TryReadGuest(new Gpa(0xfffc0000), bytes));
        Assert.Equal("pc.bios"u8.ToArray(), bytes);
        Assert.True(vmm.TryReadGuest(new Gpa(0xc0003), bytes)); // the VGA BIOS SeaBIOS shadowed into read-only RAM
        Assert.Equal("VGA BIO"u8.ToArray(), bytes);
        GuestMapping vbios = vmm.Resolve(new Gpa(0xc0000));
        Assert.Equal(("pc.ram", true, true), (vbios.Region, vbios.IsRam, vbios.ReadOnly));
        GuestMapping ioapic = vmm.Resolve(new Gpa(0xfec00000));
        Assert.True(ioapic.Unassigned);
        Assert.Null(ioapic.UserVa);
    }

    [Fact]
    public void RomImagesRepeatTheirTextToTheLastByteAndTheFirmwareShadowsTheBiosTop()
    {
        // Decision F1: pc.bios and pc.rom carry their text repeated over the whole ROM; SeaBIOS then copies the BIOS's
        // last 128 KiB to 0xe0000. At reset (PAM showing PCI) pc.rom is at 0xc0000 and pc.bios at 0xfffc0000.
        static byte[] Repeated(string text, int length) =>
            Enumerable.Range(0, length).Select(i => (byte)text[i % text.Length]).ToArray();
        byte[] bios = Repeated("pc.bios (vtdsim SeaBIOS image) ", 0x40000), rom = Repeated("pc.rom (vtdsim option ROM area) ", 0x20000);
        var kernel = Boot(BuiltInProfiles.SapphireRapids);
        Vmm vmm = Vmm.Start(kernel, new VmmOptions { Machine = new MachineOptions { RamSize = 64UL << 20, Defaults = false } });
        Assert.Equal(VmmState.Running, vmm.State);
        var seen = new byte[0x40000];
        Assert.True(vmm.TryReadGuest(new Gpa(0xfffc0000), seen));
        Assert.Equal(bios, seen);
        Assert.True(vmm.TryReadGuest(new Gpa(0xc0000), seen.AsSpan(0, 0x20000)));
        Assert.Equal(rom, seen[..0x20000]);

        Assert.True(vmm.RunFirmware());
        Assert.True(vmm.TryReadGuest(new Gpa(0xe0000), seen.AsSpan(0, 0x20000)));
        Assert.Equal(bios[0x20000..], seen[..0x20000]);
        Assert.Equal("pc.ram", vmm.Resolve(new Gpa(0xe0000)).Region); // the copy is in RAM now, no longer isa-bios
    }

    [Theory]
    [InlineData(GuestRamBackend.Hugetlb2M, 9)]
    [InlineData(GuestRamBackend.Hugetlb1G, 18)]
    [InlineData(GuestRamBackend.SharedFile, 0)]
    public void RamBackendsGiveThePagesTheKernelPinsForTheDevice(GuestRamBackend backend, int order)
    {
        // 1 GiB pages need a 1 GiB-aligned user range: user pages from 4 GiB on a 16 GiB host.
        var layout = new KernelMemoryLayout(new Hpa(1UL << 20), 63UL << 20, new Hpa(4UL << 30), 8UL << 30);
        var kernel = Boot(BuiltInProfiles.SapphireRapids, layout, memory: 16UL << 30);
        Vmm vmm = Vmm.Start(kernel, Options(ErratumPolicy.Qemu72, xflts: false, ram: 2UL << 30) with { RamBackend = backend });
        Assert.Equal(VmmState.Running, vmm.State);
        var ramBacking = (ProcessBacking)vmm.Machine.PcRam.Backing!;
        VirtualMemoryArea vma = vmm.Process.FindMapping(ramBacking.UserVa)!;
        Assert.Equal(backend == GuestRamBackend.SharedFile, !vma.Anonymous);
        var area = vmm.Container!.Mappings.Single(a => a.Iova == 0x100000 || (a.Iova < 0x100000 && a.Last >= 0x100000));
        Assert.Contains(area.Runs, r => r.Folio.Order == order);
        // One byte, one truth through the file too: the page cache's page is the pinned one.
        if (backend == GuestRamBackend.SharedFile)
        {
            Assert.Equal(Errno.Success, vmm.RamFile!.Write(0x200000, "via the file"u8));
            var bytes = new byte[12];
            Assert.True(kernel.Machine.Dma.Read(new(Nic, new Iova(0x200000), Hardware.Translation.DmaAccess.Read), bytes).Completed);
            Assert.Equal("via the file"u8.ToArray(), bytes);
        }
        vmm.Quit();
        Assert.Equal(0, kernel.UserMemory.TotalPins);
    }

    [Fact]
    public void FirmwareRunLaterGivesTheSameMapAsBootedAtCreation()
    {
        var options = new MachineOptions { Type = MachineType.Q35, RamSize = 4UL << 30 };
        var later = PcMachine.Create(options);
        Assert.True(later.RunFirmware());
        Assert.False(later.RunFirmware());
        var booted = PcMachine.Create(options with { Booted = true });
        Assert.Equal(MtreePrinter.Flat(booted.Memory), MtreePrinter.Flat(later.Memory));
        Assert.Equal(MtreePrinter.Tree(booted.Memory, showDisabled: true), MtreePrinter.Tree(later.Memory, showDisabled: true));
    }

    [Theory]
    [InlineData("erratum-policy", "qemu-12", "Parameter 'erratum-policy' does not accept value 'qemu-12'")]
    [InlineData("x-flts", "maybe", "Parameter 'x-flts' expects 'on' or 'off'")]
    [InlineData("x-scalable-mode", "", "Parameter 'x-scalable-mode' expects 'on' or 'off'")]
    [InlineData("x-fltz", "on", "Property 'intel-iommu.x-fltz' not found")]
    public void BadPropertyValuesGetQemusText(string name, string value, string message)
    {
        var options = new VmmOptions();
        Assert.False(options.TrySet(name, value, out VmmOptions result, out string error));
        Assert.Equal(message, error);
        Assert.Same(options, result);
        Assert.True(options.TrySet("erratum-policy", "never-ro", out result, out _));
        Assert.Equal(ErratumPolicy.NeverRo, result.ErratumPolicy);
        Assert.True(options.TrySet("x-flts", "on", out result, out _));
        Assert.True(result.XFlts);
    }

    [Fact]
    public void TheVmmsQemuReleaseIsItsPolicysAndItsIntelIommuFollows()
    {
        Assert.Equal(QemuVersion.Qemu72, new VmmOptions { ErratumPolicy = ErratumPolicy.Qemu72 }.QemuVersion);
        foreach (ErratumPolicy policy in new[] { ErratumPolicy.Qemu11, ErratumPolicy.WantsNestingMapsRo, ErratumPolicy.NeverRo })
            Assert.Equal(QemuVersion.Qemu11, new VmmOptions { ErratumPolicy = policy }.QemuVersion);

        // QEMU 7.2 has no x-flts: setting it is refused as QEMU refuses it; QEMU 11's aw-bits default is 48.
        Assert.True(new VmmOptions().TrySet("erratum-policy", "qemu-7.2", out VmmOptions old, out _));
        Assert.False(old.TrySet("x-flts", "on", out _, out string error));
        Assert.Equal("Property 'intel-iommu.x-flts' not found", error);
        Assert.True(old.TrySet("x-scalable-mode", "on", out old, out _));
        Assert.Equal(39, old.IntelIommu!.AwBits);
        Assert.True(old.Machine.IntelIommu); // the device is in the memory map too
        Assert.True(old.TrySet("erratum-policy", "qemu-11", out VmmOptions moved, out _));
        Assert.Equal(48, moved.IntelIommu!.AwBits);
        Assert.True(moved.XScalableMode);
    }

    public static TheoryData<VmmOptions, string> BadCombinations() => new()
    {
        { Options(ErratumPolicy.Qemu11, xflts: true) with { IntelIommu = IntelIommu("x-flts=on") },
          "qemu-system-x86_64: -device intel-iommu,x-flts=on: x-flts is only available in scalable mode" },
        { Options(ErratumPolicy.Qemu11, xflts: true) with { Machine = new MachineOptions { RamSize = 64UL << 20 } },
          "qemu-system-x86_64: intel-iommu properties are given, but the machine has no -device intel-iommu" },
        { Options(ErratumPolicy.Qemu11, xflts: false) with { IntelIommu = null },
          "qemu-system-x86_64: the machine has -device intel-iommu, but its properties are not given" },
        { Options(ErratumPolicy.Qemu72, xflts: false) with { IntelIommu = IntelIommu("x-scalable-mode=on,dma-drain=off") },
          "qemu-system-x86_64: -device intel-iommu,x-scalable-mode=on,dma-drain=off: Need to set dma_drain for scalable mode" },
        { Options(ErratumPolicy.Qemu11, xflts: false) with { IntelIommu = IntelIommu("x-scalable-mode=on,x-flts=on,aw-bits=39") },
          "qemu-system-x86_64: -device intel-iommu,x-scalable-mode=on,x-flts=on,aw-bits=39: Scalable mode(x-flts=on): supported value for aw-bits is: 48" },
        { Options(ErratumPolicy.Qemu11, xflts: false) with { Passthrough = [new SourceId(0, 9, 0)] },
          "qemu-system-x86_64: -device vfio-pci,host=0000:00:09.0,iommufd=iommufd0: vfio 0000:00:09.0: no such host device: No such file or directory" },
        { Options(ErratumPolicy.Qemu11, xflts: false) with { Passthrough = [Nic, Nic] },
          "qemu-system-x86_64: -device vfio-pci,host=0000:00:04.0,iommufd=iommufd0: vfio 0000:00:04.0: device is already attached" },
        { Options(ErratumPolicy.Qemu11, xflts: false) with { Machine = new MachineOptions { Type = MachineType.Pc, IntelIommu = true } },
          "qemu-system-x86_64: intel-iommu needs the q35 machine type (-M q35)" },
    };

    [Theory]
    [MemberData(nameof(BadCombinations))]
    public void BadCombinationsStopTheVmWithTheirMessageAndLeaveNothing(VmmOptions options, string message)
    {
        var kernel = Boot(BuiltInProfiles.SapphireRapids);
        Counts before = Take(kernel);
        Vmm vmm = Vmm.Start(kernel, options);
        Assert.Equal(VmmState.Failed, vmm.State);
        Assert.Equal([message], vmm.Log.Lines);
        Assert.Equal(before, Take(kernel));
        Assert.True(Unbound(kernel, Nic));
    }

    [Fact]
    public void AGuestLargerThanTheHostsUserMemoryFailsToPinAndLeavesNothing()
    {
        var kernel = Boot(BuiltInProfiles.SapphireRapids); // 960 MiB of user memory
        Vmm.Start(kernel, Options(ErratumPolicy.Qemu72, xflts: false)).Quit();
        Counts before = Take(kernel);
        Vmm vmm = Vmm.Start(kernel, Options(ErratumPolicy.Qemu11, xflts: false, ram: 1UL << 30));
        Assert.Equal(VmmState.Failed, vmm.State);
        Assert.Matches(@"^qemu-system-x86_64: -device vfio-pci,host=0000:00:04\.0,iommufd=iommufd0: vfio 0000:00:04\.0: memory listener initialization failed: " +
                       @"Region pc\.ram: vfio_container_dma_map\(0x[0-9a-f]+, 0x100000, 0x3ff00000, 0x[0-9a-f]+\) = -12 \(Cannot allocate memory\)$", Assert.Single(vmm.Log.Lines));
        Assert.Equal(before, Take(kernel));
    }

    [Fact]
    public void ASecondVmCannotTakeADeviceTheFirstHasAndLeavesTheFirstAsItWas()
    {
        var kernel = Boot(BuiltInProfiles.SapphireRapids);
        Vmm first = Vmm.Start(kernel, Options(ErratumPolicy.Qemu11, xflts: true));
        var mapped = Actual(first);
        Counts before = Take(kernel);
        Vmm second = Vmm.Start(kernel, Options(ErratumPolicy.Qemu11, xflts: true));
        Assert.Equal(VmmState.Failed, second.State);
        Assert.Equal(["qemu-system-x86_64: -device vfio-pci,host=0000:00:04.0,iommufd=iommufd0: vfio 0000:00:04.0: error bind device fd=4 to iommufd=3: Device or resource busy"],
            second.Log.Lines);
        Assert.Equal(before, Take(kernel));
        Assert.Equal(mapped, Actual(first));
    }

    [Fact]
    public void RefusedRuntimeChangesChangeNothing()
    {
        var kernel = Boot(BuiltInProfiles.SapphireRapids);
        Vmm vmm = Vmm.Start(kernel, Options(ErratumPolicy.Qemu11, xflts: true));
        var mapped = Actual(vmm);
        int mappings = vmm.Process.Mappings.Count;

        Assert.False(vmm.TryHotAddMemory("dimm0", new Gpa(0x100_0000), 2UL << 20, out string error));
        Assert.Equal("memory hot-add 'dimm0': [0x1000000, 0x11fffff] overlaps 'pc.ram' at [0x100000, 0x3ffffff]", error);
        Assert.False(vmm.TryHotAddMemory("dimm0", new Gpa(0x1_0000_0800), 2UL << 20, out error));
        Assert.Equal("memory hot-add 'dimm0': address 0x100000800 and size 0x200000 must be non-zero multiples of the page size 0x1000", error);
        Assert.False(vmm.TryHotAddMemory("dimm0", new Gpa(0xffff_ffff_ffe0_0000), 4UL << 20, out error));
        Assert.Contains("passes the end of the address space", error);
        Assert.True(vmm.TryHotAddMemory("dimm0", new Gpa(0x1_0000_0000), 2UL << 20, out _));
        Assert.False(vmm.TryHotAddMemory("dimm0", new Gpa(0x2_0000_0000), 2UL << 20, out error));
        Assert.Equal("Duplicate ID 'dimm0' for device", error);
        Assert.False(vmm.TryPlacePassthroughBar(0, 0xd000_1000, out error));
        Assert.Equal("BAR '0000:00:04.0 BAR 0 mmaps[0]' (size 0x100000) cannot be placed at 0xd0001000: a BAR is aligned to its size", error);
        Assert.False(vmm.TryPlacePassthroughBar(2, 0xd000_0000, out error));
        Assert.Equal("no passthrough device 2 (the VM has 1)", error);

        Assert.Equal(mappings + 1, vmm.Process.Mappings.Count);
        Assert.Equal(mapped.Append(new Mapping(0x1_0000_0000, 2UL << 20, Kernel.Intel.IommuProt.Read | Kernel.Intel.IommuProt.Write)).ToList(), Actual(vmm));

        vmm.Quit();
        Assert.False(vmm.TrySetPam(0, PamMode.ReadWrite, out error));
        Assert.Equal("the VM is not running (stopped)", error);
        Assert.Equal(0, kernel.UserMemory.PagesInUse);
    }
}
