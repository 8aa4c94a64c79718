using System.Globalization;
using System.Text;
using System.Text.Json;

namespace VtdSim.Cli.Qtest;

/// <summary>
/// JSON as QEMU's monitor writes it (decision Q61): `, ` and `: ` between members, every character outside printable
/// ASCII as an upper-case `\uXXXX` escape (a pair of them above U+FFFF), and an object's members in the order QEMU's
/// QDict keeps them — by hash bucket (512 buckets), and within a bucket the member added last first — so that a reply
/// is byte for byte what QEMU 7.2 sends (`{"return": {}, "id": 1}` but `{"id": 1, "error": …}`).
/// </summary>
public static class QmpJson
{
    private const int Buckets = 512;

    /// <summary>An object of members given in the order QEMU adds them (each value already JSON text).</summary>
    public static string Object(params (string Key, string Json)[] members)
    {
        var order = Enumerable.Range(0, members.Length)
            .OrderBy(i => Bucket(members[i].Key))
            .ThenByDescending(i => i);
        var text = new StringBuilder("{");
        bool first = true;
        foreach (int i in order)
        {
            if (!first) text.Append(", ");
            first = false;
            text.Append(String(members[i].Key)).Append(": ").Append(members[i].Json);
        }
        return text.Append('}').ToString();
    }

    /// <summary>A JSON string with QEMU's escapes.</summary>
    public static string String(string value)
    {
        var text = new StringBuilder(value.Length + 2).Append('"');
        foreach (Rune rune in value.EnumerateRunes())
        {
            int c = rune.Value;
            switch (c)
            {
                case '"': text.Append("\\\""); break;
                case '\\': text.Append("\\\\"); break;
                case '\b': text.Append("\\b"); break;
                case '\f': text.Append("\\f"); break;
                case '\n': text.Append("\\n"); break;
                case '\r': text.Append("\\r"); break;
                case '\t': text.Append("\\t"); break;
                default:
                    if (c is >= 0x20 and < 0x7f) text.Append((char)c);
                    else if (c < 0x10000) text.Append(CultureInfo.InvariantCulture, $"\\u{c:X4}");
                    else
                    {
                        string pair = rune.ToString();
                        text.Append(CultureInfo.InvariantCulture, $"\\u{(int)pair[0]:X4}\\u{(int)pair[1]:X4}");
                    }
                    break;
            }
        }
        return text.Append('"').ToString();
    }

    /// <summary>A value the client sent (an `id`), written back as QEMU writes what it parsed.</summary>
    public static string Value(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Object => Object([.. value.EnumerateObject().Select(p => (p.Name, Value(p.Value)))]),
        JsonValueKind.Array => "[" + string.Join(", ", value.EnumerateArray().Select(Value)) + "]",
        JsonValueKind.String => String(value.GetString()!),
        JsonValueKind.True => "true",
        JsonValueKind.False => "false",
        JsonValueKind.Null => "null",
        _ => value.TryGetInt64(out long n) ? n.ToString(CultureInfo.InvariantCulture) : value.GetRawText(),
    };

    /// <summary>The QDict bucket of a key: QEMU hashes keys with the hash of Samba's tdb, modulo 512.</summary>
    public static int Bucket(string key)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(key);
        uint value = unchecked(0x238F13AFu * (uint)bytes.Length);
        for (int i = 0; i < bytes.Length; i++) value = unchecked(value + ((uint)bytes[i] << (i * 5 % 24)));
        return (int)(unchecked(1103515243u * value + 12345u) % Buckets);
    }
}
