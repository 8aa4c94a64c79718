using System.Text;
using VtdSim.Cli.Qtest;

namespace VtdSim.Cli.Tests.Qtest;

/// <summary>Drives <see cref="QtestSession"/> over strings, as a client would over a pipe.</summary>
internal sealed class QtestHarness
{
    public QtestHarness(QtestMachineOptions? options = null) => Machine = new QtestMachine(options ?? new QtestMachineOptions());

    public QtestMachine Machine { get; }

    /// <summary>Sends the text as is (the caller puts the newlines) in one new session and returns the reply lines.</summary>
    public string[] Send(string text, int maxLineLength = QtestSession.DefaultMaxLineLength)
    {
        var output = new MemoryStream();
        var session = new QtestSession(Machine, new MemoryStream(Encoding.UTF8.GetBytes(text)), output, maxLineLength);
        session.RunAsync().GetAwaiter().GetResult();
        string all = Encoding.UTF8.GetString(output.ToArray());
        Assert.EndsWith("\n", all.Length == 0 ? "\n" : all);
        return all.Length == 0 ? [] : all[..^1].Split('\n');
    }

    /// <summary>Sends complete lines and returns one reply per line (events' EVENT lines included).</summary>
    public string[] Lines(params string[] lines) => Send(string.Concat(lines.Select(l => l + "\n")));

    /// <summary>Sends one command and returns its single reply line.</summary>
    public string Do(string line)
    {
        var replies = Lines(line);
        Assert.Single(replies);
        return replies[0];
    }

    /// <summary>Sends one command and checks that it succeeds with exactly "OK" (writes).</summary>
    public void Ok(string line) => Assert.Equal("OK", Do(line));
}
