using System.Diagnostics;

namespace VtdSim.Differential.Tests.Infrastructure;

/// <summary>
/// Finds qemu-system-x86_64 (VTDSIM_QEMU overrides PATH) and checks that it is a 7.2 release: the suite pins QEMU 7.2's
/// behaviour, departures included, so another version is a reason to skip, not to fail.
/// </summary>
public static class QemuLocator
{
    private static readonly Lazy<(string? Path, string? SkipReason)> Found = new(Locate);

    public static string? ExecutablePath => Found.Value.Path;
    /// <summary>Null when QEMU 7.2 is available; otherwise why the differential tests are skipped.</summary>
    public static string? SkipReason => Found.Value.SkipReason;

    private static (string?, string?) Locate()
    {
        string? overridden = Environment.GetEnvironmentVariable("VTDSIM_QEMU") is { Length: > 0 } v ? v : null;
        string? path = overridden ?? FindOnPath("qemu-system-x86_64");
        if (overridden is not null && !File.Exists(overridden))
            return (null, $"VTDSIM_QEMU={overridden} does not exist");
        if (path is null)
            return (null, "qemu-system-x86_64 is not installed (not on PATH); install Debian's qemu-system-x86 (QEMU 7.2) to run the differential suite");
        string version;
        try
        {
            version = RunForOutput(path, "--version", TimeSpan.FromSeconds(10));
        }
        catch (Exception e)
        {
            return (null, $"{path} --version failed: {e.Message}");
        }
        string firstLine = version.Split('\n')[0].Trim();
        if (!firstLine.Contains("version 7.2.", StringComparison.Ordinal))
            return (null, $"{path} is '{firstLine}', but the differential suite pins QEMU 7.2 behaviour (Debian bookworm's qemu-system-x86)");
        return (path, null);
    }

    private static string? FindOnPath(string name)
    {
        foreach (string dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            string candidate = Path.Combine(dir, name);
            if (File.Exists(candidate)) return candidate;
        }
        return null;
    }

    private static string RunForOutput(string path, string arguments, TimeSpan timeout)
    {
        using var p = new Process
        {
            StartInfo = new ProcessStartInfo(path, arguments)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            },
        };
        p.Start();
        Task<string> output = p.StandardOutput.ReadToEndAsync();
        if (!p.WaitForExit(timeout))
        {
            try { p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            throw new TimeoutException($"no answer within {timeout.TotalSeconds} s");
        }
        return output.Wait(timeout) ? output.Result : "";
    }
}

/// <summary>A fact that needs QEMU 7.2; skipped, with the reason, where it is not installed.</summary>
public sealed class QemuFactAttribute : FactAttribute
{
    public QemuFactAttribute()
    {
        if (QemuLocator.SkipReason is { } reason) Skip = reason;
    }
}

/// <summary>A theory that needs QEMU 7.2; skipped, with the reason, where it is not installed.</summary>
public sealed class QemuTheoryAttribute : TheoryAttribute
{
    public QemuTheoryAttribute()
    {
        if (QemuLocator.SkipReason is { } reason) Skip = reason;
    }
}
