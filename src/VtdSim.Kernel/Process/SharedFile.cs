namespace VtdSim.Kernel.Process;

/// <summary>
/// A file (e.g. on tmpfs) whose pages live in the page cache: each page is allocated once, on first use, and every
/// shared mapping of it, in any process, maps that same physical page. The page cache holds one reference per page
/// until the file is deleted; mappings and DMA pins keep a page alive after that.
/// </summary>
public sealed class SharedFile
{
    private const ulong PageSize = 4096;
    private readonly UserMemory _memory;
    private readonly Dictionary<ulong, PageFrame> _pageCache = new();

    public SharedFile(UserMemory memory, string name, ulong size)
    {
        if (size == 0 || size % PageSize != 0) throw new ArgumentException($"file '{name}': size 0x{size:x} must be a non-zero multiple of 4 KiB");
        _memory = memory;
        Name = name;
        Size = size;
    }

    public string Name { get; }
    public ulong Size { get; }
    public bool Deleted { get; private set; }
    /// <summary>Pages currently in the page cache.</summary>
    public int CachedPages => _pageCache.Count;

    /// <summary>The page-cache page for a page index, read in (zeroed) on first use; null beyond EOF, after delete, or without memory.</summary>
    internal PageFrame? GetPage(ulong index)
    {
        if (Deleted || index >= Size / PageSize) return null;
        if (_pageCache.TryGetValue(index, out var frame)) return frame;
        frame = _memory.Allocate(); // the page cache's reference
        if (frame is null) return null;
        _pageCache.Add(index, frame);
        return frame;
    }

    /// <summary>write(2): copies bytes into the file through the page cache.</summary>
    public Errno Write(ulong offset, ReadOnlySpan<byte> data)
    {
        if (Deleted) return Errno.ENOENT;
        if (offset > Size || (ulong)data.Length > Size - offset) return Errno.EINVAL; // files do not grow here
        while (!data.IsEmpty)
        {
            ulong inPage = offset % PageSize;
            int n = (int)Math.Min((ulong)data.Length, PageSize - inPage);
            if (GetPage(offset / PageSize) is not PageFrame frame) return Errno.ENOMEM;
            if (!_memory.Machine.TryWriteBytes(frame.Address + inPage, data[..n])) return Errno.EFAULT;
            data = data[n..];
            offset += (ulong)n;
        }
        return Errno.Success;
    }

    /// <summary>read(2) through the page cache.</summary>
    public Errno Read(ulong offset, Span<byte> data)
    {
        if (Deleted) return Errno.ENOENT;
        if (offset > Size || (ulong)data.Length > Size - offset) return Errno.EINVAL;
        while (!data.IsEmpty)
        {
            ulong inPage = offset % PageSize;
            int n = (int)Math.Min((ulong)data.Length, PageSize - inPage);
            if (GetPage(offset / PageSize) is not PageFrame frame) return Errno.ENOMEM;
            if (!_memory.Machine.TryReadBytes(frame.Address + inPage, data[..n])) return Errno.EFAULT;
            data = data[n..];
            offset += (ulong)n;
        }
        return Errno.Success;
    }

    /// <summary>unlink: the page cache lets go of its pages; pages still mapped or pinned stay until those go too.</summary>
    public void Delete()
    {
        if (Deleted) return;
        Deleted = true;
        foreach (var frame in _pageCache.Values.ToList()) _memory.Put(frame);
        _pageCache.Clear();
    }
}
