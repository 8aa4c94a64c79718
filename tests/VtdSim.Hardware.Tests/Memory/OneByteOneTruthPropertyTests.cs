using CsCheck;
using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Memory;
using VtdSim.Hardware.Tests.Properties;
using VtdSim.Hardware.Tests.Support;

namespace VtdSim.Hardware.Tests.Memory;

/// <summary>
/// One byte, one truth: a host memory, a view over it (L1) and a view over that view (L2, some of whose pages lie
/// straight on the host), with random page mappings — unassigned pages, read-only pages, pages beyond the memory
/// below — and random remaps (each followed by an invalidation of the remapped view only). Random word writes, word
/// reads, locked compare-exchanges, span writes and reads and zeroing, through any level, always agree with a flat
/// array of host bytes and a page-by-page resolution of the same mappings: a write through any level is the same bytes
/// at every level, a refused access fails as a whole and changes nothing, and the observers on the host and on L1 see
/// exactly the bytes written at their own addresses, with the writer's origin.
/// </summary>
public class OneByteOneTruthPropertyTests
{
    private const int Page = MachineMemory.PageSize;
    private const int HostPages = 16, L1Pages = 12, L2Pages = 8;
    private static readonly WriteOrigin[] Origins = Enum.GetValues<WriteOrigin>();

    [Fact]
    public void EveryLevelAgreesWithTheHostsBytesAndARefusedAccessChangesNothing() =>
        PropertyRunner.Run(Gen.Int, CheckSequence, seed: 0x0B_1E_7E, iterations: 400);

    private sealed class World
    {
        public readonly PhysicalMemory Host = new(HostPages * (ulong)Page);
        public readonly PageMap L1Map = new(), L2Map = new();
        public readonly GuestMemory L1, L2;
        public readonly byte[] Bytes = new byte[HostPages * Page]; // the reference: the host's bytes
        public readonly HashSet<ulong> SeenOnHost = new(), SeenOnL1 = new();
        public readonly HashSet<WriteOrigin> OriginsSeen = new();

        public World()
        {
            L1 = new GuestMemory(L1Pages * (ulong)Page, L1Map);
            L2 = new GuestMemory(L2Pages * (ulong)Page, L2Map);
            Host.ObserveWrites(new Hpa(0), Host.Size, w => Record(SeenOnHost, w));
            L1.ObserveWrites(new Hpa(0), L1.Size, w => Record(SeenOnL1, w));
        }

        private void Record(HashSet<ulong> set, MemoryWrite w)
        {
            OriginsSeen.Add(w.Origin);
            for (ulong a = w.Address.Value; a < w.Address.Value + (ulong)w.Length; a++) set.Add(a);
        }

        public MachineMemory Level(int level) => level switch { 0 => Host, 1 => L1, _ => L2 };

        /// <summary>Where byte <paramref name="address"/> of a level lies in L1 (if it passes through L1) and in the host; host null: refused.</summary>
        public (ulong? InL1, ulong? InHost) Chain(int level, ulong address, bool write)
        {
            ulong page = address / Page, offset = address % Page;
            switch (level)
            {
                case 0:
                    return (null, page < HostPages ? address : null);
                case 1:
                {
                    if (page >= L1Pages) return (null, null);
                    GuestPage p = L1Map[page];
                    if (!p.IsAssigned || (write && !p.Writable)) return (null, null);
                    return (null, p.BackingPage < HostPages ? p.BackingPage * Page + offset : null);
                }
                default:
                {
                    if (page >= L2Pages) return (null, null);
                    GuestPage p = L2Map[page];
                    if (!p.IsAssigned || (write && !p.Writable)) return (null, null);
                    ulong below = p.BackingPage * Page + offset;
                    if (ReferenceEquals(p.Backing, Host)) return (null, p.BackingPage < HostPages ? below : null);
                    if (p.BackingPage >= L1Pages) return (null, null);
                    return (below, Chain(1, below, write).InHost);
                }
            }
        }

        /// <summary>The host addresses of [address, address+length) at a level, or null if any byte is refused.</summary>
        public ulong[]? Resolve(int level, ulong address, ulong length, bool write, List<ulong>? inL1 = null)
        {
            var result = new ulong[length];
            var throughL1 = new List<ulong>();
            for (ulong i = 0; i < length; i++)
            {
                var (l1, h) = Chain(level, address + i, write);
                if (h is null) return null;
                result[i] = h.Value;
                if (level == 1) throughL1.Add(address + i);
                else if (l1 is not null) throughL1.Add(l1.Value);
            }
            inL1?.AddRange(throughL1);
            return result;
        }

        public GuestPage RandomMapping(Random r, bool forL2)
        {
            int kind = r.Next(10);
            bool writable = r.Next(4) != 0;
            if (kind == 0) return GuestPage.Unassigned;
            if (forL2 && kind <= 5)
                return GuestPage.Ram(L1, (ulong)r.Next(L1Pages + 1), writable); // one in 13 beyond L1's end
            return GuestPage.Ram(Host, (ulong)r.Next(HostPages + 1), writable);
        }
    }

    private static void CheckSequence(int seed)
    {
        var r = new Random(seed);
        var w = new World();
        for (ulong p = 0; p < L1Pages; p++) w.L1Map[p] = w.RandomMapping(r, forL2: false);
        for (ulong p = 0; p < L2Pages; p++) w.L2Map[p] = w.RandomMapping(r, forL2: true);
        var log = new List<string>();
        for (int step = 0; step < 40; step++)
        {
            int level = r.Next(3);
            MachineMemory m = w.Level(level);
            ulong size = m.Size;
            ulong word = (ulong)r.NextInt64(0, (long)(size + 2 * (ulong)Page)) & ~7UL; // some beyond the end
            ulong address = (ulong)r.NextInt64(0, (long)(size + (ulong)Page));
            WriteOrigin origin = Origins[r.Next(Origins.Length)];
            w.SeenOnHost.Clear();
            w.SeenOnL1.Clear();
            w.OriginsSeen.Clear();
            var expectHost = new HashSet<ulong>();
            var expectL1 = new List<ulong>();
            int op = r.Next(8);
            string what;
            switch (op)
            {
                case 0: // word write
                {
                    ulong value = (ulong)r.NextInt64();
                    what = $"L{level}.TryWrite64(0x{word:x}, 0x{value:x}, {origin})";
                    ulong[]? at = w.Resolve(level, word, 8, write: true, expectL1);
                    bool ok = m.TryWrite64(new Hpa(word), value, origin);
                    Assert.True(ok == at is not null, $"{what}: returned {ok}");
                    if (at is not null) Store(w, at, BitConverter.GetBytes(value), expectHost);
                    break;
                }
                case 1: // word read
                {
                    what = $"L{level}.TryRead64(0x{word:x})";
                    ulong[]? at = w.Resolve(level, word, 8, write: false);
                    bool ok = m.TryRead64(new Hpa(word), out ulong value);
                    Assert.True(ok == at is not null, $"{what}: returned {ok}");
                    Assert.Equal(at is null ? 0 : BitConverter.ToUInt64(Load(w, at)), value);
                    break;
                }
                case 2: // locked compare-exchange, matching half of the time
                {
                    ulong[]? readable = w.Resolve(level, word, 8, write: false);
                    ulong current = readable is null ? 0 : BitConverter.ToUInt64(Load(w, readable));
                    ulong expected = r.Next(2) == 0 ? current : (ulong)r.NextInt64();
                    ulong desired = (ulong)r.NextInt64();
                    what = $"L{level}.TryCompareExchange64(0x{word:x}, 0x{expected:x}, 0x{desired:x}, {origin})";
                    ulong[]? at = w.Resolve(level, word, 8, write: true, expectL1);
                    bool ok = m.TryCompareExchange64(new Hpa(word), expected, desired, out ulong actual, origin);
                    Assert.True(ok == at is not null, $"{what}: returned {ok}");
                    if (at is null) break;
                    Assert.Equal(current, actual);
                    if (current == expected) Store(w, at, BitConverter.GetBytes(desired), expectHost);
                    else expectL1.Clear();
                    break;
                }
                case 3: // span write
                {
                    var data = new byte[r.Next(1, 5 * Page / 2)];
                    r.NextBytes(data);
                    what = $"L{level}.TryWrite(0x{address:x}, {data.Length} bytes, {origin})";
                    ulong[]? at = w.Resolve(level, address, (ulong)data.Length, write: true, expectL1);
                    bool ok = m.TryWrite(new Hpa(address), data, origin);
                    Assert.True(ok == at is not null, $"{what}: returned {ok}");
                    if (at is not null) Store(w, at, data, expectHost);
                    break;
                }
                case 4: // span read
                {
                    var data = new byte[r.Next(0, 5 * Page / 2)];
                    what = $"L{level}.TryRead(0x{address:x}, {data.Length} bytes)";
                    ulong[]? at = w.Resolve(level, address, (ulong)data.Length, write: false);
                    bool ok = m.TryRead(new Hpa(address), data);
                    Assert.True(ok == (at is not null && address <= size), $"{what}: returned {ok}");
                    if (ok) Assert.True(Load(w, at!).AsSpan().SequenceEqual(data), $"{what}: read other bytes");
                    break;
                }
                case 5: // zeroing
                {
                    ulong length = (ulong)r.Next(0, 3 * Page);
                    what = $"L{level}.TryZero(0x{address:x}, 0x{length:x}, {origin})";
                    ulong[]? at = w.Resolve(level, address, length, write: true, expectL1);
                    bool ok = m.TryZero(new Hpa(address), length, origin);
                    Assert.True(ok == (at is not null && address <= size), $"{what}: returned {ok}");
                    if (ok) Store(w, at!, new byte[length], expectHost);
                    else expectL1.Clear();
                    break;
                }
                default: // remap a page of L1 or L2, and invalidate that view only
                {
                    bool l2 = r.Next(2) == 0;
                    ulong page = (ulong)r.Next(l2 ? L2Pages : L1Pages);
                    GuestPage mapping = w.RandomMapping(r, l2);
                    (l2 ? w.L2Map : w.L1Map)[page] = mapping;
                    (l2 ? w.L2 : w.L1).Invalidate(page, 1);
                    what = $"remap L{(l2 ? 2 : 1)} page {page} to {Describe(w, mapping)}";
                    break;
                }
            }
            log.Add(what);
            string history = string.Join("\n  ", log);
            Assert.True(expectHost.SetEquals(w.SeenOnHost), $"host observer saw other bytes after:\n  {history}");
            Assert.True(expectL1.ToHashSet().SetEquals(w.SeenOnL1), $"L1 observer saw other bytes after:\n  {history}");
            Assert.True(w.OriginsSeen.Count == 0 || (w.OriginsSeen.Count == 1 && w.OriginsSeen.Contains(origin)), $"observers saw origins {string.Join(",", w.OriginsSeen)} after:\n  {history}");
            var hostNow = new byte[w.Bytes.Length];
            w.Host.Read(new Hpa(0), hostNow);
            Assert.True(hostNow.AsSpan().SequenceEqual(w.Bytes), $"the host's bytes differ from the reference after:\n  {history}");
        }
    }

    private static void Store(World w, ulong[] at, byte[] data, HashSet<ulong> expectHost)
    {
        for (int i = 0; i < at.Length; i++)
        {
            w.Bytes[at[i]] = data[i];
            expectHost.Add(at[i]);
        }
    }

    private static byte[] Load(World w, ulong[] at) => at.Select(a => w.Bytes[a]).ToArray();

    private static string Describe(World w, GuestPage p) =>
        !p.IsAssigned ? "unassigned" : $"{(ReferenceEquals(p.Backing, w.Host) ? "host" : "L1")} page {p.BackingPage}{(p.Writable ? "" : " read-only")}";
}
