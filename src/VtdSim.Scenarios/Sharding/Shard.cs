using System.Globalization;

namespace VtdSim.Scenarios.Sharding;

/// <summary>
/// Part <see cref="Index"/> of <see cref="Count"/> of a sweep (`--shard I/N`, decision S26): shards are numbered from 1,
/// as CI matrices and Slurm arrays (`--array=1-N`) count, and shard I takes the I-th of N contiguous, near-equal runs of
/// the sorted work list (items ⌊(I−1)·M/N⌋ to ⌊I·M/N⌋−1 of M), so that the shards in order are the whole list.
/// </summary>
public readonly record struct Shard(int Index, int Count)
{
    /// <summary>Parses `I/N` (1 ≤ I ≤ N); the error says what was wrong and what is taken.</summary>
    public static bool TryParse(string text, out Shard shard, out string error)
    {
        shard = default;
        error = "";
        string[] parts = (text ?? "").Split('/');
        if (parts.Length != 2 || !Number(parts[0], out int i) || !Number(parts[1], out int n))
        {
            error = $"'{text}' is not I/N; give the shard's number and the number of shards, as 2/8";
            return false;
        }
        if (n < 1 || i < 1 || i > n)
        {
            error = $"'{text}' is out of range; shards are numbered from 1 to N (1/{Math.Max(n, 1)} is the first, {Math.Max(n, 1)}/{Math.Max(n, 1)} the last)";
            return false;
        }
        shard = new Shard(i, n);
        return true;
    }

    private static bool Number(string s, out int value) =>
        int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out value) && s.Length > 0;

    /// <summary>The first item (0-based) and how many items this shard takes of a work list of <paramref name="total"/>.</summary>
    public (int First, int Count) Range(int total)
    {
        int first = (int)((long)(Index - 1) * total / Count);
        int end = (int)((long)Index * total / Count);
        return (first, end - first);
    }

    public override string ToString() => $"{Index}/{Count}";
}
