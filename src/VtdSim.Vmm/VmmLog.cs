namespace VtdSim.Vmm;

/// <summary>
/// What the VMM prints on stderr, line by line, in QEMU's format: `qemu-system-x86_64: ` before every message, the
/// command-line option being processed (`-device vfio-pci,…: `) while devices are created, `warning: ` for warnings,
/// and hints on lines of their own.
/// </summary>
public sealed class VmmLog
{
    public const string Program = "qemu-system-x86_64";
    private readonly List<string> lines = [];

    public IReadOnlyList<string> Lines => lines;

    /// <summary>The command-line option QEMU is processing (its error location), or null at run time.</summary>
    internal string? Location { get; set; }

    internal void Error(string message) => lines.Add($"{Program}: {Where}{message}");

    internal void Warning(string message) => lines.Add($"{Program}: {Where}warning: {message}");

    internal void Hint(string text) => lines.Add(text);

    /// <summary>hw_error: QEMU prints this and aborts.</summary>
    internal void HardwareError(string message) => lines.Add($"qemu: hardware error: {message}");

    private string Where => Location is null ? "" : Location + ": ";

    public bool Contains(string text) => lines.Exists(l => l.Contains(text, StringComparison.Ordinal));

    public override string ToString() => string.Join('\n', lines);
}
