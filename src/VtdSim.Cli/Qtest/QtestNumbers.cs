using VtdSim.Hardware.Addressing;

namespace VtdSim.Cli.Qtest;

/// <summary>
/// How the qtest protocol spells numbers and data. Numbers follow C's strtoull with base 0, as QEMU parses them: an
/// optional '+', then "0x"/"0X" for hex, a leading "0" for octal, else decimal; the whole word must be the number.
/// </summary>
public static class QtestNumbers
{
    public const string NumberHint = "use decimal, 0x-prefixed hex or 0-prefixed octal";

    /// <summary>Parses an unsigned 64-bit number; false (with a reason) for anything strtoull would not consume entirely.</summary>
    public static bool TryParseUnsigned(string text, out ulong value, out string error)
    {
        value = 0;
        if (text.StartsWith('-'))
        {
            error = $"'{Abbreviate(text)}' is negative; an unsigned number is needed";
            return false;
        }
        string digits = text.StartsWith('+') ? text[1..] : text;
        int radix = 10;
        if (digits.Length > 1 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X'))
        {
            radix = 16;
            digits = digits[2..];
        }
        else if (digits.Length > 1 && digits[0] == '0')
        {
            radix = 8;
            digits = digits[1..];
        }
        if (digits.Length == 0 || digits[0] == '+' || digits[0] == '-')
        {
            error = $"'{Abbreviate(text)}' is not a number ({NumberHint})";
            return false;
        }
        foreach (char c in digits)
        {
            int d = DigitValue(c);
            if (d < 0 || d >= radix)
            {
                error = $"'{Abbreviate(text)}' is not a number ({NumberHint})";
                return false;
            }
            if (value > (ulong.MaxValue - (ulong)d) / (ulong)radix)
            {
                error = $"'{Abbreviate(text)}' does not fit in 64 bits";
                return false;
            }
            value = value * (ulong)radix + (ulong)d;
        }
        error = "";
        return true;
    }

    /// <summary>Parses a signed 64-bit number (clock_step and clock_set take one, like QEMU's qemu_strtoi64).</summary>
    public static bool TryParseSigned(string text, out long value, out string error)
    {
        value = 0;
        bool negative = text.StartsWith('-');
        string body = negative ? text[1..] : text;
        if (body.StartsWith('+') && negative)
        {
            error = $"'{Abbreviate(text)}' is not a number ({NumberHint})";
            return false;
        }
        if (!TryParseUnsigned(body, out ulong magnitude, out error))
        {
            error = $"'{Abbreviate(text)}' is not a signed 64-bit number ({NumberHint}, optionally negative)";
            return false;
        }
        if (negative ? magnitude > 1UL << 63 : magnitude > long.MaxValue)
        {
            error = $"'{Abbreviate(text)}' does not fit in a signed 64-bit number";
            return false;
        }
        value = negative ? (long)(0 - magnitude) : (long)magnitude;
        return true;
    }

    /// <summary>
    /// Parses "0x" followed by hex digit pairs into exactly <paramref name="length"/> bytes, first byte first, as QEMU's
    /// `write` does: fewer digits than needed leave the rest zero, extra digits are ignored. Unlike QEMU, the prefix,
    /// every digit and an even digit count are checked.
    /// </summary>
    public static bool TryParseHexData(string text, int length, out byte[] data, out string error)
    {
        data = [];
        if (!(text.StartsWith("0x", StringComparison.Ordinal) || text.StartsWith("0X", StringComparison.Ordinal)))
        {
            error = $"data '{Abbreviate(text)}' must start with 0x";
            return false;
        }
        ReadOnlySpan<char> hex = text.AsSpan(2);
        for (int i = 0; i < hex.Length; i++)
        {
            if (DigitValue(hex[i]) is < 0 or >= 16)
            {
                error = $"data has '{hex[i]}' at character {i + 3}, which is not a hex digit";
                return false;
            }
        }
        if (hex.Length % 2 != 0)
        {
            error = $"data has an odd number of hex digits ({hex.Length}); give two per byte";
            return false;
        }
        data = new byte[length];
        int count = Math.Min(length, hex.Length / 2);
        for (int i = 0; i < count; i++)
            data[i] = (byte)(DigitValue(hex[2 * i]) << 4 | DigitValue(hex[2 * i + 1]));
        error = "";
        return true;
    }

    /// <summary>Formats bytes as QEMU's `read` answers them: "0x" and two lower-case digits per byte, first byte first.</summary>
    public static string FormatHexData(ReadOnlySpan<byte> data) => "0x" + Convert.ToHexStringLower(data);

    /// <summary>
    /// Parses a RAM size as QEMU's -m does: a number with an optional K, M, G or T suffix (powers of 1024); a bare
    /// number means MiB. "B" after the number (or after the suffix letter) is allowed, "4096B" is bytes.
    /// </summary>
    public static bool TryParseRamSize(string text, out ulong bytes, out string error)
    {
        bytes = 0;
        string t = text.Trim();
        ulong unit = 1UL << 20;
        if (t.Length > 1 && (t[^1] == 'B' || t[^1] == 'b'))
        {
            t = t[..^1];
            unit = 1;
        }
        if (t.Length > 0)
        {
            int shift = char.ToUpperInvariant(t[^1]) switch { 'K' => 10, 'M' => 20, 'G' => 30, 'T' => 40, _ => -1 };
            if (shift >= 0)
            {
                t = t[..^1];
                unit = 1UL << shift;
            }
        }
        if (!TryParseUnsigned(t, out ulong n, out _) || t.StartsWith('+'))
        {
            error = $"RAM size '{text}' is not a size; write e.g. 4G, 512M, 65536K or 1048576B (a bare number is MiB, as QEMU's -m)";
            return false;
        }
        if (n != 0 && n > ulong.MaxValue / unit)
        {
            error = $"RAM size '{text}' does not fit in 64 bits";
            return false;
        }
        bytes = n * unit;
        if (bytes == 0 || bytes % 4096 != 0)
        {
            error = $"RAM size '{text}' must be a non-zero multiple of 4 KiB";
            return false;
        }
        error = "";
        return true;
    }

    /// <summary>A requester id as lspci prints it (<see cref="SourceId.TryParse"/>).</summary>
    public static bool TryParseSourceId(string text, out ushort value, out string error)
    {
        bool ok = SourceId.TryParse(text, out SourceId id, out error);
        value = id.Value;
        return ok;
    }

    /// <summary>Cuts a long word for an error message.</summary>
    public static string Abbreviate(string text, int max = 40) => text.Length <= max ? text : text[..max] + "…";

    private static int DigitValue(char c) => c switch
    {
        >= '0' and <= '9' => c - '0',
        >= 'a' and <= 'f' => c - 'a' + 10,
        >= 'A' and <= 'F' => c - 'A' + 10,
        _ => -1,
    };
}
