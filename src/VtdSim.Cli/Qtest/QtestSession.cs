using System.Text;

namespace VtdSim.Cli.Qtest;

/// <summary>
/// One qtest conversation over an input and an output stream, independent of the transport (stdio, a unix socket,
/// TCP, or memory in a test): reads newline-terminated commands, answers each with one reply line (`events` and
/// `caches` send their EVENT/CACHE lines first), and ends at end of input. Input is taken as it arrives: every complete
/// line that has arrived is answered, and the replies flushed, before the session waits for more, whatever the
/// sizes of the reads. A line that is not complete when the input ends is discarded without effect, like QEMU does, so
/// a client that disconnects mid-command changes nothing. A line longer than <see cref="MaxLineLength"/> bytes is
/// skipped and answered with FAIL. Lines are UTF-8; bytes that are not become U+FFFD. When the machine ends (a device's
/// hardware error aborts QEMU), the session sends what it has answered and ends; a command during which it ended gets
/// no reply, as QEMU gives none.
/// </summary>
public sealed class QtestSession
{
    /// <summary>Room for the longest legal line: a 16 MiB `write` or `dma … data=` in hex, plus the command words.</summary>
    public const int DefaultMaxLineLength = 2 * QtestInterpreter.MaxTransferBytes + 4096;

    private const int ChunkSize = 64 * 1024;
    private static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false);

    private readonly QtestInterpreter _interpreter;
    private readonly IQtestMachine _machine;
    private readonly Stream _input;
    private readonly Stream _output;
    private readonly QtestLog? _log;
    private readonly object _gate;
    private int _busy;

    /// <param name="log">`-qtest-log`: each command and reply, as QEMU logs them (null: none).</param>
    /// <param name="gate">
    /// Held while a command is carried out: the QMP monitor on the same machine holds it too, so the two connections
    /// never run at once (decision Q60).
    /// </param>
    public QtestSession(IQtestMachine machine, Stream input, Stream output, int maxLineLength = DefaultMaxLineLength, QtestLog? log = null,
        object? gate = null)
    {
        ArgumentNullException.ThrowIfNull(machine);
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(output);
        if (maxLineLength < 1) throw new ArgumentOutOfRangeException(nameof(maxLineLength), maxLineLength, "must be positive");
        _interpreter = new QtestInterpreter(machine);
        _machine = machine;
        _input = input;
        _output = output;
        _log = log;
        _gate = gate ?? new object();
        MaxLineLength = maxLineLength;
    }

    /// <summary>The longest line, in bytes without its newline, that is carried out.</summary>
    public int MaxLineLength { get; }
    /// <summary>Complete lines answered so far.</summary>
    public long LinesProcessed { get; private set; }
    /// <summary>True while a command is being carried out: from taking its line until its reply is ready.</summary>
    public bool Busy => Volatile.Read(ref _busy) != 0;

    /// <summary>Serves until the input ends or <paramref name="cancellationToken"/> fires. Stream errors propagate.</summary>
    public async Task RunAsync(CancellationToken cancellationToken = default)
    {
        var buffer = new byte[ChunkSize];
        var line = new MemoryStream();
        var replies = new MemoryStream();
        bool overlong = false;
        while (true)
        {
            // A read returns whatever has arrived (at least one byte); it is never asked to fill the buffer.
            int n = await _input.ReadAsync(buffer.AsMemory(), cancellationToken).ConfigureAwait(false);
            if (n == 0) return; // end of input: an unfinished line is dropped
            int start = 0;
            for (int end; (end = Array.IndexOf(buffer, (byte)'\n', start, n - start)) >= 0; start = end + 1)
            {
                Append(line, buffer.AsSpan(start, end - start), ref overlong);
                string reply = overlong ? $"FAIL line longer than {MaxLineLength} bytes; ignored" : Execute(line);
                if (line.Capacity > ChunkSize) line = new MemoryStream(); // do not keep a huge line's buffer
                else line.SetLength(0);
                overlong = false;
                LinesProcessed++;
                if (!_interpreter.ReplyWithheld) WriteReply(replies, reply);
                if (_machine.Ended is not null)
                {
                    await Send(replies, cancellationToken).ConfigureAwait(false);
                    return;
                }
                if (replies.Length >= ChunkSize) await Send(replies, cancellationToken).ConfigureAwait(false);
            }
            Append(line, buffer.AsSpan(start, n - start), ref overlong);
            await Send(replies, cancellationToken).ConfigureAwait(false); // answer what arrived before waiting for more
        }
    }

    private string Execute(MemoryStream line)
    {
        Volatile.Write(ref _busy, 1);
        try
        {
            string text = Utf8.GetString(line.GetBuffer(), 0, (int)line.Length);
            lock (_gate)
            {
                _log?.Received(text, _machine.ClockNs);
                string reply = _interpreter.Execute(text);
                if (!_interpreter.ReplyWithheld) _log?.Sent(reply, _machine.ClockNs);
                return reply;
            }
        }
        finally
        {
            Volatile.Write(ref _busy, 0);
        }
    }

    private static void WriteReply(MemoryStream replies, string reply)
    {
        int length = Utf8.GetByteCount(reply);
        long at = replies.Length;
        replies.SetLength(at + length + 1);
        Utf8.GetBytes(reply, replies.GetBuffer().AsSpan((int)at, length));
        replies.GetBuffer()[at + length] = (byte)'\n';
    }

    private async Task Send(MemoryStream replies, CancellationToken cancellationToken)
    {
        if (replies.Length == 0) return;
        await _output.WriteAsync(replies.GetBuffer().AsMemory(0, (int)replies.Length), cancellationToken).ConfigureAwait(false);
        await _output.FlushAsync(cancellationToken).ConfigureAwait(false);
        replies.SetLength(0);
        if (replies.Capacity > 4 * ChunkSize) replies.Capacity = ChunkSize; // a 32 MiB `read` reply is not kept around
    }

    private void Append(MemoryStream line, ReadOnlySpan<byte> bytes, ref bool overlong)
    {
        if (overlong) return;
        if (line.Length + bytes.Length > MaxLineLength)
        {
            overlong = true;
            line.SetLength(0);
            return;
        }
        line.Write(bytes);
    }
}
