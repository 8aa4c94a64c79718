using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Events;
using VtdSim.Hardware.Invalidation;
using VtdSim.Hardware.Memory;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Registers;

namespace VtdSim.Hardware.Tests.Invalidation;

/// <summary>Queued invalidation through the registers, as a driver uses it (spec 6.5.2, vtd-facts §1.8).</summary>
public class QueuedInvalidationTests
{
    private const ulong QueueBase = 0x20_0000;
    private const ulong StatusAddress = 0x30_0000;
    private const uint IqeBit = 1u << 4;

    private sealed class Bench
    {
        public PhysicalMemory Memory { get; } = new(1UL << 32);
        public VtdUnit Unit { get; }
        public int DescriptorSize { get; }
        private int _tail;

        public Bench(VtdProfile? profile = null, bool wide = false, int queueSizeOrder = 0, bool enable = true)
        {
            Unit = new VtdUnit(Memory, profile ?? BuiltInProfiles.Architectural);
            DescriptorSize = wide ? 32 : 16;
            Unit.WriteRegister64(RegisterOffset.IQA, QueueBase | (wide ? 1UL << 11 : 0) | (uint)queueSizeOrder);
            if (enable) Unit.WriteRegister32(RegisterOffset.GCMD, (uint)GlobalCommand.QueuedInvalidationEnable);
        }

        public uint Fsts => Unit.ReadRegister32(RegisterOffset.FSTS);
        public ulong Head => Unit.ReadRegister64(RegisterOffset.IQH);

        /// <summary>Writes descriptors at the tail and moves IQT past them.</summary>
        public void Submit(params InvalidationDescriptor[] descriptors)
        {
            foreach (var d in descriptors)
            {
                var slot = new Hpa(QueueBase + (ulong)(_tail * DescriptorSize));
                Memory.Write64(slot, d.Q0);
                Memory.Write64(slot + 8, d.Q1);
                if (DescriptorSize == 32)
                {
                    Memory.Write64(slot + 16, d.Q2);
                    Memory.Write64(slot + 24, d.Q3);
                }
                _tail++;
            }
            Unit.WriteRegister64(RegisterOffset.IQT, (ulong)(_tail * DescriptorSize));
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void AWaitDescriptorWritesItsStatusAndTheHeadCatchesUpWithTheTail(bool wide)
    {
        var bench = new Bench(wide: wide);
        bench.Submit(InvalidationDescriptor.IotlbGlobal(), InvalidationDescriptor.ContextGlobal(), InvalidationDescriptor.Wait(StatusAddress, 0xC0FFEE));

        Assert.Equal(0xC0FFEEu, (uint)bench.Memory.Read64(new Hpa(StatusAddress)));
        Assert.Equal((ulong)(3 * bench.DescriptorSize), bench.Head);
        Assert.Equal(0u, bench.Fsts & IqeBit);
    }

    [Fact]
    public void AWaitWithInterruptFlagSetsIwcAndWithTheInterruptUnmaskedSendsIt()
    {
        var bench = new Bench();
        bench.Unit.WriteRegister32(RegisterOffset.IEDATA, 0x41);
        bench.Unit.WriteRegister32(RegisterOffset.IEADDR, 0xFEE0_0000);
        bench.Unit.WriteRegister32(RegisterOffset.IECTL, 0); // unmask

        bench.Submit(InvalidationDescriptor.WaitInterruptOnly());

        Assert.Equal(1u, bench.Unit.ReadRegister32(RegisterOffset.ICS) & 1);
        var interrupt = Assert.Single(bench.Unit.Events.OfType<InvalidationCompletionInterruptEvent>());
        Assert.Equal(0xFEE0_0000UL, interrupt.Address);
        Assert.Equal(0x41u, interrupt.Data);
    }

    [Fact]
    public void WithTheCompletionInterruptMaskedIpIsSetAndUnmaskingSendsIt()
    {
        var bench = new Bench();
        bench.Submit(InvalidationDescriptor.WaitInterruptOnly());
        Assert.Equal(0xC000_0000u, bench.Unit.ReadRegister32(RegisterOffset.IECTL)); // IM and IP
        Assert.Empty(bench.Unit.Events.OfType<InvalidationCompletionInterruptEvent>());

        bench.Unit.WriteRegister32(RegisterOffset.IECTL, 0);

        Assert.Single(bench.Unit.Events.OfType<InvalidationCompletionInterruptEvent>());
        Assert.Equal(0u, bench.Unit.ReadRegister32(RegisterOffset.IECTL));
    }

    [Fact]
    public void AnInvalidDescriptorTypeStopsTheQueueAtItWithIqeiThree()
    {
        var bench = new Bench();
        bench.Submit(InvalidationDescriptor.IotlbGlobal(), new InvalidationDescriptor(0xF, 0), InvalidationDescriptor.Wait(StatusAddress, 1));

        Assert.Equal(IqeBit, bench.Fsts & IqeBit);
        Assert.Equal((ulong)QueueErrorCode.InvalidDescriptorType, bench.Unit.ReadRegister64(RegisterOffset.IQERCD) & 0xF);
        Assert.Equal(16UL, bench.Head); // points at the bad descriptor
        Assert.Equal(0UL, bench.Memory.Read64(new Hpa(StatusAddress))); // the wait after it did not run
        Assert.Single(bench.Unit.Events.OfType<InvalidationQueueErrorEvent>());
    }

    [Fact]
    public void ClearingIqeResumesAfterSoftwareFixesTheDescriptor()
    {
        var bench = new Bench();
        bench.Submit(new InvalidationDescriptor(0xF, 0), InvalidationDescriptor.Wait(StatusAddress, 7));
        Assert.Equal(0UL, bench.Head);

        // Software repairs the slot (a no-op IOTLB global flush) and clears IQE.
        bench.Memory.Write64(new Hpa(QueueBase), InvalidationDescriptor.IotlbGlobal().Q0);
        bench.Unit.WriteRegister32(RegisterOffset.FSTS, IqeBit);

        Assert.Equal(0u, bench.Fsts & IqeBit);
        Assert.Equal(7u, (uint)bench.Memory.Read64(new Hpa(StatusAddress)));
        Assert.Equal(32UL, bench.Head);
    }

    public static TheoryData<string, ulong, ulong> ReservedFieldCases => new()
    {
        { "context-cache QW1 non-zero", InvalidationDescriptor.ContextGlobal().Q0, 1 },
        { "context-cache granularity 0", 0x1, 0 },
        { "IOTLB bit 40 (reserved 63:32)", InvalidationDescriptor.IotlbGlobal().Q0 | 1UL << 40, 0 },
        { "IOTLB granularity 0", 0x2, 0 },
        { "IOTLB PSI QW1 bit 8 (reserved 11:7)", InvalidationDescriptor.IotlbPage(1, 0x1000).Q0, 0x1000 | 1UL << 8 },
        { "wait bit 8 (reserved 31:8)", InvalidationDescriptor.Wait(StatusAddress, 0).Q0 | 1UL << 8, StatusAddress },
        { "PASID-cache granularity 2", 0x7 | 2UL << 4, 0 },
        { "PASID-IOTLB granularity 0", 0x6, 0 },
    };

    [Theory]
    [MemberData(nameof(ReservedFieldCases))]
    public void ReservedFieldsGiveIqeiFour(string what, ulong q0, ulong q1)
    {
        var bench = new Bench();
        bench.Unit.WriteRegister64(RegisterOffset.RTADDR, 0x10_0000 | 1UL << 10); // scalable, so PASID types are legal
        bench.Unit.WriteRegister32(RegisterOffset.GCMD, (uint)(GlobalCommand.QueuedInvalidationEnable | GlobalCommand.SetRootTablePointer));
        bench.Submit(new InvalidationDescriptor(q0, q1));

        Assert.True((bench.Fsts & IqeBit) != 0, what);
        Assert.Equal((ulong)QueueErrorCode.ReservedFieldSet, bench.Unit.ReadRegister64(RegisterOffset.IQERCD) & 0xF);
    }

    [Fact]
    public void PageSelectiveInvalidationBeyondMamvIsRefused()
    {
        var bench = new Bench();
        int mamv = BuiltInProfiles.Architectural.Cap.MaximumAddressMaskValue;
        bench.Submit(new InvalidationDescriptor(InvalidationDescriptor.IotlbPage(1, 0).Q0, (ulong)(mamv + 1)));

        Assert.Equal((ulong)QueueErrorCode.ReservedFieldSet, bench.Unit.ReadRegister64(RegisterOffset.IQERCD) & 0xF);
    }

    [Fact]
    public void PasidDescriptorsWhileTheRootTableIsLegacyGiveIqeiSeven()
    {
        var bench = new Bench();
        bench.Submit(InvalidationDescriptor.PasidCacheGlobal());

        Assert.Equal((ulong)QueueErrorCode.InvalidForTranslationTableMode, bench.Unit.ReadRegister64(RegisterOffset.IQERCD) & 0xF);
    }

    [Fact]
    public void PasidDescriptorsOnAUnitWithoutScalableModeAreAnInvalidType()
    {
        var bench = new Bench(BuiltInProfiles.Qemu72Legacy);
        bench.Submit(InvalidationDescriptor.PasidIotlbAll(1, 0));

        Assert.Equal((ulong)QueueErrorCode.InvalidDescriptorType, bench.Unit.ReadRegister64(RegisterOffset.IQERCD) & 0xF);
    }

    [Fact]
    public void A256BitTailThatIsOnly128BitAlignedGivesIqeiSix()
    {
        var bench = new Bench(wide: true);
        bench.Unit.WriteRegister64(RegisterOffset.IQT, 0x10);

        Assert.Equal((ulong)QueueErrorCode.TailMisaligned, bench.Unit.ReadRegister64(RegisterOffset.IQERCD) & 0xF);
        Assert.Equal(IqeBit, bench.Fsts & IqeBit);
    }

    [Fact]
    public void WideDescriptorsOnAUnitWithoutScalableModeGiveIqeiFive()
    {
        var bench = new Bench(BuiltInProfiles.Qemu72Legacy, wide: true);

        Assert.Equal((ulong)QueueErrorCode.InvalidDescriptorWidth, bench.Unit.ReadRegister64(RegisterOffset.IQERCD) & 0xF);
    }

    [Fact]
    public void NonZeroUpperHalfOfAWideDescriptorIsAReservedField()
    {
        var bench = new Bench(wide: true);
        bench.Submit(InvalidationDescriptor.IotlbGlobal() with { Q3 = 1 });

        Assert.Equal((ulong)QueueErrorCode.ReservedFieldSet, bench.Unit.ReadRegister64(RegisterOffset.IQERCD) & 0xF);
    }

    [Fact]
    public void AQueueThatCannotBeReadGivesIqeiTwo()
    {
        var bench = new Bench();
        bench.Memory.InjectError(new Hpa(QueueBase), 4096);
        bench.Unit.WriteRegister64(RegisterOffset.IQT, 16);

        Assert.Equal((ulong)QueueErrorCode.DescriptorFetchError, bench.Unit.ReadRegister64(RegisterOffset.IQERCD) & 0xF);
    }

    [Fact]
    public void DisablingQueuedInvalidationResetsTheHead()
    {
        var bench = new Bench();
        bench.Submit(InvalidationDescriptor.IotlbGlobal());
        Assert.Equal(16UL, bench.Head);

        bench.Unit.WriteRegister32(RegisterOffset.GCMD, 0);

        Assert.Equal(0UL, bench.Head);
        Assert.Equal(0u, bench.Unit.ReadRegister32(RegisterOffset.GSTS) & (uint)GlobalCommand.QueuedInvalidationEnable);
    }

    /// <summary>Runs a register write (or several) under a watchdog: a queue that spins would never return.</summary>
    private static void Returns(Action writes)
    {
        var task = Task.Run(writes);
        Assert.True(task.Wait(TimeSpan.FromSeconds(30)), "the register write never returned: the queue spins");
    }

    /// <summary>Writes a wait descriptor that stores <paramref name="data"/> at StatusAddress + 8 * <paramref name="slot"/>.</summary>
    private static void PutWait(Bench bench, int slot, uint data)
    {
        var d = InvalidationDescriptor.Wait(StatusAddress + 8 * (ulong)slot, data);
        var at = new Hpa(QueueBase + (ulong)(slot * bench.DescriptorSize));
        bench.Memory.Write64(at, d.Q0);
        bench.Memory.Write64(at + 8, d.Q1);
    }

    private static ulong Iqei(Bench bench) => bench.Unit.ReadRegister64(RegisterOffset.IQERCD) & 0xF;

    [Fact]
    public void ATailLeftBeyondAQueueThatShrankStopsTheQueueWithIqeiOneInsteadOfSpinning()
    {
        // The repro: IQT = 511 in a 512-entry queue, the queue shrunk to 256 entries, then QIE.
        var bench = new Bench(queueSizeOrder: 1, enable: false);
        bench.Unit.WriteRegister64(RegisterOffset.IQT, 511 * 16);
        bench.Unit.WriteRegister64(RegisterOffset.IQA, QueueBase); // QS=0: 256 entries
        for (int slot = 0; slot < 256; slot++) PutWait(bench, slot, 0x100u + (uint)slot);

        Returns(() => bench.Unit.WriteRegister32(RegisterOffset.GCMD, (uint)GlobalCommand.QueuedInvalidationEnable));

        Assert.Equal(IqeBit, bench.Fsts & IqeBit);
        Assert.Equal((ulong)QueueErrorCode.InvalidTailPointer, Iqei(bench));
        Assert.Equal(0UL, bench.Head); // the head stops where it was: nothing was fetched
        Assert.Equal(0UL, bench.Memory.Read64(new Hpa(StatusAddress)));
        Assert.Equal(511UL * 16, bench.Unit.ReadRegister64(RegisterOffset.IQT)); // IQT reads back what software wrote (D40)

        // Clearing IQE with the tail still beyond the queue raises IQE again, and fetches nothing.
        Returns(() => bench.Unit.WriteRegister32(RegisterOffset.FSTS, IqeBit));
        Assert.Equal(IqeBit, bench.Fsts & IqeBit);
        Assert.Equal(0UL, bench.Head);

        // Software puts a valid tail and clears IQE: the queue runs to it.
        bench.Unit.WriteRegister64(RegisterOffset.IQT, 255 * 16);
        bench.Unit.WriteRegister32(RegisterOffset.FSTS, IqeBit);
        Assert.Equal(0u, bench.Fsts & IqeBit);
        Assert.Equal(255UL * 16, bench.Head);
        Assert.Equal(0x100u + 254, (uint)bench.Memory.Read64(new Hpa(StatusAddress + 8 * 254)));
        Assert.Equal(0u, (uint)bench.Memory.Read64(new Hpa(StatusAddress + 8 * 255)));
    }

    [Theory]
    [InlineData(0x1010UL)] // beyond the 128-entry wide queue as well
    [InlineData(0x30UL)]   // inside it
    public void AMisalignedWideTailIsNeverFetchedTowardNotEvenAfterIqeIsCleared(ulong tail)
    {
        var bench = new Bench(wide: true);
        for (int slot = 0; slot < 128; slot++) PutWait(bench, slot, 0x200u + (uint)slot);

        Returns(() => bench.Unit.WriteRegister64(RegisterOffset.IQT, tail));
        Assert.Equal((ulong)QueueErrorCode.TailMisaligned, Iqei(bench));

        Returns(() => bench.Unit.WriteRegister32(RegisterOffset.FSTS, IqeBit));
        Assert.Equal(IqeBit, bench.Fsts & IqeBit);
        Assert.Equal((ulong)QueueErrorCode.TailMisaligned, Iqei(bench));
        Assert.Equal(0UL, bench.Head);
        Assert.Equal(0UL, bench.Memory.Read64(new Hpa(StatusAddress)));

        bench.Unit.WriteRegister64(RegisterOffset.IQT, 0x40); // two wide descriptors
        bench.Unit.WriteRegister32(RegisterOffset.FSTS, IqeBit);
        Assert.Equal(0u, bench.Fsts & IqeBit);
        Assert.Equal(0x40UL, bench.Head);
        Assert.Equal(0x201u, (uint)bench.Memory.Read64(new Hpa(StatusAddress + 8)));
    }

    [Fact]
    public void WideDescriptorsOnAUnitWithoutScalableModeStayRefusedAfterIqeIsCleared()
    {
        var bench = new Bench(BuiltInProfiles.Qemu72Legacy, wide: true);
        PutWait(bench, 0, 0x301);
        bench.Unit.WriteRegister64(RegisterOffset.IQT, 0x20);

        Returns(() => bench.Unit.WriteRegister32(RegisterOffset.FSTS, IqeBit));

        Assert.Equal(IqeBit, bench.Fsts & IqeBit);
        Assert.Equal((ulong)QueueErrorCode.InvalidDescriptorWidth, Iqei(bench));
        Assert.Equal(0UL, bench.Head);
        Assert.Equal(0UL, bench.Memory.Read64(new Hpa(StatusAddress)));
    }

    [Fact]
    public void ATailWrittenWhileQueuedInvalidationIsOffIsOnlyCheckedWhenFetchingStarts()
    {
        var bench = new Bench(enable: false);
        bench.Unit.WriteRegister64(RegisterOffset.IQT, 0x7_FFF0); // beyond the 256-entry queue

        Assert.Equal(0u, bench.Fsts & IqeBit); // nothing is fetched while QIE=0, so nothing is checked
        Assert.Equal(0x7_FFF0UL, bench.Unit.ReadRegister64(RegisterOffset.IQT));

        bench.Unit.WriteRegister64(RegisterOffset.IQA, QueueBase | 7); // 32768 entries: now the tail fits
        for (ulong slot = 0; slot < 0x7FFF; slot++) bench.Memory.Write64(new Hpa(QueueBase + 16 * slot), 0x5); // plain waits
        PutWait(bench, 0x7FFE, 0x401);
        Returns(() => bench.Unit.WriteRegister32(RegisterOffset.GCMD, (uint)GlobalCommand.QueuedInvalidationEnable));

        Assert.Equal(0u, bench.Fsts & IqeBit);
        Assert.Equal(0x7_FFF0UL, bench.Head); // the whole queue but one slot in one pass
        Assert.Equal(0x401u, (uint)bench.Memory.Read64(new Hpa(StatusAddress + 8 * 0x7FFE)));
    }

    [Fact]
    public void DeviceTlbInvalidationsAreForwardedAsEventsWithTheirRange()
    {
        var bench = new Bench();
        // S=1 with ADDR[13:12]=01: a 16 KiB range at 0x10000.
        bench.Submit(new InvalidationDescriptor(0x3 | (0x0008UL << 32), 0x11000 | 1));

        var e = Assert.Single(bench.Unit.Events.OfType<DeviceTlbInvalidationEvent>());
        Assert.Equal(new SourceId(0, 1, 0), e.Source);
        Assert.Equal(0x10000UL, e.Start);
        Assert.Equal(0x4000UL, e.Length);
    }
}
