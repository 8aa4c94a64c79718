using VtdSim.Hardware.Profiles;
using VtdSim.Kernel.Intel;
using VtdSim.Kernel.Iommufd;
using static VtdSim.Kernel.Tests.Iommufd.IommufdBench;
using VtdSim.Kernel.Process;

namespace VtdSim.Kernel.Tests.Iommufd;

/// <summary>Erratum 772415 as iommufd users meet it: both orders refused with EINVAL, nothing left half done.</summary>
public class ErratumRuleTests
{
    private const ulong Page = 4096;

    /// <summary>Everything a failed call must leave as it was.</summary>
    private sealed record Snapshot(
        string Areas, string Reserved, string Objects, long Pins, int UserPages, int KernelPages, string Tables, int PagingHwpts)
    {
        public static Snapshot Of(IommufdBench b, uint ioas)
        {
            var io = b.IoasOf(ioas);
            return new Snapshot(
                string.Join(";", io.Areas.Select(a => $"{a.Iova:x}+{a.Length:x}:{a.Prot}:{string.Join(",", a.Pages)}")),
                string.Join(";", io.ReservedRanges),
                string.Join(";", b.Fd.Objects.Select(o => $"{o.Id}:{o.Type}:{o.Users}")),
                b.Kernel.UserMemory.TotalPins,
                b.Kernel.UserMemory.PagesInUse,
                b.Kernel.Pages.PagesInUse,
                string.Join(";", io.Hwpts.Select(h => $"{h.Id}:{h.PagingDomain.Table.TablePages}")),
                io.Hwpts.Count);
        }
    }

    /// <summary>
    /// An IOAS with a read-write area, device 0 on its automatic (first-stage) domain — the first domain of the IOAS,
    /// so a new mapping reaches it before the nest parent — and device 1 on a NEST_PARENT HWPT.
    /// </summary>
    private static (IommufdBench B, uint Ioas, uint Parent) IoasWithNestParent()
    {
        var b = new IommufdBench();
        uint ioas = b.Ioas();
        b.Map(ioas, b.Buffer(2), 2 * Page, iova: 0x10_0000);
        b.BindAttach(Dev0, ioas);
        uint dev1 = b.Bind(Dev1);
        uint parent = b.Hwpt(dev1, ioas, HwptAllocFlags.NestParent);
        uint pt = parent;
        Assert.Equal(Errno.Success, b.Fd.DeviceAttach(dev1, ref pt));
        Assert.Equal(2, b.IoasOf(ioas).Iopt.Domains.Count);
        Assert.False(b.IoasOf(ioas).Iopt.Domains[0].NestParent);
        return (b, ioas, parent);
    }

    private static void AssertNothingAt(IommufdBench b, uint ioas, ulong iova)
    {
        foreach (var h in b.IoasOf(ioas).Hwpts) Assert.Null(h.PagingDomain.Table.Lookup(iova));
        Assert.Null(b.DmaRead64(Dev0, iova));
        Assert.Null(b.DmaRead64(Dev1, iova));
    }

    [Fact]
    public void ReadOnlyMapIntoAnIoasHoldingANestParentIsEinvalAndLeavesNothingBehind()
    {
        var (b, ioas, _) = IoasWithNestParent();
        Uva ro = b.Buffer(4, stamp: 0xC0);
        var before = Snapshot.Of(b, ioas);
        int logLines = b.Kernel.Log.Lines.Count;

        Assert.Equal(Errno.EINVAL, b.TryMap(ioas, ro, 4 * Page, IoasMapFlags.Readable, 0x20_0000));
        Assert.Equal(before, Snapshot.Of(b, ioas));
        AssertNothingAt(b, ioas, 0x20_0000);
        Assert.Contains("DMAR: " + PagingDomain.ErratumMessage, b.Kernel.Log.Lines.Skip(logLines));

        // An automatic IOVA fares the same; the IOAS keeps working for read-write maps.
        ulong iova = 0;
        Assert.Equal(Errno.EINVAL, b.Fd.IoasMap(ioas, IoasMapFlags.Readable, ro, 4 * Page, ref iova));
        Assert.Equal(before, Snapshot.Of(b, ioas));
        Assert.Equal(Stamp(0xA0, 1), b.DmaRead64(Dev1, 0x10_1000));
        Assert.Equal(0x20_0000UL, b.Map(ioas, ro, 4 * Page, iova: 0x20_0000));
        Assert.Equal(Stamp(0xC0, 3), b.DmaRead64(Dev0, 0x20_3000));
        Assert.Equal(Stamp(0xC0, 3), b.DmaRead64(Dev1, 0x20_3000));
    }

    [Fact]
    public void ReadOnlyCopyIntoAnIoasHoldingANestParentIsEinvalAndLeavesNothingBehind()
    {
        var (b, ioas, _) = IoasWithNestParent();
        uint src = b.Ioas();
        ulong srcIova = b.Map(src, b.Buffer(2, stamp: 0xC1), 2 * Page, IoasMapFlags.Readable, iova: 0x40_0000);
        var before = Snapshot.Of(b, ioas);

        ulong dst = 0x30_0000;
        Assert.Equal(Errno.EINVAL, b.Fd.IoasCopy(ioas, src, IoasMapFlags.Readable | IoasMapFlags.FixedIova, 2 * Page, ref dst, srcIova));
        Assert.Equal(before, Snapshot.Of(b, ioas));
        AssertNothingAt(b, ioas, 0x30_0000);
        // The pages were pinned read-only, so a writable copy is EPERM — the erratum leaves a read-only source no way in.
        Assert.Equal(Errno.EPERM, b.Fd.IoasCopy(ioas, src, IoasMapFlags.ReadWrite | IoasMapFlags.FixedIova, 2 * Page, ref dst, srcIova));
        Assert.Equal(before, Snapshot.Of(b, ioas));
    }

    [Fact]
    public void WriteOnlyMappingsAreAllowedInANestParent()
    {
        var (b, ioas, _) = IoasWithNestParent();
        Uva va = b.Buffer(1);
        b.Map(ioas, va, Page, IoasMapFlags.Writeable, iova: 0x50_0000);
        Assert.True(b.DmaWrite64(Dev1, 0x50_0008, 0xABCD));
        Assert.Equal(Errno.Success, b.Process.Read64(va + 8, out ulong v));
        Assert.Equal(0xABCDUL, v);
        Assert.Null(b.DmaRead64(Dev1, 0x50_0000)); // second stage: W without R refuses reads
    }

    [Fact]
    public void NestParentAllocOnAnIoasHoldingReadOnlyAreasIsEinvalAndLeavesNothingBehind()
    {
        var b = new IommufdBench();
        uint ioas = b.Ioas();
        // The read-write area comes first, so the new domain maps it before it meets the read-only one.
        b.Map(ioas, b.Buffer(2), 2 * Page, iova: 0x10_0000);
        b.Map(ioas, b.Buffer(2, stamp: 0xC2), 2 * Page, IoasMapFlags.Readable, iova: 0x20_0000);
        var (dev0, _) = b.BindAttach(Dev0, ioas);
        uint dev1 = b.Bind(Dev1);
        var before = Snapshot.Of(b, ioas);
        int logLines = b.Kernel.Log.Lines.Count;

        Assert.Equal(Errno.EINVAL, b.Fd.HwptAlloc(dev1, ioas, HwptAllocFlags.NestParent, out uint id));
        Assert.Equal(0u, id);
        Assert.Equal(before, Snapshot.Of(b, ioas));
        Assert.Contains("DMAR: " + PagingDomain.ErratumMessage, b.Kernel.Log.Lines.Skip(logLines));
        // Also with DIRTY_TRACKING, and from a device that is attached.
        Assert.Equal(Errno.EINVAL, b.Fd.HwptAlloc(dev0, ioas, HwptAllocFlags.NestParent | HwptAllocFlags.DirtyTracking, out _));
        Assert.Equal(before, Snapshot.Of(b, ioas));

        // The id the failed HWPT would have had is still free.
        uint expected = Enumerable.Range(1, 100).Select(i => (uint)i).First(i => b.Fd.Find(i) is null);
        Assert.Equal(expected, b.Ioas());

        // Once the read-only area is gone the same call succeeds.
        ulong len = 2 * Page;
        Assert.Equal(Errno.Success, b.Fd.IoasUnmap(ioas, 0x20_0000, ref len));
        Assert.Equal(Errno.Success, b.Fd.HwptAlloc(dev1, ioas, HwptAllocFlags.NestParent, out _));
    }

    public static TheoryData<string> Profiles => new(BuiltInProfiles.All.Select(p => p.Name));

    [Theory]
    [MemberData(nameof(Profiles))]
    public void EveryVtdUnitReportsTheErratumFlag(string profile)
    {
        var b = new IommufdBench(BuiltInProfiles.Find(profile));
        var data = new byte[24];
        uint len = 24;
        var type = HwInfoType.Default;
        Assert.Equal(Errno.Success, b.Fd.GetHwInfo(b.Bind(Dev0), ref len, data, ref type, out _, out _));
        Assert.Equal(VtdHwInfo.Errata772415Spr17, VtdUapi.DecodeHwInfo(data).Flags);
    }

    [Fact]
    public void WithTheRuleOffAsBeforeLinux67BothOrdersSucceed()
    {
        var b = new IommufdBench(options: new IntelIommuOptions { EnforceErratum772415 = false });
        uint ioas = b.Ioas();
        b.Map(ioas, b.Buffer(1), Page, IoasMapFlags.Readable, iova: 0x10_0000);
        uint dev = b.Bind(Dev0);
        uint parent = b.Hwpt(dev, ioas, HwptAllocFlags.NestParent);
        b.Map(ioas, b.Buffer(1), Page, IoasMapFlags.Readable, iova: 0x20_0000);
        Assert.NotNull(b.PagingOf(parent).PagingDomain.Table.Lookup(0x20_0000));
        // The flag is reported all the same: it says what the kernel (6.7+) enforces, not what this one does.
        uint len = 24;
        var type = HwInfoType.Default;
        var data = new byte[24];
        Assert.Equal(Errno.Success, b.Fd.GetHwInfo(dev, ref len, data, ref type, out _, out _));
        Assert.Equal(VtdHwInfo.Errata772415Spr17, VtdUapi.DecodeHwInfo(data).Flags);
    }
}
