using System.Globalization;
using VtdSim.Scenarios.Model;
using YamlDotNet.RepresentationModel;

namespace VtdSim.Scenarios.Loading;

/// <summary>Reads YAML nodes as the scenario format's values, keeping where each came from; the first problem stops the load.</summary>
internal sealed class NodeReader(string file)
{
    public string File { get; } = file;

    public SourceSpot Spot(YamlNode node, string path) => new(ToInt(node.Start.Line), ToInt(node.Start.Column), path);

    private static int ToInt(long value) => value > int.MaxValue ? int.MaxValue : (int)value;

    public ScenarioFormatException Fail(YamlNode node, string path, string message) =>
        new(new ScenarioError(File, ToInt(node.Start.Line), ToInt(node.Start.Column), path, message));

    public Fields Mapping(YamlNode node, string path, params string[] allowed)
    {
        if (node is not YamlMappingNode map) throw Fail(node, path, $"expected a mapping with keys {string.Join(", ", allowed)}, found {What(node)}");
        return new Fields(this, map, path, allowed);
    }

    public IReadOnlyList<(YamlNode Node, string Path)> Sequence(YamlNode node, string path)
    {
        if (node is YamlScalarNode { Value: "" or null, Style: not (YamlDotNet.Core.ScalarStyle.SingleQuoted or YamlDotNet.Core.ScalarStyle.DoubleQuoted) })
            return [];
        if (node is not YamlSequenceNode seq) throw Fail(node, path, $"expected a list, found {What(node)}");
        return seq.Children.Select((n, i) => (n, $"{path}[{i}]")).ToList();
    }

    public string String(YamlNode node, string path)
    {
        if (node is not YamlScalarNode { Value: { } value }) throw Fail(node, path, $"expected a text, found {What(node)}");
        return value;
    }

    public string Name(YamlNode node, string path)
    {
        string value = String(node, path);
        if (value.Length == 0 || value.Length > 64 || !value.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
            throw Fail(node, path, $"expected a name (1 to 64 letters, digits, '-', '_' or '.'), found '{Shorten(value)}'");
        return value;
    }

    public bool Bool(YamlNode node, string path)
    {
        string value = String(node, path);
        return value switch
        {
            "on" or "true" or "yes" => true,
            "off" or "false" or "no" => false,
            _ => throw Fail(node, path, $"expected on or off, found '{Shorten(value)}'"),
        };
    }

    public string OneOf(YamlNode node, string path, params string[] values)
    {
        string value = String(node, path);
        if (Array.IndexOf(values, value) < 0) throw Fail(node, path, $"expected one of {string.Join(", ", values)}, found '{Shorten(value)}'");
        return value;
    }

    /// <summary>A number: decimal or 0x hexadecimal, underscores allowed between digits.</summary>
    public ulong Number(YamlNode node, string path, ulong max = ulong.MaxValue)
    {
        string value = String(node, path);
        if (!TryNumber(value, out ulong n)) throw Fail(node, path, $"expected a number (decimal or 0x hexadecimal), found '{Shorten(value)}'");
        if (n > max) throw Fail(node, path, $"expected a number up to 0x{max:x}, found 0x{n:x}");
        return n;
    }

    /// <summary>A size: a number, or a number with K, M, G or T (powers of 1024, as QEMU's -m).</summary>
    public ulong Size(YamlNode node, string path, ulong min, ulong max)
    {
        string value = String(node, path);
        int shift = value.Length == 0 ? 0 : char.ToUpperInvariant(value[^1]) switch { 'K' => 10, 'M' => 20, 'G' => 30, 'T' => 40, _ => 0 };
        string digits = shift == 0 ? value : value[..^1];
        if (!TryNumber(digits, out ulong n) || (shift > 0 && n > ulong.MaxValue >> shift))
            throw Fail(node, path, $"expected a size such as 256M, 8G or 0x100000, found '{Shorten(value)}'");
        n <<= shift;
        if (n < min || n > max) throw Fail(node, path, $"expected a size from 0x{min:x} to 0x{max:x}, found 0x{n:x}");
        return n;
    }

    /// <summary>Bytes written as hexadecimal digits, two per byte (spaces allowed between bytes).</summary>
    public byte[] Hex(YamlNode node, string path, int maxBytes)
    {
        string value = String(node, path).Replace(" ", "", StringComparison.Ordinal);
        if (value.StartsWith("0x", StringComparison.OrdinalIgnoreCase)) value = value[2..];
        if (value.Length == 0 || value.Length % 2 != 0 || value.Length / 2 > maxBytes || !value.All(char.IsAsciiHexDigit))
            throw Fail(node, path, $"expected 1 to {maxBytes} bytes as pairs of hexadecimal digits, found '{Shorten(String(node, path))}'");
        return Convert.FromHexString(value);
    }

    internal static bool TryNumber(string text, out ulong value)
    {
        string t = text.Replace("_", "", StringComparison.Ordinal);
        value = 0;
        if (t.Length == 0 || text.StartsWith('_') || text.EndsWith('_')) return false;
        if (t.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
            return t.Length > 2 && t.Skip(2).All(char.IsAsciiHexDigit) && ulong.TryParse(t.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value);
        return t.All(char.IsAsciiDigit) && ulong.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out value);
    }

    public static string What(YamlNode node) => node switch
    {
        YamlMappingNode => "a mapping",
        YamlSequenceNode => "a list",
        YamlScalarNode { Value: "" or null } => "nothing",
        YamlScalarNode s => $"'{Shorten(s.Value!)}'",
        _ => "an alias",
    };

    public static string Shorten(string text) => text.Length <= 40 ? text : text[..40] + "…";

    /// <summary>The keys of one mapping: each read at most once, unknown ones refused when the mapping is done.</summary>
    internal sealed class Fields
    {
        private readonly NodeReader reader;
        private readonly YamlMappingNode map;
        private readonly string[] allowed;
        private readonly List<(string Key, YamlNode KeyNode, YamlNode Value)> entries = [];

        public Fields(NodeReader reader, YamlMappingNode map, string path, string[] allowed)
        {
            this.reader = reader;
            this.map = map;
            this.allowed = allowed;
            Path = path;
            foreach (var (k, v) in map.Children)
            {
                if (k is not YamlScalarNode { Value: { } key }) throw reader.Fail(k, path, $"expected a key (one of {string.Join(", ", allowed)}), found {What(k)}");
                if (entries.Exists(e => e.Key == key)) throw reader.Fail(k, Join(path, key), "the key is given twice");
                if (Array.IndexOf(allowed, key) < 0)
                    throw reader.Fail(k, Join(path, key), allowed.Length == 0 ? "unknown key: nothing is expected here" : $"unknown key '{Shorten(key)}' (expected one of {string.Join(", ", allowed)})");
                entries.Add((key, k, v));
            }
        }

        public string Path { get; }

        public YamlNode Node => map;

        public IEnumerable<string> Keys => entries.Select(e => e.Key);

        public string PathOf(string key) => Join(Path, key);

        public YamlNode? Optional(string key) => entries.Find(e => e.Key == key).Value;

        public YamlNode Required(string key) =>
            Optional(key) ?? throw reader.Fail(map, Path, $"'{key}' is missing");

        public static string Join(string path, string key) => path.Length == 0 ? key : $"{path}.{key}";
    }
}
