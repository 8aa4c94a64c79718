namespace VtdSim.Cli.Io;

/// <summary>
/// The command's output could not be written: its reader went away (a closed pipe), the device is full, or the output
/// is closed. <see cref="Exception.Message"/> is the system's short reason ("broken pipe", "no space left on device").
/// </summary>
public sealed class OutputFailedException(string reason, Exception inner) : IOException(reason, inner)
{
    /// <summary>Wraps a failed write; the reason is the innermost exception's message, which is the system's error text.</summary>
    public static OutputFailedException From(Exception e)
    {
        Exception root = e;
        while (root.InnerException is not null) root = root.InnerException;
        string reason = root.Message.TrimEnd('.');
        if (reason.Length > 1 && char.IsUpper(reason[0]) && char.IsLower(reason[1])) reason = char.ToLowerInvariant(reason[0]) + reason[1..];
        return new OutputFailedException(reason, e);
    }
}
