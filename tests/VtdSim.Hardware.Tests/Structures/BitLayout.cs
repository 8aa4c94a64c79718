namespace VtdSim.Hardware.Tests.Structures;

/// <summary>Helpers for "this property reads exactly that bit" checks over 64-bit words.</summary>
internal static class BitLayout
{
    /// <summary>
    /// For a flag at <paramref name="bit"/> of word <paramref name="word"/>: the property is true when only that bit is
    /// set, and false when every bit except that one is set (so it reads neither a neighbour nor another word).
    /// </summary>
    public static void Flag<T>(Func<ulong[], T> make, int words, int word, int bit, Func<T, bool> property, string name)
    {
        var only = new ulong[words];
        only[word] = 1UL << bit;
        Assert.True(property(make(only)), $"{name}: expected true with only word {word} bit {bit} set");

        var allBut = Enumerable.Repeat(ulong.MaxValue, words).ToArray();
        allBut[word] &= ~(1UL << bit);
        Assert.False(property(make(allBut)), $"{name}: expected false with every bit but word {word} bit {bit} set");
    }

    public static ulong Mask(int hi, int lo) => (hi - lo == 63 ? ulong.MaxValue : (1UL << (hi - lo + 1)) - 1) << lo;
}
