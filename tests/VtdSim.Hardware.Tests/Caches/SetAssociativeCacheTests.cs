using CsCheck;
using VtdSim.Hardware.Caches;
using VtdSim.Hardware.Tests.Properties;

namespace VtdSim.Hardware.Tests.Caches;

/// <summary>
/// The cache container against a plain model of the same cache (a list per set, LRU or flush-when-full): same hits and
/// misses, same contents, and counters that agree with the contents — for small set-associative geometries and for the
/// indexed fully associative one the QEMU profiles use.
/// </summary>
public class SetAssociativeCacheTests
{
    public static TheoryData<int, int, CacheReplacement> Geometries => new()
    {
        { 4, 2, CacheReplacement.LeastRecentlyUsed },
        { 2, 4, CacheReplacement.FlushWhenFull },
        { 1, 40, CacheReplacement.LeastRecentlyUsed }, // indexed
        { 1, 40, CacheReplacement.FlushWhenFull },     // indexed, QEMU-like
    };

    [Theory]
    [MemberData(nameof(Geometries))]
    public void BehavesLikeAPlainModelOfTheSameCache(int sets, int ways, CacheReplacement replacement)
    {
        PropertyRunner.Run(Gen.Int, seed =>
        {
            var random = new Random(seed);
            var cache = new SetAssociativeCache<ulong, ulong>(new CacheGeometry(sets, ways, replacement));
            var model = new ModelCache(sets, ways, replacement);
            for (int step = 0; step < 600; step++)
            {
                ulong key = (ulong)random.Next(3 * sets * ways);
                int hash = (int)(key * 0x9E37_79B1UL >> 7);
                switch (random.Next(10))
                {
                    case < 5:
                        bool hit = cache.TryGet(in key, hash, out ulong value);
                        Assert.Equal(model.Get(key, hash), hit ? value : null);
                        break;
                    case < 8:
                        cache.Add(in key, hash, key * 7 + (ulong)step);
                        model.Add(key, hash, key * 7 + (ulong)step);
                        break;
                    case 8:
                        Assert.Equal(model.Remove(key, hash), cache.Remove(in key, hash));
                        break;
                    default:
                        ulong parity = (ulong)random.Next(2);
                        Assert.Equal(model.RemoveWhere(k => k % 2 == parity), cache.RemoveWhere(parity, static (p, k, _) => k % 2 == p));
                        break;
                }
                var contents = cache.Entries().OrderBy(e => e.Key).ToList();
                Assert.Equal(model.Entries().OrderBy(e => e.Key).ToList(), contents);
                Assert.Equal(contents.Count, cache.Statistics.Occupancy);
            }
            Assert.Equal(model.Hits, cache.Statistics.Hits);
            Assert.Equal(model.Misses, cache.Statistics.Misses);
            Assert.Equal(model.Evictions, cache.Statistics.Evictions);
        }, seed: 0x5E7A, iterations: 40);
    }

    /// <summary>The model: per set, a list in recency order (front = least recently used).</summary>
    private sealed class ModelCache(int sets, int ways, CacheReplacement replacement)
    {
        private readonly List<(ulong Key, ulong Value)>[] _sets = Enumerable.Range(0, sets).Select(_ => new List<(ulong, ulong)>()).ToArray();
        public long Hits, Misses, Evictions;

        private List<(ulong Key, ulong Value)> Set(int hash) => _sets[hash & (sets - 1)];

        public ulong? Get(ulong key, int hash)
        {
            var set = Set(hash);
            int i = set.FindIndex(e => e.Key == key);
            if (i < 0)
            {
                Misses++;
                return null;
            }
            Hits++;
            var entry = set[i];
            set.RemoveAt(i);
            set.Add(entry);
            return entry.Value;
        }

        public void Add(ulong key, int hash, ulong value)
        {
            var set = Set(hash);
            int i = set.FindIndex(e => e.Key == key);
            if (i >= 0) set.RemoveAt(i);
            else if (set.Count == ways && replacement == CacheReplacement.FlushWhenFull)
            {
                Evictions += _sets.Sum(s => s.Count);
                foreach (var s in _sets) s.Clear();
            }
            else if (set.Count == ways)
            {
                set.RemoveAt(0);
                Evictions++;
            }
            set.Add((key, value));
        }

        public bool Remove(ulong key, int hash) => Set(hash).RemoveAll(e => e.Key == key) != 0;

        public int RemoveWhere(Func<ulong, bool> predicate) => _sets.Sum(s => s.RemoveAll(e => predicate(e.Key)));

        public IEnumerable<(ulong Key, ulong Value)> Entries() => _sets.SelectMany(s => s);
    }
}
