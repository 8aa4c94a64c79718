using System.Globalization;

namespace VtdSim.Cli.Qtest;

/// <summary>
/// `-qtest-log FILE`: QEMU's qtest log — `[I 0.000000] OPENED`, then `[R +SECS] COMMAND` for each line received and
/// `[S +SECS] REPLY` for each line sent, and `[I +SECS] CLOSED`. QEMU's seconds are wall time since the connection
/// opened; here they are the machine's virtual clock, so a log is the same on every run (decision Q62). Each line is
/// flushed as it is written, as QEMU's are.
/// </summary>
public sealed class QtestLog(TextWriter writer)
{
    public void Opened(long ns) => Write($"[I {Seconds(ns)}] OPENED");

    public void Received(string line, long ns) => Write($"[R +{Seconds(ns)}] {line.TrimEnd('\r')}");

    /// <summary>A reply; one that is several lines (`events`, `caches`) is logged line by line.</summary>
    public void Sent(string reply, long ns)
    {
        foreach (string line in reply.Split('\n')) Write($"[S +{Seconds(ns)}] {line}");
    }

    public void Closed(long ns) => Write($"[I +{Seconds(ns)}] CLOSED");

    private static string Seconds(long ns) =>
        string.Create(CultureInfo.InvariantCulture, $"{ns / 1_000_000_000}.{ns % 1_000_000_000 / 1000:D6}");

    private void Write(string line)
    {
        try
        {
            writer.Write(line + "\n");
            writer.Flush();
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            // QEMU does not check its log's writes either: the session goes on.
        }
    }
}
