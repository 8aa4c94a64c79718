using Spectre.Console;

namespace VtdSim.Cli.Commands;

/// <summary>Creates the console the commands print to; output redirected to a file or pipe gets a fixed, wide layout and no colour codes.</summary>
public static class ConsoleFactory
{
    public const int RedirectedWidth = 160;

    public static IAnsiConsole Create(TextWriter? output = null)
    {
        bool redirected = output is not null || Console.IsOutputRedirected;
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(output ?? Console.Out),
            Ansi = redirected ? AnsiSupport.No : AnsiSupport.Detect,
            ColorSystem = redirected ? ColorSystemSupport.NoColors : ColorSystemSupport.Detect,
            Interactive = InteractionSupport.No,
        });
        if (redirected) console.Profile.Width = RedirectedWidth;
        return console;
    }
}
