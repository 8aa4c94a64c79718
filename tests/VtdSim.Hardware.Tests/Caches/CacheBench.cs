using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Building;
using VtdSim.Hardware.Invalidation;
using VtdSim.Hardware.Memory;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Registers;
using VtdSim.Hardware.Structures;
using VtdSim.Hardware.Translation;

namespace VtdSim.Hardware.Tests.Caches;

/// <summary>
/// A scalable-mode unit with its caches on and queued invalidation enabled, one device (00:01.0, RID_PASID 0), and
/// helpers to change tables and submit invalidation descriptors the way a driver does.
/// </summary>
public sealed class CacheBench
{
    public static readonly SourceId Device = new(0, 1, 0);
    private const ulong QueueBase = 0x0F00_0000, StatusAddress = 0x0F10_0000;
    private int _tail;

    public PhysicalMemory Memory { get; } = new(1UL << 40);
    public VtdUnit Unit { get; }
    public FrameAllocator Frames { get; }
    public RemappingTables Tables { get; }

    public CacheBench(VtdProfile? profile = null)
    {
        Unit = new VtdUnit(Memory, profile ?? BuiltInProfiles.Architectural);
        Frames = new FrameAllocator(Memory, new Hpa(0x10_0000), new Hpa(0x0F00_0000));
        Tables = new RemappingTables(Frames, scalable: true, pasidCapable: Unit.Profile.Ecap.Pasid);
        Unit.WriteRegister64(RegisterOffset.IQA, QueueBase | 1UL << 11);
        Unit.WriteRegister32(RegisterOffset.GCMD, (uint)GlobalCommand.QueuedInvalidationEnable);
        Unit.WriteRegister64(RegisterOffset.RTADDR, Tables.Root.Value | 1UL << 10);
        Unit.WriteRegister32(RegisterOffset.GCMD, (uint)(GlobalCommand.QueuedInvalidationEnable | GlobalCommand.SetRootTablePointer));
        Unit.WriteRegister32(RegisterOffset.GCMD, (uint)(GlobalCommand.QueuedInvalidationEnable | GlobalCommand.TranslationEnable));
    }

    /// <summary>A second-stage-only PASID entry (DID <paramref name="did"/>) over fresh tables (4-level unless the unit needs 3); returns the table builder.</summary>
    public SecondStageTableBuilder SecondStageDomain(ushort did, uint pasid = 0, SourceId? device = null, int levels = 4)
    {
        var ss = new SecondStageTableBuilder(Frames, levels);
        Tables.SetPasidEntry(device ?? Device, pasid, PasidEntry.SecondStage(ss.Root, ss.AddressWidth, did));
        return ss;
    }

    /// <summary>A first-stage-only PASID entry (DID <paramref name="did"/>).</summary>
    public FirstStageTableBuilder FirstStageDomain(ushort did, uint pasid = 0)
    {
        var fs = FirstStageTableBuilder.InHostMemory(Frames);
        Tables.SetPasidEntry(Device, pasid, PasidEntry.FirstStage(fs.Root, did));
        return fs;
    }

    public void Submit(params InvalidationDescriptor[] descriptors)
    {
        foreach (var d in descriptors.Append(InvalidationDescriptor.Wait(StatusAddress, 1)))
        {
            var slot = new Hpa(QueueBase + (ulong)_tail * 32);
            Memory.Write64(slot, d.Q0);
            Memory.Write64(slot + 8, d.Q1);
            Memory.Write64(slot + 16, 0);
            Memory.Write64(slot + 24, 0);
            _tail = (_tail + 1) % 128;
        }
        Unit.WriteRegister64(RegisterOffset.IQT, (ulong)_tail * 32);
        Assert.Equal(0u, Unit.ReadRegister32(RegisterOffset.FSTS) & (1u << 4)); // no queue error
    }

    public Hpa? Translate(ulong iova, DmaAccess access = DmaAccess.Read, uint? pasid = null, SourceId? device = null)
    {
        var r = Unit.Translate(new DmaRequest(device ?? Device, new Iova(iova), access, pasid));
        return r.Success ? r.Address : null;
    }
}
