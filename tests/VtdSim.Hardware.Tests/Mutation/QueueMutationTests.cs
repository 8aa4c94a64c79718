using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Events;
using VtdSim.Hardware.Invalidation;
using VtdSim.Hardware.Memory;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Registers;
using VtdSim.Hardware.Structures;
using VtdSim.Hardware.Translation;

namespace VtdSim.Hardware.Tests.Mutation;

/// <summary>
/// Queued invalidation (spec 6.5.2, 11.4.9) where mutation testing (docs/testing.md) found that no test noticed a
/// change: which cache operation each descriptor asks for, the 64-bit halves of IQA and IEUADDR, ICS and IP, the error
/// and warning messages a user reads, the reserved fields of every descriptor type, and the capability checks.
/// </summary>
public class QueueMutationTests
{
    private const ulong StatusAddress = 0x30_0000;
    private const uint IqeBit = 1u << 4;

    /// <summary>A unit with a 256-entry queue of 128-bit descriptors at <paramref name="queueBase"/>, QIE on.</summary>
    private sealed class Bench
    {
        public PhysicalMemory Memory { get; } = new(1UL << 40);
        public VtdUnit Unit { get; }
        public ulong QueueBase { get; }
        public int DescriptorSize { get; }
        private int _tail;

        public Bench(VtdProfile? profile = null, ulong queueBase = 0x20_0000, bool wide = false, bool scalable = false)
        {
            Unit = new VtdUnit(Memory, profile ?? BuiltInProfiles.Architectural);
            QueueBase = queueBase;
            DescriptorSize = wide ? 32 : 16;
            Unit.WriteRegister64(RegisterOffset.IQA, queueBase | (wide ? 1UL << 11 : 0));
            if (scalable)
            {
                Unit.WriteRegister64(RegisterOffset.RTADDR, 0x10_0000 | 1UL << 10);
                Unit.WriteRegister32(RegisterOffset.GCMD, (uint)GlobalCommand.SetRootTablePointer);
            }
            Unit.WriteRegister32(RegisterOffset.GCMD, (uint)GlobalCommand.QueuedInvalidationEnable);
        }

        public uint Fsts => Unit.ReadRegister32(RegisterOffset.FSTS);
        public QueueErrorCode Iqei => (QueueErrorCode)(Unit.ReadRegister64(RegisterOffset.IQERCD) & 0xF);
        public IEnumerable<InvalidationQueueErrorEvent> Errors => Unit.Events.OfType<InvalidationQueueErrorEvent>();

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

    // ---- what each descriptor asks of the caches ----

    private sealed class RecordingTarget : IInvalidationTarget
    {
        public List<string> Calls { get; } = [];
        public void InvalidateContextGlobal() => Calls.Add("context global");
        public void InvalidateContextDomain(ushort domainId) => Calls.Add($"context domain {domainId}");
        public void InvalidateContextDevice(ushort domainId, ushort sourceId, int functionMask) => Calls.Add($"context device {domainId} {sourceId:x} fm{functionMask}");
        public void InvalidateIotlbGlobal() => Calls.Add("iotlb global");
        public void InvalidateIotlbDomain(ushort domainId) => Calls.Add($"iotlb domain {domainId}");
        public void InvalidateIotlbPages(ushort domainId, ulong address, int addressMask, bool leafOnly) => Calls.Add($"iotlb pages {domainId} 0x{address:x} am{addressMask} ih{(leafOnly ? 1 : 0)}");
        public void InvalidatePasidIotlb(ushort domainId, uint pasid) => Calls.Add($"pasid-iotlb {domainId} {pasid}");
        public void InvalidatePasidIotlbPages(ushort domainId, uint pasid, ulong address, int addressMask, bool leafOnly) => Calls.Add($"pasid-iotlb pages {domainId} {pasid} 0x{address:x} am{addressMask} ih{(leafOnly ? 1 : 0)}");
        public void InvalidatePasidCacheDomain(ushort domainId) => Calls.Add($"pasid-cache domain {domainId}");
        public void InvalidatePasidCachePasid(ushort domainId, uint pasid) => Calls.Add($"pasid-cache pasid {domainId} {pasid}");
        public void InvalidatePasidCacheGlobal() => Calls.Add("pasid-cache global");
    }

    public static TheoryData<string, ulong, ulong, string> Descriptors => new()
    {
        { "context global", InvalidationDescriptor.ContextGlobal().Q0, 0, "context global" },
        { "context domain", InvalidationDescriptor.ContextDomain(9).Q0, 0, "context domain 9" },
        { "context device", InvalidationDescriptor.ContextDevice(9, 0x0108, 2).Q0, 0, "context device 9 108 fm2" },
        { "IOTLB global", InvalidationDescriptor.IotlbGlobal().Q0, 0, "iotlb global" },
        { "IOTLB domain", InvalidationDescriptor.IotlbDomain(9).Q0, 0, "iotlb domain 9" },
        { "IOTLB page", InvalidationDescriptor.IotlbPage(9, 0x40_0000, 9, hint: true).Q0, InvalidationDescriptor.IotlbPage(9, 0x40_0000, 9, hint: true).Q1, "iotlb pages 9 0x400000 am9 ih1" },
        { "P_IOTLB all", InvalidationDescriptor.PasidIotlbAll(9, 0x12345).Q0, 0, "pasid-iotlb 9 74565" },
        { "P_IOTLB page", InvalidationDescriptor.PasidIotlbPage(9, 3, 0x20_0000, 9).Q0, InvalidationDescriptor.PasidIotlbPage(9, 3, 0x20_0000, 9).Q1, "pasid-iotlb pages 9 3 0x200000 am9 ih0" },
        { "PASID cache domain", InvalidationDescriptor.PasidCacheDomain(9).Q0, 0, "pasid-cache domain 9" },
        { "PASID cache PASID", InvalidationDescriptor.PasidCachePasid(9, 3).Q0, 0, "pasid-cache pasid 9 3" },
        { "PASID cache global", InvalidationDescriptor.PasidCacheGlobal().Q0, 0, "pasid-cache global" },
    };

    [Theory]
    [MemberData(nameof(Descriptors))]
    public void EachDescriptorAsksTheCachesForExactlyItsInvalidation(string what, ulong q0, ulong q1, string expected)
    {
        var memory = new PhysicalMemory(1UL << 32);
        var events = new VtdEventLog();
        var target = new RecordingTarget();
        bool error = false;
        var queue = new InvalidationQueue(memory, BuiltInProfiles.Architectural, events, target, () => error, _ => error = true)
        {
            Mode = () => TranslationTableMode.Scalable,
        };
        memory.Write64(new Hpa(0x20_0000), q0);
        memory.Write64(new Hpa(0x20_0008), q1);
        queue.Write32(RegisterOffset.IQA, 0x20_0000);
        queue.SetEnabled(true);

        queue.Write32(RegisterOffset.IQT, 16);

        Assert.False(error, what);
        Assert.Equal([expected], target.Calls);
    }

    // ---- registers ----

    [Fact]
    public void IqaAboveFourGiBReadsBackWholeAndTheQueueIsFetchedThere()
    {
        const ulong high = 0x12_3450_0000;
        var bench = new Bench(queueBase: high);

        Assert.Equal(high, bench.Unit.ReadRegister64(RegisterOffset.IQA));
        bench.Submit(InvalidationDescriptor.Wait(StatusAddress, 0x5A));
        Assert.Equal(0x5Au, (uint)bench.Memory.Read64(new Hpa(StatusAddress)));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void IqaWrittenWhileQueuedInvalidationIsOnIsIgnoredAndReported(bool upperHalf)
    {
        var bench = new Bench();
        ulong before = bench.Unit.ReadRegister64(RegisterOffset.IQA);

        if (upperHalf) bench.Unit.WriteRegister32(RegisterOffset.IQA + 4, 0x7);
        else bench.Unit.WriteRegister32(RegisterOffset.IQA, 0x40_0003);

        Assert.Equal(before, bench.Unit.ReadRegister64(RegisterOffset.IQA));
        var warning = Assert.Single(bench.Unit.Events.OfType<RegisterWarningEvent>());
        Assert.Equal(upperHalf ? RegisterOffset.IQA + 4 : RegisterOffset.IQA, warning.Offset);
        Assert.Contains("IQA written while queued invalidation is enabled", warning.Message);
    }

    [Fact]
    public void TheCompletionInterruptCarriesTheUpperAddressFromIeuaddr()
    {
        var bench = new Bench();
        bench.Unit.WriteRegister32(RegisterOffset.IEDATA, 0x41);
        bench.Unit.WriteRegister32(RegisterOffset.IEADDR, 0xFEE0_0000);
        bench.Unit.WriteRegister32(RegisterOffset.IEUADDR, 0x0000_0012);
        bench.Unit.WriteRegister32(RegisterOffset.IECTL, 0);

        bench.Submit(InvalidationDescriptor.WaitInterruptOnly());

        var interrupt = Assert.Single(bench.Unit.Events.OfType<InvalidationCompletionInterruptEvent>());
        Assert.Equal(0x12_FEE0_0000UL, interrupt.Address);
    }

    [Fact]
    public void IwcStaysSetOverSeveralWaitsAndWritingOneToItClearsItAndIp()
    {
        var bench = new Bench(); // IECTL.IM=1 from reset: completions set IP instead of interrupting
        bench.Submit(InvalidationDescriptor.WaitInterruptOnly(), InvalidationDescriptor.WaitInterruptOnly());
        Assert.Equal(1u, bench.Unit.ReadRegister32(RegisterOffset.ICS)); // IWC is set, not toggled
        Assert.Equal(0xC000_0000u, bench.Unit.ReadRegister32(RegisterOffset.IECTL));

        bench.Unit.WriteRegister32(RegisterOffset.ICS, 0); // writing 0 changes nothing
        Assert.Equal(1u, bench.Unit.ReadRegister32(RegisterOffset.ICS));

        bench.Unit.WriteRegister32(RegisterOffset.ICS, 1); // RW1C
        Assert.Equal(0u, bench.Unit.ReadRegister32(RegisterOffset.ICS));
        Assert.Equal(0x8000_0000u, bench.Unit.ReadRegister32(RegisterOffset.IECTL)); // IP cleared with IWC, IM stays

        bench.Unit.WriteRegister32(RegisterOffset.IECTL, 0);
        Assert.Empty(bench.Unit.Events.OfType<InvalidationCompletionInterruptEvent>()); // nothing was pending any more
    }

    // ---- the tail and the head ----

    [Fact]
    public void ATailEqualToTheQueueSizeIsBeyondTheQueue()
    {
        var bench = new Bench(); // 256 entries: slots 0..255
        bench.Unit.WriteRegister64(RegisterOffset.IQT, 256 * 16);

        Assert.Equal(IqeBit, bench.Fsts & IqeBit);
        Assert.Equal(QueueErrorCode.InvalidTailPointer, bench.Iqei);
        var e = Assert.Single(bench.Errors);
        Assert.Contains("IQT=0x1000", e.Message);
        Assert.Contains("256-entry", e.Message);
    }

    [Fact]
    public void WhileAnErrorIsPendingNewTailsAreNotCheckedAndTheFirstErrorStays()
    {
        var bench = new Bench();
        bench.Submit(new InvalidationDescriptor(0xF, 0)); // invalid type: IQEI 3
        Assert.Equal(QueueErrorCode.InvalidDescriptorType, bench.Iqei);

        bench.Unit.WriteRegister64(RegisterOffset.IQT, 300 * 16); // beyond the queue, while IQE is set

        Assert.Equal(QueueErrorCode.InvalidDescriptorType, bench.Iqei);
        Assert.Single(bench.Errors);
    }

    [Fact]
    public void DisablingTheQueueWithDescriptorsLeftWarnsHowManyAreDropped()
    {
        var bench = new Bench();
        bench.Submit(InvalidationDescriptor.IotlbGlobal(), new InvalidationDescriptor(0xF, 0), InvalidationDescriptor.IotlbGlobal(), InvalidationDescriptor.IotlbGlobal());
        Assert.Equal(16UL, bench.Unit.ReadRegister64(RegisterOffset.IQH)); // stopped at the bad one: 3 left

        bench.Unit.WriteRegister32(RegisterOffset.GCMD, 0);

        var warning = Assert.Single(bench.Unit.Events.OfType<RegisterWarningEvent>());
        Assert.Equal(RegisterOffset.GCMD, warning.Offset);
        Assert.Contains("disabled with 3 descriptor(s) still queued", warning.Message);
    }

    [Fact]
    public void DisablingAnEmptyQueueWarnsNothing()
    {
        var bench = new Bench();
        bench.Submit(InvalidationDescriptor.IotlbGlobal());

        bench.Unit.WriteRegister32(RegisterOffset.GCMD, 0);

        Assert.Empty(bench.Unit.Events.OfType<RegisterWarningEvent>());
    }

    [Fact]
    public void AWideDescriptorWhoseUpperHalfCannotBeReadIsAFetchError()
    {
        var bench = new Bench(wide: true);
        bench.Memory.Write64(new Hpa(bench.QueueBase), InvalidationDescriptor.IotlbGlobal().Q0);
        bench.Memory.InjectError(new Hpa(bench.QueueBase + 16), 16);

        bench.Unit.WriteRegister64(RegisterOffset.IQT, 32);

        Assert.Equal(QueueErrorCode.DescriptorFetchError, bench.Iqei);
        Assert.Contains("cannot be read", Assert.Single(bench.Errors).Message);
    }

    // ---- descriptor checks, and the messages that say why ----

    private static VtdProfile WithEcap(int bit, bool on) =>
        BuiltInProfiles.Architectural with { Ecap = BuiltInProfiles.Architectural.Ecap.With(bit, on) };

    private const int EcapDeviceTlb = 2, EcapInterruptRemapping = 3;

    [Fact]
    public void APasidDeviceTlbDescriptorIsForwardedWithItsPasid()
    {
        Assert.True(BuiltInProfiles.Architectural.Ecap.DeviceTlb);
        var bench = new Bench(wide: true, scalable: true);
        // Type 8 (0x08 in bits 3:0, 0 in 11:9), PASID 0x55 in 51:32, SID 00:01.0 in 31:16; address 0x40000, S=0.
        bench.Submit(new InvalidationDescriptor(0x8 | (0x0008UL << 16) | (0x55UL << 32), 0x4_0000));

        Assert.Equal(0u, bench.Fsts & IqeBit);
        var e = Assert.Single(bench.Unit.Events.OfType<DeviceTlbInvalidationEvent>());
        Assert.Equal(0x55u, e.Pasid);
    }

    [Fact]
    public void ADeviceTlbDescriptorWithoutPasidCarriesNone()
    {
        var bench = new Bench();
        bench.Submit(new InvalidationDescriptor(0x3 | (0x0008UL << 32), 0x4_0000));

        Assert.Null(Assert.Single(bench.Unit.Events.OfType<DeviceTlbInvalidationEvent>()).Pasid);
    }

    [Theory]
    [InlineData("device-TLB", 0x3UL)]
    [InlineData("PASID-based device-TLB", 0x8UL)]
    public void DeviceTlbDescriptorsOnAUnitWithoutEcapDtAreAnInvalidType(string what, ulong q0)
    {
        var bench = new Bench(WithEcap(EcapDeviceTlb, false), wide: true, scalable: true);
        bench.Submit(new InvalidationDescriptor(q0, 0));

        Assert.True(bench.Iqei == QueueErrorCode.InvalidDescriptorType, what);
        Assert.Contains("not supported by this unit", Assert.Single(bench.Errors).Message);
    }

    [Fact]
    public void AnInterruptEntryCacheDescriptorIsRefusedWithoutEcapIrAndAcceptedWithIt()
    {
        var without = new Bench(WithEcap(EcapInterruptRemapping, false));
        without.Submit(new InvalidationDescriptor(0x4, 0));
        Assert.Equal(QueueErrorCode.InvalidDescriptorType, without.Iqei);

        var with = new Bench(WithEcap(EcapInterruptRemapping, true));
        with.Submit(new InvalidationDescriptor(0x4, 0), InvalidationDescriptor.Wait(StatusAddress, 9));
        Assert.Equal(0u, with.Fsts & IqeBit);
        Assert.Equal(9u, (uint)with.Memory.Read64(new Hpa(StatusAddress)));
    }

    [Fact]
    public void OtherTypesStayAcceptedOnAUnitWithoutDeviceTlbOrInterruptRemapping()
    {
        var profile = BuiltInProfiles.Architectural with
        {
            Ecap = BuiltInProfiles.Architectural.Ecap.With(EcapDeviceTlb, false).With(EcapInterruptRemapping, false),
        };
        var bench = new Bench(profile);
        bench.Submit(InvalidationDescriptor.IotlbGlobal(), InvalidationDescriptor.ContextGlobal(), InvalidationDescriptor.Wait(StatusAddress, 4));

        Assert.Equal(0u, bench.Fsts & IqeBit);
        Assert.Equal(4u, (uint)bench.Memory.Read64(new Hpa(StatusAddress)));
    }

    /// <summary>One reserved bit of Q0 per type, inside each part of the type's reserved mask (spec 6.5.2.x).</summary>
    public static TheoryData<string, ulong, ulong, bool> ReservedBits => new()
    {
        { "context-cache Q0 bit 7", InvalidationDescriptor.ContextGlobal().Q0 | 1UL << 7, 0, false },
        { "context-cache Q0 bit 55", InvalidationDescriptor.ContextGlobal().Q0 | 1UL << 55, 0, false },
        { "device-TLB Q0 bit 5", 0x3 | 1UL << 5, 0, false },
        { "device-TLB Q0 bit 25", 0x3 | 1UL << 25, 0, false },
        { "device-TLB Q0 bit 49", 0x3 | 1UL << 49, 0, false },
        { "P_IOTLB Q0 bit 7", InvalidationDescriptor.PasidIotlbAll(1, 0).Q0 | 1UL << 7, 0, true },
        { "P_IOTLB Q0 bit 60", InvalidationDescriptor.PasidIotlbAll(1, 0).Q0 | 1UL << 60, 0, true },
        { "PASID-cache Q0 bit 7", InvalidationDescriptor.PasidCacheGlobal().Q0 | 1UL << 7, 0, true },
        { "PASID-cache Q0 bit 60", InvalidationDescriptor.PasidCacheGlobal().Q0 | 1UL << 60, 0, true },
        { "IOTLB Q1 bit 9", InvalidationDescriptor.IotlbPage(1, 0x1000).Q0, 0x1000 | 1UL << 9, false },
    };

    [Theory]
    [MemberData(nameof(ReservedBits))]
    public void AReservedBitOfEveryTypeIsRefusedAndTheMessageNamesIt(string what, ulong q0, ulong q1, bool scalable)
    {
        var bench = new Bench(scalable: scalable);
        bench.Submit(new InvalidationDescriptor(q0, q1));

        Assert.True(bench.Iqei == QueueErrorCode.ReservedFieldSet, what);
        string message = Assert.Single(bench.Errors).Message;
        Assert.Contains("reserved bits set", message);
        Assert.Contains("descriptor 0 at", message);
        Assert.Contains($"Q0=0x{q0:x16}", message);
    }

    [Fact]
    public void AnInterruptEntryCacheDescriptorWithAReservedBitIsRefused()
    {
        var bench = new Bench(WithEcap(EcapInterruptRemapping, true));
        bench.Submit(new InvalidationDescriptor(0x4 | 1UL << 7, 0));

        Assert.Equal(QueueErrorCode.ReservedFieldSet, bench.Iqei);
    }

    [Fact]
    public void TheReservedBitsMessageShowsWhichBitsAreSet()
    {
        var bench = new Bench();
        bench.Submit(new InvalidationDescriptor(InvalidationDescriptor.IotlbPage(1, 0x1000).Q0 | 1UL << 40, 0x1000 | 1UL << 8));

        string message = Assert.Single(bench.Errors).Message;
        Assert.Contains("Q0&0x10000000000", message);
        Assert.Contains("Q1&0x100", message);
    }

    public static TheoryData<string, ulong, ulong, bool, string> RefusalMessages => new()
    {
        { "context-cache granularity 0", 0x1, 0, false, "context-cache granularity 0 is reserved" },
        { "IOTLB granularity 0", 0x2, 0, false, "IOTLB granularity 0 is reserved" },
        { "P_IOTLB granularity 1", 0x6 | 1UL << 4, 0, true, "PASID-based IOTLB granularity 1 is reserved" },
        { "PASID-cache granularity 2", 0x7 | 2UL << 4, 0, true, "PASID-cache granularity 2 is reserved" },
        { "PASID type in legacy mode", InvalidationDescriptor.PasidCacheGlobal().Q0, 0, false, "only valid while the root table is in scalable mode" },
        { "AM beyond MAMV", InvalidationDescriptor.IotlbPage(1, 0).Q0, 63, false, "AM=63 exceeds CAP.MAMV=" },
    };

    [Theory]
    [MemberData(nameof(RefusalMessages))]
    public void ARefusedDescriptorsEventSaysWhy(string what, ulong q0, ulong q1, bool scalable, string expected)
    {
        var bench = new Bench(scalable: scalable);
        bench.Submit(new InvalidationDescriptor(q0, q1));

        Assert.True((bench.Fsts & IqeBit) != 0, what);
        Assert.Contains(expected, Assert.Single(bench.Errors).Message);
    }

    [Fact]
    public void PageSelectiveInvalidationWithoutCapPsiIsRefusedAndSaysSo()
    {
        var profile = BuiltInProfiles.Architectural with { Cap = BuiltInProfiles.Architectural.Cap.WithPageSelectiveInvalidation(false) };
        var bench = new Bench(profile);
        bench.Submit(InvalidationDescriptor.IotlbPage(1, 0x1000));

        Assert.Equal(QueueErrorCode.ReservedFieldSet, bench.Iqei);
        Assert.Contains("needs CAP.PSI", Assert.Single(bench.Errors).Message);
    }

    [Fact]
    public void APageSelectiveAddressNotAlignedToItsRangeIsRefusedAndSaysSo()
    {
        var bench = new Bench();
        bench.Submit(InvalidationDescriptor.IotlbPage(1, 0x1000, addressMask: 1));

        Assert.Equal(QueueErrorCode.ReservedFieldSet, bench.Iqei);
        Assert.Contains("address 0x1000 is not aligned to the 2^1-page range", Assert.Single(bench.Errors).Message);
    }

    [Fact]
    public void AWaitWhoseStatusAddressCannotBeWrittenStopsTheQueue()
    {
        var bench = new Bench();
        bench.Memory.InjectError(new Hpa(StatusAddress), 4096);
        bench.Submit(InvalidationDescriptor.Wait(StatusAddress, 1));

        Assert.Equal(QueueErrorCode.DescriptorFetchError, bench.Iqei);
        Assert.Contains($"status address 0x{StatusAddress:x} cannot be written", Assert.Single(bench.Errors).Message);
    }

    [Fact]
    public void EnablingTheQueueOverATailWrittenBeforeRunsItWithoutAWarning()
    {
        var unit = new VtdUnit(new PhysicalMemory(1UL << 32), BuiltInProfiles.Architectural);
        unit.WriteRegister64(RegisterOffset.IQA, 0x20_0000);
        var wait = InvalidationDescriptor.Wait(StatusAddress, 6);
        unit.Memory.Write64(new Hpa(0x20_0000), wait.Q0);
        unit.Memory.Write64(new Hpa(0x20_0008), wait.Q1);
        unit.WriteRegister64(RegisterOffset.IQT, 16);

        unit.WriteRegister32(RegisterOffset.GCMD, (uint)GlobalCommand.QueuedInvalidationEnable);

        Assert.Equal(6u, (uint)unit.Memory.Read64(new Hpa(StatusAddress)));
        Assert.Empty(unit.Events.OfType<RegisterWarningEvent>());
    }

    [Fact]
    public void TheWideQueueChecksSayWhy()
    {
        var noSmts = new Bench(BuiltInProfiles.Qemu72Legacy, wide: true);
        Assert.Contains("ECAP.SMTS=0", Assert.Single(noSmts.Errors).Message);

        var misaligned = new Bench(wide: true);
        misaligned.Unit.WriteRegister64(RegisterOffset.IQT, 0x10);
        Assert.Contains("IQT=0x10 is not 256-bit aligned", Assert.Single(misaligned.Errors).Message);

        var upper = new Bench(wide: true);
        upper.Submit(InvalidationDescriptor.IotlbGlobal() with { Q2 = 1 });
        Assert.Contains("upper 128 bits", Assert.Single(upper.Errors).Message);
    }
}
