using CsCheck;
using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Building;
using VtdSim.Hardware.Caches;
using VtdSim.Hardware.Invalidation;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Tests.Properties;
using VtdSim.Hardware.Translation;

namespace VtdSim.Hardware.Tests.Caches;

/// <summary>
/// Invalidation ranges that end at the top of the address space (issue 8, item 2): the range's last address is
/// 2^64 − 1 (or the top of a second stage's width), and its exclusive end does not fit in 64 bits. A page-selective
/// invalidation there must still remove what it covers, at every page size, by either of the caches' ways of finding
/// the entries (a lookup per tag, or a walk of all tags).
/// </summary>
public class TopOfAddressSpaceTests
{
    private const ulong OldPage = 0x1_0000_0000;

    [Theory]
    [InlineData(0xFFFF_FFFF_FFE0_0000UL, 4096UL, 9)]          // a 4 KiB page in the last 2 MiB, invalidated with AM=9
    [InlineData(0xFFFF_FFFF_FFE0_0000UL, 2UL << 20, 9)]       // the last 2 MiB page
    [InlineData(0xFFFF_FFFF_C000_0000UL, 1UL << 30, 18)]      // the last 1 GiB page, AM=18
    [InlineData(0xFFFF_FFFF_FFFF_F000UL, 4096UL, 0)]          // the very last page, AM=0
    public void APasidPageSelectiveInvalidationEndingAtTheTopRemovesTheEntry(ulong iova, ulong pageSize, int am)
    {
        var bench = new CacheBench();
        var fs = bench.FirstStageDomain(7, pasid: 1);
        fs.Map(new Iova(iova), OldPage, pageSize);
        Assert.Equal(new Hpa(OldPage), bench.Translate(iova, pasid: 1)); // fills the IOTLB
        bench.Memory.Write64(fs.EntryHpa(new Iova(iova), LevelOf(pageSize)), 0); // the driver clears the PTE

        bench.Submit(InvalidationDescriptor.PasidIotlbPage(7, 1, iova & ~((4096UL << am) - 1), am));

        Assert.Null(bench.Translate(iova, pasid: 1)); // walked afresh: not present
    }

    [Fact]
    public void ADmaThatWouldRunPastTheTopOfTheSpaceStopsThereAndNeverWrapsToAddressZero()
    {
        const ulong last = 0xFFFF_FFFF_FFFF_F000, zeroPage = 0x2_0000_0000;
        var bench = new CacheBench();
        var fs = bench.FirstStageDomain(7, pasid: 1);
        fs.Map(new Iova(last), OldPage);
        fs.Map(new Iova(0), zeroPage); // what a wrapped address would reach
        bench.Memory.Write(new Hpa(zeroPage), new byte[] { 0xAA, 0xBB });
        var write = new DmaRequest(CacheBench.Device, new Iova(last + 0x800), DmaAccess.Write, Pasid: 1);

        DmaTransferResult w = bench.Unit.DmaWrite(write, new byte[4096]);
        DmaTransferResult r = bench.Unit.DmaRead(write with { Access = DmaAccess.Read }, new byte[4096]);

        Assert.Equal(0x800, w.BytesTransferred); // the bytes below 2^64 move
        Assert.NotNull(w.MemoryError);
        Assert.Null(w.Fault);
        Assert.Equal(0x800, r.BytesTransferred);
        Assert.NotNull(r.MemoryError);
        var zero = new byte[2];
        bench.Memory.Read(new Hpa(zeroPage), zero);
        Assert.Equal(new byte[] { 0xAA, 0xBB }, zero); // page 0 untouched
    }

    private static readonly VtdProfile SmallIotlb = BuiltInProfiles.Architectural with
    {
        Caches = BuiltInProfiles.Architectural.Caches with { Iotlb = new CacheGeometry(16, 4), FirstStagePagingStructures = new CacheGeometry(4, 2) },
    };

    /// <summary>
    /// Random pages of every size at the bottom and the top of a first-stage (P_IOTLB) or second-stage (IOTLB PSI)
    /// input space, translated, then changed leaf by leaf and invalidated by random page-selective ranges (AM up to
    /// MAMV, IH either way) that often end at the top. Every page that has not changed since an invalidation last
    /// covered it must translate as its tables say now: nothing stale survives a range that covered it. The expected
    /// translation comes from the test's own note of each mapping, not from an engine.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void NoStaleTranslationSurvivesAPageSelectiveInvalidationThatCoversIt(bool secondStage)
    {
        PropertyRunner.Run(Gen.Int, seed =>
        {
            var random = new Random(seed);
            var world = new World(random.Next(2) == 0 ? BuiltInProfiles.Architectural : SmallIotlb, secondStage, random);
            int mamv = world.Bench.Unit.Profile.Cap.MaximumAddressMaskValue;
            world.CheckEveryPage(random);
            for (int round = 0; round < 12; round++)
            {
                for (int i = random.Next(1, 6); i > 0; i--) world.ChangeLeaf(random);
                int am = random.Next(4) == 0 ? random.Next(mamv + 1) : random.Next(10);
                ulong near = world.RandomProbe(random);
                ulong address = near & ~((4096UL << am) - 1);
                world.Invalidate(address, am, leafOnly: random.Next(2) == 0);
                world.CheckEveryPage(random);
            }
        }, secondStage ? 0x55_2024UL : 0xF5_2024UL, iterations: 60);
    }

    private static int LevelOf(ulong pageSize) => pageSize switch { 4096 => 1, 2UL << 20 => 2, _ => 3 };

    /// <summary>One domain with its pages, the test's note of what each maps to now, and which changed since their last invalidation.</summary>
    private sealed class World
    {
        private const ushort Did = 7;
        private const uint Pasid = 1;
        private readonly bool _secondStage;
        private readonly FirstStageTableBuilder? _fs;
        private readonly SecondStageTableBuilder? _ss;
        private readonly List<(ulong Base, ulong Size)> _pages = new();
        private readonly Dictionary<ulong, ulong?> _now = new(); // page base -> output frame, or null when cleared
        private readonly HashSet<ulong> _stale = new();           // changed, not yet covered by an invalidation
        private ulong _nextFrame = 0x100_0000_0000 >> 2;          // output frames: distinct, aligned, far from the interrupt range

        public CacheBench Bench { get; }

        public World(VtdProfile profile, bool secondStage, Random random)
        {
            Bench = new CacheBench(profile);
            _secondStage = secondStage;
            ulong top;
            if (secondStage)
            {
                _ss = Bench.SecondStageDomain(Did, levels: 5); // 57-bit input: the top is 2^57 - 1
                top = 1UL << 57;
            }
            else
            {
                _fs = Bench.FirstStageDomain(Did, Pasid); // 4-level: canonical up to 2^64 - 1
                top = 0;
            }
            // Four 1 GiB regions at the bottom (above 1 GiB) and four ending at the top; in each, one 1 GiB page or some 2 MiB
            // and 4 KiB pages at the region's edges, where ranges start and end.
            foreach (ulong region in new[] { 1UL << 30, 2UL << 30, 3UL << 30, 4UL << 30, top - (4UL << 30), top - (3UL << 30), top - (2UL << 30), top - (1UL << 30) })
            {
                if (random.Next(4) == 0)
                {
                    Add(region, 1UL << 30);
                    continue;
                }
                foreach (ulong m in new ulong[] { 0, 1, 255, 510, 511 })
                {
                    ulong block = region + (m << 21);
                    int k = random.Next(4);
                    if (k == 0) Add(block, 2UL << 20);
                    else if (k == 1) continue;
                    else foreach (ulong p in new ulong[] { 0, 1, 510, 511 }) if (random.Next(3) != 0) Add(block + (p << 12), 4096);
                }
            }
        }

        private void Add(ulong pageBase, ulong size)
        {
            _pages.Add((pageBase, size));
            Map(pageBase, size, NewFrame(size));
        }

        private ulong NewFrame(ulong size)
        {
            _nextFrame = (_nextFrame + size - 1) & ~(size - 1);
            ulong frame = _nextFrame;
            _nextFrame += size;
            return frame;
        }

        private void Map(ulong pageBase, ulong size, ulong? frame)
        {
            if (frame is ulong f)
            {
                if (_secondStage) _ss!.Map(new Gpa(pageBase), new Hpa(f), size);
                else _fs!.Map(new Iova(pageBase), f, size);
            }
            else
            {
                Hpa leaf = _secondStage ? _ss!.EntryAddress(new Gpa(pageBase), LevelOf(size)) : _fs!.EntryHpa(new Iova(pageBase), LevelOf(size));
                Bench.Memory.Write64(leaf, 0);
            }
            _now[pageBase] = frame;
        }

        /// <summary>Remaps a random page to a new frame, or clears its leaf, without invalidating (as a driver does before its flush).</summary>
        public void ChangeLeaf(Random random)
        {
            var (pageBase, size) = _pages[random.Next(_pages.Count)];
            Map(pageBase, size, random.Next(3) == 0 ? null : NewFrame(size));
            _stale.Add(pageBase);
        }

        public ulong RandomProbe(Random random)
        {
            var (pageBase, size) = _pages[random.Next(_pages.Count)];
            return pageBase + ((ulong)random.NextInt64((long)(size / 4096)) << 12);
        }

        public void Invalidate(ulong address, int am, bool leafOnly)
        {
            Bench.Submit(_secondStage
                ? InvalidationDescriptor.IotlbPage(Did, address, am, leafOnly)
                : InvalidationDescriptor.PasidIotlbPage(Did, Pasid, address, am, leafOnly));
            UInt128 start = address, end = start + (UInt128.One << (12 + am));
            foreach (var (pageBase, size) in _pages)
                if (pageBase < end && start < (UInt128)pageBase + size) _stale.Remove(pageBase);
        }

        /// <summary>Every page that is not stale translates (at its first, last and one random 4 KiB page) to what it maps now.</summary>
        public void CheckEveryPage(Random random)
        {
            foreach (var (pageBase, size) in _pages)
            {
                if (_stale.Contains(pageBase)) continue;
                foreach (ulong offset in new ulong[] { 0, size - 4096, (ulong)random.NextInt64((long)(size / 4096)) << 12 })
                {
                    ulong input = pageBase + offset + (ulong)random.Next(4096);
                    Hpa? expected = _now[pageBase] is ulong frame ? new Hpa(frame + (input - pageBase)) : null;
                    Hpa? actual = Bench.Translate(input, pasid: _secondStage ? null : Pasid);
                    Assert.True(expected == actual, $"0x{input:x} (page 0x{pageBase:x}, 0x{size:x} bytes) translated to {actual?.ToString() ?? "a fault"}, its tables say {expected?.ToString() ?? "not present"}");
                }
            }
        }
    }
}
