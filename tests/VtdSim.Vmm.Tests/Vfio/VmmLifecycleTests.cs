using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Profiles;
using VtdSim.Vmm.Machines;
using VtdSim.Vmm.Vfio;
using static VtdSim.Vmm.Tests.Support.VmmHosts;

namespace VtdSim.Vmm.Tests.Vfio;

/// <summary>A VMM that did not start, or has stopped, answers every call with false or QEMU-like text, never an exception.</summary>
public class VmmLifecycleTests
{
    [Fact]
    public void AVmmThatFailedBeforeItsMapAnswersEveryQueryAsNothingIsThere()
    {
        var kernel = Boot(BuiltInProfiles.SapphireRapids);
        Vmm vmm = Vmm.Start(kernel, new VmmOptions { Machine = new MachineOptions { RamSize = 8UL << 40 } });
        Assert.Equal(VmmState.Failed, vmm.State);
        Assert.Equal(["qemu-system-x86_64: the RAM size is out of range (1 MiB to 4 TiB)"], vmm.Log.Lines);

        Assert.True(vmm.Resolve(new Gpa(0x1000)).Unassigned);
        var bytes = new byte[8];
        Assert.False(vmm.TryReadGuest(new Gpa(0x1000), bytes));
        Assert.False(vmm.TryWriteGuest(new Gpa(0x1000), bytes));
        Assert.Null(vmm.GuestKernelLayout());
        Assert.False(vmm.TryHotAddMemory("dimm0", new Gpa(1UL << 32), 2UL << 20, out string error));
        Assert.Equal("the VM is not running (failed)", error);
        Assert.False(vmm.TryPlacePassthroughBar(0, 0xd000_0000, out error));
        Assert.Equal("no passthrough device 0 (the VM has 0)", error);
        Assert.Equal(0, kernel.UserMemory.PagesInUse);
        Assert.Empty(vmm.Process.Mappings);
    }

    [Fact]
    public void AStoppedVmmRefusesChangesByName()
    {
        var kernel = Boot(BuiltInProfiles.SapphireRapids);
        Vmm vmm = Vmm.Start(kernel, Options(ErratumPolicy.Qemu72, xflts: false));
        Assert.Equal(VmmState.Running, vmm.State);
        Assert.False(vmm.RunFirmware()); // it ran at start (Booted)
        vmm.Quit();
        vmm.Quit(); // twice is nothing more

        Assert.Equal(VmmState.Stopped, vmm.State);
        Assert.False(vmm.RunFirmware());
        Assert.False(vmm.TryPlacePassthroughBar(0, 0xd000_0000, out string error));
        Assert.Equal("the VM is not running (stopped)", error);
        Assert.False(vmm.TryHotAddMemory("dimm0", new Gpa(1UL << 32), 2UL << 20, out error));
        Assert.Equal("the VM is not running (stopped)", error);
        Bar vram = vmm.Machine.Functions.SelectMany(f => f.Bars).First(b => b.Region?.Name == "vga.vram");
        Assert.False(vmm.TryPlaceBar(vram, 0xc000_0000, out error));
        Assert.Equal("the VM is not running (stopped)", error);
        // Its guest memory went with its process: no RAM left to read.
        Assert.False(vmm.TryReadGuest(new Gpa(0x1000), new byte[8]));
    }

    [Fact]
    public void BarsThatDecodeNoMemoryAndEmptyHotAddsAreRefused()
    {
        var kernel = Boot(BuiltInProfiles.SapphireRapids);
        Vmm vmm = Vmm.Start(kernel, Options(ErratumPolicy.Qemu72, xflts: false));
        PciFunctionModel nic = vmm.Machine.Functions.Single(f => f.Name == "e1000e");
        Bar io = nic.Bars.Single(b => b.Space == BarSpace.Io);
        Assert.False(vmm.TryPlaceBar(io, 0xc000, out string error));
        Assert.Equal($"BAR {io.Index} does not decode memory", error);
        Bar rom = nic.Bars.Single(b => b.Space == BarSpace.Rom);
        Assert.False(vmm.TryPlaceBar(rom, 0xc000_0000, out error));
        Assert.Equal("BAR 6 does not decode memory", error);

        Assert.False(vmm.TryHotAddMemory("dimm0", new Gpa(1UL << 32), 0, out error));
        Assert.Equal("memory hot-add 'dimm0': address 0x100000000 and size 0x0 must be non-zero multiples of the page size 0x1000", error);
        Assert.False(vmm.TryHotAddMemory("dimm0", new Gpa(1UL << 32), 0x1800, out error));
        Assert.Equal("memory hot-add 'dimm0': address 0x100000000 and size 0x1800 must be non-zero multiples of the page size 0x1000", error);
        Assert.Equal(VmmState.Running, vmm.State);
    }

    [Fact]
    public void TheVmmWritesGuestMemoryOnlyWhereItIsMemory()
    {
        var kernel = Boot(BuiltInProfiles.SapphireRapids);
        Vmm vmm = Vmm.Start(kernel, Options(ErratumPolicy.Qemu72, xflts: false));
        // The IOAPIC's page is I/O, and so is the hole below 4 GiB past RAM: nothing to write.
        Assert.False(vmm.TryWriteGuest(new Gpa(0xfec00000), "x"u8));
        Assert.False(vmm.TryWriteGuest(new Gpa(0x0800_0000), "x"u8));
        // The VMM may write read-only RAM (the shadowed VGA BIOS) and ROM through its own process memory.
        Assert.True(vmm.TryWriteGuest(new Gpa(0xc0000), "vmm"u8));
        Assert.True(vmm.TryWriteGuest(new Gpa(0xfffc0000), "rom"u8));
        var back = new byte[3];
        Assert.True(vmm.TryReadGuest(new Gpa(0xc0000), back));
        Assert.Equal("vmm"u8.ToArray(), back);
        Assert.True(vmm.TryReadGuest(new Gpa(0xfffc0000), back));
        Assert.Equal("rom"u8.ToArray(), back);
    }

    [Fact]
    public void TheShadowedVgaBiosStartsWithTheOptionRomSignature55Aa()
    {
        // What SeaBIOS leaves at 0xc0000 with the default VGA: an option ROM, which begins 55 AA and its size in 512-byte
        // blocks (a guest scanning for option ROMs looks for exactly these bytes).
        var kernel = Boot(BuiltInProfiles.SapphireRapids);
        Vmm vmm = Vmm.Start(kernel, new VmmOptions { Machine = new MachineOptions { Type = MachineType.Q35, RamSize = 256UL << 20, Booted = true, Defaults = true } });
        Assert.Equal(VmmState.Running, vmm.State);
        var head = new byte[3];
        Assert.True(vmm.TryReadGuest(new Gpa(0xc0000), head));
        Assert.Equal(new byte[] { 0x55, 0xAA, 0x50 }, head);
        vmm.Quit();
    }
}
