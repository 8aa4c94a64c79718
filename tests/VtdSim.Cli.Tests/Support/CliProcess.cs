using System.Diagnostics;

namespace VtdSim.Cli.Tests.Support;

/// <summary>
/// Starts the built `vtdsim` (an uninstrumented copy, <see cref="Dll"/>) as a child process, for what only a real
/// process shows: its standard streams, pipes that close, signals, exit status. Every wait is bounded by a watchdog
/// that only a hang reaches; nothing asserts on timing.
/// </summary>
internal static class CliProcess
{
    // A bound on a hang, not a speed check: in .ci/run the test projects run side by side on 2 cores, and a child
    // vtdsim starved of CPU by them once needed more than 60 s to start, serve and end (2026-12-07).
    public static readonly TimeSpan Watchdog = TimeSpan.FromSeconds(180);

    /// <summary>
    /// The copy of vtdsim in child/ (the test project copies vtdsim's build output there): the same build, which
    /// coverlet never instruments, so a child run to its exit leaves the coverage of the test process alone.
    /// </summary>
    public static string Dll => Path.Combine(AppContext.BaseDirectory, "child", "vtdsim.dll");

    /// <summary>The dotnet host running the tests, so the child uses the same runtime.</summary>
    public static string Host =>
        Environment.ProcessPath is { } p && Path.GetFileNameWithoutExtension(p) == "dotnet" ? p : "dotnet";

    /// <summary>Starts vtdsim with the given arguments and all three standard streams redirected.</summary>
    public static Process Start(params string[] args)
    {
        var info = new ProcessStartInfo(Host)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(Dll);
        foreach (string a in args) info.ArgumentList.Add(a);
        return Process.Start(info) ?? throw new InvalidOperationException("could not start vtdsim");
    }

    /// <summary>Runs a shell command line in which the shell function `vtdsim` runs vtdsim; returns exit status and stderr.</summary>
    public static async Task<(int Exit, string Error)> Shell(string script)
    {
        var info = new ProcessStartInfo("/bin/sh")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add("-c");
        info.ArgumentList.Add("vtdsim() { \"$VTDSIM_HOST\" \"$VTDSIM_DLL\" \"$@\"; }\n" + script);
        info.Environment["VTDSIM_HOST"] = Host;
        info.Environment["VTDSIM_DLL"] = Dll;
        using var process = Process.Start(info) ?? throw new InvalidOperationException("could not start /bin/sh");
        process.StandardInput.Close();
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await Exited(process);
        await output;
        return (process.ExitCode, await error);
    }

    /// <summary>Waits for the process to end; a process still running at the watchdog is killed and the test fails.</summary>
    public static async Task Exited(Process process)
    {
        try
        {
            await process.WaitForExitAsync().WaitAsync(Watchdog);
        }
        catch (TimeoutException)
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"vtdsim did not end within {Watchdog.TotalSeconds} s");
        }
    }

    /// <summary>Asserts that a message meant for a user is short and shows nothing of .NET: no type, parameter or stack trace.</summary>
    public static void AssertPlain(string text)
    {
        foreach (string leak in new[] { "System.", "Exception", "(Parameter '", "Actual value was", "Nullable", "`1", "Int32", "Boolean", "   at " })
            Assert.False(text.Contains(leak, StringComparison.Ordinal), $"the message shows .NET's '{leak}':\n{text}");
    }
}
