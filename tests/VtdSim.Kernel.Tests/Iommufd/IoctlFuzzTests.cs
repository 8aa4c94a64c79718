using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Translation;
using VtdSim.Kernel.Intel;
using VtdSim.Kernel.Iommufd;
using VtdSim.Kernel.Iommufd.Uapi;
using VtdSim.Kernel.Process;
using VtdSim.Kernel.Tests.Support;
using VtdSim.Machine;
using Xunit.Abstractions;

namespace VtdSim.Kernel.Tests.Iommufd;

/// <summary>
/// The whole kernel API under random calls (syzkaller-style): seeded sequences of every iommufd call, typed and through
/// the byte-level <see cref="IommufdContext.Ioctl"/>, with arguments that are half valid (live ids and junk ids,
/// mapped and unmapped user addresses, IOVAs at the edges of the space, lengths that wrap, flags with unknown bits),
/// mixed with mmap, munmap and CPU copies in the processes and DMA from the devices. After every call: no exception
/// escaped; a failed call changed none of the counts (<see cref="KernelCounts"/>: objects and their users, kernel
/// pages, unmapped user folios, pins, domain ids, translations, reserved ranges, areas, domains, bound devices; K30 has
/// the exceptions Linux makes); the counts agree with each other. Every 2,000 calls everything is destroyed (by close,
/// or id by id through IOMMU_DESTROY) and the counts must be back where they started.
/// docs/kernel-api.md ("Random ioctl sequences") has the 10-million-call run.
/// </summary>
public class IoctlFuzzTests(ITestOutputHelper output)
{
    /// <summary>VTDSIM_FUZZ_CALLS=10000000 runs the long form of the main test (VTDSIM_FUZZ_SEED picks another sequence).</summary>
    private static long Calls(long normal) =>
        long.TryParse(Environment.GetEnvironmentVariable("VTDSIM_FUZZ_CALLS"), out long n) && n > 0 ? n : normal;

    private static int Seed(int normal) =>
        int.TryParse(Environment.GetEnvironmentVariable("VTDSIM_FUZZ_SEED"), out int s) ? s : normal;

    [Fact]
    public void HundredThousandRandomCallsThrowNothingAndLeaveNothingBehind()
    {
        long calls = Calls(100_000);
        int seed = Seed(8);
        var stats = new IoctlFuzzRun(BuiltInProfiles.SapphireRapids, seed, calls).Run();
        output.WriteLine($"seed {seed}, {calls} calls: {Summary(stats)}");
        // Every call was reached, and both succeeded and failed (or, for the calls that cannot fail, succeeded).
        foreach (string op in IoctlFuzzRun.Operations)
        {
            Assert.True(stats.GetValueOrDefault($"{op}:Success") > 0, $"{op} never succeeded: {Summary(stats)}");
            if (op is not ("detach" or "unbind" or "dma" or "ioas-alloc"))
                Assert.True(stats.Where(s => s.Key.StartsWith(op + ":", StringComparison.Ordinal) && !s.Key.EndsWith(":Success", StringComparison.Ordinal)).Sum(s => s.Value) > 0,
                    $"{op} never failed: {Summary(stats)}");
        }
        foreach (string kind in new[] { "ioctl:EFAULT", "ioctl:E2BIG", "ioctl:ENOTTY", "ioctl:EOPNOTSUPP", "teardown:close", "teardown:destroy", "dma:fault", "dma:ok" })
            Assert.True(stats.GetValueOrDefault(kind) > 0, $"the run never reached {kind}: {Summary(stats)}");
    }

    /// <summary>
    /// The same with little memory: 170 kernel pages (the PASID directories alone take 32 each) and 8 MiB of user
    /// memory, so page tables, PASID tables, folios and pins run out (ENOMEM) in the middle of calls, whose undo paths
    /// must then leave nothing behind.
    /// </summary>
    [Fact]
    public void UnderMemoryPressureToo()
    {
        var layout = new KernelMemoryLayout(new Hpa(0x10_0000), 170 * 4096, new Hpa(64UL << 20), 8UL << 20);
        long calls = Calls(0) is > 0 and long asked ? asked / 5 : 20_000;
        var stats = new IoctlFuzzRun(BuiltInProfiles.SapphireRapids, Seed(10), calls, layout).Run();
        Assert.True(stats.Where(s => s.Key.EndsWith(":ENOMEM", StringComparison.Ordinal)).Sum(s => s.Value) > 100, $"memory never ran out: {Summary(stats)}");
    }

    [Theory]
    [InlineData("qemu-7.2")]
    [InlineData("qemu-7.2-scalable")]
    [InlineData("architectural")]
    public void OtherProfilesToo(string profile) =>
        new IoctlFuzzRun(BuiltInProfiles.Find(profile), seed: 9, calls: 10_000).Run();

    private static string Summary(Dictionary<string, int> stats) => string.Join(", ", stats.OrderBy(s => s.Key).Select(s => $"{s.Key}={s.Value}"));
}

/// <summary>One random run: a kernel, two processes with an iommufd each, and the calls.</summary>
internal sealed class IoctlFuzzRun
{
    private const ulong Page = 4096;
    private const ulong RwVa = 0x1_0000_0000, RoVa = 0x1_1000_0000, HugeVa = 0x1_2000_0000, ScratchVa = 0x2_0000_0000, Unmapped = 0x3_0000_0000;
    // Where the calls mmap and munmap: emptied at every teardown.
    private const ulong PlayVa = 0x4_0000_0000, PlaySize = 64UL << 20;
    private const int RwPages = 48, RoPages = 8;
    // Scratch: page 0 the ioctl struct, 1 data behind pointers, 2 the dirty bitmap, 3 spare, 4 read-only, then nothing.
    private const ulong StructPage = ScratchVa, DataPage = ScratchVa + Page, BitmapPage = ScratchVa + 2 * Page, ReadOnlyPage = ScratchVa + 4 * Page, PastScratch = ScratchVa + 5 * Page;
    private const int EpisodeCalls = 2000;

    public static readonly string[] Operations =
    [
        "destroy", "ioas-alloc", "allow-iovas", "iova-ranges", "map", "copy", "unmap", "hwpt-alloc", "hw-info", "set-dirty",
        "get-dirty", "invalidate", "bind", "unbind", "attach", "replace", "detach", "access-create", "access-destroy",
        "access-rw", "dma", "ioctl", "mmap", "munmap", "cpu-rw",
    ];

    private static readonly int[] Weights = [5, 3, 3, 2, 13, 8, 8, 8, 2, 2, 3, 4, 3, 1, 8, 5, 4, 2, 1, 3, 4, 16, 3, 2, 2];
    private static readonly SourceId[] Functions = [new(0, 3, 0), new(0, 4, 0), new(0, 5, 0), new(0, 6, 0)];
    private static readonly uint[] Requests =
    [
        IommufdIoctl.Destroy, IommufdIoctl.IoasAlloc, IommufdIoctl.IoasAllowIovas, IommufdIoctl.IoasCopy, IommufdIoctl.IoasIovaRanges,
        IommufdIoctl.IoasMap, IommufdIoctl.IoasUnmap, IommufdIoctl.HwptAlloc, IommufdIoctl.GetHwInfo, IommufdIoctl.HwptSetDirtyTracking,
        IommufdIoctl.HwptGetDirtyBitmap, IommufdIoctl.HwptInvalidate,
    ];

    private readonly Random _rng;
    private readonly long _calls;
    private readonly PhysicalMachine _machine;
    private readonly LinuxKernel _kernel;
    private readonly ProcessAddressSpace[] _processes;
    private readonly IommufdContext[] _fds = new IommufdContext[2];
    private readonly Dictionary<string, int> _stats = new();
    private readonly List<uint> _destroyedIds = new();
    private KernelCounts _baseline = null!;
    private int _structurePages;
    private long _call;
    private string _what = "";

    public IoctlFuzzRun(VtdProfile profile, int seed, long calls, KernelMemoryLayout? layout = null)
    {
        _rng = new Random(seed);
        _calls = calls;
        _machine = PhysicalMachine.Host(profile, 1UL << 36);
        // Three functions with 20-bit PASIDs, one without PASID.
        for (int i = 0; i < Functions.Length - 1; i++) _machine.AddFunction(new PciFunction(Functions[i], $"nic{i}"));
        _machine.AddFunction(new PciFunction(Functions[^1], "legacy", PasidWidth: 0));
        _kernel = LinuxKernel.Boot(_machine, layout);
        _processes = [_kernel.CreateProcess("vmm-a"), _kernel.CreateProcess("vmm-b")];
        foreach (var p in _processes) SetUpMemory(p);
    }

    private static void SetUpMemory(ProcessAddressSpace p)
    {
        Check(p.Mmap(RwPages * Page, MemoryProtection.ReadWrite, out _, new Uva(RwVa)));
        Check(p.Mmap(RoPages * Page, MemoryProtection.Read, out _, new Uva(RoVa)));
        Check(p.Mmap(2UL << 20, MemoryProtection.ReadWrite, out _, new Uva(HugeVa), MapFlags.Hugetlb | MapFlags.Huge2MB));
        Check(p.Mmap(4 * Page, MemoryProtection.ReadWrite, out _, new Uva(ScratchVa)));
        Check(p.Mmap(Page, MemoryProtection.Read, out _, new Uva(ReadOnlyPage)));
        // Fault everything in once, so the user page count is fixed from here on.
        for (ulong i = 0; i < RwPages; i++) Check(p.Write64(new Uva(RwVa + i * Page), 0xF0F0_0000_0000_0000 | i));
        for (ulong i = 0; i < RoPages; i++) Check(p.Read64(new Uva(RoVa + i * Page), out _));
        Check(p.Write64(new Uva(HugeVa), 1));
        for (ulong i = 0; i < 5; i++) Check(p.Read64(new Uva(ScratchVa + i * Page), out _));
    }

    private static void Check(Errno e)
    {
        if (e != Errno.Success) throw new InvalidOperationException($"set-up failed: {e}");
    }

    public Dictionary<string, int> Run()
    {
        OpenContexts();
        _baseline = Counts();
        _structurePages = _baseline.StructurePages;
        for (_call = 0; _call < _calls; _call++)
        {
            if (_call != 0 && _call % EpisodeCalls == 0) Teardown();
            OneCall();
        }
        Teardown();
        foreach (var fd in _fds) fd.Close();
        return _stats;
    }

    private void OpenContexts()
    {
        for (int i = 0; i < _fds.Length; i++) _fds[i] = _kernel.OpenIommufd(_processes[i]);
        _destroyedIds.Clear();
    }

    private KernelCounts Counts() => KernelCounts.Of(_kernel, _fds);

    private void Count(string key) => _stats[key] = _stats.GetValueOrDefault(key) + 1;

    private string Where(string what) => $"call {_call} ({_what}): {what}";

    // ---- one call ----

    private void OneCall()
    {
        int total = Weights.Sum(), dice = _rng.Next(total), op = 0;
        while (dice >= Weights[op]) dice -= Weights[op++];
        string name = Operations[op];
        int which = _rng.Next(_fds.Length);
        var fd = _fds[which];
        var before = Counts();
        Errno e;
        try
        {
            e = name switch
            {
                "destroy" => Destroy(fd),
                "ioas-alloc" => fd.IoasAlloc(Flags(0), out _),
                "allow-iovas" => AllowIovas(fd),
                "iova-ranges" => IovaRanges(fd),
                "map" => Map(fd),
                "copy" => Copy(fd),
                "unmap" => Unmap(fd),
                "hwpt-alloc" => HwptAlloc(fd),
                "hw-info" => HwInfo(fd),
                "set-dirty" => fd.HwptSetDirtyTracking(IdOf<Hwpt>(fd), (DirtyTrackingFlags)Flags(1)),
                "get-dirty" => GetDirty(fd),
                "invalidate" => Invalidate(fd),
                "bind" => Bind(fd),
                "unbind" => Unbind(fd),
                "attach" or "replace" => AttachOrReplace(fd, name == "replace"),
                "detach" => Detach(fd),
                "access-create" => fd.AccessCreate(IdOf<Ioas>(fd), out _),
                "access-destroy" => AccessDestroy(fd),
                "access-rw" => AccessRw(fd),
                "dma" => Dma(),
                "mmap" => Mmap(_processes[which]),
                "munmap" => Munmap(_processes[which]),
                "cpu-rw" => CpuReadWrite(_processes[which]),
                _ => Ioctl(fd, which),
            };
        }
        catch (Exception ex)
        {
            throw new Xunit.Sdk.XunitException(Where($"an exception escaped: {ex}"));
        }
        string key = name == "ioctl" ? $"ioctl:{e}" : $"{name}:{e}";
        Count(key);
        if (name == "ioctl") Count($"ioctl-{(_what.StartsWith("0x", StringComparison.Ordinal) ? "other" : _what.Split(' ')[0])}:{e}");
        var after = Counts();
        CheckConsistent(after);
        if (e == Errno.Success || name == "dma") return;
        if (name == "unmap" && e == Errno.ENOENT)
        {
            // K5: an unmap stopped by an area it would cut keeps the whole areas it removed below that one.
            Assert.True(after.Objects == before.Objects && after.Pins <= before.Pins && after.KernelPages <= before.KernelPages
                && after.DomainIds == before.DomainIds && after.Translations == before.Translations, Where($"{before} → {after}"));
            return;
        }
        if (name == "ioctl" && e == Errno.EFAULT && (_what.StartsWith("IoasMap ", StringComparison.Ordinal) || _what.StartsWith("IoasCopy ", StringComparison.Ordinal)
            || _what.StartsWith("IoasUnmap ", StringComparison.Ordinal)))
        {
            // K17: MAP, COPY and UNMAP whose struct cannot be written back stay done; no object changes.
            Assert.True(after.Objects == before.Objects && after.DomainIds == before.DomainIds && after.Translations == before.Translations,
                Where($"{before} → {after}"));
            return;
        }
        if (name == "ioctl" && e == Errno.ENOENT && _what.StartsWith("IoasUnmap ", StringComparison.Ordinal))
        {
            Assert.True(after.Objects == before.Objects && after.Pins <= before.Pins, Where($"{before} → {after}"));
            return;
        }
        Assert.True(before.SameApartFromFaultedInPages(after), Where($"failed with {e} and changed state:\n  before {before}\n  after  {after}"));
    }

    /// <summary>The counts agree with each other and with what iommufd says it holds.</summary>
    private void CheckConsistent(KernelCounts c)
    {
        Assert.True(c.StructurePages >= _structurePages, Where($"structure pages went from {_structurePages} to {c.StructurePages}"));
        _structurePages = c.StructurePages;
        var objects = _fds.SelectMany(f => f.Objects).ToList();
        var devices = objects.OfType<IommufdDevice>().ToList();
        int translations = devices.Sum(d => (d.Attached is null ? 0 : 1) + d.PasidAttached.Count);
        Assert.True(translations == c.Translations, Where($"iommufd has {translations} translations, the driver {c.Translations}"));
        int used = objects.OfType<Hwpt>().Count(h => h.Domain.PasidAttachments.Count != 0);
        Assert.True(used == c.DomainIds, Where($"{used} domains are attached, {c.DomainIds} domain ids are in use"));
        long pins = objects.OfType<Ioas>().SelectMany(i => i.Iopt.AllAreas).Select(a => a.Pages).Distinct().Sum(p => (long)p.PageCount);
        Assert.True(pins == c.Pins, Where($"the areas pin {pins} pages, the kernel counts {c.Pins}"));
        foreach (var ioas in objects.OfType<Ioas>())
        {
            int expected = devices.Count(d => d.ReservedIn == ioas) + ioas.Iopt.Domains.Count(d => d.Aperture != 0);
            Assert.True(ioas.Iopt.Reserved.Count == expected, Where($"IOAS #{ioas.Id} has {ioas.Iopt.Reserved.Count} reserved ranges, expected {expected}"));
        }
        Assert.True(devices.Count == c.BoundDevices, Where($"{devices.Count} devices, {c.BoundDevices} bound"));
    }

    /// <summary>Destroys everything, by close or id by id, and checks the counts are back at the start.</summary>
    private void Teardown()
    {
        _what = "teardown";
        if (_rng.Next(2) == 0)
        {
            foreach (var fd in _fds) fd.Close();
            Count("teardown:close");
        }
        else
        {
            foreach (var fd in _fds)
            {
                foreach (var d in fd.Objects.OfType<IommufdDevice>().ToList()) Assert.Equal(Errno.Success, fd.DeviceUnbind(d.Id));
                foreach (var a in fd.Objects.OfType<IommufdAccess>().ToList()) Assert.Equal(Errno.Success, fd.AccessDestroy(a.Id));
                while (fd.Objects.Count != 0)
                {
                    var free = fd.Objects.Where(o => o.Users == 1).Select(o => o.Id).ToList();
                    Assert.True(free.Count != 0, Where("objects hold each other and none can be destroyed"));
                    foreach (uint id in free) Assert.Equal(Errno.Success, fd.Destroy(id));
                }
                fd.Close();
            }
            Count("teardown:destroy");
        }
        // Back to the set-up's memory: every mapping the calls made goes (pages pinned meanwhile were released above).
        foreach (var p in _processes)
        {
            foreach (var vma in p.Mappings.Where(v => !SetUpRegion(v.Start)).ToList())
                Assert.Equal(Errno.Success, p.Munmap(new Uva(vma.Start), vma.Length));
        }
        OpenContexts();
        var now = Counts();
        Assert.True(_baseline.SameAs(now), Where($"not back at the start:\n  start {_baseline}\n  now   {now}"));
    }

    private static bool SetUpRegion(ulong start) => start is RwVa or RoVa or HugeVa or ScratchVa or ReadOnlyPage;

    // ---- arguments ----

    private bool Chance(int percent) => _rng.Next(100) < percent;

    private T Pick<T>(IReadOnlyList<T> list) => list[_rng.Next(list.Count)];

    private uint AnyId(IommufdContext fd)
    {
        int dice = _rng.Next(100);
        if (dice < 60 && fd.Objects.Count != 0) return Pick(fd.Objects.ToList()).Id;
        if (dice < 70) return 0;
        if (dice < 80 && _destroyedIds.Count != 0) return Pick(_destroyedIds);
        if (dice < 85) return uint.MaxValue;
        if (dice < 92) return (uint)_rng.Next(1, 40);
        var other = _fds[0] == fd ? _fds[1] : _fds[0];
        return other.Objects.Count != 0 ? Pick(other.Objects.ToList()).Id : 1;
    }

    /// <summary>An id of a live object of type T most of the time, else any id.</summary>
    private uint IdOf<T>(IommufdContext fd) where T : IommufdObject
    {
        var live = fd.Objects.OfType<T>().ToList();
        return live.Count != 0 && Chance(80) ? Pick(live).Id : AnyId(fd);
    }

    private uint Flags(uint known)
    {
        int dice = _rng.Next(100);
        uint f = (uint)_rng.Next() & known;
        if (dice < 85) return f;
        if (dice < 95) return f | (1u << _rng.Next(32));
        return (uint)_rng.Next() | (uint)_rng.Next(2) << 31;
    }

    private ulong Random64() => (ulong)_rng.NextInt64() ^ ((ulong)_rng.Next(2) << 63);

    private ulong UserVa()
    {
        int dice = _rng.Next(100);
        ulong va = dice switch
        {
            < 45 => RwVa + (ulong)_rng.Next(RwPages) * Page,
            < 55 => RoVa + (ulong)_rng.Next(RoPages) * Page,
            < 65 => HugeVa + (ulong)_rng.Next(512) * Page,
            < 70 => 0,
            < 75 => Unmapped,
            < 80 => ulong.MaxValue - (ulong)_rng.Next(4) * Page - (Chance(50) ? 0xFFFUL : 0UL),
            < 85 => Random64(),
            < 90 => ScratchVa + (ulong)_rng.Next(6) * Page,
            _ => PlayVa + (ulong)_rng.Next((int)(PlaySize / Page)) * Page,
        };
        return Chance(8) ? va + (ulong)_rng.Next(1, (int)Page) : va;
    }

    private ulong Length()
    {
        int dice = _rng.Next(100);
        return dice switch
        {
            < 45 => (ulong)_rng.Next(1, 9) * Page,
            < 55 => (ulong)_rng.Next(1, 65) * Page,
            < 60 => 2UL << 20,
            < 65 => 0,
            < 70 => ulong.MaxValue,
            < 75 => ulong.MaxValue - Page + 1,
            < 80 => (ulong)_rng.Next(1, 20_000),
            < 85 => 1UL << 63,
            < 90 => Random64(),
            _ => Page,
        };
    }

    private ulong Iova(IommufdContext fd)
    {
        int dice = _rng.Next(100);
        ulong iova = dice switch
        {
            < 30 => (ulong)_rng.Next(1024) * Page,
            < 38 => 0xFEE0_0000 - 2 * Page + (ulong)_rng.Next(5) * Page,
            < 48 => 0UL - (ulong)_rng.Next(1, 17) * Page,                          // the top of the 64-bit space
            < 56 => (1UL << Pick(new[] { 39, 47, 48, 56, 57, 63 })) + (ulong)_rng.Next(5) * Page - 2 * Page,
            < 60 => Random64(),
            < 64 => 0,
            < 67 => ulong.MaxValue,
            < 90 => AreaIova(fd),
            _ => (ulong)_rng.Next(1024) * Page,
        };
        return Chance(5) ? iova + (ulong)_rng.Next(1, (int)Page) : iova;
    }

    /// <summary>The start (or a page inside, or the last page) of a live area, if there is one.</summary>
    private ulong AreaIova(IommufdContext fd)
    {
        var areas = fd.Objects.OfType<Ioas>().SelectMany(i => i.Iopt.AllAreas).ToList();
        if (areas.Count == 0) return (ulong)_rng.Next(1024) * Page;
        var a = Pick(areas);
        return _rng.Next(3) switch
        {
            0 => a.Iova,
            1 => a.Iova + (ulong)_rng.Next((int)Math.Min(a.PageCount, 1024)) * Page,
            _ => a.Last + 1 - Page,
        };
    }

    private IoasMapFlags IoasFlags()
    {
        int dice = _rng.Next(100);
        var f = (IoasMapFlags)_rng.Next(8);
        if (dice < 70) f |= IoasMapFlags.Readable;
        if (dice >= 95) f |= (IoasMapFlags)(1u << _rng.Next(3, 32));
        return f;
    }

    private uint Pasid() => _rng.Next(100) switch
    {
        < 45 => 0,
        < 60 => 1,
        < 70 => 5,
        < 76 => 0xFFFFF,
        < 82 => 0x100000,
        < 86 => uint.MaxValue,
        _ => (uint)_rng.Next(1 << 20),
    };

    private byte[]? Bytes(int length) => Chance(5) ? null : RandomBytes(length);

    private byte[] RandomBytes(int length)
    {
        var b = new byte[Math.Max(0, length)];
        _rng.NextBytes(b);
        return b;
    }

    private VtdS1Config S1() => new(
        (VtdS1Flags)(Chance(80) ? (ulong)_rng.Next(8) : Random64()),
        _rng.Next(100) switch
        {
            < 50 => (ulong)_rng.Next(256) * Page,
            < 60 => 1UL << 57,
            < 70 => 1UL << 52,
            < 80 => ulong.MaxValue,
            < 90 => Random64(),
            _ => (ulong)_rng.Next(1 << 20),
        },
        _rng.Next(100) switch
        {
            < 60 => 48,
            < 80 => 57,
            < 85 => 0,
            < 90 => 39,
            _ => (uint)_rng.Next(),
        });

    // ---- the typed calls ----

    private Errno Destroy(IommufdContext fd)
    {
        uint id = AnyId(fd);
        _what = $"destroy #{id}";
        Errno e = fd.Destroy(id);
        if (e == Errno.Success) _destroyedIds.Add(id);
        return e;
    }

    private Errno AllowIovas(IommufdContext fd)
    {
        int n = _rng.Next(100) switch { < 20 => 0, < 70 => 1, < 90 => 2, _ => _rng.Next(3, 6) };
        var ranges = new IovaRange[n];
        for (int i = 0; i < n; i++)
        {
            ulong start = Iova(fd);
            ulong last = _rng.Next(4) switch
            {
                0 => start + Length() - 1,
                1 => ulong.MaxValue,
                2 => start == 0 ? 0 : start - 1,
                _ => start + (ulong)_rng.Next(1, 4096) * Page - 1,
            };
            ranges[i] = new IovaRange(start, last);
        }
        _what = $"allow-iovas {string.Join(",", ranges)}";
        return fd.IoasAllowIovas(IdOf<Ioas>(fd), ranges, Chance(5) ? 1u : 0);
    }

    private Errno IovaRanges(IommufdContext fd)
    {
        var ranges = new IovaRange[_rng.Next(4)];
        uint num = Chance(85) ? (uint)ranges.Length : (uint)_rng.Next(8);
        _what = "iova-ranges";
        return fd.IoasIovaRanges(IdOf<Ioas>(fd), ref num, ranges, out _, Chance(5) ? 1u : 0);
    }

    private Errno Map(IommufdContext fd)
    {
        uint ioas = IdOf<Ioas>(fd);
        var flags = IoasFlags() | (Chance(70) ? IoasMapFlags.FixedIova : 0);
        ulong va = UserVa(), length = Length(), iova = Iova(fd);
        _what = $"map #{ioas} {flags} va 0x{va:x} +0x{length:x} at 0x{iova:x}";
        return fd.IoasMap(ioas, flags, new Uva(va), length, ref iova, Chance(3) ? 1u : 0);
    }

    private Errno Copy(IommufdContext fd)
    {
        uint dst = IdOf<Ioas>(fd), src = IdOf<Ioas>(fd);
        var flags = IoasFlags() | (Chance(70) ? IoasMapFlags.FixedIova : 0);
        ulong srcIova = Iova(fd), dstIova = Iova(fd);
        ulong length = Chance(50) ? (ulong)_rng.Next(1, 5) * Page : Length();
        if (fd.Find(src) is Ioas from && from.Iopt.AreaCount != 0 && Chance(70))
        {
            // Mostly a piece of one of the source's areas (sometimes starting inside a page).
            var a = Pick(from.Iopt.AllAreas.ToList());
            ulong first = (ulong)_rng.Next((int)Math.Min(a.PageCount, 64));
            srcIova = a.Iova + first * Page + (Chance(5) ? (ulong)_rng.Next(1, (int)Page) : 0);
            length = (ulong)_rng.Next(1, (int)Math.Min(a.PageCount - first, 64) + 1) * Page;
        }
        _what = $"copy #{src}:0x{srcIova:x} → #{dst}:0x{dstIova:x} +0x{length:x} {flags}";
        return fd.IoasCopy(dst, src, flags, length, ref dstIova, srcIova);
    }

    private Errno Unmap(IommufdContext fd)
    {
        uint ioas = IdOf<Ioas>(fd);
        ulong iova = Iova(fd), length = Chance(5) ? ulong.MaxValue : Length();
        if (Chance(5)) (iova, length) = (0, ulong.MaxValue);
        else if (fd.Find(ioas) is Ioas io && io.Iopt.AreaCount != 0 && Chance(50))
        {
            var a = Pick(io.Iopt.AllAreas.ToList());
            (iova, length) = (a.Iova, a.Length);
        }
        _what = $"unmap #{ioas} 0x{iova:x} +0x{length:x}";
        return fd.IoasUnmap(ioas, iova, ref length);
    }

    private Errno HwptAlloc(IommufdContext fd)
    {
        uint dev = IdOf<IommufdDevice>(fd);
        uint pt = _rng.Next(3) switch { 0 => IdOf<Ioas>(fd), 1 => IdOf<HwptPaging>(fd), _ => AnyId(fd) };
        bool nested = fd.Find(pt) is HwptPaging;
        var flags = (HwptAllocFlags)(nested && Chance(70) ? Flags((uint)HwptAllocFlags.Pasid) : Flags(0xF));
        var type = nested && Chance(85) ? HwptDataType.VtdS1 : (HwptDataType)(Chance(80) ? 0u : (uint)_rng.Next(4));
        byte[]? data = type == HwptDataType.None && Chance(80) ? null : Chance(85) ? VtdUapi.EncodeS1(S1(), Chance(5) ? 1u : 0) : Bytes(_rng.Next(30));
        uint len = data is null ? (Chance(50) ? 0u : 24) : Chance(85) ? (uint)data.Length : (uint)_rng.Next(40);
        _what = $"hwpt-alloc dev #{dev} pt #{pt} {flags} type {type} len {len}";
        return fd.HwptAlloc(dev, pt, flags, out _, type, len, data, Chance(5) ? (uint)_rng.Next(40) : 0, Chance(3) ? 1u : 0);
    }

    private Errno HwInfo(IommufdContext fd)
    {
        uint len = (uint)_rng.Next(40);
        byte[]? data = Chance(10) ? null : new byte[Chance(80) ? len : _rng.Next(40)];
        var type = (HwInfoType)(uint)_rng.Next(4);
        _what = "hw-info";
        return fd.GetHwInfo(IdOf<IommufdDevice>(fd), ref len, data, ref type, out _, out _, (HwInfoFlags)Flags(1), Chance(5) ? (uint)_rng.Next() : 0);
    }

    private Errno GetDirty(IommufdContext fd)
    {
        uint hwpt = IdOf<HwptPaging>(fd);
        ulong iova = Iova(fd), length = Length();
        ulong pageSize = _rng.Next(100) switch { < 60 => Page, < 70 => 2UL << 20, < 75 => 0, < 85 => (ulong)_rng.Next(1, 100_000), _ => 1UL << _rng.Next(64) };
        var bitmap = Chance(10) ? null : new ulong[_rng.Next(4)];
        _what = $"get-dirty #{hwpt} 0x{iova:x} +0x{length:x} page 0x{pageSize:x}";
        return fd.HwptGetDirtyBitmap(hwpt, iova, length, pageSize, bitmap, (DirtyBitmapFlags)Flags(1), Chance(3) ? 1u : 0);
    }

    private Errno Invalidate(IommufdContext fd)
    {
        int n = _rng.Next(4);
        var entries = new VtdS1Invalidation[n];
        for (int i = 0; i < n; i++)
        {
            ulong addr = Chance(80) ? Iova(fd) & ~(Page - 1) : Iova(fd);
            ulong pages = _rng.Next(5) switch { 0 => ulong.MaxValue, 1 => Random64(), _ => (ulong)_rng.Next(1, 600) };
            entries[i] = new VtdS1Invalidation(Chance(10) ? 0 : addr, pages, Chance(90) ? (uint)_rng.Next(2) : Flags(1), Chance(5) ? 1u : 0);
        }
        int entryLen = Chance(85) ? VtdUapi.S1InvalidateSize : _rng.Next(32);
        byte[]? data = Chance(5) ? null : VtdUapi.EncodeInvalidations(Math.Max(entryLen, 1), entries);
        if (data is not null && Chance(10)) data = data[..(data.Length / 2)];
        uint num = Chance(90) ? (uint)n : (uint)_rng.Next(8);
        var type = Chance(90) ? HwptInvalidateDataType.VtdS1 : (HwptInvalidateDataType)(uint)_rng.Next(3);
        _what = $"invalidate {n} entries";
        return fd.HwptInvalidate(Chance(70) ? IdOf<HwptNested>(fd) : IdOf<Hwpt>(fd), type, (uint)entryLen, ref num, data, Chance(3) ? 1u : 0);
    }

    private Errno Bind(IommufdContext fd)
    {
        var sid = Chance(90) ? Pick(Functions) : new SourceId(1, 0, 0);
        _what = $"bind {sid}";
        return fd.DeviceBind(sid, out _);
    }

    private Errno Unbind(IommufdContext fd)
    {
        uint dev = IdOf<IommufdDevice>(fd);
        _what = $"unbind #{dev}";
        return fd.DeviceUnbind(dev);
    }

    private Errno AttachOrReplace(IommufdContext fd, bool replace)
    {
        uint dev = IdOf<IommufdDevice>(fd);
        uint pt = _rng.Next(3) switch { 0 => IdOf<Ioas>(fd), 1 => IdOf<Hwpt>(fd), _ => AnyId(fd) };
        uint pasid = Pasid();
        _what = $"{(replace ? "replace" : "attach")} #{dev} pasid {pasid} → #{pt}";
        return replace ? fd.DeviceReplace(dev, ref pt, pasid) : fd.DeviceAttach(dev, ref pt, pasid);
    }

    private Errno Detach(IommufdContext fd)
    {
        uint dev = IdOf<IommufdDevice>(fd);
        uint pasid = Pasid();
        _what = $"detach #{dev} pasid {pasid}";
        return fd.DeviceDetach(dev, pasid);
    }

    private Errno AccessDestroy(IommufdContext fd)
    {
        uint id = IdOf<IommufdAccess>(fd);
        _what = $"access-destroy #{id}";
        return fd.AccessDestroy(id);
    }

    private Errno AccessRw(IommufdContext fd)
    {
        uint id = IdOf<IommufdAccess>(fd);
        ulong iova = Iova(fd);
        var buffer = new byte[_rng.Next(100) switch { < 10 => 0, < 80 => _rng.Next(1, 64), _ => _rng.Next(1, 3 * (int)Page) }];
        _what = $"access-rw #{id} 0x{iova:x} +{buffer.Length}";
        return Chance(50) ? fd.AccessRead(id, iova, buffer) : fd.AccessWrite(id, iova, buffer);
    }

    /// <summary>A device's DMA at a random IOVA: through the hardware model, which must fault or complete, never throw.</summary>
    private Errno Dma()
    {
        var fd = _fds[_rng.Next(_fds.Length)];
        var sid = Pick(Functions);
        ulong iova = Iova(fd);
        uint? pasid = Chance(70) ? null : Pasid() & 0xFFFFF; // a PASID TLP prefix has 20 bits
        var attached = fd.Objects.OfType<IommufdDevice>().SelectMany(d => d.PasidAttached.Select(p => (d.SourceId, (uint?)p.Key, p.Value))
            .Concat(d.Attached is null ? [] : [(d.SourceId, (uint?)null, d.Attached)])).ToList();
        if (attached.Count != 0 && Chance(60))
        {
            // Mostly a device that is attached, at an IOVA its IOAS maps.
            (sid, pasid, var hwpt) = Pick(attached);
            var areas = hwpt.PagingRoot.Ioas.Iopt.AllAreas.ToList();
            if (areas.Count != 0)
            {
                var a = Pick(areas);
                iova = a.Iova + (ulong)_rng.Next((int)Math.Min(a.PageCount, 1024)) * Page + (ulong)_rng.Next((int)Page - 64);
            }
        }
        var buffer = new byte[_rng.Next(1, 65)];
        _what = $"dma {sid} pasid {pasid} 0x{iova:x} +{buffer.Length}";
        var request = new DmaRequest(sid, new Iova(iova), Chance(50) ? DmaAccess.Read : DmaAccess.Write, Pasid: pasid);
        var result = request.Access == DmaAccess.Read ? _machine.Dma.Read(request, buffer) : _machine.Dma.Write(request, buffer);
        Count(result.Completed ? "dma:ok" : "dma:fault");
        return Errno.Success;
    }

    // ---- process memory ----

    /// <summary>An address in the play area mostly, sometimes junk; never the set-up's regions (they stay as they are).</summary>
    private ulong PlayAddress()
    {
        ulong va = _rng.Next(100) switch
        {
            < 80 => PlayVa + (ulong)_rng.Next((int)(PlaySize / Page)) * Page,
            < 85 => PlayVa + (ulong)_rng.Next((int)(PlaySize >> 21)) * (2UL << 20),
            < 88 => 0,
            < 91 => ulong.MaxValue - Page + 1,
            < 94 => ProcessAddressSpace.TaskSize - (ulong)_rng.Next(3) * Page,
            _ => Random64(),
        };
        va = Chance(5) ? va + (ulong)_rng.Next(1, (int)Page) : va;
        return va is >= RwVa and < ScratchVa + 5 * Page ? PlayVa : va;
    }

    private Errno Mmap(ProcessAddressSpace p)
    {
        ulong length = _rng.Next(100) switch
        {
            < 60 => (ulong)_rng.Next(1, 17) * Page,
            < 75 => (ulong)_rng.Next(1, 3) * (2UL << 20),
            < 80 => 0,
            < 85 => (ulong)_rng.Next(1, 20_000),
            < 90 => ulong.MaxValue - Page + 1,
            _ => Random64(),
        };
        var prot = (MemoryProtection)_rng.Next(4);
        var flags = _rng.Next(100) switch
        {
            < 65 => MapFlags.None,
            < 85 => MapFlags.Hugetlb | MapFlags.Huge2MB,
            < 90 => MapFlags.Hugetlb,
            < 93 => MapFlags.Hugetlb | MapFlags.Huge1GB,
            < 96 => MapFlags.Huge2MB,
            _ => (MapFlags)(uint)_rng.Next(),
        };
        Uva? at = Chance(90) ? new Uva(PlayAddress()) : null;
        _what = $"mmap {p.Name} 0x{at:x} +0x{length:x} {prot} {flags}";
        return p.Mmap(length, prot, out _, at, flags);
    }

    private Errno Munmap(ProcessAddressSpace p)
    {
        ulong va = PlayAddress();
        ulong length = _rng.Next(100) switch
        {
            < 50 => (ulong)_rng.Next(1, 17) * Page,
            < 70 => (ulong)_rng.Next(1, 3) * (2UL << 20),
            < 75 => 0,
            < 80 => (ulong)_rng.Next(1, 20_000),
            < 85 => ulong.MaxValue - va,
            _ => PlaySize,
        };
        if (va < PlayVa && va + length > RwVa) length = 0; // never into the set-up's regions
        _what = $"munmap {p.Name} 0x{va:x} +0x{length:x}";
        return p.Munmap(new Uva(va), length);
    }

    private Errno CpuReadWrite(ProcessAddressSpace p)
    {
        ulong va = Chance(70) ? PlayAddress() : UserVa();
        var buffer = new byte[_rng.Next(100) switch { < 10 => 0, < 80 => _rng.Next(1, 64), _ => _rng.Next(1, 3 * (int)Page) }];
        bool write = Chance(50) && !(va >= ScratchVa && va < ScratchVa + 5 * Page); // the ioctl structs' page stays as the calls wrote it
        _what = $"cpu-{(write ? "write" : "read")} {p.Name} 0x{va:x} +{buffer.Length}";
        if (!write) return p.Read(new Uva(va), buffer);
        _rng.NextBytes(buffer);
        return p.Write(new Uva(va), buffer);
    }

    // ---- the byte-level ioctl ----

    private Errno Ioctl(IommufdContext fd, int which)
    {
        var process = _processes[which];
        int dice = _rng.Next(100);
        uint request = dice switch
        {
            < 88 => Pick(Requests),
            < 92 => IommufdIoctl.Request((uint)_rng.Next(0x87, 0x95)),          // the numbers the model does not implement
            < 95 => IommufdIoctl.Request((uint)_rng.Next(0x70, 0xB0)),
            < 98 => Pick(Requests) | (uint)_rng.Next(1, 1 << 14) << 16,          // size or direction bits
            _ => (uint)_rng.Next(),
        };
        byte[] body = request switch
        {
            IommufdIoctl.Destroy => Encode(new IommuDestroy(0, AnyId(fd))),
            IommufdIoctl.IoasAlloc => Encode(new IommuIoasAlloc(0, Flags(0), (uint)_rng.Next(3))),
            IommufdIoctl.IoasAllowIovas => Encode(new IommuIoasAllowIovas(0, IdOf<Ioas>(fd), (uint)_rng.Next(4), Chance(5) ? 1u : 0, DataPointer(process, fd, ranges: true))),
            IommufdIoctl.IoasCopy => Encode(new IommuIoasCopy(0, (uint)(IoasFlags() | (Chance(70) ? IoasMapFlags.FixedIova : 0)), IdOf<Ioas>(fd), IdOf<Ioas>(fd),
                Chance(50) ? (ulong)_rng.Next(1, 5) * Page : Length(), Iova(fd), Iova(fd))),
            IommufdIoctl.IoasIovaRanges => Encode(new IommuIoasIovaRanges(0, IdOf<Ioas>(fd), (uint)_rng.Next(5), Chance(5) ? 1u : 0, DataPointer(process, fd, ranges: false), 0)),
            IommufdIoctl.IoasMap => Encode(new IommuIoasMap(0, (uint)(IoasFlags() | (Chance(70) ? IoasMapFlags.FixedIova : 0)), IdOf<Ioas>(fd), Chance(3) ? 1u : 0, UserVa(), Length(), Iova(fd))),
            IommufdIoctl.IoasUnmap => Encode(new IommuIoasUnmap(0, IdOf<Ioas>(fd), Iova(fd), Chance(10) ? ulong.MaxValue : Length())),
            IommufdIoctl.HwptAlloc => HwptAllocStruct(process, fd),
            IommufdIoctl.GetHwInfo => Encode(new IommuHwInfo(0, Flags(1), IdOf<IommufdDevice>(fd), (uint)_rng.Next(40), DataPointer(process, fd, ranges: false),
                (uint)_rng.Next(4), 0, Chance(5) ? (uint)_rng.Next() : 0, 0)),
            IommufdIoctl.HwptSetDirtyTracking => Encode(new IommuHwptSetDirtyTracking(0, Flags(1), IdOf<Hwpt>(fd), Chance(5) ? 1u : 0)),
            IommufdIoctl.HwptGetDirtyBitmap => Encode(new IommuHwptGetDirtyBitmap(0, IdOf<HwptPaging>(fd), Flags(1), Chance(3) ? 1u : 0, Iova(fd), Length(),
                Chance(70) ? Page : (ulong)_rng.Next(0, 100_000), _rng.Next(5) switch { 0 => 0, 1 => ReadOnlyPage, 2 => PastScratch, _ => BitmapPage })),
            IommufdIoctl.HwptInvalidate => InvalidateStruct(process, fd),
            _ => RandomBytes(_rng.Next(64)),
        };

        // size: as the struct is, its minimum, one short, bigger with a zero or a non-zero tail, or anything.
        uint size = _rng.Next(100) switch
        {
            < 70 => (uint)body.Length,
            < 76 => (uint)Math.Max(0, body.Length - 1),
            < 82 => (uint)body.Length + 8,
            < 86 => (uint)body.Length + (uint)_rng.Next(1, 5000),
            < 90 => 0,
            _ => (uint)_rng.Next(),
        };
        var image = new byte[Math.Min(size, 3 * Page)];
        body.AsSpan(0, Math.Min(body.Length, image.Length)).CopyTo(image);
        if (image.Length > body.Length && Chance(30)) image[_rng.Next(body.Length, image.Length)] = (byte)_rng.Next(1, 256);
        BitConverter.TryWriteBytes(image.AsSpan(0, Math.Min(4, image.Length)), size);

        // Where the struct lies: in the struct page (ending where it may run into the data pages), across the
        // read-only page (write-back faults), in nothing, or at NULL.
        ulong argp = _rng.Next(100) switch
        {
            < 80 => StructPage + (ulong)_rng.Next(0, 64) * 8,
            < 88 => ReadOnlyPage - (ulong)_rng.Next(1, 48),
            < 92 => PastScratch - (ulong)_rng.Next(1, 48),
            < 96 => 0,
            _ => Unmapped,
        };
        WriteUser(process, argp, image);
        _what = $"{RequestName(request)} size {size} argp 0x{argp:x}";
        return fd.Ioctl(request, argp);
    }

    private static string RequestName(uint request) => request switch
    {
        IommufdIoctl.Destroy => "Destroy",
        IommufdIoctl.IoasAlloc => "IoasAlloc",
        IommufdIoctl.IoasAllowIovas => "IoasAllowIovas",
        IommufdIoctl.IoasCopy => "IoasCopy",
        IommufdIoctl.IoasIovaRanges => "IoasIovaRanges",
        IommufdIoctl.IoasMap => "IoasMap",
        IommufdIoctl.IoasUnmap => "IoasUnmap",
        IommufdIoctl.HwptAlloc => "HwptAlloc",
        IommufdIoctl.GetHwInfo => "GetHwInfo",
        IommufdIoctl.HwptSetDirtyTracking => "HwptSetDirtyTracking",
        IommufdIoctl.HwptGetDirtyBitmap => "HwptGetDirtyBitmap",
        IommufdIoctl.HwptInvalidate => "HwptInvalidate",
        _ => $"0x{request:x}",
    };

    /// <summary>Writes what can be written (the read-only page and unmapped memory take nothing).</summary>
    private static void WriteUser(ProcessAddressSpace process, ulong address, ReadOnlySpan<byte> bytes)
    {
        for (int i = 0; i < bytes.Length;)
        {
            ulong at = address + (ulong)i;
            if (at < address) return; // wrapped
            int n = (int)Math.Min((ulong)(bytes.Length - i), Page - (at & (Page - 1)));
            process.Write(new Uva(at), bytes.Slice(i, n));
            i += n;
        }
    }

    private static byte[] Encode<T>(T cmd) where T : struct, IIommufdCommand<T>
    {
        var b = new byte[T.StructSize];
        cmd.Write(b);
        return b;
    }

    /// <summary>A pointer for an ioctl's data: the data page (filled with ranges or junk), the read-only page, nothing, NULL.</summary>
    private ulong DataPointer(ProcessAddressSpace process, IommufdContext fd, bool ranges)
    {
        var data = new byte[Page];
        if (ranges)
        {
            for (int i = 0; i < 8; i++)
            {
                ulong start = Iova(fd);
                new IovaRange(start, Chance(80) ? start + Length() - 1 : Random64()).Write(data.AsSpan(i * IovaRange.SizeOf));
            }
        }
        else if (Chance(30))
        {
            _rng.NextBytes(data);
        }
        WriteUser(process, DataPage, data);
        return _rng.Next(100) switch
        {
            < 75 => DataPage,
            < 82 => ReadOnlyPage,
            < 88 => ReadOnlyPage - (ulong)_rng.Next(1, 64),
            < 94 => PastScratch - (ulong)_rng.Next(1, 64),
            _ => 0,
        };
    }

    private byte[] HwptAllocStruct(ProcessAddressSpace process, IommufdContext fd)
    {
        uint pt = _rng.Next(3) switch { 0 => IdOf<Ioas>(fd), 1 => IdOf<HwptPaging>(fd), _ => AnyId(fd) };
        bool nested = fd.Find(pt) is HwptPaging;
        var s1 = VtdUapi.EncodeS1(S1(), Chance(5) ? 1u : 0);
        WriteUser(process, DataPage, s1);
        uint type = nested && Chance(85) ? (uint)HwptDataType.VtdS1 : Chance(80) ? 0u : (uint)_rng.Next(4);
        uint len = type == 0 && Chance(80) ? 0 : Chance(85) ? 24u : (uint)_rng.Next(40);
        ulong uptr = _rng.Next(10) switch { 0 => 0, 1 => ReadOnlyPage - 8, 2 => PastScratch - 8, _ => DataPage };
        return Encode(new IommuHwptAlloc(0, Flags(0xF), IdOf<IommufdDevice>(fd), pt, 0, Chance(3) ? 1u : 0, type, len, uptr,
            Chance(5) ? (uint)_rng.Next(40) : 0, Chance(5) ? 1u : 0));
    }

    private byte[] InvalidateStruct(ProcessAddressSpace process, IommufdContext fd)
    {
        int n = _rng.Next(4);
        var entries = new VtdS1Invalidation[n];
        for (int i = 0; i < n; i++)
            entries[i] = new VtdS1Invalidation(Iova(fd) & ~(Page - 1), _rng.Next(4) == 0 ? ulong.MaxValue : (ulong)_rng.Next(1, 600), (uint)_rng.Next(2));
        WriteUser(process, DataPage, VtdUapi.EncodeInvalidations(entries));
        ulong uptr = _rng.Next(10) switch { 0 => 0, 1 => ReadOnlyPage - 24, 2 => PastScratch - 24, _ => DataPage };
        return Encode(new IommuHwptInvalidate(0, IdOf<Hwpt>(fd), uptr, Chance(90) ? 0u : (uint)_rng.Next(3),
            Chance(85) ? 24u : (uint)_rng.Next(32), Chance(90) ? (uint)n : (uint)_rng.Next(8), Chance(3) ? 1u : 0));
    }
}
