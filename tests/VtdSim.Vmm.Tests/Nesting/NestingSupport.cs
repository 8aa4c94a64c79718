using VtdSim.Hardware;
using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Invalidation;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Registers;
using VtdSim.Hardware.Structures;
using VtdSim.Kernel;
using VtdSim.Kernel.Intel;
using VtdSim.Kernel.Iommufd;
using VtdSim.Kernel.Process;
using VtdSim.Machine;
using VtdSim.Vmm.Machines;
using VtdSim.Vmm.Vfio;
using static VtdSim.Vmm.Tests.Support.VmmHosts;

namespace VtdSim.Vmm.Tests.Nesting;

/// <summary>A host, a VMM with x-flts=on and the NIC passed through, and what a guest does to its vIOMMU by hand.</summary>
internal static class NestingSupport
{
    public const string Properties = "x-scalable-mode=on,x-flts=on,caching-mode=on";

    public static LinuxKernel Host(VtdProfile profile, IntelIommuOptions? options = null)
    {
        var machine = PhysicalMachine.Host(profile, 8UL << 30);
        machine.AddFunction(new PciFunction(Nic, "nic"));
        machine.AddFunction(new PciFunction(Gpu, "gpu"));
        return LinuxKernel.Boot(machine, layout: null, options);
    }

    public static VmmOptions Options(ErratumPolicy policy = ErratumPolicy.Qemu11, string properties = Properties, bool defaults = false) => new VmmOptions
    {
        Name = "guest0",
        Machine = new MachineOptions { Type = MachineType.Q35, RamSize = 256UL << 20, Booted = true, Defaults = defaults },
        ErratumPolicy = policy,
        Passthrough = [Nic],
    }.WithIntelIommu(IntelIommu(properties));

    /// <summary>A guest process's buffer mapped for the passthrough device through the guest kernel's iommufd on the vIOMMU.</summary>
    public sealed record GuestUser(LinuxKernel Kernel, ProcessAddressSpace App, IommufdContext Fd, uint DevId, uint Ioas, Uva Buffer, SourceId Device);

    public static GuestUser MapForDevice(Vmm vmm, ulong iova, ulong length)
    {
        LinuxKernel guest = Guest.GuestSupport.BootGuest(vmm);
        SourceId device = vmm.Devices[0].Guest!.Value;
        ProcessAddressSpace app = guest.CreateProcess("app");
        IommufdContext fd = guest.OpenIommufd(app);
        Assert.Equal(Errno.Success, fd.DeviceBind(device, out uint dev));
        Assert.Equal(Errno.Success, fd.IoasAlloc(0, out uint ioas));
        uint pt = ioas;
        Assert.Equal(Errno.Success, fd.DeviceAttach(dev, ref pt));
        Assert.Equal(Errno.Success, app.Mmap(length, MemoryProtection.ReadWrite, out Uva buffer));
        ulong at = iova;
        Assert.Equal(Errno.Success, fd.IoasMap(ioas, IoasMapFlags.ReadWrite | IoasMapFlags.FixedIova, buffer, length, ref at));
        return new GuestUser(guest, app, fd, dev, ioas, buffer, device);
    }

    /// <summary>Where the guest's PASID entry of <paramref name="device"/> (PASID 0) lies in guest memory, walked as the guest's own tables say.</summary>
    public static Hpa PasidEntryAddress(Vmm vmm, SourceId device)
    {
        VtdUnit unit = vmm.VIommu!;
        var m = vmm.GuestMachine.Memory;
        Hpa rootSlot = unit.RootTable + (ulong)device.Bus * RootEntry.Size;
        var root = new RootEntry(m.Read64(rootSlot), m.Read64(rootSlot + 8));
        Hpa ctx = root.LowerContextTablePointer + (ulong)device.DevFn * ScalableContextEntry.Size;
        var context = new ScalableContextEntry(m.Read64(ctx), m.Read64(ctx + 8), m.Read64(ctx + 16), m.Read64(ctx + 24));
        var dir = new PasidDirectoryEntry(m.Read64(context.PasidDirectoryPointer));
        return dir.PasidTablePointer;
    }

    public static PasidEntry ReadPasidEntry(Vmm vmm, Hpa at)
    {
        var m = vmm.GuestMachine.Memory;
        return new PasidEntry(m.Read64(at), m.Read64(at + 8), m.Read64(at + 16), m.Read64(at + 24), m.Read64(at + 32), m.Read64(at + 40), m.Read64(at + 48), m.Read64(at + 56));
    }

    /// <summary>
    /// What a guest does to put its top-level first-stage table for <paramref name="device"/> in read-only guest memory
    /// (the seed's case; <paramref name="romPage"/> in the PAM area, e.g. the VGA BIOS at 0xc0000): copies the table
    /// there without the Accessed bits its kernel's walks had set — with PAM segment 0 opened for writing, as SeaBIOS
    /// does to shadow a ROM, and closed again — points its PASID entry 0 there and invalidates the PASID cache and IOTLB.
    /// </summary>
    public static void MoveFirstStageTable(Vmm vmm, SourceId device, ulong romPage)
    {
        Hpa at = PasidEntryAddress(vmm, device);
        PasidEntry entry = ReadPasidEntry(vmm, at);
        var table = new byte[0x1000];
        Assert.True(vmm.TryReadGuest(new Gpa(entry.FirstStagePageTablePointer), table));
        for (int i = 0; i < 0x1000; i += 8)
        {
            var e = new FirstStageEntry(BitConverter.ToUInt64(table, i));
            if (e.Present) BitConverter.TryWriteBytes(table.AsSpan(i), e.WithAccessed(false).Raw);
        }
        Assert.True(vmm.TrySetPam(0, PamMode.ReadWrite, out string error), error);
        Assert.True(vmm.GuestMachine.Memory.TryWrite(new Hpa(romPage), table));
        Assert.True(vmm.TrySetPam(0, PamMode.ReadOnly, out error), error);
        Assert.True(vmm.Resolve(new Gpa(romPage)).ReadOnly);
        vmm.GuestMachine.Memory.Write64(at + 16, entry.WithFirstStagePointer(romPage).Q2);
        Submit(vmm, InvalidationDescriptor.PasidCachePasid(entry.DomainId, 0), InvalidationDescriptor.PasidIotlbAll(entry.DomainId, 0));
    }

    /// <summary>
    /// What a guest driver does to queue descriptors on the vIOMMU it has set up: writes them at IQT in its queue
    /// (256-bit descriptors in scalable mode) and moves IQT past them — guest CPU stores and MMIO writes.
    /// </summary>
    public static void Submit(Vmm vmm, params InvalidationDescriptor[] descriptors)
    {
        VtdUnit unit = vmm.VIommu!;
        ulong iqa = unit.ReadRegister64(RegisterOffset.IQA);
        int size = (iqa & (1UL << 11)) != 0 ? 32 : 16;
        ulong entries = (4096UL << (int)(iqa & 7)) / (ulong)size;
        ulong tail = unit.ReadRegister64(RegisterOffset.IQT) / (ulong)size;
        foreach (var d in descriptors)
        {
            var slot = new Hpa((iqa & ~0xFFFUL) + tail * (ulong)size);
            vmm.GuestMachine.Memory.Write64(slot, d.Q0);
            vmm.GuestMachine.Memory.Write64(slot + 8, d.Q1);
            if (size == 32)
            {
                vmm.GuestMachine.Memory.Write64(slot + 16, 0);
                vmm.GuestMachine.Memory.Write64(slot + 24, 0);
            }
            tail = (tail + 1) % entries;
        }
        unit.WriteRegister64(RegisterOffset.IQT, tail * (ulong)size);
    }
}
