using System.Text;

namespace VtdSim.Cli.Qtest;

/// <summary>
/// One qtest conversation over a reader and a writer, independent of the transport (stdio, a unix socket, TCP, or a
/// string in a test): reads newline-terminated commands, answers each with one reply line (`events` sends its EVENT
/// lines first), and ends at end of input. A line that is not complete when the input ends is discarded without
/// effect, like QEMU does, so a client that disconnects mid-command changes nothing. A line longer than
/// <see cref="MaxLineLength"/> is skipped and answered with FAIL.
/// </summary>
public sealed class QtestSession
{
    /// <summary>Room for the longest legal line: a 16 MiB `write` or `dma … data=` in hex, plus the command words.</summary>
    public const int DefaultMaxLineLength = 2 * QtestInterpreter.MaxTransferBytes + 4096;

    private readonly QtestInterpreter _interpreter;
    private readonly TextReader _input;
    private readonly TextWriter _output;

    public QtestSession(QtestMachine machine, TextReader input, TextWriter output, int maxLineLength = DefaultMaxLineLength)
    {
        ArgumentNullException.ThrowIfNull(machine);
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(output);
        if (maxLineLength < 1) throw new ArgumentOutOfRangeException(nameof(maxLineLength), maxLineLength, "must be positive");
        _interpreter = new QtestInterpreter(machine);
        _input = input;
        _output = output;
        MaxLineLength = maxLineLength;
    }

    public int MaxLineLength { get; }
    /// <summary>Complete lines answered so far.</summary>
    public long LinesProcessed { get; private set; }

    /// <summary>Serves until the input ends or <paramref name="cancellationToken"/> fires. Reader and writer errors propagate.</summary>
    public async Task RunAsync(CancellationToken cancellationToken = default)
    {
        var buffer = new char[64 * 1024];
        var line = new StringBuilder();
        bool overlong = false;
        while (true)
        {
            int n = await _input.ReadAsync(buffer.AsMemory(), cancellationToken).ConfigureAwait(false);
            if (n == 0) return; // end of input: an unfinished line is dropped
            int start = 0;
            for (int i = 0; i < n; i++)
            {
                if (buffer[i] != '\n') continue;
                Append(line, buffer.AsSpan(start, i - start), ref overlong);
                start = i + 1;
                string reply = overlong
                    ? $"FAIL line longer than {MaxLineLength} characters; ignored"
                    : _interpreter.Execute(line.ToString());
                line.Clear();
                overlong = false;
                LinesProcessed++;
                await _output.WriteAsync((reply + "\n").AsMemory(), cancellationToken).ConfigureAwait(false);
                await _output.FlushAsync(cancellationToken).ConfigureAwait(false);
            }
            Append(line, buffer.AsSpan(start, n - start), ref overlong);
        }
    }

    private void Append(StringBuilder line, ReadOnlySpan<char> chars, ref bool overlong)
    {
        if (overlong) return;
        if (line.Length + chars.Length > MaxLineLength)
        {
            overlong = true;
            line.Clear();
            return;
        }
        line.Append(chars);
    }
}
