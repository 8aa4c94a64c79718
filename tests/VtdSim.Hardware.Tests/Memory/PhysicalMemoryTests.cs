using VtdSim.Hardware.Addressing;
using VtdSim.Hardware.Memory;

namespace VtdSim.Hardware.Tests.Memory;

public class PhysicalMemoryTests
{
    private const ulong TiB = 1UL << 40;

    // ------------------------------------------------------------------ construction and sparseness

    [Theory]
    [InlineData(0UL)]
    [InlineData(4095UL)]
    [InlineData(4097UL)]
    public void SizeMustBeANonZeroMultipleOf4KiB(ulong size) =>
        Assert.Equal("size", Assert.Throws<ArgumentOutOfRangeException>(() => new PhysicalMemory(size)).ParamName);

    [Theory]
    [InlineData(13, 1UL << 13)]
    [InlineData(46, 1UL << 46)]
    [InlineData(63, 1UL << 63)]
    public void WithAddressWidthCoversTheWholeWidth(int bits, ulong size) => Assert.Equal(size, PhysicalMemory.WithAddressWidth(bits).Size);

    [Theory]
    [InlineData(12)]
    [InlineData(64)]
    public void WithAddressWidthRefusesWidthsOutside13To63(int bits) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => PhysicalMemory.WithAddressWidth(bits));

    [Fact]
    public void OneByteWrittenAt3TiBOfA4TiBMemoryMaterialisesExactlyOneFrame()
    {
        var memory = new PhysicalMemory(4 * TiB);
        Assert.Equal(0, memory.MaterializedFrames);
        memory.Write(new Hpa(3 * TiB + 0x123), [0xAB]);
        Assert.Equal(1, memory.MaterializedFrames);
        Assert.Equal(0xABUL << 0x18, memory.Read64(new Hpa(3 * TiB + 0x120))); // byte 3 of that little-endian word
    }

    [Fact]
    public void ReadingUntouchedMemoryReturnsZerosAndMaterialisesNothing()
    {
        var memory = new PhysicalMemory(4 * TiB);
        Assert.Equal(0UL, memory.Read64(new Hpa(2 * TiB)));
        Assert.True(memory.TryRead64(new Hpa(4 * TiB - 8), out ulong last));
        Assert.Equal(0UL, last);
        var buffer = new byte[3 * PhysicalMemory.PageSize];
        Array.Fill(buffer, (byte)0x5A);
        memory.Read(new Hpa(TiB - 100), buffer);
        Assert.All(buffer, b => Assert.Equal(0, b));
        Assert.Equal(0, memory.MaterializedFrames);
    }

    [Fact]
    public void AWriteAfterAReadOfTheSameUntouchedFrameIsSeen()
    {
        // Reading an absent frame must not leave a stale "absent" answer behind for the next read.
        var memory = new PhysicalMemory(TiB);
        var a = new Hpa(0x5_0000_1000);
        Assert.Equal(0UL, memory.Read64(a));
        memory.Write64(a, 0x1122_3344_5566_7788);
        Assert.Equal(0x1122_3344_5566_7788UL, memory.Read64(a));
    }

    [Fact]
    public void FramesThatShareALookupSlotKeepTheirOwnContents()
    {
        var memory = new PhysicalMemory(TiB);
        // Frame numbers 0, 256, 512, ...: they would all collide in a small direct-mapped frame cache.
        var addresses = Enumerable.Range(0, 8).Select(i => new Hpa((ulong)i * 256 * PhysicalMemory.PageSize + 0x40)).ToArray();
        for (int i = 0; i < addresses.Length; i++) memory.Write64(addresses[i], (ulong)i + 100);
        for (int round = 0; round < 2; round++)
            for (int i = 0; i < addresses.Length; i++)
                Assert.Equal((ulong)i + 100, memory.Read64(addresses[i]));
        Assert.Equal(addresses.Length, memory.MaterializedFrames);
    }

    [Fact]
    public void WordsAreLittleEndian()
    {
        var memory = new PhysicalMemory(1UL << 20);
        memory.Write64(new Hpa(0x100), 0x0807_0605_0403_0201);
        var bytes = new byte[8];
        memory.Read(new Hpa(0x100), bytes);
        Assert.Equal(new byte[] { 1, 2, 3, 4, 5, 6, 7, 8 }, bytes);
    }

    // ------------------------------------------------------------------ the end of memory

    [Fact]
    public void EightByteAccessesAtOrBeyondSizeFail()
    {
        var memory = new PhysicalMemory(1UL << 20);
        Assert.True(memory.TryRead64(new Hpa(memory.Size - 8), out _));
        Assert.True(memory.TryWrite64(new Hpa(memory.Size - 8), 1));
        foreach (ulong a in new[] { memory.Size, memory.Size + 8, 0xFFFF_FFFF_FFFF_FFF8 })
        {
            Assert.False(memory.TryRead64(new Hpa(a), out ulong v));
            Assert.Equal(0UL, v);
            Assert.False(memory.TryWrite64(new Hpa(a), 1));
            Assert.False(memory.TryCompareExchange64(new Hpa(a), 0, 1, out _, WriteOrigin.IommuFlagUpdate));
        }
        Assert.Equal(1, memory.MaterializedFrames); // only the successful write at Size-8
    }

    [Fact]
    public void Read64AndWrite64BeyondSizeThrowMemoryAccessExceptionNamingTheAddress()
    {
        var memory = new PhysicalMemory(1UL << 20);
        var read = Assert.Throws<MemoryAccessException>(() => memory.Read64(new Hpa(0x10_0000)));
        Assert.Equal(new Hpa(0x10_0000), read.Address);
        Assert.Equal(8, read.Length);
        Assert.Contains("0x100000", read.Message);
        Assert.Contains("beyond the end", read.Message);
        var write = Assert.Throws<MemoryAccessException>(() => memory.Write64(new Hpa(0x20_0008), 5));
        Assert.Equal(new Hpa(0x20_0008), write.Address);
        Assert.Contains("0x200008", write.Message);
    }

    [Fact]
    public void SpanAccessesThatCrossTheEndFailAsAWholeTouchingNothing()
    {
        var memory = new PhysicalMemory(1UL << 20);
        var buffer = new byte[16];
        Array.Fill(buffer, (byte)0xEE);
        Assert.False(memory.TryRead(new Hpa(memory.Size - 8), buffer));
        Assert.All(buffer, b => Assert.Equal(0xEE, b));
        Assert.False(memory.TryWrite(new Hpa(memory.Size - 8), buffer));
        Assert.Equal(0, memory.MaterializedFrames);
        Assert.Equal(0UL, memory.Read64(new Hpa(memory.Size - 8)));
        var e = Assert.Throws<MemoryAccessException>(() => memory.Write(new Hpa(memory.Size - 8), buffer));
        Assert.Equal(16, e.Length);
        Assert.True(memory.TryRead(new Hpa(memory.Size - 16), buffer));
    }

    [Fact]
    public void ZeroLengthSpanAccessesSucceedUpToSize()
    {
        var memory = new PhysicalMemory(1UL << 20);
        Assert.True(memory.TryRead(new Hpa(memory.Size), Span<byte>.Empty));
        Assert.True(memory.TryWrite(new Hpa(memory.Size), ReadOnlySpan<byte>.Empty));
        Assert.False(memory.TryRead(new Hpa(memory.Size + 1), Span<byte>.Empty));
        Assert.Equal(0, memory.MaterializedFrames);
    }

    // ------------------------------------------------------------------ spans across pages

    [Fact]
    public void SpanWritesAndReadsCrossPageBoundaries()
    {
        var memory = new PhysicalMemory(1UL << 30);
        var data = Enumerable.Range(0, 2 * PhysicalMemory.PageSize + 100).Select(i => (byte)(i * 7 + 3)).ToArray();
        var start = new Hpa(0x4_0000 + PhysicalMemory.PageSize - 37); // 37 bytes in the first page, two more pages, then 63 bytes
        memory.Write(start, data);
        Assert.Equal(4, memory.MaterializedFrames);

        var back = new byte[data.Length];
        memory.Read(start, back);
        Assert.Equal(data, back);

        // The same bytes seen as 8-byte words on either side of the first boundary.
        ulong word = memory.Read64(new Hpa(0x4_1000));
        Assert.Equal(BitConverter.ToUInt64(data, 37), word);
        var tail = new byte[10];
        memory.Read(new Hpa(0x4_0FFB), tail);
        Assert.Equal(data[(37 - 5)..(37 + 5)], tail);
    }

    // ------------------------------------------------------------------ misalignment

    [Theory]
    [InlineData(1UL)]
    [InlineData(4UL)]
    [InlineData(0xFFFUL)]
    public void MisalignedEightByteAccessesThrowArgumentException(ulong address)
    {
        var memory = new PhysicalMemory(1UL << 20);
        var a = new Hpa(address);
        Assert.Contains("not 8-byte aligned", Assert.Throws<ArgumentException>(() => memory.TryRead64(a, out _)).Message);
        Assert.Throws<ArgumentException>(() => memory.TryWrite64(a, 0));
        Assert.Throws<ArgumentException>(() => memory.TryCompareExchange64(a, 0, 1, out _, WriteOrigin.Software));
        Assert.Throws<ArgumentException>(() => memory.Read64(a));
        Assert.Throws<ArgumentException>(() => memory.Write64(a, 0));
        Assert.Equal(0, memory.MaterializedFrames);
    }

    // ------------------------------------------------------------------ injected errors

    [Fact]
    public void ReadAndWriteErrorsBreakBothKindsOfAccessInsideTheRangeOnly()
    {
        var memory = new PhysicalMemory(1UL << 20);
        memory.Write64(new Hpa(0x2000), 42);
        memory.InjectError(new Hpa(0x2000), 0x10, InjectedErrorKind.ReadsAndWrites);

        Assert.False(memory.TryRead64(new Hpa(0x2000), out _));
        Assert.False(memory.TryRead64(new Hpa(0x2008), out _));
        Assert.True(memory.TryRead64(new Hpa(0x2010), out _));
        Assert.True(memory.TryRead64(new Hpa(0x1FF8), out _));
        Assert.False(memory.TryWrite64(new Hpa(0x2008), 1));
        Assert.False(memory.TryCompareExchange64(new Hpa(0x2000), 42, 43, out _, WriteOrigin.IommuFlagUpdate));
        Assert.False(memory.TryRead(new Hpa(0x1FFF), new byte[2]));    // one byte inside is enough
        Assert.False(memory.TryWrite(new Hpa(0x200F), new byte[1]));
        var e = Assert.Throws<MemoryAccessException>(() => memory.Read64(new Hpa(0x2000)));
        Assert.Contains("injected", e.Message);

        memory.ClearInjectedErrors();
        Assert.Equal(42UL, memory.Read64(new Hpa(0x2000)));
    }

    [Fact]
    public void WriteOnlyErrorsLetReadsThroughAndBreakWritesAndAtomics()
    {
        var memory = new PhysicalMemory(1UL << 20);
        memory.Write64(new Hpa(0x3000), 7);
        memory.InjectError(new Hpa(0x3000), 0x1000, InjectedErrorKind.WritesOnly);

        Assert.True(memory.TryRead64(new Hpa(0x3000), out ulong v));
        Assert.Equal(7UL, v);
        Assert.True(memory.TryRead(new Hpa(0x2FFC), new byte[8]));
        Assert.False(memory.TryWrite64(new Hpa(0x3000), 8));
        Assert.False(memory.TryWrite(new Hpa(0x2FFC), new byte[8]));
        Assert.False(memory.TryCompareExchange64(new Hpa(0x3000), 7, 8, out _, WriteOrigin.IommuFlagUpdate));
        Assert.Equal(7UL, memory.Read64(new Hpa(0x3000)));
        Assert.Throws<MemoryAccessException>(() => memory.Write64(new Hpa(0x3FF8), 1));
    }

    [Fact]
    public void AnEmptyErrorRangeIsRefused() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new PhysicalMemory(1UL << 20).InjectError(new Hpa(0x1000), 0));

    [Fact]
    public void AnErrorRangeRunningPastTheTopOfTheAddressSpaceCoversEverythingFromItsStart()
    {
        var memory = new PhysicalMemory(1UL << 20);
        try
        {
            memory.InjectError(new Hpa(0x8000), ulong.MaxValue);
        }
        catch (ArgumentException)
        {
            return; // refusing the range is an acceptable answer too
        }
        Assert.False(memory.TryRead64(new Hpa(0x8000), out _));
        Assert.True(memory.TryRead64(new Hpa(0x7FF8), out _));
    }

    // ------------------------------------------------------------------ compare-exchange

    [Fact]
    public void CompareExchangeStoresOnlyWhenMemoryHoldsTheExpectedValue()
    {
        var memory = new PhysicalMemory(1UL << 20);
        var a = new Hpa(0x4000);
        memory.Write64(a, 0x21);

        Assert.True(memory.TryCompareExchange64(a, 0x21, 0x61, out ulong actual, WriteOrigin.IommuFlagUpdate));
        Assert.Equal(0x21UL, actual);
        Assert.Equal(0x61UL, memory.Read64(a));

        // A mismatch is not an access error: it returns true, reports what memory held, and stores nothing.
        Assert.True(memory.TryCompareExchange64(a, 0x21, 0xFF, out actual, WriteOrigin.IommuFlagUpdate));
        Assert.Equal(0x61UL, actual);
        Assert.Equal(0x61UL, memory.Read64(a));
    }

    [Fact]
    public void CompareExchangeOnUntouchedMemorySeesZero()
    {
        var memory = new PhysicalMemory(1UL << 20);
        Assert.True(memory.TryCompareExchange64(new Hpa(0x9000), 0, 5, out ulong actual, WriteOrigin.Software));
        Assert.Equal(0UL, actual);
        Assert.Equal(5UL, memory.Read64(new Hpa(0x9000)));
    }

    [Fact]
    public void AFailedCompareExchangeOnUntouchedMemoryMaterialisesNothing()
    {
        var memory = new PhysicalMemory(1UL << 20);
        Assert.True(memory.TryCompareExchange64(new Hpa(0x9000), 1, 5, out ulong actual, WriteOrigin.Software));
        Assert.Equal(0UL, actual);
        Assert.Equal(0, memory.MaterializedFrames);
    }

    // ------------------------------------------------------------------ write observers

    [Fact]
    public void ObserversSeeOnlyOverlappingWritesWithTheirOrigin()
    {
        var memory = new PhysicalMemory(1UL << 20);
        var seen = new List<MemoryWrite>();
        using var observer = memory.ObserveWrites(new Hpa(0x5000), 0x10, seen.Add);

        memory.Write64(new Hpa(0x4FF8), 1);                                          // ends right before the range
        memory.Write64(new Hpa(0x5010), 1);                                          // starts right after it
        memory.Write(new Hpa(0x4FF0), new byte[16]);                                 // ends right before it
        memory.Write64(new Hpa(0x5008), 2, WriteOrigin.Dma);                         // inside
        memory.Write(new Hpa(0x4FFF), new byte[2], WriteOrigin.IommuOther);          // straddles the start
        memory.TryCompareExchange64(new Hpa(0x5000), 0, 0x20, out _, WriteOrigin.IommuFlagUpdate); // stores
        memory.TryCompareExchange64(new Hpa(0x5000), 0, 0x40, out _, WriteOrigin.IommuFlagUpdate); // does not store: no write
        memory.TryWrite64(new Hpa(0xFF_FFF8), 1);                                    // elsewhere

        Assert.Equal(new[]
        {
            new MemoryWrite(new Hpa(0x5008), 8, WriteOrigin.Dma),
            new MemoryWrite(new Hpa(0x4FFF), 2, WriteOrigin.IommuOther),
            new MemoryWrite(new Hpa(0x5000), 8, WriteOrigin.IommuFlagUpdate),
        }, seen);
    }

    [Fact]
    public void FailedWritesAreNotObserved()
    {
        var memory = new PhysicalMemory(1UL << 20);
        var seen = new List<MemoryWrite>();
        using var observer = memory.ObserveWrites(new Hpa(0), memory.Size, seen.Add);
        memory.InjectError(new Hpa(0x1000), 0x1000, InjectedErrorKind.WritesOnly);
        memory.TryWrite64(new Hpa(0x1000), 1);
        memory.TryWrite(new Hpa(0x1FF0), new byte[32]);
        memory.TryCompareExchange64(new Hpa(0x1008), 0, 1, out _, WriteOrigin.IommuFlagUpdate);
        memory.TryWrite(new Hpa(memory.Size - 4), new byte[8]);
        Assert.Empty(seen);
    }

    [Fact]
    public void DisposingAnObserverStopsIt()
    {
        var memory = new PhysicalMemory(1UL << 20);
        int calls = 0;
        var observer = memory.ObserveWrites(new Hpa(0x6000), 0x1000, _ => calls++);
        memory.Write64(new Hpa(0x6000), 1);
        observer.Dispose();
        memory.Write64(new Hpa(0x6000), 2);
        observer.Dispose(); // twice is harmless
        memory.Write64(new Hpa(0x6008), 3);
        Assert.Equal(1, calls);
    }

    [Fact]
    public void AnObserverMayDisposeItselfWhileBeingNotified()
    {
        var memory = new PhysicalMemory(1UL << 20);
        int selfCalls = 0, otherCalls = 0;
        IDisposable? self = null;
        self = memory.ObserveWrites(new Hpa(0x7000), 8, _ => { selfCalls++; self!.Dispose(); });
        using var other = memory.ObserveWrites(new Hpa(0x7000), 8, _ => otherCalls++);
        memory.Write64(new Hpa(0x7000), 1);
        memory.Write64(new Hpa(0x7000), 2);
        Assert.Equal(1, selfCalls);
        Assert.Equal(2, otherCalls);
    }

    [Fact]
    public void AnObserverRangeRunningPastTheTopOfTheAddressSpaceSeesEverythingFromItsStart()
    {
        var memory = new PhysicalMemory(1UL << 20);
        int calls = 0;
        using var observer = memory.ObserveWrites(new Hpa(0x8000), ulong.MaxValue, _ => calls++);
        memory.Write64(new Hpa(0x8000), 1);
        Assert.Equal(1, calls);
    }
}
