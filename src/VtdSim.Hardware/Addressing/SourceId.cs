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

    /// <summary>
    /// Parses a requester id as lspci prints it: bus:device.function in hex, the bus 00-ff and the device 00-1f in one
    /// or two digits, the function 0-7 in one. Nothing else is taken: no 0x, no sign, no PCI domain, no spaces.
    /// </summary>
    /// <exception cref="FormatException">The text is not such a requester id; the message says which part and why.</exception>
    public static SourceId Parse(string text) =>
        TryParse(text, out SourceId id, out string error) ? id : throw new FormatException(error);

    /// <summary>
    /// As <see cref="Parse"/>, without an exception: false and a message that names the part that is wrong (the text is
    /// quoted, cut to 40 characters).
    /// </summary>
    public static bool TryParse(string text, out SourceId id, out string error)
    {
        id = default;
        int colon = text.IndexOf(':');
        int dot = text.IndexOf('.', Math.Max(colon, 0));
        string? problem = null;
        if (colon < 0 || dot < 0 || text.IndexOf(':', colon + 1) >= 0 || text.IndexOf('.', dot + 1) >= 0)
            problem = "it needs exactly one ':' and then one '.'";
        else if (!TryHexField(text.AsSpan(0, colon), 2, 0xFF, out int bus))
            problem = $"the bus '{Abbreviate(text[..colon])}' is not 1 or 2 hex digits (00-ff)";
        else if (!TryHexField(text.AsSpan(colon + 1, dot - colon - 1), 2, 0x1F, out int device))
            problem = $"the device '{Abbreviate(text[(colon + 1)..dot])}' is not 1 or 2 hex digits from 00 to 1f";
        else if (!TryHexField(text.AsSpan(dot + 1), 1, 7, out int function))
            problem = $"the function '{Abbreviate(text[(dot + 1)..])}' is not one digit from 0 to 7";
        else
            id = new SourceId((ushort)(bus << 8 | device << 3 | function));
        error = problem is null ? "" : $"'{Abbreviate(text)}' is not a requester id: {problem}; write bus:device.function in hex as lspci prints it, e.g. 00:01.0";
        return problem is null;
    }

    private static bool TryHexField(ReadOnlySpan<char> digits, int maxDigits, int max, out int value)
    {
        value = 0;
        if (digits.Length is 0 || digits.Length > maxDigits) return false;
        foreach (char c in digits)
        {
            int d = c switch
            {
                >= '0' and <= '9' => c - '0',
                >= 'a' and <= 'f' => c - 'a' + 10,
                >= 'A' and <= 'F' => c - 'A' + 10,
                _ => -1,
            };
            if (d < 0) return false;
            value = value * 16 + d;
        }
        return value <= max;
    }

    private static string Abbreviate(string text) => text.Length <= 40 ? text : text[..40] + "…";

    public override string ToString() => $"{Bus:x2}:{Device:x2}.{Function:x}";
}
