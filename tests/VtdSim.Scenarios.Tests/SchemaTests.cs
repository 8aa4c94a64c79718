using System.Text.Json;
using System.Text.RegularExpressions;
using YamlDotNet.RepresentationModel;

namespace VtdSim.Scenarios.Tests;

/// <summary>
/// The published JSON Schema (scenarios/scenario.schema.json) agrees with the loader: every built-in file is valid
/// under it, each file names it on its first line, and a key the loader refuses is refused by the schema too.
/// </summary>
public class SchemaTests
{
    private static readonly JsonElement Schema = JsonDocument.Parse(File.ReadAllText(Path.Combine(BuiltIn.Directory, "scenario.schema.json"))).RootElement;

    public static TheoryData<string> Files() => new(BuiltIn.Names());

    [Theory]
    [MemberData(nameof(Files))]
    public void EveryBuiltInFileIsValidUnderTheSchemaAndPointsAtIt(string name)
    {
        string text = BuiltIn.Text(name);
        Assert.StartsWith("# yaml-language-server: $schema=scenario.schema.json\n", text, StringComparison.Ordinal);
        Assert.True(Valid(Root(text), Schema, out string why), $"{name}: {why}");
    }

    [Theory]
    [InlineData("    memory: 256M\n", "    memory: 256M\n    memroy: 1G\n")]
    [InlineData("      - vm: { vmm: vm0, state: failed }\n", "      - vm: { vmm: vm0, state: crashed }\n")]
    [InlineData("  - start: vm0\n", "  - start: vm0\n    boot: vm0\n")]
    [InlineData("erratum-policy: wants-nesting-maps-ro", "erratum-policy: qemu-12")]
    public void WhatTheLoaderRefusesTheSchemaRefusesToo(string from, string to)
    {
        string text = BuiltIn.Text("01-qemu-without-workaround-refused.yaml").Replace(from, to, StringComparison.Ordinal);
        Assert.False(Loading.ScenarioLoader.Load("x.yaml", text).Success);
        Assert.False(Valid(Root(text), Schema, out _));
    }

    [Theory]
    [InlineData("hwpt-alloc: { vmm: vm0, device: nic, flags: nest-parent }")]
    [InlineData("hot-add: { vmm: vm0, id: dimm0, gpa: 0x100000000, size: 2M }")]
    [InlineData("move-bar: { vmm: vm0, device: nic, address: none }")]
    [InlineData("move-bar: { vmm: vm0, device: nic, address: 0xfe000000 }")]
    [InlineData("pam: { vmm: vm0, segment: 0, mode: read-write }")]
    [InlineData("table-entry: { vmm: vm0, device: nic, iova: 0x1000000, level: 4, set: 0x80, invalidate: off }")]
    [InlineData("register-write: { vmm: vm0, offset: 0x18, size: 2, value: 0xffff }")]
    public void TheHostActionAndFaultInjectionStepsAreInTheSchema(string step)
    {
        string text = BuiltIn.Text("01-qemu-without-workaround-refused.yaml").Replace("  - start: vm0\n", $"  - start: vm0\n  - {step}\n", StringComparison.Ordinal);
        Assert.True(Loading.ScenarioLoader.Load("x.yaml", text).Success, Loading.ScenarioLoader.Load("x.yaml", text).Error?.ToString());
        Assert.True(Valid(Root(text), Schema, out string why), why);
    }

    [Theory]
    [InlineData("hwpt-alloc: { vmm: vm0, device: nic, flags: nested }")]
    [InlineData("hot-add: { vmm: vm0, gpa: 0x100000000, size: 2M }")]
    [InlineData("move-bar: { vmm: vm0, device: nic, address: nowhere }")]
    [InlineData("pam: { vmm: vm0, segment: 0, mode: rw }")]
    [InlineData("table-entry: { vmm: vm0, device: nic, iova: 0x1000000, level: 4, set: 0x80, bits: 1 }")]
    [InlineData("register-write: { vmm: vm0, offset: 0x18, size: 3, value: 1 }")]
    public void WhatTheLoaderRefusesInTheNewStepsTheSchemaRefusesToo(string step)
    {
        string text = BuiltIn.Text("01-qemu-without-workaround-refused.yaml").Replace("  - start: vm0\n", $"  - start: vm0\n  - {step}\n", StringComparison.Ordinal);
        Assert.False(Loading.ScenarioLoader.Load("x.yaml", text).Success);
        Assert.False(Valid(Root(text), Schema, out _));
    }

    private static YamlNode Root(string text)
    {
        var yaml = new YamlStream();
        yaml.Load(new StringReader(text));
        return yaml.Documents[0].RootNode;
    }

    private static bool OfType(YamlNode node, string type) => type switch
    {
        "object" => node is YamlMappingNode,
        "array" => node is YamlSequenceNode,
        "integer" => node is YamlScalarNode { Style: YamlDotNet.Core.ScalarStyle.Plain, Value: { Length: > 0 } v } && v.All(char.IsAsciiDigit),
        "boolean" => node is YamlScalarNode { Style: YamlDotNet.Core.ScalarStyle.Plain, Value: "true" or "false" },
        "null" => node is YamlScalarNode { Style: YamlDotNet.Core.ScalarStyle.Plain, Value: "" or "null" or "~" },
        _ => node is YamlScalarNode, // string: YAML 1.2 reads on/off and 0x… as strings
    };

    /// <summary>The part of JSON Schema the published file uses: $ref, type, anyOf, oneOf, properties, required, additionalProperties, enum, const, pattern, min/maxProperties.</summary>
    private static bool Valid(YamlNode node, JsonElement schema, out string why)
    {
        why = "";
        if (schema.TryGetProperty("$ref", out JsonElement r))
            return Valid(node, Schema.GetProperty("$defs").GetProperty(r.GetString()!["#/$defs/".Length..]), out why);
        if (schema.TryGetProperty("type", out JsonElement type) && !(type.ValueKind == JsonValueKind.Array ? type.EnumerateArray().Any(x => OfType(node, x.GetString()!)) : OfType(node, type.GetString()!)))
        {
            why = $"{node.Start}: not of type {type}";
            return false;
        }
        if (schema.TryGetProperty("anyOf", out JsonElement anyOf) && !anyOf.EnumerateArray().Any(b => Valid(node, b, out _)))
        {
            why = $"{node.Start}: none of the alternatives match";
            return false;
        }
        if (schema.TryGetProperty("oneOf", out JsonElement oneOf))
        {
            int matched = 0;
            foreach (JsonElement branch in oneOf.EnumerateArray())
                if (Valid(node, branch, out _)) matched++;
            if (matched != 1) { why = $"{node.Start}: {matched} of the alternatives match"; return false; }
        }
        if (schema.TryGetProperty("enum", out JsonElement values))
        {
            if (node is not YamlScalarNode s || !values.EnumerateArray().Any(v => v.ValueKind == JsonValueKind.String ? v.GetString() == s.Value : v.ValueKind == JsonValueKind.Number && v.GetRawText() == s.Value)) { why = $"{node.Start}: not one of the values"; return false; }
        }
        if (schema.TryGetProperty("const", out JsonElement c) && (node is not YamlScalarNode cs || cs.Value != c.GetString())) { why = $"{node.Start}: not {c}"; return false; }
        if (schema.TryGetProperty("pattern", out JsonElement p) && node is YamlScalarNode ps && !Regex.IsMatch(ps.Value ?? "", p.GetString()!)) { why = $"{node.Start}: '{ps.Value}' does not match {p}"; return false; }
        if (schema.TryGetProperty("items", out JsonElement items))
        {
            if (node is not YamlSequenceNode seq) { why = $"{node.Start}: not a list"; return false; }
            foreach (YamlNode item in seq)
                if (!Valid(item, items, out why)) return false;
        }
        bool isObject = schema.TryGetProperty("properties", out JsonElement properties);
        if (schema.TryGetProperty("required", out JsonElement required) && node is YamlMappingNode rm)
        {
            foreach (JsonElement k in required.EnumerateArray())
                if (!rm.Children.ContainsKey(new YamlScalarNode(k.GetString()))) { why = $"{node.Start}: '{k}' missing"; return false; }
        }
        if (!isObject) return true;
        if (node is not YamlMappingNode map) { why = $"{node.Start}: not a mapping"; return false; }
        if (schema.TryGetProperty("maxProperties", out JsonElement max) && map.Children.Count > max.GetInt32()) { why = $"{node.Start}: too many keys"; return false; }
        foreach (var (k, v) in map.Children)
        {
            string key = ((YamlScalarNode)k).Value!;
            if (!properties.TryGetProperty(key, out JsonElement sub)) { why = $"{k.Start}: '{key}' is not allowed"; return false; }
            if (!Valid(v, sub, out why)) return false;
        }
        return true;
    }
}
