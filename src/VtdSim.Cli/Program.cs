using System.CommandLine;
using VtdSim.Cli.Commands;

namespace VtdSim.Cli;

public static class Program
{
    public static int Main(string[] args) => Run(args, null);

    /// <summary>Runs the CLI; tests pass a writer to capture output.</summary>
    public static int Run(string[] args, TextWriter? output)
    {
        var console = new Lazy<Spectre.Console.IAnsiConsole>(() => ConsoleFactory.Create(output));
        var root = new RootCommand("VtdSim: a reference model of Intel VT-d nested I/O address translation")
        {
            DemoCommand.Create(() => console.Value),
            ProfilesCommand.Create(() => console.Value),
            FaultsCommand.Create(() => console.Value),
            QtestCommand.Create(),
        };
        var invocation = new InvocationConfiguration { EnableDefaultExceptionHandler = false };
        if (output is not null)
        {
            invocation.Output = output;
            invocation.Error = output;
        }
        try
        {
            return root.Parse(args).Invoke(invocation);
        }
        catch (Exception e) when (e is ArgumentException or FormatException or InvalidOperationException)
        {
            (output ?? Console.Error).WriteLine($"vtdsim: {e.Message}");
            return 2;
        }
        catch (Exception e)
        {
            (output ?? Console.Error).WriteLine($"vtdsim: internal error, please report it: {e}");
            return 70;
        }
    }
}
