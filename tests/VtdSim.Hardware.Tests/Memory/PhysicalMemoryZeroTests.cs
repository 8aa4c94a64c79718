using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Memory;

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
}
