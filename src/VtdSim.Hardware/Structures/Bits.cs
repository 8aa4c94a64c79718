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

    /// <summary>Stores <paramref name="field"/> in bits hi:lo; a value that does not fit is refused, naming the field.</summary>
    public static ulong Set(ulong value, int hi, int lo, ulong field, string name)
    {
        ulong mask = Mask(hi, lo);
        if ((field << lo & mask) >> lo != field)
            throw new ArgumentOutOfRangeException(name, field, $"{name}: value 0x{field:x} does not fit in bits {hi}:{lo}");
        return (value & ~mask) | (field << lo);
    }

    public static ulong Set(ulong value, int bit, bool on)
    {
        if ((uint)bit > 63) throw new ArgumentOutOfRangeException(nameof(bit), bit, "a bit number must be 0..63");
        return on ? value | (1UL << bit) : value & ~(1UL << bit);
    }

    /// <summary>A byte offset a register field holds in 16-byte units (FRO, IRO): refused unless it is a multiple of 16.</summary>
    public static ulong SixteenByteUnits(int bytes, string name)
    {
        if (bytes < 0 || bytes % 16 != 0) throw new ArgumentOutOfRangeException(name, bytes, $"{name}: offset 0x{bytes:x} is not a multiple of 16 bytes");
        return (ulong)(bytes / 16);
    }

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

    /// <summary>
    /// Checks that an input address (an IOVA, GVA or GPA in a 63:12 field, such as an invalidation descriptor's ADDR) is
    /// 4 KiB aligned; every 64-bit address has such a field, up to the top of the address space.
    /// </summary>
    public static ulong PageAlignedInput(ulong address, string what)
    {
        if ((address & 0xFFF) != 0) throw new ArgumentException($"{what} 0x{address:x} is not 4 KiB aligned", nameof(address));
        return address;
    }
}
