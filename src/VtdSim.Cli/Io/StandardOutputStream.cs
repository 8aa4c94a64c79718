using Microsoft.Win32.SafeHandles;

namespace VtdSim.Cli.Io;

/// <summary>
/// The process's standard output (file descriptor 1) as an unbuffered stream whose failed writes throw
/// <see cref="OutputFailedException"/>. .NET's console stream drops writes into a pipe whose reader has gone (EPIPE)
/// without a word, so `yes info | vtdsim qtest | head -1` would answer into the void for ever; this stream writes with
/// write(2) and reports EPIPE, ENOSPC (`> /dev/full`) and EBADF (a closed output) alike. The descriptor is opened at the
/// first write, so a command that never writes to it (a socket server) runs with its output closed.
/// </summary>
public sealed class StandardOutputStream : Stream
{
    private FileStream? _stream;

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        try
        {
            Open().Write(buffer);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException && e is not OutputFailedException)
        {
            throw OutputFailedException.From(e);
        }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        Write(buffer.Span); // a pipe or terminal write; the stream has no asynchronous path that would help
        return ValueTask.CompletedTask;
    }

    public override void Flush()
    {
    }

    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing) _stream?.Dispose(); // the handle does not own descriptor 1, which stays open
        base.Dispose(disposing);
    }

    private FileStream Open() => _stream ??= new FileStream(new SafeFileHandle(1, ownsHandle: false), FileAccess.Write, bufferSize: 0);
}
