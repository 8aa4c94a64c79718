using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Invalidation;
using VtdSim.Hardware.Memory;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Registers;
using VtdSim.Hardware.Translation;
using K = VtdSim.Hardware.Invalidation.UnitNoticeKind;

namespace VtdSim.Hardware.Tests.Invalidation;

/// <summary>
/// The vIOMMU seam (decisions N1–N3): an observer hears what the unit carried out, in the order it carried it out,
/// after it did; before a wait; at the end of a run; on SRTP and TE; and may write the unit's registers without the
/// queue recursing.
/// </summary>
public class UnitObserverTests
{
    private const ulong QueueBase = 0x20_0000, RootBase = 0x40_0000, StatusAddress = 0x30_0000;

    private sealed class Recorder(VtdUnit unit) : IVtdUnitObserver
    {
        public List<UnitNotice> Notices { get; } = [];
        public List<ulong> HeadAtNotice { get; } = [];
        public Action<UnitNotice>? OnNotice { get; set; }
        public int Depth { get; private set; }
        public int MaxDepth { get; private set; }

        public void Notice(in UnitNotice notice)
        {
            Depth++;
            MaxDepth = Math.Max(MaxDepth, Depth);
            Notices.Add(notice);
            HeadAtNotice.Add(unit.ReadRegister64(RegisterOffset.IQH));
            OnNotice?.Invoke(notice);
            Depth--;
        }
    }

    private sealed class Bench
    {
        private int _tail;
        public PhysicalMemory Memory { get; } = new(1UL << 32);
        public VtdUnit Unit { get; }
        public Recorder Observer { get; }

        public Bench(bool scalable = true)
        {
            Unit = new VtdUnit(Memory, scalable ? BuiltInProfiles.SapphireRapids : BuiltInProfiles.Architectural);
            Observer = new Recorder(Unit);
            Unit.Observer = Observer;
            Unit.WriteRegister64(RegisterOffset.RTADDR, RootBase | (scalable ? (ulong)TranslationTableMode.Scalable << 10 : 0));
            Unit.WriteRegister32(RegisterOffset.GCMD, (uint)GlobalCommand.SetRootTablePointer);
        }

        public void EnableQueue()
        {
            Unit.WriteRegister64(RegisterOffset.IQA, QueueBase | 1UL << 11); // 256-bit descriptors
            Unit.WriteRegister32(RegisterOffset.GCMD, (uint)GlobalCommand.QueuedInvalidationEnable);
        }

        public void Queue(params InvalidationDescriptor[] descriptors)
        {
            foreach (var d in descriptors)
            {
                var slot = new Hpa(QueueBase + (ulong)_tail * 32);
                Memory.Write64(slot, d.Q0);
                Memory.Write64(slot + 8, d.Q1);
                Memory.Write64(slot + 16, 0);
                Memory.Write64(slot + 24, 0);
                _tail = (_tail + 1) % 128; // IQA.QS=0 with 256-bit descriptors: 128 entries
            }
        }

        public void Submit(params InvalidationDescriptor[] descriptors)
        {
            Queue(descriptors);
            MoveTail();
        }

        public void MoveTail() => Unit.WriteRegister64(RegisterOffset.IQT, (ulong)_tail * 32);
    }

    [Fact]
    public void TheObserverHearsEachDescriptorInQueueOrderWithItsFieldsAfterTheUnitCarriedItOut()
    {
        var bench = new Bench();
        bench.EnableQueue();
        bench.Observer.Notices.Clear();
        bench.Observer.HeadAtNotice.Clear();

        bench.Submit(
            InvalidationDescriptor.PasidCachePasid(5, 0),
            InvalidationDescriptor.PasidIotlbPage(5, 0, 0x7_4000, addressMask: 2, hint: true),
            InvalidationDescriptor.PasidIotlbAll(5, 3),
            InvalidationDescriptor.ContextDevice(9, 0x0020, functionMask: 1),
            InvalidationDescriptor.PasidCacheDomain(7),
            InvalidationDescriptor.PasidCacheGlobal(),
            InvalidationDescriptor.IotlbGlobal(),
            InvalidationDescriptor.Wait(StatusAddress, 1));

        Assert.Equal(
        [
            new UnitNotice(K.PasidCachePasid, 5, Pasid: 0),
            new UnitNotice(K.PasidIotlbPages, 5, Pasid: 0, Address: 0x7_4000, AddressMask: 2, LeafOnly: true),
            new UnitNotice(K.PasidIotlbAll, 5, Pasid: 3),
            new UnitNotice(K.ContextCacheDevice, 9, 0x0020, 1),
            new UnitNotice(K.PasidCacheDomain, 7),
            new UnitNotice(K.PasidCacheGlobal),
            new UnitNotice(K.IotlbGlobal),
            new UnitNotice(K.WaitDescriptor),
            new UnitNotice(K.QueueRunEnded),
        ], bench.Observer.Notices);
        // After: IQH has moved past the descriptor the notice is about (32-byte descriptors). The wait is told before.
        Assert.Equal([32UL, 64, 96, 128, 160, 192, 224, 224, 256], bench.Observer.HeadAtNotice);
    }

    [Fact]
    public void AWaitIsToldBeforeItsStatusIsWritten()
    {
        var bench = new Bench();
        bench.EnableQueue();
        ulong statusAtWait = ulong.MaxValue;
        bench.Observer.OnNotice = n =>
        {
            if (n.Kind == K.WaitDescriptor) statusAtWait = bench.Memory.Read64(new Hpa(StatusAddress));
        };
        bench.Submit(InvalidationDescriptor.PasidIotlbAll(1, 0), InvalidationDescriptor.Wait(StatusAddress, 0xABCD));

        Assert.Equal(0UL, statusAtWait);
        Assert.Equal(0xABCDUL, bench.Memory.Read64(new Hpa(StatusAddress)));
    }

    [Fact]
    public void ABadDescriptorIsNotToldAndTheRunStillEnds()
    {
        var bench = new Bench();
        bench.EnableQueue();
        bench.Observer.Notices.Clear();
        bench.Submit(InvalidationDescriptor.PasidCacheGlobal(), new InvalidationDescriptor(0x7 | (2UL << 4), 0), InvalidationDescriptor.IotlbGlobal());

        Assert.Equal([new UnitNotice(K.PasidCacheGlobal), new UnitNotice(K.QueueRunEnded)], bench.Observer.Notices);
        Assert.NotEqual(0u, bench.Unit.ReadRegister32(RegisterOffset.FSTS) & (1u << 4)); // IQE
    }

    [Fact]
    public void AnObserverThatQueuesMoreWhileTheQueueRunsIsNotReenteredAndItsDescriptorsFollowInOrder()
    {
        var bench = new Bench();
        bench.EnableQueue();
        bench.Observer.Notices.Clear();
        bool queued = false;
        bench.Observer.OnNotice = n =>
        {
            if (queued || n.Kind != K.PasidCachePasid) return;
            queued = true;
            // What a careless VMM could do: queue its own descriptors and ring the tail from inside the notice.
            bench.Submit(InvalidationDescriptor.PasidIotlbAll(8, 0), InvalidationDescriptor.Wait(StatusAddress, 7));
        };
        bench.Queue(InvalidationDescriptor.PasidCachePasid(1, 0), InvalidationDescriptor.PasidIotlbAll(1, 0));
        bench.MoveTail();

        Assert.Equal(1, bench.Observer.MaxDepth);
        Assert.Equal(
        [
            new UnitNotice(K.PasidCachePasid, 1),
            new UnitNotice(K.PasidIotlbAll, 1),
            new UnitNotice(K.QueueRunEnded),
            new UnitNotice(K.PasidIotlbAll, 8),
            new UnitNotice(K.WaitDescriptor),
            new UnitNotice(K.QueueRunEnded),
        ], bench.Observer.Notices);
        Assert.Equal(7UL, bench.Memory.Read64(new Hpa(StatusAddress)));
        Assert.Equal(4UL * 32, bench.Unit.ReadRegister64(RegisterOffset.IQH));
    }

    [Fact]
    public void SrtpAndATranslationEnableChangeAreToldOnceTheCommandIsComplete()
    {
        var bench = new Bench();
        Assert.Equal([new UnitNotice(K.RootTablePointerSet)], bench.Observer.Notices);
        bool enabledWhenTold = false;
        bench.Observer.OnNotice = n => enabledWhenTold = bench.Unit.TranslationEnabled;

        bench.Unit.WriteRegister32(RegisterOffset.GCMD, (uint)GlobalCommand.TranslationEnable);
        bench.Unit.WriteRegister32(RegisterOffset.GCMD, (uint)GlobalCommand.TranslationEnable); // no change: nothing told
        Assert.True(enabledWhenTold);
        bench.Unit.WriteRegister32(RegisterOffset.GCMD, 0);

        Assert.Equal(
        [
            new UnitNotice(K.RootTablePointerSet),
            new UnitNotice(K.TranslationEnableChanged, On: true),
            new UnitNotice(K.TranslationEnableChanged, On: false),
        ], bench.Observer.Notices);
    }

    [Fact]
    public void RegisterBasedInvalidationsAreToldWithTheGranularityCarriedOut()
    {
        var bench = new Bench(scalable: false);
        bench.Observer.Notices.Clear();
        int iva = bench.Unit.Profile.Ecap.IotlbRegisterOffset;

        bench.Unit.WriteRegister64(RegisterOffset.CCMD, (1UL << 63) | (3UL << 61) | (2UL << 32) | (0x0418UL << 16) | 3);
        bench.Unit.WriteRegister64(iva, 0x12_4000 | 1 | (1 << 6));
        bench.Unit.WriteRegister64(iva + 8, (1UL << 63) | (3UL << 60) | (4UL << 32));
        bench.Unit.WriteRegister64(RegisterOffset.CCMD, (1UL << 63) | (0UL << 61)); // CIRG 0: nothing carried out, nothing told

        Assert.Equal(
        [
            new UnitNotice(K.ContextCacheDevice, 3, 0x0418, 2),
            new UnitNotice(K.IotlbPages, 4, Address: 0x12_4000, AddressMask: 1, LeafOnly: true),
        ], bench.Observer.Notices);
    }

    private sealed class Counter : IVtdUnitObserver
    {
        public long Notices;

        public void Notice(in UnitNotice notice) => Notices++;
    }

    [Fact]
    public void TellingAnObserverAllocatesNothing()
    {
        var bench = new Bench();
        var counter = new Counter();
        bench.Unit.Observer = counter;
        bench.EnableQueue();
        InvalidationDescriptor[] batch =
        [
            InvalidationDescriptor.PasidCachePasid(1, 0), InvalidationDescriptor.PasidIotlbPage(1, 0, 0x2000, 1, true),
            InvalidationDescriptor.ContextGlobal(), InvalidationDescriptor.Wait(StatusAddress, 1),
        ];
        for (int i = 0; i < 40; i++) bench.Submit(batch); // warm up, and wrap the 128-entry queue
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 200; i++) bench.Submit(batch);
        long bytes = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(0L, bytes);
        Assert.Equal(240L * 5, counter.Notices); // three invalidations, the wait, the run's end
    }

    [Fact]
    public void WithoutAnObserverTheUnitBehavesAsBefore()
    {
        var bench = new Bench();
        bench.Unit.Observer = null;
        bench.EnableQueue();
        bench.Submit(InvalidationDescriptor.PasidCacheGlobal(), InvalidationDescriptor.Wait(StatusAddress, 3));
        Assert.Equal(3UL, bench.Memory.Read64(new Hpa(StatusAddress)));
        Assert.Single(bench.Observer.Notices); // only the SRTP from before
    }
}
