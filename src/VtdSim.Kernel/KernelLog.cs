namespace VtdSim.Kernel;

/// <summary>The kernel's message log (dmesg): lines in order, each with the subsystem prefix the real driver prints (e.g. "DMAR: ").</summary>
public sealed class KernelLog
{
    private readonly List<string> _lines = new();

    public IReadOnlyList<string> Lines => _lines;

    public event Action<string>? Written;

    public void Write(string prefix, string message)
    {
        string line = prefix + message;
        _lines.Add(line);
        Written?.Invoke(line);
    }

    public bool Contains(string text) => _lines.Exists(l => l.Contains(text, StringComparison.Ordinal));
}
