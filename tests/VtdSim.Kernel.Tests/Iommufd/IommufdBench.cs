using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Translation;
using VtdSim.Kernel.Intel;
using VtdSim.Kernel.Iommufd;
using VtdSim.Kernel.Process;
using VtdSim.Machine;

namespace VtdSim.Kernel.Tests.Iommufd;

/// <summary>
/// A booted host (Sapphire Rapids-like unless told otherwise) with three PCI functions, a process, and an iommufd
/// opened by it. Helpers keep the tests short; every helper that should succeed asserts it.
/// </summary>
public sealed class IommufdBench
{
    public static readonly SourceId Dev0 = new(0, 3, 0);
    public static readonly SourceId Dev1 = new(0, 4, 0);
    public static readonly SourceId Dev2 = new(0, 5, 0);

    public IommufdBench(VtdProfile? profile = null, IntelIommuOptions? options = null, KernelMemoryLayout? layout = null, ulong memorySize = 1UL << 36)
    {
        Machine = PhysicalMachine.Host(profile ?? BuiltInProfiles.SapphireRapids, memorySize);
        foreach (var sid in new[] { Dev0, Dev1, Dev2 }) Machine.AddFunction(new PciFunction(sid, $"nic {sid}"));
        Kernel = LinuxKernel.Boot(Machine, layout, options);
        Process = Kernel.CreateProcess("vmm");
        Fd = Kernel.OpenIommufd(Process);
    }

    public PhysicalMachine Machine { get; }
    public LinuxKernel Kernel { get; }
    public ProcessAddressSpace Process { get; }
    public IommufdContext Fd { get; }

    public uint Ioas() => Fd.IoasAlloc();

    public uint Bind(SourceId sid)
    {
        Assert.Equal(Errno.Success, Fd.DeviceBind(sid, out uint id));
        return id;
    }

    /// <summary>Binds and attaches to an IOAS (automatic domain) or HWPT; returns (device id, the HWPT id attached).</summary>
    public (uint Dev, uint Hwpt) BindAttach(SourceId sid, uint ptId)
    {
        uint dev = Bind(sid);
        uint pt = ptId;
        Assert.Equal(Errno.Success, Fd.DeviceAttach(dev, ref pt));
        return (dev, pt);
    }

    public uint Hwpt(uint devId, uint ptId, HwptAllocFlags flags = HwptAllocFlags.None)
    {
        Assert.Equal(Errno.Success, Fd.HwptAlloc(devId, ptId, flags, out uint id));
        return id;
    }

    public uint Nested(uint devId, uint parentId, VtdS1Config? s1 = null)
    {
        byte[] data = VtdUapi.EncodeS1(s1 ?? new VtdS1Config(VtdS1Flags.None, 0x10_0000, 48));
        Assert.Equal(Errno.Success, Fd.HwptAlloc(devId, parentId, HwptAllocFlags.None, out uint id, HwptDataType.VtdS1, (uint)data.Length, data));
        return id;
    }

    /// <summary>Anonymous memory (read-write unless told otherwise), each page stamped with a recognisable pattern.</summary>
    public Uva Buffer(ulong pages, MemoryProtection prot = MemoryProtection.ReadWrite, Uva? at = null, byte stamp = 0xA0)
    {
        Assert.Equal(Errno.Success, Process.Mmap(pages * 4096, MemoryProtection.ReadWrite, out Uva va, at));
        for (ulong p = 0; p < pages; p++) Assert.Equal(Errno.Success, Process.Write64(va + p * 4096, Stamp(stamp, p)));
        if (prot != MemoryProtection.ReadWrite)
        {
            // Re-map with the wanted protection over the same pages is not possible with mmap alone; build a fresh
            // mapping instead (its pages are zero until touched) for read-only or PROT_NONE memory.
            Assert.Equal(Errno.Success, Process.Munmap(va, pages * 4096));
            Assert.Equal(Errno.Success, Process.Mmap(pages * 4096, prot, out va, at));
        }
        return va;
    }

    public static ulong Stamp(byte stamp, ulong page) => 0x5EED_0000_0000_0000UL | ((ulong)stamp << 32) | page;

    public ulong Map(uint ioasId, Uva va, ulong length, IoasMapFlags flags = IoasMapFlags.ReadWrite, ulong? iova = null)
    {
        ulong at = iova ?? 0;
        if (iova is not null) flags |= IoasMapFlags.FixedIova;
        Assert.Equal(Errno.Success, Fd.IoasMap(ioasId, flags, va, length, ref at));
        return at;
    }

    public Errno TryMap(uint ioasId, Uva va, ulong length, IoasMapFlags flags, ulong iova)
    {
        ulong at = iova;
        return Fd.IoasMap(ioasId, flags | IoasMapFlags.FixedIova, va, length, ref at);
    }

    public DmaTransferResult DmaRead(SourceId sid, ulong iova, byte[] into) =>
        Machine.Dma.Read(new DmaRequest(sid, new Iova(iova), DmaAccess.Read), into);

    public DmaTransferResult DmaWrite(SourceId sid, ulong iova, byte[] from) =>
        Machine.Dma.Write(new DmaRequest(sid, new Iova(iova), DmaAccess.Write), from);

    public ulong? DmaRead64(SourceId sid, ulong iova)
    {
        var b = new byte[8];
        return DmaRead(sid, iova, b).Completed ? BitConverter.ToUInt64(b) : null;
    }

    public bool DmaWrite64(SourceId sid, ulong iova, ulong value) => DmaWrite(sid, iova, BitConverter.GetBytes(value)).Completed;

    /// <summary>A request with a PASID prefix (PASID-tagged DMA), 8 bytes; null if it faulted.</summary>
    public ulong? DmaRead64(SourceId sid, uint pasid, ulong iova)
    {
        var b = new byte[8];
        return Machine.Dma.Read(new DmaRequest(sid, new Iova(iova), DmaAccess.Read, Pasid: pasid), b).Completed ? BitConverter.ToUInt64(b) : null;
    }

    public bool DmaWrite64(SourceId sid, uint pasid, ulong iova, ulong value) =>
        Machine.Dma.Write(new DmaRequest(sid, new Iova(iova), DmaAccess.Write, Pasid: pasid), BitConverter.GetBytes(value)).Completed;

    public HwptPaging PagingOf(uint hwptId) => Fd.Get<HwptPaging>(hwptId) ?? throw new InvalidOperationException($"#{hwptId} is not a paging HWPT");
    public Ioas IoasOf(uint ioasId) => Fd.Get<Ioas>(ioasId) ?? throw new InvalidOperationException($"#{ioasId} is not an IOAS");
}
