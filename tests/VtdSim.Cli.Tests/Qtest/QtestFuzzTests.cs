using System.Security.Cryptography;
using System.Text;
using VtdSim.Cli.Qtest;
using VtdSim.Cli.Tests.Support;
using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Building;
using VtdSim.Hardware.Memory;
using VtdSim.Hardware.Profiles;
using VtdSim.Hardware.Structures;

namespace VtdSim.Cli.Tests.Qtest;

/// <summary>
/// A seeded qtest fuzz: 100,000 lines against two machines — register accesses at random offsets (aligned or not, of
/// every width), random programming of the root table pointer, translation, queued invalidation and fault registers,
/// garbage root/context/PASID/page tables and invalidation queues, DMA and translations from random requesters at
/// random addresses, and malformed lines (random words, random bytes that are not UTF-8). Now and then a valid set-up
/// (tables built with the hardware's builders, of every translation kind) is written and enabled, so that the garbage
/// that follows perturbs walks that go all the way down. The input reaches the
/// session in reads of random sizes, so lines are cut at every place. Checked: one reply per line (plus the EVENT and
/// CACHE lines that `events` and `caches` send before theirs), no hang (a watchdog), no exception text in any reply,
/// and the same output, byte for byte, for the same seed.
/// </summary>
public class QtestFuzzTests
{
    private const int LinesPerMachine = 50_000;
    private const ulong Region = 0x10_0000; // tables, queues and data live in 64 pages from here
    private const int RegionPages = 64;
    private static readonly TimeSpan Watchdog = TimeSpan.FromMinutes(3);

    [Theory]
    [InlineData("qemu-7.2", 0x51ED_0001)]
    [InlineData("sapphire-rapids", 0x51ED_0002)]
    public async Task RandomSessionsAnswerEveryLineWithoutExceptionTextAndTheSameWayEachTime(string profile, int seed)
    {
        var options = new QtestMachineOptions { Profile = BuiltInProfiles.All.Single(p => p.Name == profile) };
        byte[] input = Script(seed, LinesPerMachine, options.Profile.Ecap.ScalableModeTranslation, out int lines);

        byte[] first = await Serve(options, input, seed);
        byte[] second = await Serve(options, input, seed + 1); // other read sizes, same lines

        Assert.True(first.AsSpan().SequenceEqual(second), "the same lines gave different replies");
        string[] replies = Encoding.UTF8.GetString(first).TrimEnd('\n').Split('\n');
        int answers = 0;
        foreach (string reply in replies)
        {
            // Not AssertPlain: a FAIL echoes the garbage it got, which may hold "`1" or "Int32" by chance.
            foreach (string leak in new[] { "internal error", "Exception", "System.", "(Parameter '", "Actual value was", "   at ", "{ Sequence =" })
                Assert.False(reply.Contains(leak, StringComparison.Ordinal), $"a reply shows '{leak}': {reply}");
            if (reply.StartsWith("OK", StringComparison.Ordinal) || reply.StartsWith("FAIL", StringComparison.Ordinal)) answers++;
            else Assert.True(reply.StartsWith("EVENT ", StringComparison.Ordinal) || reply.StartsWith("CACHE ", StringComparison.Ordinal), $"a reply line that is none of OK, FAIL, EVENT, CACHE: {reply}");
        }
        Assert.Equal(lines, answers);
        // The fuzz reached the walks: faults, and translations that went all the way through.
        Assert.Contains(replies, r => r.StartsWith("FAIL fault", StringComparison.Ordinal));
        Assert.Contains(replies, r => r.StartsWith("OK 0x", StringComparison.Ordinal) && r.Contains(" kind=", StringComparison.Ordinal) && !r.Contains("kind=Disabled", StringComparison.Ordinal));
        Assert.Contains(replies, r => r.StartsWith("EVENT ", StringComparison.Ordinal) && r.Contains("invalidation queue error", StringComparison.Ordinal));
    }

    [Fact]
    public void DifferentSeedsGiveDifferentScripts()
    {
        Assert.NotEqual(SHA256.HashData(Script(1, 1000, false, out _)), SHA256.HashData(Script(2, 1000, false, out _)));
    }

    private static async Task<byte[]> Serve(QtestMachineOptions options, byte[] input, int readSeed)
    {
        var output = new MemoryStream();
        var session = new QtestSession(new QtestMachine(options), new ChunkedStream(input, new Random(readSeed)), output);
        await Task.Run(() => session.RunAsync()).WaitAsync(Watchdog);
        return output.ToArray();
    }

    /// <summary>The whole input: <paramref name="count"/> lines, each ending in '\n'.</summary>
    private static byte[] Script(int seed, int count, bool scalable, out int lines)
    {
        var random = new Random(seed);
        var bytes = new MemoryStream();
        for (lines = 0; lines < count;)
        {
            if (random.Next(400) == 0)
            {
                foreach (string setup in Configuration(random, scalable))
                {
                    bytes.Write(Encoding.UTF8.GetBytes(setup + "\n"));
                    lines++;
                }
                continue;
            }
            byte[] line = random.Next(20) == 0 ? Garbage(random) : Encoding.UTF8.GetBytes(Line(random, scalable));
            bytes.Write(line);
            bytes.WriteByte((byte)'\n');
            lines++;
        }
        return bytes.ToArray();
    }

    private static string Line(Random r, bool scalable)
    {
        switch (r.Next(100))
        {
            // Garbage tables, mostly in the low slots of a page: root entries of the first buses, context and PASID
            // entries of the first functions and PASIDs, page-table entries of the first pages.
            case < 25: return $"writeq 0x{RegionAddress(r) + 8 * (ulong)(r.Next(4) == 0 ? r.Next(512) : r.Next(64)):x} 0x{TableWord(r):x}";
            case < 35: return RegisterAccess(r);
            case < 50: return Programming(r, scalable);
            case < 58: return QueueContents(r);
            case < 75: return $"translate {Sid(r)} 0x{Address(r):x} {(r.Next(2) == 0 ? "read" : "write")}{RequestOptions(r)}";
            case < 85:
                bool write = r.Next(2) == 0;
                int length = r.Next(4) == 0 ? r.Next(1, 3 * 4096) : r.Next(1, 65);
                string data = write && r.Next(2) == 0 ? $" data=0x{Convert.ToHexStringLower(RandomBytes(r, Math.Min(length, 16)))}" : "";
                return $"dma {Sid(r)} 0x{Address(r):x} {length} {(write ? "write" : "read")}{RequestOptions(r)}{data}";
            case < 90: return r.Next(3) switch { 0 => "events", 1 => "caches", _ => "info" };
            case < 91: return r.Next(20) == 0 ? "reset" : $"clock_step {r.Next(1000)}";
            case < 95: return r.Next(2) == 0 ? $"readq 0x{RegionAddress(r) + 8 * (ulong)r.Next(512):x}" : $"read 0x{RegionAddress(r) + (ulong)r.Next(4096):x} {r.Next(1, 64)}";
            default: return Malformed(r);
        }
    }

    /// <summary>
    /// A valid translation for 00:01.0 built with the hardware's table builders in the region (legacy second stage, or
    /// in scalable mode a PASID entry of a random kind), written over a cleared region, then SRTP and TE.
    /// </summary>
    private static IEnumerable<string> Configuration(Random r, bool scalable)
    {
        var memory = new PhysicalMemory(1UL << 32);
        var frames = new FrameAllocator(memory, new Hpa(Region), new Hpa(Region + RegionPages * 0x1000UL));
        var tables = new RemappingTables(frames, scalable);
        var device = new SourceId(0, 1, 0);
        var ss = new SecondStageTableBuilder(frames, levels: scalable ? 4 : 3);
        var fs = FirstStageTableBuilder.InHostMemory(frames);
        for (int page = 0; page < 8; page++)
        {
            Hpa data = frames.Allocate();
            bool write = r.Next(4) != 0;
            ss.Map(new Gpa((ulong)page << 12), data, read: r.Next(8) != 0, write: write);
            fs.Map(new Iova((ulong)page << 12), data.Value, writable: write, user: r.Next(4) != 0);
        }
        ss.MapRange(new Gpa(Region), new Hpa(Region), RegionPages * 0x1000UL); // nested: first-stage tables at GPA = HPA
        ushort did = (ushort)r.Next(1, 4);
        if (!scalable)
        {
            tables.SetLegacyContext(device, LegacyContextEntry.Create(ss.Root, ss.AddressWidth, did));
        }
        else
        {
            uint pasid = (uint)r.Next(3);
            PasidEntry entry = r.Next(4) switch
            {
                0 => PasidEntry.FirstStage(fs.Root, did),
                1 => PasidEntry.SecondStage(ss.Root, ss.AddressWidth, did),
                2 => PasidEntry.NestedEntry(fs.Root, ss.Root, ss.AddressWidth, did),
                _ => PasidEntry.PassThroughEntry(did),
            };
            tables.SetPasidEntry(device, pasid, entry);
        }
        const ulong regs = 0xFED9_0000;
        yield return $"memset 0x{Region:x} 0x{RegionPages * 0x1000:x} 0";
        for (ulong at = Region; at < Region + RegionPages * 0x1000UL; at += 8)
        {
            ulong word = memory.Read64(new Hpa(at));
            if (word != 0) yield return $"writeq 0x{at:x} 0x{word:x}";
        }
        yield return $"writeq 0x{regs + 0x20:x} 0x{tables.Root.Value | (scalable ? 1UL << 10 : 0):x}";
        yield return $"writel 0x{regs + 0x18:x} 0x40000000";
        yield return $"writel 0x{regs + 0x18:x} 0x80000000";
    }

    /// <summary>A register access anywhere in the page, of any width, aligned or not; values are random.</summary>
    private static string RegisterAccess(Random r)
    {
        string[] widths = ["b", "w", "l", "q"];
        string width = widths[r.Next(4)];
        int offset = r.Next(3) == 0 ? r.Next(0x1000) : r.Next(0x200) & ~(width == "q" ? 7 : 3);
        ulong address = 0xFED9_0000UL + (ulong)offset;
        return r.Next(2) == 0 ? $"read{width} 0x{address:x}" : $"write{width} 0x{address:x} 0x{(ulong)r.NextInt64():x}";
    }

    /// <summary>The registers a driver programs, with values between sensible and random.</summary>
    private static string Programming(Random r, bool scalable)
    {
        const ulong regs = 0xFED9_0000;
        uint[] commands = [0x4000_0000, 0x8000_0000, 0xC000_0000, 0x0400_0000, 0x8400_0000, 0, 0x0800_0000, 0x2000_0000];
        return r.Next(8) switch
        {
            0 => $"writeq 0x{regs + 0x20:x} 0x{RegionAddress(r) | (ulong)(uint)(r.Next(4) == 0 ? r.Next(4) : scalable ? 1 : 0) << 10:x}", // RTADDR, mostly the unit's mode
            1 or 2 => $"writel 0x{regs + 0x18:x} 0x{commands[r.Next(commands.Length)]:x}",                       // GCMD
            3 => $"writeq 0x{regs + 0x90:x} 0x{RegionAddress(r) | (r.Next(3) == 0 ? 1UL << 11 : 0) | (uint)r.Next(8):x}", // IQA
            4 => $"writeq 0x{regs + 0x88:x} 0x{(r.Next(4) == 0 ? (ulong)r.NextInt64() : (ulong)r.Next(0x2000)) & ~0xFUL:x}", // IQT
            5 => $"writel 0x{regs + 0x34:x} 0x{r.Next(0x80):x}",                                              // FSTS (RW1C)
            6 => $"writel 0x{regs + 0x228 + 16 * (ulong)r.Next(8) + 4:x} 0x80000000",                         // clear an F
            _ => $"writel 0x{regs + 0x38:x} 0x{(r.Next(2) == 0 ? 0 : 0x8000_0000):x}",                       // FECTL
        };
    }

    /// <summary>A descriptor written into the queue region: a valid one of each kind, or garbage.</summary>
    private static string QueueContents(Random r)
    {
        ulong q0 = r.Next(9) switch
        {
            0 => 0x1UL | (ulong)r.Next(4) << 4,                    // context-cache, any granularity
            1 => 0x2UL | (ulong)r.Next(4) << 4 | 1UL << 16,        // IOTLB
            2 => 0x5,                                              // plain wait
            3 => 0x25 | 0xABUL << 32,                              // wait with status write
            4 => 0x6UL | (ulong)r.Next(4) << 4 | 1UL << 32,        // PASID-based IOTLB
            5 => 0x7UL | (ulong)r.Next(4) << 4,                    // PASID cache
            6 => 0x3UL | 0x8UL << 32,                              // device-TLB
            _ => (ulong)r.NextInt64(),
        };
        ulong q1 = r.Next(3) switch { 0 => 0, 1 => RegionAddress(r) | (uint)r.Next(20), _ => (ulong)r.NextInt64() };
        ulong at = RegionAddress(r) + 16 * (ulong)r.Next(256);
        return $"write 0x{at:x} 16 0x{Convert.ToHexStringLower(BitConverter.GetBytes(q0))}{Convert.ToHexStringLower(BitConverter.GetBytes(q1))}";
    }

    private static string Malformed(Random r)
    {
        string[] words = ["readl", "writeq", "dma", "translate", "read", "write", "b64write", "memset", "events", "0x", "-1", "+0x1",
            "0xfffffffffffffffff", "00:01.8", "00:0x1.0", "ff:ff.f", "pasid=", "pasid=0x100000", "priv", "exec", "data=0xzz", "data=0x1",
            "read", "write", "0xfed90000", "18446744073709551616", "", "\t", "\r", "…", "ÿ", "0x" + new string('f', 40)];
        var sb = new StringBuilder();
        int n = r.Next(1, 8);
        for (int i = 0; i < n; i++) sb.Append(words[r.Next(words.Length)]).Append(r.Next(5) == 0 ? "  " : " ");
        return sb.ToString();
    }

    /// <summary>Random bytes without a newline, often not UTF-8.</summary>
    private static byte[] Garbage(Random r)
    {
        byte[] bytes = RandomBytes(r, r.Next(0, 200));
        for (int i = 0; i < bytes.Length; i++) if (bytes[i] == (byte)'\n') bytes[i] = (byte)'?';
        return bytes;
    }

    private static string RequestOptions(Random r) => r.Next(3) switch
    {
        0 => "",
        1 => $" pasid={(r.Next(2) == 0 ? 1 : r.Next(0x100000))}",
        _ => $" pasid={r.Next(4)}{(r.Next(2) == 0 ? " priv" : "")}{(r.Next(2) == 0 ? " exec" : "")}",
    };

    private static string Sid(Random r) => r.Next(4) switch
    {
        0 => "00:01.0",
        1 => "00:00.0",
        2 => $"{r.Next(4):x2}:{r.Next(32):x2}.{r.Next(8)}",
        _ => $"0x{r.Next(0x10000):x}",
    };

    private static ulong Address(Random r) => r.Next(6) switch
    {
        0 => (ulong)(r.Next(4) == 0 ? r.Next(0x40000) : r.Next(32)) << 12,
        1 => (ulong)r.NextInt64(),
        2 => 0xFEE0_0000UL + (ulong)r.Next(0x10_0000),
        3 => ulong.MaxValue - (ulong)r.Next(0x3000),
        4 => RegionAddress(r) + (ulong)r.Next(4096),
        _ => (ulong)r.Next(0x200) << 21,
    };

    private static ulong RegionAddress(Random r) => Region + 0x1000UL * (ulong)r.Next(RegionPages);

    /// <summary>A table word: mostly a pointer into the region with random flag bits, sometimes zero or anything.</summary>
    private static ulong TableWord(Random r) => r.Next(10) switch
    {
        0 => 0,
        1 => (ulong)r.NextInt64(),
        2 => RegionAddress(r) | (uint)r.Next(0x1000) | (ulong)(uint)r.Next(0x10) << 52,
        3 => RegionAddress(r) | (uint)r.Next(0x200) | 1,
        _ => RegionAddress(r) | (uint)r.Next(8) | 1, // present, readable and writable where that is what bits 2:1 mean
    };

    private static byte[] RandomBytes(Random r, int n)
    {
        var bytes = new byte[n];
        r.NextBytes(bytes);
        return bytes;
    }

    /// <summary>A read-only stream over bytes that hands them out in reads of random sizes (1 byte to 8 KiB).</summary>
    private sealed class ChunkedStream(byte[] data, Random random) : Stream
    {
        private int _position;

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => data.Length;
        public override long Position { get => _position; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            int n = Math.Min(Math.Min(buffer.Length, data.Length - _position), random.Next(3) == 0 ? random.Next(1, 16) : random.Next(1, 8192));
            data.AsSpan(_position, n).CopyTo(buffer);
            _position += n;
            return n;
        }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => new(Read(buffer.Span));

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
