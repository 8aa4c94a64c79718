using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace VtdSim.Kernel.Intel;

/// <summary>What the faulting request was, as the line says it.</summary>
public enum DmarRequestKind
{
    DmaRead,
    DmaWrite,
    InterruptRemapping,
}

/// <summary>Which of Linux's forms of the fault line it is (drivers/iommu/intel/dmar.c, dmar_fault_do_one, over the versions).</summary>
public enum DmarLineForm
{
    /// <summary>4.x–5.x: "[DMA Read] Request device [bb:dd.f] fault addr HEX [fault reason DEC] text" (no PASID; the reason in decimal).</summary>
    WithoutPasid,
    /// <summary>5.x until 5.13: as <see cref="WithoutPasid"/> with "PASID HEX" before "fault addr" (ffffffff: none).</summary>
    PasidField,
    /// <summary>5.14 onwards: "[DMA Read NO_PASID]" or "[DMA Read PASID 0x2]", 0x-prefixed address and hex reason; the device [0xbb:0xdd.f] in 5.14 only.</summary>
    Hex,
}

/// <summary>
/// One DMAR fault line as the Linux kernel logs it, in any of its forms since 4.x (<see cref="DmarLineForm"/>), with or
/// without a dmesg timestamp or a syslog prefix before "DMAR:". <see cref="TryParse"/> never throws: a line it cannot
/// read gives a message saying what it expected where, quoting the text.
/// </summary>
public sealed record DmarFaultLine
{
    public required DmarRequestKind Kind { get; init; }
    public required byte Bus { get; init; }
    public required byte Device { get; init; }
    public required byte Function { get; init; }
    /// <summary>The PASID the request carried; null without one (NO_PASID, or PASID ffffffff in the older form).</summary>
    public uint? Pasid { get; init; }
    /// <summary>The page address of the fault (FRCD.FI) for DMA; for interrupt remapping, the interrupt index.</summary>
    public required ulong Address { get; init; }
    public required byte Reason { get; init; }
    /// <summary>The reason's text as the line has it (empty when the line ends after the reason).</summary>
    public required string ReasonText { get; init; }
    public required DmarLineForm Form { get; init; }
    /// <summary>What is before "DMAR:" (a dmesg timestamp "[  12.345678]", a syslog prefix), trimmed; empty if nothing.</summary>
    public string Prefix { get; init; } = "";
    /// <summary>Things about the line worth knowing that did not stop it being read (a text that is not Linux's for the code).</summary>
    public IReadOnlyList<string> Warnings { get; init; } = [];

    /// <summary>The requester id (bus:device.function) as FRCD.SID holds it.</summary>
    public ushort SourceId => (ushort)(Bus << 8 | Device << 3 | Function);

    private const string Marker = "DMAR:";
    private const uint NoPasid = 0xffff_ffff;

    /// <summary>Reads one line; false with a message that says what was expected where and quotes the text found.</summary>
    public static bool TryParse(string line, [NotNullWhen(true)] out DmarFaultLine? fault, out string error)
    {
        fault = null;
        int start = line.IndexOf(Marker, StringComparison.Ordinal);
        if (start < 0)
        {
            error = "not a DMAR fault line: it has no 'DMAR:'";
            return false;
        }
        var c = new Cursor(line, start + Marker.Length);
        c.SkipSpaces();
        if (c.Rest.StartsWith("DRHD: handling fault status reg", StringComparison.Ordinal))
        {
            error = "a DMAR fault status line, not a fault line: the faults it announces are on the lines after it";
            return false;
        }
        if (c.Rest.StartsWith("[fault reason", StringComparison.Ordinal))
        {
            error = "the second half of a fault as Linux 3.x printed it (the reason on a line of its own); explain the reason with --reason";
            return false;
        }
        if (!c.Take("["))
            return Fail(c, "'[DMA Read', '[DMA Write' or '[INTR-REMAP' after 'DMAR:'", out error);

        // The request's tag: [DMA Read], [DMA Write NO_PASID], [DMA Read PASID 0x2], [INTR-REMAP].
        DmarRequestKind kind;
        uint? pasid = null;
        bool tagPasid = false;
        if (c.Take("INTR-REMAP")) kind = DmarRequestKind.InterruptRemapping;
        else if (c.Take("DMA Read")) kind = DmarRequestKind.DmaRead;
        else if (c.Take("DMA Write")) kind = DmarRequestKind.DmaWrite;
        else return Fail(c, "'DMA Read', 'DMA Write' or 'INTR-REMAP' after 'DMAR: ['", out error);
        if (kind != DmarRequestKind.InterruptRemapping)
        {
            if (c.Take(" NO_PASID")) tagPasid = true;
            else if (c.Take(" PASID "))
            {
                if (!c.TakeHex(requirePrefix: true, out ulong p, out _) || p > uint.MaxValue)
                    return Fail(c, "a PASID as 0x followed by hex digits after 'PASID '", out error);
                pasid = (uint)p;
                tagPasid = true;
            }
        }
        if (!c.Take("]"))
            return Fail(c, kind == DmarRequestKind.InterruptRemapping ? "']' after 'INTR-REMAP'" : "']', ' NO_PASID]' or ' PASID 0x…]' after the request type", out error);

        // The device: [bb:dd.f], or [0xbb:0xdd.f] as Linux 5.14 printed it.
        if (!c.Take(" Request device ["))
            return Fail(c, "' Request device [BB:DD.F]' after the request type", out error);
        if (!c.TakeHex(requirePrefix: false, out ulong bus, out bool busPrefixed) || bus > 0xff || !c.Take(":")
            || !c.TakeHex(requirePrefix: false, out ulong dev, out bool devPrefixed) || dev > 0x1f || !c.Take(".")
            || !c.TakeHex(requirePrefix: false, out ulong fn, out bool fnPrefixed) || fn > 7 || fnPrefixed || !c.Take("]"))
            return Fail(c, "a device as BB:DD.F (bus 00-ff, device 00-1f, function 0-7) in 'Request device [...]'", out error);
        if (busPrefixed != devPrefixed)
            return Fail(c, "the bus and device both with 0x or both without", out error);

        // The older form's PASID: " PASID ffffffff" (none) or " PASID 2", between the device and the address.
        bool pasidField = false;
        if (c.Take(" PASID "))
        {
            if (tagPasid)
                return Fail(c, "one PASID only: the line has one in its [tag] already (mixed forms)", out error);
            if (kind == DmarRequestKind.InterruptRemapping)
                return Fail(c, "'fault index' after an interrupt-remapping device; Linux prints no PASID there", out error);
            if (!c.TakeHex(requirePrefix: false, out ulong p, out _) || p > uint.MaxValue)
                return Fail(c, "a PASID in hex after 'PASID '", out error);
            pasid = p == NoPasid ? null : (uint)p;
            pasidField = true;
        }

        // The address (DMA) or the interrupt index (interrupt remapping).
        string what = kind == DmarRequestKind.InterruptRemapping ? " fault index " : " fault addr ";
        if (!c.Take(what))
        {
            string other = kind == DmarRequestKind.InterruptRemapping ? " fault addr " : " fault index ";
            return c.Rest.StartsWith(other, StringComparison.Ordinal)
                ? Fail(c, $"'{what.Trim()}': {(kind == DmarRequestKind.InterruptRemapping ? "an INTR-REMAP fault has an index, not an address" : "a DMA fault has an address, not an index")} (mixed forms)", out error)
                : Fail(c, $"'{what.Trim()} …' after the device", out error);
        }
        if (!c.TakeHex(requirePrefix: false, out ulong address, out bool addressPrefixed))
            return Fail(c, $"a {(kind == DmarRequestKind.InterruptRemapping ? "index" : "address")} in hex (up to 64 bits) after '{what.Trim()}'", out error);

        // The reason: [fault reason 0x05] (hex, 5.14 on) or [fault reason 05] (decimal, before).
        if (!c.Take(" [fault reason "))
        {
            error = c.Rest.Trim().Length == 0
                ? "the line ends after the address: no '[fault reason NN]' (Linux 3.x printed the reason on the next line; explain it with --reason)"
                : $"expected ' [fault reason NN]' after the address, found '{Quote(c.Rest)}'";
            return false;
        }
        bool hexReason = c.Rest.StartsWith("0x", StringComparison.OrdinalIgnoreCase);
        ulong reasonValue;
        if (hexReason ? !c.TakeHex(requirePrefix: true, out reasonValue, out _) : !c.TakeDecimal(out reasonValue))
            return Fail(c, "a reason code, 0x-prefixed hex or decimal, after '[fault reason '", out error);
        if (reasonValue > 0xff)
        {
            error = $"the reason code {(hexReason ? $"0x{reasonValue:x}" : reasonValue)} is more than one byte (codes are 0 to 0xff)";
            return false;
        }
        if (!c.Take("]"))
            return Fail(c, "']' after the reason code", out error);
        string text = c.AtEnd ? "" : c.Take(" ") ? c.Rest.TrimEnd() : "";
        if (!c.AtEnd && text.Length == 0 && c.Rest.Trim().Length > 0)
            return Fail(c, "a space and the reason's text after the reason code", out error);

        // Which form: since 5.14 every number has 0x and a DMA line says NO_PASID or PASID 0x… in its tag; before, none.
        bool newForm = tagPasid || hexReason || addressPrefixed || busPrefixed;
        if (newForm && (pasidField || !hexReason || !addressPrefixed || (kind != DmarRequestKind.InterruptRemapping && !tagPasid)))
        {
            error = "expected one form throughout (mixed forms): since 5.14 Linux prints NO_PASID or PASID 0x… in the tag, the address with 0x and " +
                    "the reason in hex; before, the address and reason without 0x (the reason in decimal) and any PASID before 'fault addr'";
            return false;
        }

        var warnings = new List<string>();
        byte reason = (byte)reasonValue;
        string linux = DmarFaultReasons.Describe(reason, out _);
        if (text.Length > 0 && !Matches(text, linux))
        {
            // A decimal code whose text is that of the same digits read as hex: the line was retyped with a hex code.
            if (!hexReason && reasonValue <= 0x99 && byte.TryParse(reasonValue.ToString(CultureInfo.InvariantCulture), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out byte asHex)
                && Matches(text, DmarFaultReasons.Describe(asHex, out _)))
            {
                warnings.Add($"the code {reasonValue} is decimal in this form, but the text is Linux's for 0x{asHex:x2}: read as 0x{asHex:x2}");
                reason = asHex;
            }
            else
                warnings.Add($"the text is not Linux's for reason 0x{reason:x2} (Linux prints \"{linux}\"): the code is explained, not the text");
        }
        else if (text.Length > 0 && text.Length < linux.Length)
            warnings.Add($"the text is cut short; Linux's text for 0x{reason:x2} is \"{linux}\"");
        if (kind == DmarRequestKind.InterruptRemapping && reason is < 0x20 or > 0x26)
            warnings.Add($"an INTR-REMAP line with reason 0x{reason:x2}, which is not an interrupt-remapping reason (0x20-0x26)");

        fault = new DmarFaultLine
        {
            Kind = kind,
            Bus = (byte)bus,
            Device = (byte)dev,
            Function = (byte)fn,
            Pasid = pasid,
            Address = address,
            Reason = reason,
            ReasonText = text,
            Form = newForm ? DmarLineForm.Hex : pasidField ? DmarLineForm.PasidField : DmarLineForm.WithoutPasid,
            Prefix = line[..start].Trim(),
            Warnings = warnings,
        };
        error = "";
        return true;
    }

    /// <summary>A reason code given alone (--reason): 0x-prefixed hex or decimal, one byte.</summary>
    public static bool TryParseReason(string text, out byte reason, out string error)
    {
        reason = 0;
        var c = new Cursor(text.Trim(), 0);
        bool hex = c.Rest.StartsWith("0x", StringComparison.OrdinalIgnoreCase);
        if (!(hex ? c.TakeHex(requirePrefix: true, out ulong value, out _) : c.TakeDecimal(out value)) || !c.AtEnd)
        {
            error = $"'{Quote(text)}' is not a reason code; give it as the line does, 0x77 (hex) or 119 (decimal)";
            return false;
        }
        if (value > 0xff)
        {
            error = $"'{Quote(text)}' is not a reason code: they are one byte, 0 to 0xff";
            return false;
        }
        reason = (byte)value;
        error = "";
        return true;
    }

    private static bool Matches(string text, string linux) =>
        text == linux || (text.Length >= 8 && linux.StartsWith(text, StringComparison.Ordinal));

    private static bool Fail(Cursor c, string expected, out string error)
    {
        error = c.AtEnd ? $"the line ends where {expected} should be" : $"expected {expected}; found '{Quote(c.Rest)}'";
        return false;
    }

    /// <summary>Text as a message quotes it: control characters as \xNN, cut after 60 characters.</summary>
    public static string Quote(string text)
    {
        var s = new System.Text.StringBuilder();
        foreach (char ch in text.Length > 60 ? text[..60] : text)
            s.Append(char.IsControl(ch) || char.IsSurrogate(ch) ? $"\\x{(int)ch:x2}" : ch.ToString());
        if (text.Length > 60) s.Append('…');
        return s.ToString();
    }

    /// <summary>A position in the line, read forward; every Take either consumes what it names or leaves the position alone.</summary>
    private sealed class Cursor(string text, int position)
    {
        private int _at = position;

        public string Rest => text[_at..];
        public bool AtEnd => _at >= text.Length;

        public void SkipSpaces()
        {
            while (_at < text.Length && text[_at] == ' ') _at++;
        }

        public bool Take(string literal)
        {
            if (text.Length - _at < literal.Length || string.CompareOrdinal(text, _at, literal, 0, literal.Length) != 0) return false;
            _at += literal.Length;
            return true;
        }

        /// <summary>Hex digits, with 0x in front when <paramref name="requirePrefix"/> (optional otherwise); at most 16 digits.</summary>
        public bool TakeHex(bool requirePrefix, out ulong value, out bool prefixed)
        {
            value = 0;
            int at = _at;
            prefixed = at + 1 < text.Length && text[at] == '0' && (text[at + 1] == 'x' || text[at + 1] == 'X')
                       && at + 2 < text.Length && char.IsAsciiHexDigit(text[at + 2]);
            if (requirePrefix && !prefixed) return false;
            if (prefixed) at += 2;
            int first = at;
            while (at < text.Length && char.IsAsciiHexDigit(text[at])) at++;
            if (at == first || at - first > 16) return false;
            value = ulong.Parse(text.AsSpan(first, at - first), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture);
            _at = at;
            return true;
        }

        /// <summary>Decimal digits, at most 19 (a value that fits in 64 bits).</summary>
        public bool TakeDecimal(out ulong value)
        {
            value = 0;
            int at = _at;
            while (at < text.Length && char.IsAsciiDigit(text[at])) at++;
            if (at == _at || at - _at > 19) return false;
            value = ulong.Parse(text.AsSpan(_at, at - _at), NumberStyles.None, CultureInfo.InvariantCulture);
            _at = at;
            return true;
        }
    }
}
