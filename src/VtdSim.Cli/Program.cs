using System.CommandLine;
using System.Text;
using VtdSim.Cli.Commands;
using VtdSim.Cli.Io;

namespace VtdSim.Cli;

/// <summary>
/// The `vtdsim` command. Exit status: 0 done; 2 a usage error (an option or value the command cannot take, said in
/// words on stderr); 74 the output could not be written (a closed pipe, a full disk, a closed descriptor: one line on
/// stderr); 70 an internal error (a defect: please report it).
/// </summary>
public static class Program
{
    public const int Usage = 2, InternalError = 70, OutputError = 74;

    public static int Main(string[] args) => Run(args, null);

    /// <summary>Runs the CLI; tests pass a writer to capture output and errors (qtest then still serves the process's stdio).</summary>
    public static int Run(string[] args, TextWriter? output)
    {
        var stdout = new Lazy<Stream>(() => new StandardOutputStream());
        var writer = new Lazy<TextWriter>(() => output ?? new StreamWriter(stdout.Value, new UTF8Encoding(false), 4096) { NewLine = "\n" });
        TextWriter error = output ?? Console.Error;
        var console = new Lazy<Spectre.Console.IAnsiConsole>(() => ConsoleFactory.Create(writer.Value));
        var root = new RootCommand("VtdSim: a reference model of Intel VT-d nested I/O address translation")
        {
            DemoCommand.Create(() => console.Value, () => output is null && !Console.IsOutputRedirected && !Console.IsInputRedirected, () => writer.Value.Flush()),
            ProfilesCommand.Create(() => console.Value),
            FaultsCommand.Create(() => console.Value),
            QtestCommand.Create(() => stdout.Value),
            MtreeCommand.Create(() => writer.Value),
            DecodeCommand.Create(() => console.Value, () => writer.Value),
            ExplainCommand.Create(() => writer.Value, () => error, () => Console.In),
            RunCommand.Create(() => console.Value, () => writer.Value, () => error),
            AnalyzeCommand.Create(() => console.Value, () => writer.Value),
            MatrixCommand.Create(() => console.Value, () => writer.Value),
            MergeCommand.Create(() => writer.Value, () => error),
        };
        try
        {
            ParseResult parse = root.Parse(QtestCommand.PassQemuOptions(args));
            if (parse.Errors.Count > 0)
            {
                foreach (string message in parse.Errors.Select(e => e.Message).Distinct()) Report(error, message);
                string command = parse.CommandResult.Command == root ? "vtdsim" : $"vtdsim {parse.CommandResult.Command.Name}";
                Report(error, $"see '{command} --help'", prefix: false);
                return Usage;
            }
            var invocation = new InvocationConfiguration { EnableDefaultExceptionHandler = false, Output = writer.Value, Error = error };
            int status = parse.Invoke(invocation);
            if (writer.IsValueCreated) writer.Value.Flush();
            return status;
        }
        catch (ReportWriteException e)
        {
            Report(error, e.Message);
            return OutputError;
        }
        catch (OutputFailedException e)
        {
            Report(error, $"cannot write the output: {e.Message}");
            return OutputError;
        }
        catch (ArgumentException e)
        {
            // The commands' own refusals (a socket path in use, a port taken) are worded for the user.
            Report(error, UserText.Message(e));
            return Usage;
        }
        catch (Exception e)
        {
            Report(error, $"internal error, please report it with the command line that caused it: {UserText.Message(e)}");
            return InternalError;
        }
        finally
        {
            // What is still buffered has nowhere to go after a failure; dropping it must not fail again.
            if (output is null && writer.IsValueCreated)
            {
                try
                {
                    writer.Value.Dispose();
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                }
            }
        }
    }

    private static void Report(TextWriter error, string message, bool prefix = true)
    {
        try
        {
            error.WriteLine(prefix ? $"vtdsim: {message}" : message);
            error.Flush();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ObjectDisposedException)
        {
            // stderr is gone as well: the status says it
        }
    }
}
