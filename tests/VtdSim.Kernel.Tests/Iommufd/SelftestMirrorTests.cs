using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Registers;
using VtdSim.Kernel.Intel;
using VtdSim.Kernel.Iommufd;
using VtdSim.Machine;
using static VtdSim.Kernel.Tests.Iommufd.IommufdBench;
using VtdSim.Kernel.Process;

namespace VtdSim.Kernel.Tests.Iommufd;

/// <summary>
/// The behaviour of the Linux selftest tools/testing/selftests/iommu/iommufd.c cases listed in docs/kernel-api.md,
/// on the VT-d model instead of the mock driver.
/// </summary>
public partial class SelftestMirrorTests
{
    private const ulong Page = 4096;

    private static byte[] S1(ulong table = 0x1000, uint width = 48) => VtdUapi.EncodeS1(new VtdS1Config(VtdS1Flags.None, table, width));

    // ---- iommufd_ioas.alloc_hwpt_nested ----

    [Fact]
    public void AllocHwptNested_ErrorsAndLifetimes()
    {
        var b = new IommufdBench();
        var fd = b.Fd;
        uint ioas = b.Ioas();
        var (dev, _) = b.BindAttach(Dev0, ioas);

        // Wrong id types: an IOAS as dev_id is ENOENT, a device as pt_id is EINVAL.
        Assert.Equal(Errno.ENOENT, fd.HwptAlloc(ioas, ioas, HwptAllocFlags.None, out _));
        Assert.Equal(Errno.EINVAL, fd.HwptAlloc(dev, dev, HwptAllocFlags.None, out _));

        uint parent = b.Hwpt(dev, ioas, HwptAllocFlags.NestParent);
        uint notParent = b.Hwpt(dev, ioas);

        Assert.Equal(Errno.EINVAL, fd.HwptAlloc(dev, parent, HwptAllocFlags.None, out _, HwptDataType.None, 24, S1()));
        Assert.Equal(Errno.EOPNOTSUPP, fd.HwptAlloc(dev, parent, HwptAllocFlags.None, out _, HwptDataType.Selftest, 24, S1()));
        Assert.Equal(Errno.EINVAL, fd.HwptAlloc(dev, parent, HwptAllocFlags.None, out _, HwptDataType.VtdS1, 23, S1()));
        Assert.Equal(Errno.EFAULT, fd.HwptAlloc(dev, parent, HwptAllocFlags.None, out _, HwptDataType.VtdS1, 24, null));
        Assert.Equal(Errno.EOPNOTSUPP, fd.HwptAlloc(dev, parent, HwptAllocFlags.NestParent, out _, HwptDataType.VtdS1, 24, S1()));
        Assert.Equal(Errno.EINVAL, fd.HwptAlloc(dev, notParent, HwptAllocFlags.None, out _, HwptDataType.VtdS1, 24, S1()));

        uint nested0 = b.Nested(dev, parent, new VtdS1Config(VtdS1Flags.None, 0x1000, 48));
        uint nested1 = b.Nested(dev, parent, new VtdS1Config(VtdS1Flags.None, 0x2000, 48));
        Assert.Equal(2, b.PagingOf(parent).PagingDomain.Children.Count);
        Assert.Equal(0x2000UL, fd.Get<HwptNested>(nested1)!.NestedDomain.S1.PageTableAddress);

        Assert.Equal(Errno.EINVAL, fd.HwptAlloc(dev, nested0, HwptAllocFlags.None, out _, HwptDataType.VtdS1, 24, S1()));
        Assert.Equal(Errno.EBUSY, fd.Destroy(parent));

        Assert.Equal(Errno.Success, fd.Destroy(nested0));
        Assert.Equal(Errno.Success, fd.Destroy(nested1));
        Assert.Empty(b.PagingOf(parent).PagingDomain.Children);
        Assert.Equal(Errno.Success, fd.Destroy(parent));
        Assert.Equal(Errno.Success, fd.Destroy(notParent));
    }

    /// <summary>
    /// A guest whose RAM (GPA 0..64 KiB) is process memory mapped at IOVA 0 of the IOAS, with a 4-level first stage
    /// at GPA 0x1000 mapping GVA 0x7000_0000 to GPA 0x8000; a device attached to the nested HWPT.
    /// </summary>
    private sealed class GuestSetup
    {
        public const ulong Gva = 0x7000_0000;
        private readonly IommufdBench _b;

        public GuestSetup(IommufdBench b)
        {
            _b = b;
            Ioas = b.Ioas();
            GuestRam = b.Buffer(16);
            b.Map(Ioas, GuestRam, 16 * Page, iova: 0);
            Dev = b.Bind(Dev0);
            Parent = b.Hwpt(Dev, Ioas, HwptAllocFlags.NestParent);
            ulong[] tables = [0x1000, 0x2000, 0x3000, 0x4000];
            for (int level = 4; level >= 2; level--)
                WriteEntry(tables[4 - level], Index(Gva, level), tables[5 - level] | 0x7);
            PointLeafAt(0x8000);
            Nested = b.Nested(Dev, Parent, new VtdS1Config(VtdS1Flags.None, 0x1000, 48));
            uint pt = Nested;
            Assert.Equal(Errno.Success, b.Fd.DeviceAttach(Dev, ref pt));
        }

        public uint Ioas { get; }
        public Uva GuestRam { get; }
        public uint Dev { get; }
        public uint Parent { get; }
        public uint Nested { get; }

        public void PointLeafAt(ulong gpa) => WriteEntry(0x4000, Index(Gva, 1), gpa | 0x7);

        private void WriteEntry(ulong tableGpa, ulong index, ulong value) =>
            Assert.Equal(Errno.Success, _b.Process.Write64(GuestRam + (tableGpa + index * 8), value));

        private static ulong Index(ulong gva, int level) => (gva >> (12 + 9 * (level - 1))) & 0x1FF;
    }

    [Fact]
    public void AllocHwptNested_Invalidate()
    {
        var b = new IommufdBench();
        var fd = b.Fd;
        var g = new GuestSetup(b);
        Assert.Equal(Stamp(0xA0, 8), b.DmaRead64(Dev0, GuestSetup.Gva));

        // Invalidating the parent is EINVAL; entry_num 0 probes; bad type, lengths, flags and pointers are refused
        // with entry_num written back as 0.
        uint num = 1;
        byte[] one = VtdUapi.EncodeInvalidations(new VtdS1Invalidation(GuestSetup.Gva, 1));
        Assert.Equal(Errno.EINVAL, fd.HwptInvalidate(g.Parent, HwptInvalidateDataType.VtdS1, 24, ref num, one));
        num = 0;
        Assert.Equal(Errno.Success, fd.HwptInvalidate(g.Nested, HwptInvalidateDataType.VtdS1, 0, ref num, null));
        num = 0;
        Assert.Equal(Errno.EINVAL, fd.HwptInvalidate(g.Nested, HwptInvalidateDataType.Selftest, 0, ref num, null));
        foreach (uint badLen in new uint[] { 25, 1 })
        {
            num = 1;
            Assert.Equal(Errno.EINVAL, fd.HwptInvalidate(g.Nested, HwptInvalidateDataType.VtdS1, badLen, ref num, new byte[32]));
            Assert.Equal(0u, num);
        }
        num = 1;
        Assert.Equal(Errno.EOPNOTSUPP, fd.HwptInvalidate(g.Nested, HwptInvalidateDataType.VtdS1, 24, ref num,
            VtdUapi.EncodeInvalidations(new VtdS1Invalidation(GuestSetup.Gva, 1, Flags: 0x80))));
        Assert.Equal(0u, num);
        num = 1;
        Assert.Equal(Errno.EINVAL, fd.HwptInvalidate(g.Nested, HwptInvalidateDataType.VtdS1, 24, ref num, null));
        num = 1;
        Assert.Equal(Errno.EINVAL, fd.HwptInvalidate(g.Nested, HwptInvalidateDataType.VtdS1, 0, ref num, one));

        // The guest moves its page: the unit keeps using the cached translation until the guest invalidates it.
        g.PointLeafAt(0x9000);
        Assert.Equal(Stamp(0xA0, 8), b.DmaRead64(Dev0, GuestSetup.Gva));
        num = 1;
        Assert.Equal(Errno.Success, fd.HwptInvalidate(g.Nested, HwptInvalidateDataType.VtdS1, 24, ref num,
            VtdUapi.EncodeInvalidations(new VtdS1Invalidation(GuestSetup.Gva + 0x10_0000, 1, VtdS1Invalidation.Leaf))));
        Assert.Equal(Stamp(0xA0, 8), b.DmaRead64(Dev0, GuestSetup.Gva)); // another page's invalidation does not help

        // Partial processing: the first entry (this page) is done, the second is refused; entry_num = 1.
        num = 2;
        byte[] two = VtdUapi.EncodeInvalidations(new VtdS1Invalidation(GuestSetup.Gva, 1, VtdS1Invalidation.Leaf), new VtdS1Invalidation(0x1234, 1));
        Assert.Equal(Errno.EINVAL, fd.HwptInvalidate(g.Nested, HwptInvalidateDataType.VtdS1, 24, ref num, two));
        Assert.Equal(1u, num);
        Assert.Equal(Stamp(0xA0, 9), b.DmaRead64(Dev0, GuestSetup.Gva));

        // The whole-table form.
        g.PointLeafAt(0xA000);
        Assert.Equal(Stamp(0xA0, 9), b.DmaRead64(Dev0, GuestSetup.Gva));
        num = 1;
        Assert.Equal(Errno.Success, fd.HwptInvalidate(g.Nested, HwptInvalidateDataType.VtdS1, 24, ref num, VtdUapi.EncodeInvalidations(VtdS1Invalidation.All())));
        Assert.Equal(1u, num);
        Assert.Equal(Stamp(0xA0, 10), b.DmaRead64(Dev0, GuestSetup.Gva));
    }

    [Fact]
    public void AllocHwptNested_ReplaceAndDestroy()
    {
        var b = new IommufdBench();
        var fd = b.Fd;
        uint ioas = b.Ioas();
        Uva va = b.Buffer(16);
        b.Map(ioas, va, 16 * Page, iova: 0);
        var (dev, auto) = b.BindAttach(Dev0, ioas);
        uint parent = b.Hwpt(dev, ioas, HwptAllocFlags.NestParent);
        uint notWork = b.Hwpt(dev, ioas);
        uint nested0 = b.Nested(dev, parent), nested1 = b.Nested(dev, parent);

        uint pt = nested0;
        Assert.Equal(Errno.Success, fd.DeviceReplace(dev, ref pt));
        Assert.Null(fd.Find(auto)); // the automatic domain went with its last device
        Assert.Equal(Errno.EBUSY, fd.Destroy(nested0));
        pt = nested1;
        Assert.Equal(Errno.Success, fd.DeviceReplace(dev, ref pt));
        Assert.Equal(Errno.EBUSY, fd.Destroy(nested1));
        Assert.Equal(Errno.Success, fd.Destroy(nested0));

        pt = parent;
        Assert.Equal(Errno.Success, fd.DeviceReplace(dev, ref pt));
        Assert.Equal(Errno.Success, fd.Destroy(nested1));
        Assert.Equal(Stamp(0xA0, 3), b.DmaRead64(Dev0, 3 * Page)); // the parent alone translates IOVA = GPA

        pt = ioas;
        Assert.Equal(Errno.Success, fd.DeviceReplace(dev, ref pt));
        Assert.True(b.PagingOf(pt).AutoDomain);
        Assert.Equal(Errno.Success, fd.Destroy(parent));
        Assert.Equal(Errno.Success, fd.Destroy(notWork));
        Assert.Equal(Stamp(0xA0, 5), b.DmaRead64(Dev0, 5 * Page));

        // Without a device every step is ENOENT.
        Assert.Equal(Errno.ENOENT, fd.HwptAlloc(99, ioas, HwptAllocFlags.NestParent, out _));
        Assert.Equal(Errno.ENOENT, fd.HwptAlloc(99, ioas, HwptAllocFlags.None, out _, HwptDataType.VtdS1, 24, S1()));
        pt = nested0;
        Assert.Equal(Errno.ENOENT, fd.DeviceReplace(99, ref pt));
    }

    // ---- iommufd_ioas.get_hw_info ----

    [Fact]
    public void GetHwInfo_Buffers()
    {
        var b = new IommufdBench();
        uint dev = b.Bind(Dev0);
        ulong cap = b.Machine.Read(b.Machine.IommuBase + RegisterOffset.CAP, 8);
        ulong ecap = b.Machine.Read(b.Machine.IommuBase + RegisterOffset.ECAP, 8);

        // A zero-size buffer: only data_len and the type come back.
        uint len = 0;
        var type = HwInfoType.Default;
        Assert.Equal(Errno.Success, b.Fd.GetHwInfo(dev, ref len, null, ref type, out byte pasid, out var caps));
        Assert.Equal(24u, len);
        Assert.Equal(HwInfoType.IntelVtd, type);
        Assert.Equal(20, pasid);
        Assert.Equal(HwCapabilities.DirtyTracking, caps);

        // Exact size.
        var exact = new byte[24];
        len = 24;
        Assert.Equal(Errno.Success, b.Fd.GetHwInfo(dev, ref len, exact, ref type, out _, out _));
        Assert.Equal(new VtdHwInfo(VtdHwInfo.Errata772415Spr17, cap, ecap), VtdUapi.DecodeHwInfo(exact));

        // A wrong requested type, and the right one.
        type = HwInfoType.Selftest;
        Assert.Equal(Errno.EOPNOTSUPP, b.Fd.GetHwInfo(dev, ref len, exact, ref type, out _, out _, HwInfoFlags.InputType));
        type = HwInfoType.IntelVtd;
        Assert.Equal(Errno.Success, b.Fd.GetHwInfo(dev, ref len, exact, ref type, out _, out _, HwInfoFlags.InputType));

        // Larger: the tail is zeroed.
        var larger = Enumerable.Repeat((byte)0xFF, 32).ToArray();
        len = 32;
        Assert.Equal(Errno.Success, b.Fd.GetHwInfo(dev, ref len, larger, ref type, out _, out _));
        Assert.Equal(24u, len);
        Assert.Equal(exact, larger[..24]);
        Assert.All(larger[24..], x => Assert.Equal(0, x));

        // Smaller: the prefix (flags) is filled, the rest of the caller's memory untouched.
        var smaller = Enumerable.Repeat((byte)0xFF, 8).ToArray();
        len = 4;
        Assert.Equal(Errno.Success, b.Fd.GetHwInfo(dev, ref len, smaller, ref type, out _, out _));
        Assert.Equal(VtdHwInfo.Errata772415Spr17, BitConverter.ToUInt32(smaller));
        Assert.All(smaller[4..], x => Assert.Equal(0xFF, x));

        // A device without PASID reports 0; no device is ENOENT.
        b.Machine.AddFunction(new PciFunction(new SourceId(0, 6, 0), "no-pasid", PasidWidth: 0));
        Assert.Equal(Errno.Success, b.Fd.DeviceBind(new SourceId(0, 6, 0), out uint plain));
        len = 0;
        Assert.Equal(Errno.Success, b.Fd.GetHwInfo(plain, ref len, null, ref type, out pasid, out _));
        Assert.Equal(0, pasid);
        len = 24;
        Assert.Equal(Errno.ENOENT, b.Fd.GetHwInfo(99, ref len, exact, ref type, out _, out _));
    }

    // ---- iommufd_ioas.hwpt_attach ----

    [Fact]
    public void HwptAttach_DeviceOnAHwpt()
    {
        var b = new IommufdBench();
        uint ioas = b.Ioas();
        b.Map(ioas, b.Buffer(2), 2 * Page, iova: 0x10_0000);
        uint dev0 = b.Bind(Dev0);
        uint hwpt = b.Hwpt(dev0, ioas);
        var (_, attached) = b.BindAttach(Dev1, hwpt);
        Assert.Equal(hwpt, attached);
        Assert.Equal(Stamp(0xA0, 1), b.DmaRead64(Dev1, 0x10_1000));
        Assert.Null(b.DmaRead64(Dev0, 0x10_1000)); // allocating a HWPT for a device does not attach it

        uint pt = 99;
        Assert.Equal(Errno.ENOENT, b.Fd.DeviceAttach(dev0, ref pt));
    }

    // ---- iommufd_mock_domain.alloc_hwpt ----

    [Fact]
    public void MockDomainAllocHwpt_PerDeviceAndReplace()
    {
        var b = new IommufdBench();
        var fd = b.Fd;
        uint ioas = b.Ioas();
        b.Map(ioas, b.Buffer(4), 4 * Page, iova: 0x40_0000);
        foreach (var sid in new[] { Dev0, Dev1 })
        {
            var (dev, _) = b.BindAttach(sid, ioas);
            Assert.Equal(Errno.EOPNOTSUPP, fd.HwptAlloc(dev, ioas, (HwptAllocFlags)(1 << 5), out _));
            uint h0 = b.Hwpt(dev, ioas);
            uint h1 = b.Hwpt(dev, ioas, HwptAllocFlags.NestParent);

            uint pt = h0;
            Assert.Equal(Errno.Success, fd.DeviceReplace(dev, ref pt));
            Assert.Equal(Errno.EBUSY, fd.Destroy(h0));
            Assert.Equal(Stamp(0xA0, 2), b.DmaRead64(sid, 0x40_2000));
            pt = h1;
            Assert.Equal(Errno.Success, fd.DeviceReplace(dev, ref pt));
            Assert.Equal(Errno.EBUSY, fd.Destroy(h1));
            Assert.Equal(Stamp(0xA0, 3), b.DmaRead64(sid, 0x40_3000));
            pt = ioas;
            Assert.Equal(Errno.Success, fd.DeviceReplace(dev, ref pt));
            Assert.Equal(Errno.Success, fd.Destroy(h1));

            // Another device straight onto h0, then gone again.
            var (other, onH0) = b.BindAttach(Dev2, h0);
            Assert.Equal(h0, onH0);
            Assert.Equal(Stamp(0xA0, 0), b.DmaRead64(Dev2, 0x40_0000));
            Assert.Equal(Errno.Success, fd.DeviceUnbind(other));
            Assert.Equal(Errno.Success, fd.Destroy(h0));
        }
    }

    // ---- iommufd_mock_domain.replace ----

    [Fact]
    public void MockDomainReplace_BetweenIoasesAndHwpts()
    {
        var b = new IommufdBench();
        var fd = b.Fd;
        uint ioasA = b.Ioas(), ioasB = b.Ioas();
        b.Map(ioasA, b.Buffer(1, stamp: 0xAA), Page, iova: 0x10_0000);
        b.Map(ioasB, b.Buffer(1, stamp: 0xBB), Page, iova: 0x10_0000);
        var (dev0, h0) = b.BindAttach(Dev0, ioasA);
        var (_, h1) = b.BindAttach(Dev1, ioasA);
        Assert.Equal(h0, h1); // the second device reuses the automatic domain
        Assert.Equal(Stamp(0xAA, 0), b.DmaRead64(Dev0, 0x10_0000));

        uint pt = ioasB;
        Assert.Equal(Errno.Success, fd.DeviceReplace(dev0, ref pt));
        uint hB = pt;
        Assert.Equal(Stamp(0xBB, 0), b.DmaRead64(Dev0, 0x10_0000));
        Assert.Contains(b.IoasOf(ioasB).ReservedRanges, r => r == IommufdContext.MsiWindow);
        Assert.Equal(Errno.Success, fd.DeviceReplace(dev0, ref pt)); // the same again: nothing to do

        pt = h0; // still alive: device 1 uses it
        Assert.Equal(Errno.Success, fd.DeviceReplace(dev0, ref pt));
        Assert.Equal(Stamp(0xAA, 0), b.DmaRead64(Dev0, 0x10_0000));
        Assert.Null(fd.Find(hB)); // B's automatic domain went with its only device
        Assert.DoesNotContain(b.IoasOf(ioasB).ReservedRanges, r => r == IommufdContext.MsiWindow);
        pt = hB;
        Assert.Equal(Errno.ENOENT, fd.DeviceReplace(dev0, ref pt));
        Assert.Equal(Errno.Success, fd.Destroy(ioasB));
    }

    // ---- iommufd_dirty_tracking ----

    [Fact]
    public void DirtyTracking_EnforceDirty()
    {
        var noAd = new IommufdBench(BuiltInProfiles.Qemu72Scalable);
        Assert.Equal(Errno.EOPNOTSUPP, noAd.Fd.HwptAlloc(noAd.Bind(Dev0), noAd.Ioas(), HwptAllocFlags.DirtyTracking, out _));

        var b = new IommufdBench();
        uint dev = b.Bind(Dev0);
        uint hwpt = b.Hwpt(dev, b.Ioas(), HwptAllocFlags.DirtyTracking);
        Assert.Equal(PagingFormat.SecondStage, b.PagingOf(hwpt).PagingDomain.Format);
        uint pt = hwpt;
        Assert.Equal(Errno.Success, b.Fd.DeviceAttach(dev, ref pt));
    }

    [Fact]
    public void DirtyTracking_SetDirtyTracking()
    {
        var b = new IommufdBench();
        uint ioas = b.Ioas();
        uint dev = b.Bind(Dev0);
        uint hwpt = b.Hwpt(dev, ioas, HwptAllocFlags.DirtyTracking | HwptAllocFlags.NestParent);
        uint pt = hwpt;
        Assert.Equal(Errno.Success, b.Fd.DeviceAttach(dev, ref pt));
        Assert.False(b.Kernel.Iommu.Unit.ReadPasidEntry(Dev0, 0).SecondStageAccessedDirtyEnable);

        Assert.Equal(Errno.Success, b.Fd.HwptSetDirtyTracking(hwpt, DirtyTrackingFlags.Enable));
        Assert.True(b.PagingOf(hwpt).PagingDomain.DirtyTrackingEnabled);
        Assert.True(b.Kernel.Iommu.Unit.ReadPasidEntry(Dev0, 0).SecondStageAccessedDirtyEnable);

        // A nested HWPT's PASID entry follows its parent.
        uint nested = b.Nested(dev, hwpt);
        pt = nested;
        Assert.Equal(Errno.Success, b.Fd.DeviceReplace(dev, ref pt));
        Assert.True(b.Kernel.Iommu.Unit.ReadPasidEntry(Dev0, 0).SecondStageAccessedDirtyEnable);

        Assert.Equal(Errno.Success, b.Fd.HwptSetDirtyTracking(hwpt, DirtyTrackingFlags.None));
        Assert.False(b.Kernel.Iommu.Unit.ReadPasidEntry(Dev0, 0).SecondStageAccessedDirtyEnable);
    }

    [Fact]
    public void DirtyTracking_DeviceDirtyCapability()
    {
        foreach (var (profile, expected) in new[] { (BuiltInProfiles.SapphireRapids, true), (BuiltInProfiles.Architectural, true), (BuiltInProfiles.Qemu72Scalable, false), (BuiltInProfiles.Qemu72Legacy, false) })
        {
            var b = new IommufdBench(profile);
            uint len = 0;
            var type = HwInfoType.Default;
            Assert.Equal(Errno.Success, b.Fd.GetHwInfo(b.Bind(Dev0), ref len, null, ref type, out _, out var caps));
            Assert.Equal(expected, (caps & HwCapabilities.DirtyTracking) != 0);
        }
    }

    private static (IommufdBench B, uint Hwpt) DirtyBench(ulong pages)
    {
        var b = new IommufdBench();
        uint ioas = b.Ioas();
        b.Map(ioas, b.Buffer(pages), pages * Page, iova: 0x100_0000);
        uint dev = b.Bind(Dev0);
        uint hwpt = b.Hwpt(dev, ioas, HwptAllocFlags.DirtyTracking);
        uint pt = hwpt;
        Assert.Equal(Errno.Success, b.Fd.DeviceAttach(dev, ref pt));
        // Dirty bits left from before tracking starts are cleared when it is turned on.
        Assert.True(b.DmaWrite64(Dev0, 0x100_0000 + 7 * Page, 1));
        Assert.Equal(Errno.Success, b.Fd.HwptSetDirtyTracking(hwpt, DirtyTrackingFlags.Enable));
        // Read every page once so that A is set before the first write: works around the hardware model's failed D
        // update after an A update in the same walk (HardwareFindingsTests). Reads do not dirty.
        for (ulong p = 0; p < pages; p++) Assert.NotNull(b.DmaRead64(Dev0, 0x100_0000 + p * Page));
        return (b, hwpt);
    }

    [Fact]
    public void DirtyTracking_GetDirtyBitmap()
    {
        var (b, hwpt) = DirtyBench(64);
        Assert.True(b.DmaWrite64(Dev0, 0x100_0000 + 3 * Page, 1));
        Assert.True(b.DmaWrite64(Dev0, 0x100_0000 + 10 * Page + 8, 2));
        Assert.NotNull(b.DmaRead64(Dev0, 0x100_0000 + 20 * Page)); // reads do not dirty

        var bitmap = new ulong[1];
        Assert.Equal(Errno.Success, b.Fd.HwptGetDirtyBitmap(hwpt, 0x100_0000, 64 * Page, Page, bitmap));
        Assert.Equal((1UL << 3) | (1UL << 10), bitmap[0]);

        bitmap[0] = 0;
        Assert.Equal(Errno.Success, b.Fd.HwptGetDirtyBitmap(hwpt, 0x100_0000, 64 * Page, Page, bitmap));
        Assert.Equal(0UL, bitmap[0]);

        // A bigger page size folds pages together.
        Assert.True(b.DmaWrite64(Dev0, 0x100_0000 + 10 * Page, 3));
        Assert.Equal(Errno.Success, b.Fd.HwptGetDirtyBitmap(hwpt, 0x100_0000, 64 * Page, 2 * Page, bitmap));
        Assert.Equal(1UL << 5, bitmap[0]);
    }

    [Fact]
    public void DirtyTracking_GetDirtyBitmapNoClear()
    {
        var (b, hwpt) = DirtyBench(64);
        Assert.True(b.DmaWrite64(Dev0, 0x100_0000 + 63 * Page, 1));
        for (int i = 0; i < 2; i++)
        {
            var bitmap = new ulong[1];
            Assert.Equal(Errno.Success, b.Fd.HwptGetDirtyBitmap(hwpt, 0x100_0000, 64 * Page, Page, bitmap, DirtyBitmapFlags.NoClear));
            Assert.Equal(1UL << 63, bitmap[0]);
        }
        var cleared = new ulong[1];
        Assert.Equal(Errno.Success, b.Fd.HwptGetDirtyBitmap(hwpt, 0x100_0000, 64 * Page, Page, cleared));
        Assert.Equal(1UL << 63, cleared[0]);
        cleared[0] = 0;
        Assert.Equal(Errno.Success, b.Fd.HwptGetDirtyBitmap(hwpt, 0x100_0000, 64 * Page, Page, cleared));
        Assert.Equal(0UL, cleared[0]);
    }

    // ---- iommufd.cmd_fail (id 0) ----

    [Fact]
    public void CmdFail_IdZeroIsEnoent()
    {
        var b = new IommufdBench();
        var fd = b.Fd;
        ulong iova = 0, len = Page;
        uint n = 0, pt = 0, num = 0;
        var type = HwInfoType.Default;
        Assert.Equal(Errno.ENOENT, fd.Destroy(0));
        Assert.Equal(Errno.ENOENT, fd.IoasMap(0, IoasMapFlags.ReadWrite, b.Buffer(1), Page, ref iova));
        Assert.Equal(Errno.ENOENT, fd.IoasUnmap(0, 0, ref len));
        Assert.Equal(Errno.ENOENT, fd.IoasIovaRanges(0, ref n, [], out _));
        Assert.Equal(Errno.ENOENT, fd.IoasAllowIovas(0, []));
        Assert.Equal(Errno.ENOENT, fd.IoasCopy(0, 0, IoasMapFlags.ReadWrite, Page, ref iova, 0));
        Assert.Equal(Errno.ENOENT, fd.HwptAlloc(0, b.Ioas(), HwptAllocFlags.None, out _));
        Assert.Equal(Errno.ENOENT, fd.HwptSetDirtyTracking(0, DirtyTrackingFlags.Enable));
        Assert.Equal(Errno.ENOENT, fd.HwptGetDirtyBitmap(0, 0, Page, Page, new ulong[1]));
        Assert.Equal(Errno.ENOENT, fd.HwptInvalidate(0, HwptInvalidateDataType.VtdS1, 24, ref num, null));
        Assert.Equal(Errno.ENOENT, fd.GetHwInfo(0, ref n, null, ref type, out _, out _));
        Assert.Equal(Errno.ENOENT, fd.DeviceAttach(0, ref pt));
        Assert.Equal(Errno.ENOENT, fd.AccessCreate(0, out _));
    }
}
