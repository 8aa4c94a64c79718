using VtdSim.Hardware;
using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Memory;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Registers;

namespace VtdSim.Machine.Tests;

/// <summary>
/// A machine whose memory is a view onto the memory of the machine below (a guest): CPU loads and stores reach the
/// host's frames, what is not RAM answers "no memory", ROM refuses stores, and the unit over the view is still reached
/// through its register page (decisions M1–M3).
/// </summary>
public class GuestMemoryMachineTests
{
    private const ulong Page = MachineMemory.PageSize;
    private const ulong OffsetPages = 0x10_0000; // guest page g is host page g + 4 GiB / 4 KiB

    private sealed class Map(PhysicalMemory host) : IGuestPageResolver
    {
        public GuestPage Resolve(ulong page, bool write) => page switch
        {
            0x20 => GuestPage.Unassigned,                                  // a hole: not RAM
            0xC0 => GuestPage.Ram(host, page + OffsetPages, writable: false), // ROM
            _ => GuestPage.Ram(host, page + OffsetPages),
        };
    }

    private static (PhysicalMachine Guest, PhysicalMemory Host) NewGuest()
    {
        var host = new PhysicalMemory(1UL << 36);
        var view = new GuestMemory(1UL << 32, new Map(host));
        var unit = new VtdUnit(view, BuiltInProfiles.Qemu72Scalable);
        var guest = new PhysicalMachine(view, unit.RegisterBase, new VtdUnitDmaPort(unit)) { HardwareIommu = unit };
        guest.Map(new VtdUnitMmio(unit));
        return (guest, host);
    }

    [Fact]
    public void CpuStoresInTheGuestAreTheHostsBytes()
    {
        var (guest, host) = NewGuest();
        guest.Write(new Hpa(0x1003), 2, 0xBEEF);
        guest.Write(new Hpa(0x1008), 8, 0x0123_4567_89AB_CDEF);
        Assert.Equal(0xBEEFUL, host.Read64(new Hpa((1 + OffsetPages) * Page)) >> 24 & 0xFFFF);
        Assert.Equal(0x0123_4567_89AB_CDEFUL, host.Read64(new Hpa((1 + OffsetPages) * Page + 8)));
        host.Write64(new Hpa((2 + OffsetPages) * Page), 0x55);
        Assert.Equal(0x55UL, guest.Read(new Hpa(0x2000), 1));
        Assert.True(guest.TryZeroBytes(new Hpa(0x1000), Page));
        Assert.Equal(0UL, host.Read64(new Hpa((1 + OffsetPages) * Page + 8)));
    }

    [Fact]
    public void WhatIsNotRamAnswersNoMemoryAndRomRefusesStores()
    {
        var (guest, host) = NewGuest();
        Assert.False(guest.TryRead(new Hpa(0x20_008), 8, out _));
        Assert.False(guest.TryWrite(new Hpa(0x20_000), 4, 1));
        Assert.Contains("no memory or device answered", Assert.Throws<MemoryAccessException>(() => guest.Read(new Hpa(0x20_000), 4)).Message);
        host.Write64(new Hpa((0xC0 + OffsetPages) * Page), 0xAA55);
        Assert.Equal(0xAA55UL, guest.Read(new Hpa(0xC0_000), 2));
        Assert.False(guest.TryWrite(new Hpa(0xC0_000), 2, 0));
        Assert.False(guest.TryWriteBytes(new Hpa(0xBF_FFC), new byte[8])); // straddles RAM and ROM: nothing written
        Assert.Equal(0UL, host.Read64(new Hpa((0xBF + OffsetPages) * Page + Page - 8)));
        Assert.Equal(0xAA55UL, host.Read64(new Hpa((0xC0 + OffsetPages) * Page)));
    }

    [Fact]
    public void TheUnitOverTheGuestsMemoryIsReachedThroughItsRegisterPage()
    {
        var (guest, _) = NewGuest();
        Assert.Equal(BuiltInProfiles.Qemu72Scalable.Cap.Raw, guest.Read(guest.IommuBase + RegisterOffset.CAP, 8));
    }
}
