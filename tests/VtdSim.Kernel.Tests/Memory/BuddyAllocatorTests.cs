using VtdSim.Hardware.Addressing;
using VtdSim.Kernel.Memory;

namespace VtdSim.Kernel.Tests.Memory;

/// <summary>The buddy allocator behind user memory (docs/decisions.md, K14): alignment, lowest address first, split and merge.</summary>
public class BuddyAllocatorTests
{
    private const ulong MiB = 1UL << 20, GiB = 1UL << 30;
    private const int Order2M = 9, Order1G = 18;

    [Fact]
    public void BlocksAreNaturallyAlignedAndHandedOutLowestAddressFirst()
    {
        // 64 MiB .. 3 GiB: the first 1 GiB-aligned block starts at 1 GiB.
        var buddy = new BuddyAllocator(new Hpa(64 * MiB), 3 * GiB - 64 * MiB);
        Assert.Equal(new Hpa(64 * MiB), buddy.TryAllocate(0));
        Assert.Equal(new Hpa(64 * MiB + 4096), buddy.TryAllocate(0));
        Assert.Equal(new Hpa(66 * MiB), buddy.TryAllocate(Order2M)); // the lowest 2 MiB-aligned free block
        Assert.Equal(new Hpa(GiB), buddy.TryAllocate(Order1G));
        Assert.Equal(new Hpa(2 * GiB), buddy.TryAllocate(Order1G));
        Assert.Null(buddy.TryAllocate(Order1G));
        Assert.Equal(new Hpa(64 * MiB + 8192), buddy.TryAllocate(0)); // small pages keep filling from the bottom
        Assert.Equal(2 * GiB + 2 * MiB + 3 * 4096, buddy.BytesInUse);
    }

    [Fact]
    public void AFreeGibibyteIsSplitForSmallPagesAndWholeAgainOnceTheyAreFreed()
    {
        var buddy = new BuddyAllocator(new Hpa(GiB), GiB);
        Hpa small = buddy.TryAllocate(0)!.Value;
        Hpa huge2M = buddy.TryAllocate(Order2M)!.Value;
        Assert.Equal(new Hpa(GiB), small);
        Assert.Null(buddy.TryAllocate(Order1G)); // split: no whole 1 GiB block left
        buddy.Free(small, 0);
        Assert.Null(buddy.TryAllocate(Order1G));
        buddy.Free(huge2M, Order2M);
        Assert.Equal(new Hpa(GiB), buddy.TryAllocate(Order1G)); // the buddies merged back
        Assert.Equal(1, buddy.BlocksInUse);
    }

    [Fact]
    public void FreedMemoryIsReusedLowestFirstWhateverTheOrderOfFrees()
    {
        var buddy = new BuddyAllocator(new Hpa(0x10_0000), 16 * MiB);
        var pages = Enumerable.Range(0, 8).Select(_ => buddy.TryAllocate(0)!.Value).ToList();
        buddy.Free(pages[6], 0);
        buddy.Free(pages[2], 0);
        buddy.Free(pages[5], 0);
        Assert.Equal(pages[2], buddy.TryAllocate(0));
        Assert.Equal(pages[5], buddy.TryAllocate(0));
        Assert.Equal(pages[6], buddy.TryAllocate(0));
    }

    [Fact]
    public void ExhaustionIsNullAndBadFreesAreRefused()
    {
        var buddy = new BuddyAllocator(new Hpa(0x10_0000), 2 * 4096);
        Hpa a = buddy.TryAllocate(0)!.Value;
        Assert.NotNull(buddy.TryAllocate(0));
        Assert.Null(buddy.TryAllocate(0));
        Assert.Null(buddy.TryAllocate(1));
        Assert.Throws<InvalidOperationException>(() => buddy.Free(a, 1));               // wrong order
        buddy.Free(a, 0);
        Assert.Throws<InvalidOperationException>(() => buddy.Free(a, 0));               // twice
        Assert.Throws<InvalidOperationException>(() => buddy.Free(new Hpa(0x8000), 0)); // never handed out
        Assert.Throws<ArgumentOutOfRangeException>(() => buddy.TryAllocate(BuddyAllocator.MaxOrder + 1));
        Assert.Throws<ArgumentException>(() => new BuddyAllocator(new Hpa(0x800), 4096));
    }
}
