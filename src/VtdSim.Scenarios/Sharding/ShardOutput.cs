using System.Text.Json;
using VtdSim.Scenarios.Running;

namespace VtdSim.Scenarios.Sharding;

/// <summary>
/// A shard's `--json` output, self-describing (decision S27): which command, which shard of how many, the whole work
/// list every shard of the sweep shares, where this shard's part starts, and its items — the rows of `matrix --json`
/// or the runs of `run --json`, exactly as the unsharded output holds them. <see cref="Merge"/> puts shards back together.
/// </summary>
public static class ShardOutput
{
    public const string Matrix = "matrix", Run = "run";

    public static string Write(string command, Shard shard, IReadOnlyList<string> work, int first, Action<Utf8JsonWriter> items)
    {
        ArgumentNullException.ThrowIfNull(work);
        ArgumentNullException.ThrowIfNull(items);
        return JsonText.Write(w =>
        {
            w.WriteStartObject();
            w.WriteString("command", command);
            w.WriteString("shard", shard.ToString());
            w.WriteNumber("first", first);
            w.WriteStartArray("work");
            foreach (string item in work) w.WriteStringValue(item);
            w.WriteEndArray();
            w.WriteStartArray("items");
            items(w);
            w.WriteEndArray();
            w.WriteEndObject();
        });
    }

    /// <summary>The result of <see cref="Merge"/>: the unsharded output, whether every run passed (for `run`), or an error naming the file.</summary>
    public sealed record MergeResult(string? Output, bool Passed, string? Error);

    /// <summary>
    /// Combines the outputs of every shard of one sweep (any order) into the output the unsharded command gives, byte
    /// for byte. Refused, naming the file: a file that is not a shard output, shards of different sweeps (command, N or
    /// work list differ), a shard given twice, a shard missing, a shard whose items are not its part of the list.
    /// </summary>
    public static MergeResult Merge(IReadOnlyList<(string File, string Text)> inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        if (inputs.Count == 0) return Fail("no files to merge");
        var parts = new List<Part>();
        try
        {
            foreach ((string file, string text) in inputs)
            {
                Part? p = Read(file, text, out string error);
                if (p is null) return Fail(error);
                Part? other = parts.FirstOrDefault(q => q.Command != p.Command || q.Shard.Count != p.Shard.Count || !q.Work.SequenceEqual(p.Work));
                if (other is not null)
                    return Fail($"{file}: shard {p.Shard} of a `{p.Command}` sweep of {p.Work.Length} items does not belong with {other.File} (shard {other.Shard} of a `{other.Command}` sweep of {other.Work.Length} items{(other.Command == p.Command && other.Shard.Count == p.Shard.Count ? ", over another work list" : "")})");
                if (parts.FirstOrDefault(q => q.Shard == p.Shard) is { } twice)
                    return Fail($"{file}: shard {p.Shard} is given twice (also {twice.File})");
                (int first, int count) = p.Shard.Range(p.Work.Length);
                if (p.First != first || p.Items.Length != count)
                    return Fail($"{file}: shard {p.Shard} should hold items {first + 1} to {first + count} of {p.Work.Length}, it holds {p.Items.Length} from item {p.First + 1}");
                parts.Add(p);
            }
            Part any = parts[0];
            var missing = Enumerable.Range(1, any.Shard.Count).Where(i => parts.All(q => q.Shard.Index != i)).ToList();
            if (missing.Count > 0)
                return Fail($"shard{(missing.Count == 1 ? "" : "s")} {string.Join(", ", missing.Select(i => $"{i}/{any.Shard.Count}"))} of the `{any.Command}` sweep {(missing.Count == 1 ? "is" : "are")} missing (given: {string.Join(", ", parts.OrderBy(q => q.Shard.Index).Select(q => $"{q.Shard} in {q.File}"))})");
            var items = parts.OrderBy(q => q.Shard.Index).SelectMany(q => q.Items).ToList();
            bool passed = items.All(i => !i.TryGetProperty("passed", out JsonElement x) || x.ValueKind != JsonValueKind.False);
            string output = any.Command == Matrix
                ? JsonText.Write(w =>
                {
                    w.WriteStartArray();
                    foreach (JsonElement i in items) i.WriteTo(w);
                    w.WriteEndArray();
                })
                : JsonText.Write(w =>
                {
                    w.WriteStartObject();
                    w.WriteBoolean("passed", passed);
                    w.WriteStartArray("runs");
                    foreach (JsonElement i in items) i.WriteTo(w);
                    w.WriteEndArray();
                    w.WriteEndObject();
                });
            return new MergeResult(output, passed, null);
        }
        finally
        {
            foreach (Part p in parts) p.Document.Dispose();
        }
    }

    private static MergeResult Fail(string error) => new(null, false, error);

    private sealed record Part(string File, JsonDocument Document, string Command, Shard Shard, int First, string[] Work, JsonElement[] Items);

    private static Part? Read(string file, string text, out string error)
    {
        const string Expected = "expected the --json output of `vtdsim matrix --shard` or `vtdsim run --shard` (an object with command, shard, first, work, items)";
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(text);
        }
        catch (JsonException e)
        {
            error = $"{file}: not JSON ({e.Message.Split(". ")[0]}); {Expected}";
            return null;
        }
        JsonElement r = doc.RootElement;
        if (r.ValueKind == JsonValueKind.Object
            && r.TryGetProperty("command", out JsonElement command) && command.ValueKind == JsonValueKind.String && command.GetString() is Matrix or Run
            && r.TryGetProperty("shard", out JsonElement shardText) && shardText.ValueKind == JsonValueKind.String
            && r.TryGetProperty("first", out JsonElement first) && first.ValueKind == JsonValueKind.Number && first.TryGetInt32(out int firstIndex)
            && r.TryGetProperty("work", out JsonElement work) && work.ValueKind == JsonValueKind.Array && work.EnumerateArray().All(x => x.ValueKind == JsonValueKind.String)
            && r.TryGetProperty("items", out JsonElement items) && items.ValueKind == JsonValueKind.Array && items.EnumerateArray().All(x => x.ValueKind == JsonValueKind.Object))
        {
            if (!Shard.TryParse(shardText.GetString()!, out Shard shard, out string shardError))
            {
                doc.Dispose();
                error = $"{file}: shard {shardError}";
                return null;
            }
            error = "";
            return new Part(file, doc, command.GetString()!, shard, firstIndex, work.EnumerateArray().Select(x => x.GetString()!).ToArray(), items.EnumerateArray().ToArray());
        }
        doc.Dispose();
        error = $"{file}: {Expected}";
        return null;
    }
}
