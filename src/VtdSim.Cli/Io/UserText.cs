namespace VtdSim.Cli.Io;

/// <summary>Text for users out of exceptions that should not have happened: the message only, on one line, without .NET's additions.</summary>
public static class UserText
{
    /// <summary>The first line of the message, without "(Parameter 'x')"; the exception's type is left out.</summary>
    public static string Message(Exception e)
    {
        string message = e.Message.ReplaceLineEndings("\n").Split('\n')[0];
        if (e is ArgumentException { ParamName: { } name }) message = message.Replace($" (Parameter '{name}')", "", StringComparison.Ordinal);
        return message;
    }
}
