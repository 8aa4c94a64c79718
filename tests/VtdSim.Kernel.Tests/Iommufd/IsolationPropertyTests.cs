using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Memory;
using VtdSim.Kernel.Iommufd;
using VtdSim.Kernel.Process;
using static VtdSim.Kernel.Tests.Iommufd.IommufdBench;

namespace VtdSim.Kernel.Tests.Iommufd;

/// <summary>
/// Isolation: random sequences of map / unmap / copy / attach / replace / detach / munmap / CPU writes, each followed
/// by DMAs from every device through the hardware model, checked against a simple shadow model of what each device's
/// IOAS maps at that moment. See docs/kernel-api.md ("Isolation property test").
/// </summary>
public class IsolationPropertyTests
{
    [Fact]
    public void HundredThousandRandomOperationsKeepEveryDmaInsideItsIoas()
    {
        var stats = new IsolationRun(seed: 772415, operations: 100_000).Run();
        // The sequence reached every outcome it is meant to exercise.
        foreach (string outcome in new[]
                 {
                     "map:Success", "map:EEXIST", "map:EINVAL", "map:EFAULT", "map-erratum:EINVAL", "map-auto:Success", "map-huge:Success",
                     "unmap:Success", "unmap:ENOENT", "unmap-all:Success", "copy:Success", "copy:EPERM", "copy:ENOENT", "copy-auto:Success", "copy-offset:EINVAL",
                     "copy-erratum:EINVAL", "attach:Success", "attach:EBUSY", "attach:EADDRINUSE", "replace:Success",
                     "detach:Success", "attach-pasid:Success", "attach-pasid:EBUSY", "attach-pasid:EINVAL", "replace-pasid:Success",
                     "replace-pasid:EINVAL", "detach-pasid:Success", "remap:Success", "cpu-write:Success", "dma-read:ok", "dma-read:fault",
                     "dma-write:ok", "dma-write:fault", "page-freed:pinned-until-unmap",
                 })
        {
            Assert.True(stats.GetValueOrDefault(outcome) > 0, $"the run never reached {outcome}: {string.Join(", ", stats.OrderBy(s => s.Key).Select(s => $"{s.Key}={s.Value}"))}");
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void OtherSeedsToo(int seed) => new IsolationRun(seed, operations: 5_000).Run();
}

/// <summary>One run of the isolation property: the system under test, its shadow, and the checks.</summary>
internal sealed class IsolationRun
{
    private const ulong Page = 4096;
    private const int HugePages = 512;                // 4 KiB pages in a 2 MiB huge page
    private const ulong Window = 64UL << 20;          // fixed IOVAs are drawn from [0, 64 MiB)
    private const ulong MsiStart = 0xFEE0_0000, MsiLast = 0xFEEF_FFFF;

    private readonly Random _rng;
    private readonly int _operations;
    private readonly IommufdBench _b;
    private readonly List<Region> _regions = new();
    private readonly List<ShadowIoas> _ioases = new();
    private readonly List<ShadowDevice> _devices = new();
    private readonly Dictionary<ulong, int> _areaRefsByHpa = new();
    private readonly Dictionary<ulong, PageId> _byHpa = new();
    private bool _unmappingProcessMemory;
    private readonly List<MemoryWrite> _dmaWrites = new();
    private readonly Dictionary<string, int> _stats = new();
    private long _expectedPins;
    private long _nextPageId = 1;
    private int _step;
    private uint _dirtyHwpt;

    public IsolationRun(int seed, int operations)
    {
        _rng = new Random(seed);
        _operations = operations;
        _b = new IommufdBench();
    }

    // ---- the shadow ----

    /// <summary>A physical page as the shadow knows it: who it is, where it is, what it holds.</summary>
    private sealed class PageId(long id, Hpa hpa, ulong stamp)
    {
        public long Id { get; } = id;
        public Hpa Hpa { get; } = hpa;
        public ulong Stamp { get; } = stamp;
        public Dictionary<int, ulong> Words { get; } = new();
        public bool MappedInProcess { get; set; } = true;
        public ulong Word(int i) => Words.TryGetValue(i, out ulong v) ? v : i == 0 ? Stamp : 0;
    }

    /// <summary>A mapping in a process that IOAS_MAP takes pages from.</summary>
    private sealed class Region(string name, ProcessAddressSpace process, ulong va, int pages, bool writable, SharedFile? file, MapFlags flags)
    {
        public MapFlags Flags { get; } = flags;
        public string Name { get; } = name;
        public ProcessAddressSpace Process { get; } = process;
        public ulong Va { get; } = va;
        public int Pages { get; } = pages;
        public bool Writable { get; } = writable;
        public SharedFile? File { get; } = file;
        public PageId[] Ids { get; set; } = [];
    }

    /// <summary>One IOAS_MAP's pins, shared by the areas copied from it.</summary>
    private sealed class PinGroup(int pages, bool writable)
    {
        public int Pages { get; } = pages;
        public bool Writable { get; } = writable;
        public int Areas { get; set; }
    }

    private sealed class ShadowArea(ulong iova, PageId[] ids, bool write, PinGroup group)
    {
        public ulong Iova { get; } = iova;
        public PageId[] Ids { get; } = ids;
        public bool Write { get; } = write;
        public PinGroup Group { get; } = group;
        public ulong Length => (ulong)Ids.Length * Page;
        public ulong Last => Iova + Length - 1;
    }

    private sealed class ShadowIoas(string name, IommufdContext fd, uint id, ProcessAddressSpace process)
    {
        public string Name { get; } = name;
        public IommufdContext Fd { get; } = fd;
        public uint Id { get; } = id;
        public ProcessAddressSpace Process { get; } = process;
        public bool HasNestParent { get; set; }
        public SortedList<ulong, ShadowArea> Areas { get; } = new();
        public Dictionary<ulong, (PageId Id, bool Write)> Pages { get; } = new();
        public List<ulong> RecentlyUnmapped { get; } = new();
    }

    /// <summary>A device's requests without PASID (<paramref name="pasid"/> null), or its requests with one PASID.</summary>
    private sealed class ShadowDevice(SourceId sid, IommufdContext fd, uint devId, (uint Pt, ShadowIoas Ioas)[] targets, uint? pasid = null)
    {
        public SourceId Sid { get; } = sid;
        public IommufdContext Fd { get; } = fd;
        public uint DevId { get; } = devId;
        public (uint Pt, ShadowIoas Ioas)[] Targets { get; } = targets;
        public uint? Pasid { get; } = pasid;
        public ShadowIoas? Target { get; set; }
        /// <summary>The HWPT id attached (a PASID attach again is fine to the same HWPT only).</summary>
        public uint Hwpt { get; set; }
        public string Name => Pasid is uint p ? $"{Sid} PASID {p}" : Sid.ToString();
    }

    // ---- set-up ----

    public Dictionary<string, int> Run()
    {
        SetUp();
        using var observer = _b.Machine.Memory.ObserveWrites(new Hpa(0), ulong.MaxValue, w =>
        {
            if (w.Origin == WriteOrigin.Dma) _dmaWrites.Add(w);
        });
        _b.Kernel.UserMemory.PageFreed += OnPageFreed;
        for (_step = 0; _step < _operations; _step++)
        {
            Operation();
            foreach (var device in _devices)
            {
                CheckDma(device);
                CheckDma(device);
            }
            Assert.True(_expectedPins == _b.Kernel.UserMemory.TotalPins, Where($"pins: expected {_expectedPins}, kernel has {_b.Kernel.UserMemory.TotalPins}"));
            if (_step % 997 == 0) CheckAreas();
        }
        CheckAreas();
        _b.Kernel.UserMemory.PageFreed -= OnPageFreed;
        foreach (var fd in _ioases.Select(i => i.Fd).Distinct()) fd.Close();
        Assert.Equal(0, _b.Kernel.UserMemory.TotalPins);
        return _stats;
    }

    private void SetUp()
    {
        var p1 = _b.Process;
        var fd1 = _b.Fd;
        var p2 = _b.Kernel.CreateProcess("second");
        var fd2 = _b.Kernel.OpenIommufd(p2);

        var file = _b.Kernel.CreateFile("shared", 32 * Page);
        var filePages = new PageId[32];
        _regions.Add(NewRegion("p1-anon-rw", p1, 0x1_0000_0000, 64, writable: true, null));
        _regions.Add(NewRegion("p1-anon-ro", p1, 0x1_1000_0000, 16, writable: false, null));
        var fileRw = NewRegion("p1-file-rw", p1, 0x1_2000_0000, 32, writable: true, file);
        _regions.Add(fileRw);
        _regions.Add(NewRegion("p2-file-ro", p2, 0x1_3000_0000, 32, writable: false, file));
        _regions.Add(NewRegion("p2-anon-rw", p2, 0x1_4000_0000, 32, writable: true, null));
        // Two 2 MiB huge pages: pinned as runs of a folio, mapped with 2 MiB leaves where the IOVA allows.
        _regions.Add(NewRegion("p1-huge-rw", p1, 0x1_5000_0000, 1024, writable: true, null, MapFlags.Hugetlb | MapFlags.Huge2MB));
        // Both file mappings see the same page-cache pages.
        _regions[3].Ids = fileRw.Ids;
        for (int i = 0; i < 32; i++) Assert.Equal(fileRw.Ids[i].Hpa, p2.Translate(new Uva(_regions[3].Va + (ulong)i * Page))!.Value.PageBase);

        var a = new ShadowIoas("A", fd1, fd1.IoasAlloc(), p1);
        var bIoas = new ShadowIoas("B", fd1, fd1.IoasAlloc(), p1);
        var c = new ShadowIoas("C", fd2, fd2.IoasAlloc(), p2);
        _ioases.AddRange([a, bIoas, c]);

        Assert.Equal(Errno.Success, fd1.DeviceBind(Dev0, out uint d0));
        Assert.Equal(Errno.Success, fd1.DeviceBind(Dev1, out uint d1));
        Assert.Equal(Errno.Success, fd2.DeviceBind(Dev2, out uint d2));
        // A second-stage (not nest-parent) HWPT on A, and a nest parent on B: B then refuses read-only mappings. Both
        // PASID-capable, so the RIDs may use them while PASIDs are attached; the dirty-tracking one is refused at a
        // PASID (EINVAL), the nest parent is not.
        Assert.Equal(Errno.Success, fd1.HwptAlloc(d0, a.Id, HwptAllocFlags.DirtyTracking | HwptAllocFlags.Pasid, out uint ha));
        Assert.Equal(Errno.Success, fd1.HwptAlloc(d0, bIoas.Id, HwptAllocFlags.NestParent | HwptAllocFlags.Pasid, out uint np));
        _dirtyHwpt = ha;
        bIoas.HasNestParent = true;
        (uint, ShadowIoas)[] fd1Targets = [(a.Id, a), (ha, a), (bIoas.Id, bIoas), (np, bIoas)];
        _devices.Add(new ShadowDevice(Dev0, fd1, d0, fd1Targets));
        _devices.Add(new ShadowDevice(Dev1, fd1, d1, fd1Targets));
        _devices.Add(new ShadowDevice(Dev2, fd2, d2, [(c.Id, c)]));
        // PASID 1 of device 0 and PASID 0xFFFFF of device 1 move between the same HWPTs on their own: their requests
        // (PASID-tagged) must see what their HWPT's IOAS maps, whatever the RID uses.
        _devices.Add(new ShadowDevice(Dev0, fd1, d0, fd1Targets, pasid: 1));
        _devices.Add(new ShadowDevice(Dev1, fd1, d1, fd1Targets, pasid: 0xFFFFF));
    }

    private Region NewRegion(string name, ProcessAddressSpace p, ulong va, int pages, bool writable, SharedFile? file, MapFlags flags = MapFlags.None)
    {
        var prot = writable ? MemoryProtection.ReadWrite : MemoryProtection.Read;
        Assert.Equal(Errno.Success, file is null
            ? p.Mmap((ulong)pages * Page, prot, out _, new Uva(va), flags)
            : p.MmapShared(file, 0, (ulong)pages * Page, prot, out _, new Uva(va)));
        var region = new Region(name, p, va, pages, writable, file, flags);
        Populate(region);
        return region;
    }

    /// <summary>Touches every page of a region (stamping it when it is writable) and records who it is.</summary>
    private void Populate(Region r)
    {
        r.Ids = new PageId[r.Pages];
        for (int i = 0; i < r.Pages; i++)
        {
            ulong va = r.Va + (ulong)i * Page;
            long id = _nextPageId++;
            ulong stamp = 0;
            if (r.Writable)
            {
                stamp = 0xC0DE_0000_0000_0000UL | (ulong)id;
                Assert.Equal(Errno.Success, r.Process.Write64(new Uva(va), stamp));
            }
            else
            {
                Assert.Equal(Errno.Success, r.Process.Read64(new Uva(va), out _));
            }
            r.Ids[i] = new PageId(id, r.Process.Translate(new Uva(va))!.Value, stamp);
            _byHpa[r.Ids[i].Hpa.Value] = r.Ids[i];
        }
    }

    // ---- operations ----

    private void Operation()
    {
        int dice = _rng.Next(100);
        if (dice < 28) Map();
        else if (dice < 48) Unmap();
        else if (dice < 63) Copy();
        else if (dice < 80) AttachReplaceDetach();
        else if (dice < 86) Remap();
        else CpuWrite();
    }

    private void Count(string key) => _stats[key] = _stats.GetValueOrDefault(key) + 1;

    private string Where(string what) => $"step {_step}: {what}";

    private ShadowIoas PickIoas() => _ioases[_rng.Next(_ioases.Count)];

    private ulong PickFixedIova(int pages)
    {
        if (_rng.Next(50) == 0) return MsiStart - Page * (ulong)_rng.Next(1, 4) + Page * (ulong)_rng.Next(0, 3); // around the interrupt window
        return (ulong)_rng.Next((int)(Window / Page) - pages) * Page;
    }

    /// <summary>Only requests without PASID reserve the interrupt window (a PASID attachment reserves nothing).</summary>
    private bool MsiReserved(ShadowIoas io) => _devices.Any(d => d.Pasid is null && d.Target == io);

    private static bool Overlaps(ulong start, ulong last, ulong start2, ulong last2) => start <= last2 && start2 <= last;

    private bool HitsReserved(ShadowIoas io, ulong iova, ulong length) => MsiReserved(io) && Overlaps(iova, iova + length - 1, MsiStart, MsiLast);

    private static bool HitsArea(ShadowIoas io, ulong iova, ulong length) => io.Areas.Values.Any(a => Overlaps(iova, iova + length - 1, a.Iova, a.Last));

    private void Map()
    {
        var io = PickIoas();
        var candidates = _regions.Where(r => r.Process == io.Process).ToList();
        var region = candidates[_rng.Next(candidates.Count)];
        // Now and then a whole huge page of the hugetlb region, at a 2 MiB aligned IOVA: 2 MiB leaves.
        bool wholeHugePage = region.Flags != MapFlags.None && _rng.Next(4) == 0;
        int pages = wholeHugePage ? HugePages : _rng.Next(1, 9);
        int start = wholeHugePage ? _rng.Next(region.Pages / HugePages) * HugePages : _rng.Next(region.Pages);
        bool beyond = start + pages > region.Pages; // runs into the unmapped gap after the region
        bool write = _rng.Next(100) < 60;
        bool automatic = _rng.Next(100) < 15;
        ulong length = (ulong)pages * Page;
        ulong iova = automatic ? 0 : PickFixedIova(pages);
        if (wholeHugePage) iova &= ~(HugePages * Page - 1);
        var flags = IoasMapFlags.Readable | (write ? IoasMapFlags.Writeable : 0) | (automatic ? 0 : IoasMapFlags.FixedIova);

        Errno expected;
        string kind = wholeHugePage ? "map-huge" : automatic ? "map-auto" : "map";
        if (!automatic && HitsReserved(io, iova, length)) expected = Errno.EINVAL;
        else if (!automatic && HitsArea(io, iova, length)) expected = Errno.EEXIST;
        else if (beyond || (write && !region.Writable)) expected = Errno.EFAULT;
        else if (!write && io.HasNestParent)
        {
            expected = Errno.EINVAL;
            kind = "map-erratum";
        }
        else expected = Errno.Success;

        Errno actual = io.Fd.IoasMap(io.Id, flags, new Uva(region.Va + (ulong)start * Page), length, ref iova);
        Assert.True(expected == actual, Where($"IOAS_MAP {io.Name} {flags} {region.Name}[{start}+{pages}] at 0x{iova:x}: expected {expected}, got {actual}"));
        Count($"{kind}:{actual}");
        if (actual != Errno.Success) return;

        if (automatic)
        {
            ulong alignment = Math.Min(System.Numerics.BitOperations.RoundUpToPowerOf2(length), 2UL << 20);
            ulong va = region.Va + (ulong)start * Page;
            alignment = Math.Min(alignment, 1UL << System.Numerics.BitOperations.TrailingZeroCount(va));
            Assert.True(iova != 0 && iova % alignment == 0, Where($"automatic IOVA 0x{iova:x} for {pages} pages is not aligned to 0x{alignment:x}"));
            Assert.False(HitsArea(io, iova, length) || HitsReserved(io, iova, length), Where($"automatic IOVA 0x{iova:x} overlaps"));
        }
        if (wholeHugePage)
        {
            foreach (var hwpt in io.Fd.Get<Ioas>(io.Id)!.Hwpts)
            {
                var leaf = hwpt.PagingDomain.Table.Lookup(iova)!.Value;
                Assert.True(leaf.PageSize == HugePages * Page, Where($"{io.Name}: a whole huge page at 0x{iova:x} is mapped with {leaf.PageSize:x}-byte leaves in HWPT #{hwpt.Id}"));
            }
        }
        var group = new PinGroup(pages, write);
        _expectedPins += pages;
        AddArea(io, new ShadowArea(iova, region.Ids[start..(start + pages)], write, group));
    }

    private void AddArea(ShadowIoas io, ShadowArea area)
    {
        io.Areas.Add(area.Iova, area);
        area.Group.Areas++;
        for (int i = 0; i < area.Ids.Length; i++)
        {
            io.Pages.Add(area.Iova + (ulong)i * Page, (area.Ids[i], area.Write));
            _areaRefsByHpa[area.Ids[i].Hpa.Value] = _areaRefsByHpa.GetValueOrDefault(area.Ids[i].Hpa.Value) + 1;
        }
    }

    private void RemoveArea(ShadowIoas io, ShadowArea area)
    {
        io.Areas.Remove(area.Iova);
        for (int i = 0; i < area.Ids.Length; i++)
        {
            ulong iova = area.Iova + (ulong)i * Page;
            io.Pages.Remove(iova);
            io.RecentlyUnmapped.Add(iova);
            _areaRefsByHpa[area.Ids[i].Hpa.Value]--;
        }
        if (io.RecentlyUnmapped.Count > 32) io.RecentlyUnmapped.RemoveRange(0, io.RecentlyUnmapped.Count - 32);
        if (--area.Group.Areas == 0) _expectedPins -= area.Group.Pages;
    }

    private void Unmap()
    {
        var io = PickIoas();
        int dice = _rng.Next(100);
        ulong iova, length;
        string kind = "unmap";
        if (dice < 2)
        {
            iova = 0;
            length = ulong.MaxValue;
            kind = "unmap-all";
        }
        else if (dice < 70 && io.Areas.Count != 0)
        {
            var area = io.Areas.Values[_rng.Next(io.Areas.Count)];
            iova = area.Iova;
            length = area.Length;
            if (_rng.Next(4) == 0 && area.Ids.Length > 1) iova += Page; // cuts it
        }
        else
        {
            iova = (ulong)_rng.Next((int)(Window / Page)) * Page;
            length = (ulong)_rng.Next(1, 64) * Page;
        }

        // The shadow of iopt_unmap_iova_range: whole areas lowest first, the first one sticking out stops it.
        ulong last = length == ulong.MaxValue ? ulong.MaxValue : iova + length - 1;
        Errno expected = Errno.Success;
        ulong unmapped = 0;
        while (io.Areas.Values.FirstOrDefault(a => Overlaps(a.Iova, a.Last, iova, last)) is ShadowArea hit)
        {
            if (hit.Iova < iova || hit.Last > last)
            {
                expected = Errno.ENOENT;
                break;
            }
            RemoveArea(io, hit);
            unmapped += hit.Length;
        }
        if (expected == Errno.Success && unmapped == 0 && kind != "unmap-all") expected = Errno.ENOENT;

        ulong inOut = length;
        Errno actual = io.Fd.IoasUnmap(io.Id, iova, ref inOut);
        Assert.True(expected == actual, Where($"IOAS_UNMAP {io.Name} 0x{iova:x}+0x{length:x}: expected {expected}, got {actual}"));
        if (actual == Errno.Success) Assert.Equal(unmapped, inOut);
        Count($"{kind}:{actual}");
    }

    private void Copy()
    {
        var src = PickIoas();
        var sameFd = _ioases.Where(i => i.Fd == src.Fd).ToList();
        var dst = sameFd[_rng.Next(sameFd.Count)];
        bool write = _rng.Next(100) < 50;
        bool automatic = _rng.Next(100) < 15;
        ulong dstIova;
        ulong srcIova, length;
        int pages;
        if (src.Areas.Count != 0 && _rng.Next(10) != 0)
        {
            var area = src.Areas.Values[_rng.Next(src.Areas.Count)];
            int first = _rng.Next(area.Ids.Length);
            pages = _rng.Next(1, area.Ids.Length - first + 1);
            srcIova = area.Iova + (ulong)first * Page;
        }
        else
        {
            pages = _rng.Next(1, 5);
            srcIova = (ulong)_rng.Next((int)(Window / Page)) * Page;
        }
        // Now and then a source starting inside a page: the pages behind it cannot become an area of a page-aligned
        // IOAS, and must never be mapped from the start of their first page (issue 8, item 7).
        ulong offset = _rng.Next(6) == 0 ? (ulong)_rng.Next(1, (int)Page) : 0;
        srcIova += offset;
        length = (ulong)pages * Page;
        dstIova = automatic ? 0 : PickFixedIova(pages);

        // iopt_get_pages: the source must be covered by contiguous areas; then the destination's IOVA (an automatic
        // one refuses a source whose address is not page aligned at once), the write pin, the page offset, the domains.
        bool covered = CoveredByContiguousAreas(src, srcIova, length);
        Errno expected;
        string kind = automatic ? "copy-auto" : "copy";
        if (!covered) expected = Errno.ENOENT;
        else if (automatic && offset != 0) expected = Errno.EINVAL;
        else if (!automatic && HitsReserved(dst, dstIova, length)) expected = Errno.EINVAL;
        else if (!automatic && HitsArea(dst, dstIova, length)) expected = Errno.EEXIST;
        // iopt_insert_area piece by piece, EPERM before the page offset; only the first piece can start mid-page.
        else if (offset != 0) expected = write && !PiecesOf(src, srcIova, length)[0].Area.Group.Writable ? Errno.EPERM : Errno.EINVAL;
        else if (write && !PiecesOf(src, srcIova, length).All(p => p.Area.Group.Writable)) expected = Errno.EPERM;
        else if (!write && dst.HasNestParent)
        {
            expected = Errno.EINVAL;
            kind = "copy-erratum";
        }
        else expected = Errno.Success;
        if (covered && offset != 0) kind = "copy-offset";

        var flags = IoasMapFlags.Readable | (automatic ? 0 : IoasMapFlags.FixedIova) | (write ? IoasMapFlags.Writeable : 0);
        ulong at = dstIova;
        Errno actual = dst.Fd.IoasCopy(dst.Id, src.Id, flags, length, ref at, srcIova);
        Assert.True(expected == actual, Where($"IOAS_COPY {src.Name}:0x{srcIova:x}+{pages}p → {dst.Name}:0x{dstIova:x} {flags}: expected {expected}, got {actual}"));
        Count($"{kind}:{actual}");
        if (actual != Errno.Success) return;
        if (automatic)
        {
            Assert.True(at != 0 && at % Page == 0, Where($"automatic copy IOVA 0x{at:x} is not a non-zero page"));
            Assert.False(HitsArea(dst, at, length) || HitsReserved(dst, at, length), Where($"automatic copy IOVA 0x{at:x} overlaps"));
            dstIova = at;
        }
        ulong cursor = dstIova;
        foreach (var (piece, from, count) in PiecesOf(src, srcIova, length))
        {
            AddArea(dst, new ShadowArea(cursor, piece.Ids[from..(from + count)], write, piece.Group));
            cursor += (ulong)count * Page;
        }
    }

    private static bool CoveredByContiguousAreas(ShadowIoas io, ulong iova, ulong length)
    {
        ulong cur = iova, last = iova + length - 1;
        foreach (var a in io.Areas.Values.Where(a => Overlaps(a.Iova, a.Last, iova, last)))
        {
            if (a.Iova > cur) return false;
            if (a.Last >= last) return true;
            cur = a.Last + 1;
        }
        return false;
    }

    /// <summary>The (area, first page, page count) pieces covering a range of contiguous areas.</summary>
    private static List<(ShadowArea Area, int From, int Count)> PiecesOf(ShadowIoas io, ulong iova, ulong length)
    {
        var pieces = new List<(ShadowArea, int, int)>();
        ulong last = iova + length - 1;
        foreach (var a in io.Areas.Values.Where(a => Overlaps(a.Iova, a.Last, iova, last)))
        {
            ulong from = Math.Max(a.Iova, iova), to = Math.Min(a.Last, last);
            pieces.Add((a, (int)((from - a.Iova) / Page), (int)((to - from + 1) / Page)));
        }
        return pieces;
    }

    private void AttachReplaceDetach()
    {
        var d = _devices[_rng.Next(_devices.Count)];
        var (pt, picked) = d.Targets[_rng.Next(d.Targets.Length)];
        ShadowIoas? target = picked;
        uint pasid = d.Pasid ?? IommufdContext.NoPasid;
        // A PASID reserves no interrupt window, and a dirty-tracking HWPT cannot be used at a PASID.
        bool msiConflict = d.Pasid is null && picked.Areas.Values.Any(a => Overlaps(a.Iova, a.Last, MsiStart, MsiLast));
        bool dirtyAtPasid = d.Pasid is not null && pt == _dirtyHwpt;
        Errno expected, actual;
        string kind;
        uint ptInOut = pt;
        if (d.Target is null)
        {
            kind = "attach";
            expected = msiConflict ? Errno.EADDRINUSE : dirtyAtPasid ? Errno.EINVAL : Errno.Success;
            actual = d.Fd.DeviceAttach(d.DevId, ref ptInOut, pasid);
        }
        else
        {
            int dice = _rng.Next(100);
            if (dice < 10)
            {
                kind = "attach";
                // A PASID attached again: to its own HWPT (named by id) nothing happens; to another it is EBUSY.
                if (d.Pasid is not null && pt == picked.Id) ptInOut = pt = d.Hwpt;
                expected = d.Pasid is not null && pt == d.Hwpt ? Errno.Success : Errno.EBUSY;
                actual = d.Fd.DeviceAttach(d.DevId, ref ptInOut, pasid);
                target = d.Target;
            }
            else if (dice < 35)
            {
                kind = "detach";
                expected = Errno.Success;
                actual = d.Fd.DeviceDetach(d.DevId, pasid);
                target = null;
            }
            else
            {
                kind = "replace";
                expected = target != d.Target && msiConflict ? Errno.EADDRINUSE : dirtyAtPasid && pt != d.Hwpt ? Errno.EINVAL : Errno.Success;
                actual = d.Fd.DeviceReplace(d.DevId, ref ptInOut, pasid);
            }
        }
        Assert.True(expected == actual, Where($"{kind} {d.Name} → {target?.Name} (#{pt}): expected {expected}, got {actual}"));
        Count($"{kind}{(d.Pasid is null ? "" : "-pasid")}:{actual}");
        if (actual != Errno.Success) return;
        d.Target = kind == "detach" ? null : target;
        d.Hwpt = kind == "detach" ? 0 : ptInOut;
        if (d.Target is { } now && pt == now.Id)
            Assert.True(d.Fd.Get<HwptPaging>(ptInOut) is { AutoDomain: true } h && h.Ioas.Id == now.Id, Where("attach to an IOAS did not write back its automatic HWPT"));
    }

    /// <summary>munmap an anonymous region (its pinned pages live on in the areas) and map fresh memory there.</summary>
    private void Remap()
    {
        var anon = _regions.Where(r => r.File is null).ToList();
        var r = anon[_rng.Next(anon.Count)];
        foreach (var id in r.Ids) id.MappedInProcess = false;
        _unmappingProcessMemory = true;
        Assert.Equal(Errno.Success, r.Process.Munmap(new Uva(r.Va), (ulong)r.Pages * Page));
        _unmappingProcessMemory = false;
        Assert.Equal(Errno.Success, r.Process.Mmap((ulong)r.Pages * Page, r.Writable ? MemoryProtection.ReadWrite : MemoryProtection.Read, out _, new Uva(r.Va), r.Flags));
        Populate(r);
        Count("remap:Success");
    }

    private void CpuWrite()
    {
        var writable = _regions.Where(r => r.Writable).ToList();
        var r = writable[_rng.Next(writable.Count)];
        int page = _rng.Next(r.Pages), word = _rng.Next(512);
        ulong value = (ulong)_rng.NextInt64();
        Assert.Equal(Errno.Success, r.Process.Write64(new Uva(r.Va + (ulong)page * Page + (ulong)word * 8), value));
        r.Ids[page].Words[word] = value;
        Count("cpu-write:Success");
    }

    // ---- the checks ----

    private ulong PickDmaIova(ShadowDevice d)
    {
        var io = d.Target;
        int dice = _rng.Next(100);
        if (io is not null && dice < 60 && io.Areas.Count != 0)
        {
            var area = io.Areas.Values[_rng.Next(io.Areas.Count)];
            return area.Iova + (ulong)_rng.Next(area.Ids.Length) * Page;
        }
        if (io is not null && dice < 85 && io.RecentlyUnmapped.Count != 0) return io.RecentlyUnmapped[_rng.Next(io.RecentlyUnmapped.Count)];
        if (dice < 87) return MsiStart + (ulong)_rng.Next(16) * Page;
        return (ulong)_rng.Next((int)(Window / Page)) * Page;
    }

    private void CheckDma(ShadowDevice d)
    {
        ulong iova = PickDmaIova(d);
        int word = _rng.Next(512);
        ulong address = iova + (ulong)word * 8;
        (PageId Id, bool Write)? mapped = d.Target is { } io && io.Pages.TryGetValue(iova, out var m) ? m : null;
        if (_rng.Next(2) == 0)
        {
            ulong? value = d.Pasid is uint rp ? _b.DmaRead64(d.Sid, rp, address) : _b.DmaRead64(d.Sid, address);
            if (mapped is null)
            {
                Assert.True(value is null, Where($"{d.Name} read 0x{address:x} ({d.Target?.Name ?? "blocked"}), which is not mapped, and got 0x{value:x}"));
                Count("dma-read:fault");
            }
            else
            {
                ulong expected = mapped.Value.Id.Word(word);
                Assert.True(value == expected, Where($"{d.Name} read 0x{address:x} in {d.Target!.Name}: expected 0x{expected:x} (page #{mapped.Value.Id.Id} at {mapped.Value.Id.Hpa}), got {(value is null ? "a fault" : $"0x{value:x}")}"));
                Count("dma-read:ok");
            }
            return;
        }

        ulong data = (ulong)_rng.NextInt64();
        _dmaWrites.Clear();
        bool ok = d.Pasid is uint wp ? _b.DmaWrite64(d.Sid, wp, address, data) : _b.DmaWrite64(d.Sid, address, data);
        if (mapped is null || !mapped.Value.Write)
        {
            Assert.True(!ok && _dmaWrites.Count == 0, Where($"{d.Name} wrote 0x{address:x} ({d.Target?.Name ?? "blocked"}), which is {(mapped is null ? "not mapped" : "read-only")}: {(ok ? "it went through" : "")} {string.Join(",", _dmaWrites)}"));
            Count("dma-write:fault");
            return;
        }
        var page = mapped.Value.Id;
        Hpa target = page.Hpa + (ulong)word * 8;
        Assert.True(ok, Where($"{d.Name} write to 0x{address:x} in {d.Target!.Name} (page #{page.Id}) faulted"));
        Assert.True(_dmaWrites.Count == 1 && _dmaWrites[0].Address == target && _dmaWrites[0].Length == 8,
            Where($"{d.Name} write to 0x{address:x} should hit {target}, hit {string.Join(",", _dmaWrites)}"));
        Assert.True(_b.Kernel.UserMemory.FrameAt(target)?.PinCount > 0, Where($"{d.Name} wrote {target}, which is not pinned"));
        page.Words[word] = data;
        Count("dma-write:ok");
    }

    private void OnPageFreed(PageFrame frame)
    {
        // Every 4 KiB page of the folio (one, or 512 for a huge page) must be out of every area and every process.
        for (ulong i = 0; i < frame.PageCount; i++)
        {
            ulong hpa = frame.Address.Value + i * Page;
            Assert.True(_areaRefsByHpa.GetValueOrDefault(hpa) == 0, Where($"{new Hpa(hpa)} was freed while an IOAS area maps it"));
            var id = _byHpa[hpa];
            Assert.False(id.MappedInProcess, Where($"{new Hpa(hpa)} (page #{id.Id}) was freed while a process maps it"));
        }
        // Freed at munmap (nothing pinned it), or later, when the last area pinning it went.
        Count(_unmappingProcessMemory ? "page-freed:at-munmap" : "page-freed:pinned-until-unmap");
    }

    private void CheckAreas()
    {
        foreach (var io in _ioases)
        {
            var kernel = io.Fd.Get<Ioas>(io.Id)!.Areas.Select(a => (a.Iova, a.Length, string.Join(",", a.Pages))).ToList();
            var shadow = io.Areas.Values.Select(a => (a.Iova, a.Length, string.Join(",", a.Ids.Select(i => i.Hpa)))).ToList();
            Assert.True(kernel.SequenceEqual(shadow), Where($"{io.Name}: the kernel's areas differ from the shadow's"));
        }
    }
}
