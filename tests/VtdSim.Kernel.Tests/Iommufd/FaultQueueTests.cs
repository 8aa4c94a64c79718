using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Faults;
using VtdSim.Hardware.Translation;
using VtdSim.Kernel.Intel;
using VtdSim.Kernel.Iommufd;
using VtdSim.Kernel.Process;
using static VtdSim.Kernel.Tests.Iommufd.IommufdBench;

namespace VtdSim.Kernel.Tests.Iommufd;

/// <summary>
/// The model-only fault event queue of a nested HWPT (decisions N40–N44, docs/kernel-api.md "Fault event queues"): a
/// DMA fault of a device attached to the HWPT is queued with whose stage it is, after the host's DMAR line; misuse
/// gives iommufd's errnos and leaves nothing behind.
/// </summary>
public class FaultQueueTests
{
    private const ulong Page = 4096;
    private const ulong Gva = 0x7000_0000;
    private readonly IommufdBench _b;
    private IommufdContext Fd => _b.Fd;

    public FaultQueueTests() : this(null) { }

    private FaultQueueTests(IntelIommuOptions? options) => _b = new IommufdBench(options: options);

    /// <summary>
    /// Guest RAM: 16 pages at GPA 0 (IOVA 0 of the IOAS, under a nest parent); the guest's 4-level first stage at GPA
    /// 0x1000 maps <see cref="Gva"/> → GPA 0x8000 (read-write, user) and Gva + 0x1000 is not present. The device's RID is
    /// attached to the nested HWPT.
    /// </summary>
    private sealed record Nest(uint Ioas, uint Dev, uint Parent, uint Nested, Uva GuestRam);

    private Nest Build(IoasMapFlags ramFlags = IoasMapFlags.ReadWrite)
    {
        uint ioas = _b.Ioas();
        Uva ram = _b.Buffer(16);
        _b.Map(ioas, ram, 16 * Page, ramFlags, iova: 0);
        WriteEntry(ram, 0x1000, 4, 0x2000 | 0x7);
        WriteEntry(ram, 0x2000, 3, 0x3000 | 0x7);
        WriteEntry(ram, 0x3000, 2, 0x4000 | 0x7);
        WriteEntry(ram, 0x4000, 1, 0x8000 | 0x7);
        uint dev = _b.Bind(Dev0);
        uint parent = _b.Hwpt(dev, ioas, HwptAllocFlags.NestParent);
        uint nested = _b.Nested(dev, parent, new VtdS1Config(VtdS1Flags.None, 0x1000, 48));
        uint pt = nested;
        Assert.Equal(Errno.Success, Fd.DeviceAttach(dev, ref pt));
        return new Nest(ioas, dev, parent, nested, ram);
    }

    private void WriteEntry(Uva ram, ulong table, int level, ulong value, ulong gva = Gva) =>
        Assert.Equal(Errno.Success, _b.Process.Write64(ram + table + ((gva >> (12 + 9 * (level - 1))) & 0x1FF) * 8, value));

    private uint Queue(uint hwpt, uint depth = 16)
    {
        Assert.Equal(Errno.Success, Fd.VtdFaultQueueAlloc(hwpt, depth, out uint id));
        return id;
    }

    private VtdFaultEvent[] Drain(uint queue)
    {
        var into = new VtdFaultEvent[64];
        Assert.Equal(Errno.Success, Fd.VtdFaultQueueRead(queue, into, out int n));
        return into[..n];
    }

    [Fact]
    public void AFirstStageNotPresentFaultIsQueuedAsTheFirstStagesAfterTheHostLogsIt()
    {
        Nest n = Build();
        uint q = Queue(n.Nested);
        Assert.Equal(FaultReason.None, _b.DmaRead(Dev0, Gva, new byte[8]).Fault?.Reason ?? FaultReason.None);

        DmaTransferResult r = _b.DmaRead(Dev0, Gva + 0x1010, new byte[8]);

        Assert.Equal(FaultReason.SFS2_EntryNotPresent, r.Fault!.Reason);
        Assert.Equal([new VtdFaultEvent(n.Dev, null, new Iova(Gva + 0x1000), DmaAccess.Read, false, false, FaultReason.SFS2_EntryNotPresent, VtdFaultStage.FirstStage)],
            Drain(q));
        // The host admin still sees the fault (decision N43).
        Assert.Equal("DMAR: [DMA Read NO_PASID] Request device [00:03.0] fault addr 0x70001000 [fault reason 0x71] SM: Present bit in first-level paging entry is clear",
            _b.Kernel.Log.Lines[^1]);
        Assert.Empty(Drain(q)); // read once
    }

    [Fact]
    public void AGpaTheParentDoesNotMapIsTheSecondStagesFault()
    {
        Nest n = Build();
        uint q = Queue(n.Nested);
        WriteEntry(n.GuestRam, 0x4000, 1, 0x40_0000 | 0x7, Gva + 0x2000); // a GPA beyond guest RAM

        Assert.False(_b.DmaWrite64(Dev0, Gva + 0x2000, 1));

        VtdFaultEvent e = Assert.Single(Drain(q));
        Assert.Equal((FaultReason.SSS2_EntryNotPresent, VtdFaultStage.SecondStage, DmaAccess.Write), (e.Reason, e.Stage, e.Access));
    }

    [Fact]
    public void AWriteTheGuestsFirstStageMapsReadOnlyIsTheFirstStagesSgn6()
    {
        Nest n = Build();
        uint q = Queue(n.Nested);
        WriteEntry(n.GuestRam, 0x4000, 1, 0x9000 | 0x5, Gva + 0x3000); // P, U, R/W=0

        Assert.False(_b.DmaWrite64(Dev0, Gva + 0x3000, 1));

        VtdFaultEvent e = Assert.Single(Drain(q));
        Assert.Equal((FaultReason.SGN6_WriteDenied, VtdFaultStage.FirstStage), (e.Reason, e.Stage));
    }

    [Fact]
    public void AWriteTheParentMapsReadOnlyIsTheSecondStagesSgn6ThoughTheReasonIsTheSame()
    {
        // Without the erratum rule a nest parent may hold a read-only map (the only way the second stage denies a write).
        var t = new FaultQueueTests(new IntelIommuOptions { EnforceErratum772415 = false });
        Nest n = t.Build();
        uint q = t.Queue(n.Nested);
        Uva ro = t._b.Buffer(1);
        t._b.Map(n.Ioas, ro, Page, IoasMapFlags.Readable, iova: 0x10_0000);
        t.WriteEntry(n.GuestRam, 0x4000, 1, 0x10_0000 | 0x7, Gva + 0x3000); // the first stage allows the write

        Assert.False(t._b.DmaWrite64(Dev0, Gva + 0x3000, 1));

        VtdFaultEvent e = Assert.Single(t.Drain(q));
        Assert.Equal((FaultReason.SGN6_WriteDenied, VtdFaultStage.SecondStage), (e.Reason, e.Stage));
    }

    [Fact]
    public void OnAPagingHwptEveryPageWalkFaultIsTheIoassSecondStage()
    {
        uint ioas = _b.Ioas();
        _b.Map(ioas, _b.Buffer(1), Page, IoasMapFlags.ReadWrite, iova: 0x10_0000);
        uint dev = _b.Bind(Dev0);
        uint hwpt = _b.Hwpt(dev, ioas);
        uint pt = hwpt;
        Assert.Equal(Errno.Success, Fd.DeviceAttach(dev, ref pt));
        uint q = Queue(hwpt);

        Assert.False(_b.DmaWrite64(Dev0, 0x20_0000, 1));

        VtdFaultEvent e = Assert.Single(Drain(q));
        Assert.Equal((dev, VtdFaultStage.SecondStage, 0x20_0000UL), (e.DevId, e.Stage, e.Address.Value));
    }

    [Fact]
    public void WithoutAQueueNothingIsQueuedAndTheHostStillLogs()
    {
        Nest n = Build();
        Assert.False(_b.DmaWrite64(Dev0, Gva + 0x1000, 1));
        Assert.Contains("[fault reason 0x71]", _b.Kernel.Log.Lines[^1]);
        Assert.DoesNotContain(Fd.Objects, o => o is VtdFaultQueue);
        Assert.Null(Fd.Get<HwptNested>(n.Nested)!.FaultQueue);
    }

    [Fact]
    public void AFullQueueDropsAndCountsWhatDoesNotFit()
    {
        Nest n = Build();
        uint q = Queue(n.Nested, depth: 2);
        for (int i = 0; i < 3; i++) Assert.False(_b.DmaWrite64(Dev0, Gva + 0x1000, (ulong)i));

        Assert.Equal(2, Drain(q).Length);
        Assert.Equal(1, Fd.Get<VtdFaultQueue>(q)!.Lost);
        Assert.False(_b.DmaWrite64(Dev0, Gva + 0x1000, 9));
        Assert.Single(Drain(q)); // room again
    }

    [Fact]
    public void MisuseGivesIommufdsErrnosAndMakesNothing()
    {
        Nest n = Build();
        int objects = Fd.Objects.Count;
        Assert.Equal(Errno.EOPNOTSUPP, Fd.VtdFaultQueueAlloc(n.Nested, 16, out _, flags: 1));
        Assert.Equal(Errno.EINVAL, Fd.VtdFaultQueueAlloc(n.Nested, 0, out _));
        Assert.Equal(Errno.ENOENT, Fd.VtdFaultQueueAlloc(99, 16, out _));
        uint auto = n.Ioas;
        uint other = _b.Bind(Dev1);
        Assert.Equal(Errno.Success, Fd.DeviceAttach(other, ref auto));
        Assert.Equal(Errno.EINVAL, Fd.VtdFaultQueueAlloc(auto, 16, out _)); // an automatic domain
        objects = Fd.Objects.Count;
        Assert.Equal(Errno.EINVAL, Fd.VtdFaultQueueAlloc(n.Ioas, 16, out _));
        Assert.Equal(Errno.EINVAL, Fd.VtdFaultQueueAlloc(n.Dev, 16, out uint none));
        Assert.Equal(0u, none);
        Assert.Equal(objects, Fd.Objects.Count);

        uint q = Queue(n.Nested);
        Assert.Equal(Errno.EEXIST, Fd.VtdFaultQueueAlloc(n.Nested, 16, out _));
        Assert.Equal(Errno.ENOENT, Fd.VtdFaultQueueRead(n.Nested, new VtdFaultEvent[1], out int count));
        Assert.Equal(0, count);

        // The queue holds its HWPT: the HWPT goes after it.
        uint parent = n.Parent;
        Assert.Equal(Errno.Success, Fd.DeviceReplace(n.Dev, ref parent));
        Assert.Equal(Errno.EBUSY, Fd.Destroy(n.Nested));
        Assert.Equal(Errno.Success, Fd.Destroy(q));
        Assert.Equal(Errno.ENOENT, Fd.VtdFaultQueueRead(q, new VtdFaultEvent[1], out _));
        Assert.Equal(Errno.Success, Fd.Destroy(n.Nested));
    }

    [Fact]
    public void ClosingTheFileFreesQueueAndHwptInOrder()
    {
        Nest n = Build();
        Queue(n.Nested);
        Fd.Close();
        Assert.Empty(_b.Kernel.Iommu.DomainOf(Dev0).Devices);
    }
}
