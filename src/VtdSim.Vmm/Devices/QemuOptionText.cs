namespace VtdSim.Vmm.Devices;

/// <summary>One NAME=VALUE of a QEMU option argument, as QemuOpts splits it.</summary>
public readonly record struct QemuOption(string Name, string Value);

/// <summary>
/// QEMU's option-argument syntax (QemuOpts), as `-device`, `-machine` and `-chardev` take it: comma-separated
/// NAME=VALUE pairs, ",," for a comma inside a value, an implied first name (`driver` for -device, `type` for
/// -machine, `backend` for -chardev) when the first element has no '=', and the deprecated short form of a boolean
/// (`NAME` for NAME=on, `noNAME` for NAME=off) with QEMU's warning.
/// </summary>
public static class QemuOptionText
{
    /// <summary>
    /// Splits <paramref name="text"/>. The first element without '=' is <paramref name="impliedName"/>=element; other
    /// elements without '=' are short-form booleans, each adding QEMU's deprecation warning to <paramref name="warnings"/>.
    /// </summary>
    public static IReadOnlyList<QemuOption> Split(string text, string? impliedName, List<string>? warnings = null)
    {
        ArgumentNullException.ThrowIfNull(text);
        var result = new List<QemuOption>();
        int i = 0;
        bool first = true;
        while (i < text.Length)
        {
            // A NAME ends at '=' or ','; a value ends at a single ',' (",," is a comma in it).
            int nameEnd = i;
            while (nameEnd < text.Length && text[nameEnd] != '=' && text[nameEnd] != ',') nameEnd++;
            if (nameEnd < text.Length && text[nameEnd] == '=')
            {
                string name = text[i..nameEnd];
                i = ReadValue(text, nameEnd + 1, out string value);
                result.Add(new QemuOption(name, value));
            }
            else if (first && impliedName is not null)
            {
                i = ReadValue(text, i, out string value);
                result.Add(new QemuOption(impliedName, value));
            }
            else
            {
                string name = text[i..nameEnd];
                i = nameEnd + 1;
                if (name.Length == 0) continue;
                bool off = name.StartsWith("no", StringComparison.Ordinal);
                string property = off ? name[2..] : name;
                string value = off ? "off" : "on";
                warnings?.Add($"warning: short-form boolean option '{name}' deprecated\nPlease use {property}={value} instead");
                result.Add(new QemuOption(property, value));
            }
            first = false;
        }
        return result;
    }

    /// <summary>Reads a value up to the next single comma (",," is a comma); returns the index after that comma.</summary>
    private static int ReadValue(string text, int start, out string value)
    {
        var sb = new System.Text.StringBuilder();
        int i = start;
        while (i < text.Length)
        {
            if (text[i] == ',')
            {
                if (i + 1 < text.Length && text[i + 1] == ',')
                {
                    sb.Append(',');
                    i += 2;
                    continue;
                }
                break;
            }
            sb.Append(text[i]);
            i++;
        }
        value = sb.ToString();
        return i + 1;
    }

    /// <summary>
    /// The order in which QEMU sets a device's properties: QemuOpts become a QDict, which iterates its 512 hash buckets
    /// in order (the tdb string hash), so the command line's order only matters between names in one bucket (where the
    /// first given comes first). A name given twice keeps its first place and its last value.
    /// </summary>
    public static IReadOnlyList<QemuOption> InQdictOrder(IEnumerable<QemuOption> options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var byName = new Dictionary<string, int>(StringComparer.Ordinal);
        var list = new List<QemuOption>();
        foreach (QemuOption o in options)
        {
            if (byName.TryGetValue(o.Name, out int at)) list[at] = o;
            else
            {
                byName[o.Name] = list.Count;
                list.Add(o);
            }
        }
        return list.Select((o, index) => (o, index)).OrderBy(p => QdictBucket(p.o.Name)).ThenBy(p => p.index).Select(p => p.o).ToList();
    }

    /// <summary>QDict's bucket for a key: the tdb hash (Samba's trivial database) of its bytes, modulo 512.</summary>
    public static uint QdictBucket(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        byte[] bytes = System.Text.Encoding.UTF8.GetBytes(key);
        unchecked
        {
            uint value = 0x238F13AFu * (uint)bytes.Length;
            for (int i = 0; i < bytes.Length; i++) value += (uint)bytes[i] << (i * 5 % 24);
            return (1103515243u * value + 12345u) % 512u;
        }
    }
}
