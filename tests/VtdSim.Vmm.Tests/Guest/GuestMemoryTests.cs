using CsCheck;
using VtdSim.Hardware.Tests.Properties;
using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Memory;
using VtdSim.Hardware.Profiles;
using VtdSim.Kernel;
using VtdSim.Kernel.Process;
using VtdSim.Vmm.Machines;
using VtdSim.Vmm.Memory;
using VtdSim.Vmm.Tests.Support;
using static VtdSim.Vmm.Tests.Guest.GuestSupport;
using static VtdSim.Vmm.Tests.Support.VmmHosts;

namespace VtdSim.Vmm.Tests.Guest;

/// <summary>The guest machine's memory: the VMM process's pages, i.e. host frames (decisions G1–G4).</summary>
public class GuestMemoryTests
{
    [Fact]
    public void AGuestCpuWriteIsTheHostFramesByteAndTheVmmProcesssByte()
    {
        LinuxKernel host = Boot(BuiltInProfiles.SapphireRapids);
        Vmm vmm = Vmm.Start(host, Q35());
        var gpa = new Gpa(0x0234_5678);

        vmm.GuestMachine.Write(new Hpa(gpa.Value), 8, 0x1122_3344_5566_7788);

        Hpa frame = HostAddressOf(vmm, gpa);
        Assert.Equal(0x1122_3344_5566_7788UL, ReadHost(host, frame));
        Assert.Equal(Errno.Success, vmm.Process.Read64(vmm.Resolve(gpa).UserVa!.Value, out ulong seen));
        Assert.Equal(0x1122_3344_5566_7788UL, seen);

        // And the other way: the VMM's store is what the guest CPU loads.
        Assert.Equal(Errno.Success, vmm.Process.Write64(vmm.Resolve(gpa + 8).UserVa!.Value, 0xfeed));
        Assert.Equal(0xfeedUL, vmm.GuestMachine.Read(new Hpa(gpa.Value + 8), 8));
    }

    [Theory]
    [InlineData(GuestRamBackend.Hugetlb2M)]
    [InlineData(GuestRamBackend.Hugetlb1G)]
    [InlineData(GuestRamBackend.SharedFile)]
    public void EveryRamBackendIsTheSameBytesForTheGuestAndTheProcess(GuestRamBackend backend)
    {
        // 1 GiB pages need a 1 GiB-aligned user range: user pages from 4 GiB on a 16 GiB host.
        var layout = new KernelMemoryLayout(new Hpa(1UL << 20), 63UL << 20, new Hpa(4UL << 30), 8UL << 30);
        LinuxKernel host = Boot(BuiltInProfiles.SapphireRapids, layout, memory: 16UL << 30);
        Vmm vmm = Vmm.Start(host, Q35() with { RamBackend = backend });
        var gpa = new Gpa(0x0300_1000);
        vmm.GuestMachine.Write(new Hpa(gpa.Value), 4, 0xabcd_ef01);
        Assert.Equal(0xabcd_ef01UL, ReadHost(host, HostAddressOf(vmm, gpa)) & 0xffff_ffff);
        if (backend == GuestRamBackend.SharedFile)
        {
            // Another process mapping the same file sees the guest's store.
            ProcessAddressSpace other = host.CreateProcess("reader");
            Assert.Equal(Errno.Success, other.MmapShared(vmm.RamFile!, 0, 256UL << 20, MemoryProtection.Read, out Uva va));
            Assert.Equal(Errno.Success, other.Read64(va + gpa.Value, out ulong v));
            Assert.Equal(0xabcd_ef01UL, v);
        }
    }

    [Fact]
    public void RomIsReadOnlyAndIoAndHolesAreNotMemoryForTheGuest()
    {
        LinuxKernel host = Boot(BuiltInProfiles.SapphireRapids);
        Vmm vmm = Vmm.Start(host, Q35());
        MachineMemory memory = vmm.GuestMachine.Memory;
        var bios = new byte[7];
        Assert.True(memory.TryRead(new Hpa(0xfffc0000), bios));
        Assert.Equal("pc.bios"u8.ToArray(), bios);
        Assert.False(memory.TryWrite(new Hpa(0xfffc0000), "changed"u8));
        Assert.False(vmm.GuestMachine.TryWrite(new Hpa(0xfffc0000), 4, 0)); // a CPU store to ROM is dropped
        Assert.True(memory.TryRead(new Hpa(0xfffc0000), bios));
        Assert.Equal("pc.bios"u8.ToArray(), bios);

        // 0xc4000: RAM that SeaBIOS left read-only (PAM; 0xc0000-0xc2fff is the vapic's writable alias here): readable, not writable.
        Assert.True(memory.TryRead(new Hpa(0xc4000), bios));
        Assert.False(memory.TryWrite(new Hpa(0xc4000), "changed"u8));
        Assert.True(memory.TryWrite(new Hpa(0xc0000), "vapic"u8));

        // The IOAPIC, the PCI hole: not memory.
        Assert.False(memory.TryRead(new Hpa(0xfec00000), bios));
        Assert.False(memory.TryRead(new Hpa(0xc000_0000), bios));
        Assert.False(memory.TryWrite(new Hpa(0xc000_0000), bios));
    }

    [Fact]
    public void A4TiBGuestCostsOnlyWhatItTouches()
    {
        LinuxKernel host = Boot(BuiltInProfiles.SapphireRapids);
        Vmm vmm = Vmm.Start(host, Q35(ram: 4UL << 40) with { RamBackend = GuestRamBackend.Hugetlb2M });
        Assert.Equal(VmmState.Running, vmm.State);
        int resident = vmm.Process.ResidentPages;
        int frames = host.Machine.Memory.MaterializedFrames;
        int guestFrames = vmm.GuestMachine.Memory.MaterializedFrames;

        var gpa = new Gpa(3UL << 40);
        vmm.GuestMachine.Write(new Hpa(gpa.Value), 8, 42);
        Assert.Equal(42UL, vmm.GuestMachine.Read(new Hpa(gpa.Value), 8));

        Assert.Equal(resident + 1, vmm.Process.ResidentPages); // one 2 MiB page faulted in
        Assert.Equal(frames + 1, host.Machine.Memory.MaterializedFrames); // one 4 KiB frame written
        Assert.Equal(guestFrames + 1, vmm.GuestMachine.Memory.MaterializedFrames);
        Assert.Equal(42UL, ReadHost(host, HostAddressOf(vmm, gpa)));
    }

    [Fact]
    public void TheGuestsPhysicalAddressSpaceIs40BitsUnlessRamNeedsMoreAndHotAddStaysInIt()
    {
        LinuxKernel host = Boot(BuiltInProfiles.SapphireRapids);
        Vmm small = Vmm.Start(host, Q35());
        Assert.Equal(1UL << 40, small.GuestMachine.Memory.Size);
        Assert.False(small.TryHotAddMemory("far", new Gpa(1UL << 40), 2UL << 20, out string error));
        Assert.Equal("memory hot-add 'far': [0x10000000000, 0x100001fffff] is beyond the guest's physical address space (0x10000000000 bytes)", error);
        Assert.True(small.TryHotAddMemory("near", new Gpa((1UL << 40) - (2UL << 20)), 2UL << 20, out _));
        small.GuestMachine.Write(new Hpa((1UL << 40) - 8), 8, 9);
        Assert.Equal(9UL, small.GuestMachine.Read(new Hpa((1UL << 40) - 8), 8));
        small.Quit();

        Vmm big = Vmm.Start(host, Q35(ram: 2UL << 40));
        Assert.Equal(4UL << 40, big.GuestMachine.Memory.Size); // 4 GiB + 2 TiB of RAM needs 42 bits
    }

    [Fact]
    public void AfterQuitTheGuestMachineHasNoRamLeft()
    {
        LinuxKernel host = Boot(BuiltInProfiles.SapphireRapids);
        Vmm vmm = Vmm.Start(host, Q35());
        vmm.GuestMachine.Write(new Hpa(0x10_0000), 8, 7);
        vmm.Quit();
        Assert.False(vmm.GuestMachine.TryRead(new Hpa(0x10_0000), 8, out _));
        Assert.False(vmm.GuestMachine.TryWrite(new Hpa(0x10_0000), 8, 7));
        Assert.Equal(0, host.UserMemory.PagesInUse);
    }

    private enum Op { Pam, VgaBar, HotAdd, GuestWrite }

    private readonly record struct Step(Op Op, int A, int B);

    private static readonly Gen<Step> StepGen =
        Gen.Select(Gen.Enum<Op>(), Gen.Int[0, 1000], Gen.Int[0, 1000], (o, a, b) => new Step(o, a, b));

    /// <summary>
    /// After any sequence of runtime changes, every page the guest machine reads is what the flat view and the VMM's
    /// process say it is: the process's bytes where the view shows RAM or ROM (read-only where the section is), and
    /// not memory elsewhere. Pages are stamped through the process first, so a stale page shows.
    /// </summary>
    [Fact]
    public void EveryGuestPageIsWhatTheFlatViewAndTheProcessSayAfterRandomRuntimeChanges()
    {
        PropertyRunner.Run(StepGen.Array[1, 12], steps =>
        {
            LinuxKernel host = Boot(BuiltInProfiles.SapphireRapids);
            Vmm vmm = Vmm.Start(host, Q35(ram: 16UL << 20, defaults: true));
            Assert.Equal(VmmState.Running, vmm.State);
            // Sample pages: the PAM area, low RAM, the VGA window, the PCI hole where BARs go, the BIOS, above 4 GiB.
            ulong[] pages = [.. Enumerable.Range(0, 64).Select(i => 0xc0000UL + (ulong)i * 0x1000), 0xa0000, 0x10_0000, 0xff_f000,
                0xc000_0000, 0xc000_1000, 0xc100_0000, 0xfffc_0000, 0xffff_f000, 0x1_0000_0000, 0x1_0040_0000, 0x1_00a0_0000];
            int dimms = 0;
            Stamp(vmm, pages);
            try
            {
                foreach (Step s in steps)
                {
                    switch (s.Op)
                    {
                        case Op.Pam:
                            Assert.True(vmm.TrySetPam(s.A % PcMachine.PamSegments, (PamMode)(s.B % 4), out _));
                            break;
                        case Op.VgaBar:
                            Bar vram = vmm.Machine.Functions.First(f => f.Name == "VGA").Bars[0];
                            // In the PCI hole, over RAM (hidden by it: the PCI space is below RAM), or off.
                            ulong? at = (s.A % 3) switch { 0 => null, 1 => 0xc000_0000UL + (ulong)(s.B % 4) * vram.Size, _ => 0 };
                            Assert.True(vmm.TryPlaceBar(vram, at, out _));
                            break;
                        case Op.HotAdd:
                            vmm.TryHotAddMemory($"dimm{dimms}", new Gpa(0x1_0000_0000UL + (ulong)(s.A % 4) * (4UL << 20)), (ulong)(1 + s.B % 3) * (2UL << 20), out _);
                            dimms++;
                            break;
                        case Op.GuestWrite:
                            vmm.GuestMachine.TryWrite(new Hpa(pages[s.A % pages.Length] + 8), 8, (ulong)s.B);
                            break;
                    }
                    Stamp(vmm, pages);
                    foreach (ulong page in pages) CheckPage(vmm, page);
                }
            }
            finally
            {
                vmm.Quit();
            }
        }, seed: 91, iterations: 30, print: steps => string.Join(", ", steps));
    }

    /// <summary>Writes a page-identifying word at the start of every sample page that is RAM, through the process.</summary>
    private static void Stamp(Vmm vmm, ulong[] pages)
    {
        foreach (ulong page in pages)
        {
            if (vmm.Resolve(new Gpa(page)).UserVa is Uva va)
                Assert.Equal(Errno.Success, vmm.Process.Write64(va, 0x5a5a_0000_0000_0000UL | page));
        }
    }

    private static void CheckPage(Vmm vmm, ulong page)
    {
        MachineMemory memory = vmm.GuestMachine.Memory;
        MemorySection? section = vmm.Machine.SystemMemory.Find(page);
        bool ram = section is { Kind: RegionKind.Ram or RegionKind.Rom };
        var bytes = new byte[16];
        if (!ram)
        {
            Assert.False(memory.TryRead(new Hpa(page), bytes), $"0x{page:x} is not RAM but the guest reads it");
            return;
        }
        Uva va = vmm.Resolve(new Gpa(page)).UserVa!.Value;
        var expected = new byte[16];
        Assert.Equal(Errno.Success, vmm.Process.Read(va, expected));
        Assert.True(memory.TryRead(new Hpa(page), bytes), $"0x{page:x} ({section!.Value.Region.Name}) is RAM but the guest cannot read it");
        Assert.Equal(expected, bytes);
        // Writable exactly where the section is not read-only; a write lands in the process's page.
        bool wrote = memory.TryWrite(new Hpa(page + 8), "guest w!"u8);
        Assert.Equal(!section!.Value.ReadOnly, wrote);
        if (wrote)
        {
            Assert.Equal(Errno.Success, vmm.Process.Read(va + 8, expected.AsSpan(0, 8)));
            Assert.Equal("guest w!"u8.ToArray(), expected[..8]);
        }
    }

    private static ulong ReadHost(LinuxKernel host, Hpa frame) => host.Machine.Memory.TryRead64(frame, out ulong v) ? v : throw new InvalidOperationException();
}
