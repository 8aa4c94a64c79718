namespace VtdSim.Hardware.Addressing;

/// <summary>A PCI requester id (bus:device.function) as carried in a DMA request and recorded in FRCD.SID.</summary>
public readonly record struct SourceId(ushort Value)
{
    public SourceId(int bus, int device, int function)
        : this(Make(bus, device, function)) { }

    public byte Bus => (byte)(Value >> 8);
    public byte DevFn => (byte)Value;
    public int Device => (Value >> 3) & 0x1F;
    public int Function => Value & 7;

    private static ushort Make(int bus, int device, int function)
    {
        if ((uint)bus > 255) throw new ArgumentOutOfRangeException(nameof(bus), bus, "bus must be 0..255");
        if ((uint)device > 31) throw new ArgumentOutOfRangeException(nameof(device), device, "device must be 0..31");
        if ((uint)function > 7) throw new ArgumentOutOfRangeException(nameof(function), function, "function must be 0..7");
        return (ushort)((bus << 8) | (device << 3) | function);
    }

    /// <summary>Parses "bb:dd.f" (hex, as lspci prints it).</summary>
    public static SourceId Parse(string text)
    {
        var parts = text.Split(':', '.');
        if (parts.Length != 3)
            throw new FormatException($"'{text}' is not a requester id; expected bus:device.function in hex, e.g. 00:01.0");
        try
        {
            return new SourceId(Convert.ToInt32(parts[0], 16), Convert.ToInt32(parts[1], 16), Convert.ToInt32(parts[2], 16));
        }
        catch (Exception e) when (e is FormatException or ArgumentOutOfRangeException or OverflowException)
        {
            throw new FormatException($"'{text}' is not a requester id: {e.Message}", e);
        }
    }

    public override string ToString() => $"{Bus:x2}:{Device:x2}.{Function:x}";
}
