using System.Runtime.CompilerServices;

namespace VtdSim.Hardware.Structures;

/// <summary>Bit-field helpers shared by every entry and register layout (bit numbers are inclusive hi:lo, as in the spec).</summary>
internal static class Bits
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Mask(int hi, int lo) => (hi - lo == 63 ? ulong.MaxValue : ((1UL << (hi - lo + 1)) - 1)) << lo;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Get(ulong value, int hi, int lo) => (value & Mask(hi, lo)) >> lo;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Test(ulong value, int bit) => ((value >> bit) & 1) != 0;

    public static ulong Set(ulong value, int hi, int lo, ulong field)
    {
        ulong mask = Mask(hi, lo);
        if ((field << lo & mask) >> lo != field)
            throw new ArgumentOutOfRangeException(nameof(field), field, $"value does not fit in bits {hi}:{lo}");
        return (value & ~mask) | (field << lo);
    }

    public static ulong Set(ulong value, int bit, bool on) => on ? value | (1UL << bit) : value & ~(1UL << bit);

    /// <summary>The address bits 51:12 at or above the host address width: reserved in every pointer field.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong AboveWidth(int hostAddressWidth) => hostAddressWidth >= 52 ? 0 : Mask(51, hostAddressWidth);

    /// <summary>Checks that a table pointer is 4 KiB aligned before it is put in an entry.</summary>
    public static ulong PageAddress(ulong address, string what)
    {
        if ((address & 0xFFF) != 0) throw new ArgumentException($"{what} 0x{address:x} is not 4 KiB aligned", nameof(address));
        if (address >> 52 != 0) throw new ArgumentException($"{what} 0x{address:x} does not fit in 52 bits", nameof(address));
        return address;
    }
}
