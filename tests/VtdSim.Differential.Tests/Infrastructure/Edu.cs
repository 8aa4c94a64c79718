namespace VtdSim.Differential.Tests.Infrastructure;

/// <summary>Facts about QEMU's edu device that both targets share (qemu-facts §7.2).</summary>
public static class Edu
{
    /// <summary>
    /// The device address of the 4 KiB DMA buffer. A buffer range outside it makes QEMU 7.2's edu call hw_error() and
    /// abort; its check is also off by one (the end must be strictly below 0x41000), so a transfer is at most 4095 bytes.
    /// </summary>
    public const ulong BufferBase = 0x40000;
    public const int BufferSize = 4096;
    public const ulong Bar0Base = 0xE000_0000;
    public const ulong Bar0Stride = 0x10_0000; // BAR0 is 1 MiB
    public const int RegDmaSource = 0x80, RegDmaDestination = 0x88, RegDmaCount = 0x90, RegDmaCommand = 0x98;
    public const ulong CommandRun = 1, CommandToRam = 2;

    /// <summary>PCI slot of device <paramref name="index"/>: 00:01.0, 00:02.0.</summary>
    public static int Slot(int index) => index + 1;
    public static ushort SourceId(int index) => (ushort)(Slot(index) << 3);
    public static ulong Bar0(int index) => Bar0Base + (ulong)index * Bar0Stride;

    /// <summary>Refuses a transfer that would make QEMU 7.2's edu call hw_error() (and die).</summary>
    public static void CheckBuffer(int bufferOffset, int length, int device)
    {
        if (length <= 0 || bufferOffset < 0 || bufferOffset + length >= BufferSize)
            throw new ArgumentOutOfRangeException(nameof(length), $"edu buffer range [0x{bufferOffset:x}, +0x{length:x}) must end before 0x{BufferSize:x} (QEMU 7.2's edu aborts otherwise)");
        if (device is < 0 or > 1) throw new ArgumentOutOfRangeException(nameof(device), device, "targets have edu devices 0 and 1");
    }
}
