using CsCheck;
using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Memory;
using VtdSim.Hardware.Tests.Properties;

namespace VtdSim.Hardware.Tests.Memory;

/// <summary>PhysicalMemory.TryZero: clears what exists in a range without materialising the rest.</summary>
public class PhysicalMemoryZeroTests
{
    private const ulong GiB = 1UL << 30, TiB = 1UL << 40;

    [Fact]
    public void ZeroingAFreshGibibyteMaterialisesNothing()
    {
        var memory = new PhysicalMemory(4 * TiB);
        Assert.True(memory.TryZero(new Hpa(3 * GiB), GiB));
        Assert.Equal(0, memory.MaterializedFrames);
        Assert.Equal(0UL, memory.Read64(new Hpa((3 * GiB + 0x1234_5678) & ~7UL)));
    }

    [Fact]
    public void WrittenBytesInsideTheRangeBecomeZeroAndBytesOutsideItStay()
    {
        var memory = new PhysicalMemory(1UL << 32);
        var pattern = Enumerable.Repeat((byte)0xEE, 3 * 4096).ToArray();
        memory.Write(new Hpa(0x10_0000), pattern); // three frames
        int frames = memory.MaterializedFrames;

        // From the middle of the first frame to the middle of the third.
        Assert.True(memory.TryZero(new Hpa(0x10_0800), 0x2000));
        var back = new byte[3 * 4096];
        memory.Read(new Hpa(0x10_0000), back);
        Assert.All(back[..0x800], b => Assert.Equal(0xEE, b));
        Assert.All(back[0x800..0x2800], b => Assert.Equal(0, b));
        Assert.All(back[0x2800..], b => Assert.Equal(0xEE, b));
        Assert.Equal(frames, memory.MaterializedFrames); // cleared in place, none added
    }

    [Fact]
    public void ARangeMuchLargerThanTheMaterialisedFramesFindsTheFramesItHolds()
    {
        // 1 TiB of range, four frames: the zeroing visits the frames, not the 2^28 pages of the range.
        var memory = new PhysicalMemory(4 * TiB);
        ulong[] inside = [TiB, TiB + 5 * GiB + 0x3000, 2 * TiB - 8];
        ulong outside = 2 * TiB;
        foreach (ulong a in inside) memory.Write64(new Hpa(a), 0xABCD);
        memory.Write64(new Hpa(outside), 0x1234);

        Assert.True(memory.TryZero(new Hpa(TiB), TiB));
        foreach (ulong a in inside) Assert.Equal(0UL, memory.Read64(new Hpa(a)));
        Assert.Equal(0x1234UL, memory.Read64(new Hpa(outside)));
    }

    [Fact]
    public void MemoryWrittenAfterZeroingReadsBack()
    {
        var memory = new PhysicalMemory(1UL << 32);
        memory.Write64(new Hpa(0x5000), 1);
        Assert.Equal(1UL, memory.Read64(new Hpa(0x5000))); // now in the frame cache
        Assert.True(memory.TryZero(new Hpa(0x4000), 0x2000));
        Assert.Equal(0UL, memory.Read64(new Hpa(0x5000)));
        memory.Write64(new Hpa(0x5000), 2);
        Assert.Equal(2UL, memory.Read64(new Hpa(0x5000)));
    }

    [Fact]
    public void AnInaccessibleRangeFailsAsAWholeAndChangesNothing()
    {
        var memory = new PhysicalMemory(1UL << 24);
        memory.Write64(new Hpa(0x1000), 7);
        Assert.False(memory.TryZero(new Hpa(0x1000), 1UL << 24)); // runs past the end
        Assert.False(memory.TryZero(new Hpa(1UL << 24), 4096));   // starts at the end
        memory.InjectError(new Hpa(0x3000), 8, InjectedErrorKind.WritesOnly);
        Assert.False(memory.TryZero(new Hpa(0x1000), 0x3000));
        Assert.Equal(7UL, memory.Read64(new Hpa(0x1000)));
        Assert.True(memory.TryZero(new Hpa(0x1000), 0)); // an empty range inside memory is fine
    }

    [Fact]
    public void ObserversSeeTheZeroingAsWritesOfAtMostOneGibibyte()
    {
        var memory = new PhysicalMemory(4 * TiB);
        var seen = new List<MemoryWrite>();
        using var observer = memory.ObserveWrites(new Hpa(0), ulong.MaxValue, seen.Add);
        Assert.True(memory.TryZero(new Hpa(GiB), 2 * GiB + 4096));
        Assert.Equal([new MemoryWrite(new Hpa(GiB), (int)GiB, WriteOrigin.Software),
                      new MemoryWrite(new Hpa(2 * GiB), (int)GiB, WriteOrigin.Software),
                      new MemoryWrite(new Hpa(3 * GiB), 4096, WriteOrigin.Software)], seen);
    }

    [Fact]
    public void ZeroingClearsExactlyTheWrittenWordsInsideTheRangeWhateverItsSizeAgainstTheFrames()
    {
        // Words written in a few gibibytes of a 4 TiB memory, then one range zeroed: small ranges (fewer pages than
        // frames), ranges over a few gibibytes (fewer chunks than hold frames) and ranges over terabytes (more) each
        // find their frames another way; every way must clear the words inside the range and only those.
        var gibs = Pick(0UL, 1, 2, 7, 1023, 1024, 4095);
        var word = Gen.Select(gibs, Gen.ULong[0, (GiB >> 3) - 1], (g, w) => g * GiB + (w << 3));
        var near = Gen.Select(word, Gen.ULong[0, 0x3FF], (a, w) => a + (w << 3)); // clusters: several words per frame
        var range = Gen.Select(Gen.ULong[0, (4 * TiB >> 12) - 1], Pick(0UL, 12, 20, 30, 33, 41, 42), Gen.ULong[1, 4096],
            (page, shift, pages) => (Start: page << 12, Length: Math.Min(pages << (int)shift, 4 * TiB - (page << 12))));
        var cases = Gen.Select(Gen.OneOf(word, near).Array[1, 40], range, Gen.Bool, (written, r, aligned) =>
            (Written: written, Start: aligned ? r.Start : r.Start + 0x7F8, Length: aligned ? r.Length : Math.Max(r.Length, 0x800) - 0x7F8));
        PropertyRunner.Run(cases, c =>
        {
            var memory = new PhysicalMemory(4 * TiB);
            foreach (ulong a in c.Written) memory.Write64(new Hpa(a), a | 1);
            int frames = memory.MaterializedFrames;
            Assert.True(memory.TryZero(new Hpa(c.Start), c.Length));
            foreach (ulong a in c.Written)
            {
                bool inside = a >= c.Start && a - c.Start < c.Length;
                Assert.Equal(inside ? 0 : a | 1, memory.Read64(new Hpa(a)));
            }
            Assert.Equal(frames, memory.MaterializedFrames);
        }, seed: 0x2E_40_C4_0E, iterations: 600);
    }

    private static Gen<ulong> Pick(params ulong[] values) => Gen.Int[0, values.Length - 1].Select(i => values[i]);
}
