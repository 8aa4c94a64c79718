using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using VtdSim.Hardware.Profiles;
using VtdSim.Scenarios.Sharding;

namespace VtdSim.Cli.Commands;

/// <summary>
/// The options of the commands, each with its own parser, so that a value an option cannot take is a usage error
/// that names the option, the value and what it takes, in words (System.CommandLine's own messages for typed options
/// name .NET types, "System.Nullable`1[System.Int32]").
/// </summary>
internal static class CliOptions
{
    /// <summary>A whole number in [min, max], decimal or 0x-prefixed hex; <paramref name="takes"/> says what it is.</summary>
    public static Option<int> Integer(string name, string description, int min, int max, int defaultValue, string takes) => new(name)
    {
        Description = description,
        DefaultValueFactory = _ => defaultValue,
        CustomParser = result => ParseInteger(result, name, min, max, takes) ?? defaultValue,
    };

    /// <summary>A whole number in [min, max] that may be left out (null).</summary>
    public static Option<int?> OptionalInteger(string name, string description, int min, int max, string takes) => new(name)
    {
        Description = description,
        CustomParser = result => ParseInteger(result, name, min, max, takes),
    };

    /// <summary>A whole number from a fixed set (QEMU's aw-bits: 39 or 48).</summary>
    public static Option<int?> OneOf(string name, string description, int[] values, string takes) => new(name)
    {
        Description = description,
        CustomParser = result =>
        {
            int? v = ParseInteger(result, name, int.MinValue, int.MaxValue, takes);
            if (v is int n && !values.Contains(n))
            {
                result.AddError($"{name}: {n} is not supported; {takes}");
                return null;
            }
            return v;
        },
    };

    /// <summary>An on/off property: given alone it is on; `true`/`false` set it; left out it is null.</summary>
    public static Option<bool?> Switch(string name, string description) => new(name)
    {
        Description = description,
        Arity = ArgumentArity.ZeroOrOne,
        CustomParser = result =>
        {
            // The parser only hands over a following word that reads as a boolean; anything else is left as an
            // unrecognized argument, which it reports by itself.
            if (result.Tokens.Count == 0) return true;
            if (bool.TryParse(result.Tokens[0].Value, out bool value)) return value;
            result.AddError($"{name}: '{result.Tokens[0].Value}' is not true or false (give {name} alone for true)");
            return null;
        },
    };

    /// <summary>One of an enumeration's names, in any case; numbers are not names.</summary>
    public static Option<T?> Choice<T>(string name, string description) where T : struct, Enum => new(name)
    {
        Description = description,
        CustomParser = result =>
        {
            string text = result.Tokens.Count == 0 ? "" : result.Tokens[0].Value;
            foreach (T value in Enum.GetValues<T>())
                if (string.Equals(value.ToString(), text, StringComparison.OrdinalIgnoreCase)) return value;
            result.AddError($"{name}: '{text}' is not one of {string.Join(", ", Enum.GetNames<T>())}");
            return null;
        },
    };

    /// <summary>A built-in profile by name (any case); <paramref name="requirement"/> may refuse a profile, saying why.</summary>
    public static Option<VtdProfile> Profile(string name, string description, VtdProfile defaultProfile, Func<VtdProfile, string?>? requirement = null) => new(name)
    {
        Description = description,
        DefaultValueFactory = _ => defaultProfile,
        CustomParser = result =>
        {
            string text = result.Tokens.Count == 0 ? "" : result.Tokens[0].Value;
            if (!BuiltInProfiles.TryFind(text, out VtdProfile? profile, out string error))
            {
                result.AddError($"{name}: {error}");
                return defaultProfile;
            }
            if (requirement?.Invoke(profile) is { } refusal)
            {
                result.AddError($"{name} {profile.Name}: {refusal}");
                return defaultProfile;
            }
            return profile;
        },
    };

    /// <summary>`--shard I/N`: this process's part of a sweep (shards numbered from 1; decision S26).</summary>
    public static Option<Shard?> Shard() => new("--shard")
    {
        Description = "run only part I of N of the sorted work list (I from 1 to N) and write it as JSON for `vtdsim merge`",
        CustomParser = result =>
        {
            string text = result.Tokens.Count == 0 ? "" : result.Tokens[0].Value;
            if (Scenarios.Sharding.Shard.TryParse(text, out Scenarios.Sharding.Shard shard, out string error)) return shard;
            result.AddError($"--shard: {error}");
            return null;
        },
    };

    private static int? ParseInteger(ArgumentResult result, string name, int min, int max, string takes)
    {
        string text = result.Tokens.Count == 0 ? "" : result.Tokens[0].Value;
        bool hex = text.StartsWith("0x", StringComparison.OrdinalIgnoreCase);
        string digits = hex ? text[2..] : text;
        bool digitsOnly = digits.Length > 0 && digits.All(c => hex ? char.IsAsciiHexDigit(c) : char.IsAsciiDigit(c));
        if (!digitsOnly && !(digits.StartsWith('-') && digits.Length > 1 && digits[1..].All(char.IsAsciiDigit) && !hex))
        {
            result.AddError($"{name}: '{text}' is not a whole number; {takes}");
            return null;
        }
        if (!long.TryParse(digits, hex ? NumberStyles.AllowHexSpecifier : NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long value)
            || value < min || value > max)
        {
            result.AddError($"{name}: {text} is out of range; {takes}");
            return null;
        }
        return (int)value;
    }
}
